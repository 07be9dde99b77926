//go:build tools

// Package tools pins the oldest Kubernetes control plane the chart supports
// (see helm/kube9-operator/README.md): kube-apiserver and
// kube-controller-manager, which build.sh caches as kube-apiserver-oldest and
// kube-controller-manager-oldest beside the newest ones (../kube).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)

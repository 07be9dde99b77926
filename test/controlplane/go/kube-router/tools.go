//go:build tools

// Package tools pins kube-router, whose firewall controller alone (no routing,
// no service proxy) enforces NetworkPolicy on the test worker node. Tests only:
// see test/README.md ("NetworkPolicy").
package tools

import (
	_ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
)

//go:build tools

// Package tools pins the worker node's container runtime: containerd v2, its
// runc shim, and ctr, which loads the test images (runc itself comes from
// Debian's packages).
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)

//go:build tools

// Package tools pins the worker node's container runtime: containerd v2 and
// its runc shim (runc itself comes from Debian's packages).
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
)

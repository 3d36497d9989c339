//go:build !linux

package demo

import (
	"os"
	"syscall"
)

// Only Linux runs the demo (Start refuses elsewhere); these keep the package building.

func replicaAttr() *syscall.SysProcAttr { return nil }

func stopReplica(p *os.Process) { p.Kill() }

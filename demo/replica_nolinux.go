//go:build !linux

package demo

import "syscall"

// replicaAttr: only Linux has a parent-death signal (and only Linux runs the demo).
func replicaAttr() *syscall.SysProcAttr { return nil }

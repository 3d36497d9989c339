package demo

import "syscall"

// replicaAttr makes replicas die with the demo: a parent-death signal in case the demo is
// killed.
func replicaAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

package demo

import (
	"os"
	"syscall"
)

// replicaAttr makes replicas die with the demo: a parent-death signal in case the demo is
// killed.
func replicaAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// stopReplica asks a replica to stop: SIGCONT first, so that a replica left paused still gets
// the SIGTERM.
func stopReplica(p *os.Process) {
	p.Signal(syscall.SIGCONT)
	p.Signal(syscall.SIGTERM)
}

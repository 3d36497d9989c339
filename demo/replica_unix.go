//go:build unix

package demo

import (
	"os"
	"syscall"
)

// stopReplica asks a replica to stop: SIGCONT first, so that a replica left paused still gets
// the SIGTERM.
func stopReplica(p *os.Process) {
	p.Signal(syscall.SIGCONT)
	p.Signal(syscall.SIGTERM)
}

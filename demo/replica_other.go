//go:build !unix

package demo

import "os"

// stopReplica stops a replica: this system has no SIGTERM to ask with.
func stopReplica(p *os.Process) { p.Kill() }

//go:build !unix

package process

import "syscall"

const oNoFollow = 0

// ownSession: this system has no sessions (and restarts never run here; see sys_other.go).
func ownSession() *syscall.SysProcAttr { return nil }

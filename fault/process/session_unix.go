//go:build unix

package process

import "syscall"

const oNoFollow = syscall.O_NOFOLLOW

// ownSession starts a restarted process in a session of its own, so that it outlives the run.
func ownSession() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

//go:build unix

package watchdog

import "syscall"

const oNoFollow = syscall.O_NOFOLLOW

// ownSession puts the watchdog in a session of its own, so that a signal to the runner's
// process group (Ctrl-C, a CI cancel) does not reach it.
func ownSession() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

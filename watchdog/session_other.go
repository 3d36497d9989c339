//go:build !unix

package watchdog

import "syscall"

// Elsewhere than on Unix no watchdog starts: private.MkdirOwn refuses the state dir first.

const oNoFollow = 0

func ownSession() *syscall.SysProcAttr { return nil }

//go:build unix

package testenv

import "syscall"

const syscallSIGCONT = syscall.SIGCONT

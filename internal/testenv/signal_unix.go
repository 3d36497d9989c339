package testenv

import "syscall"

const syscallSIGCONT = syscall.SIGCONT

//go:build !unix

package cli

import "syscall"

// stopSignal is Linux's SIGUSR1 by number: this system has none, and runs (which stop
// signals) need Linux.
const stopSignal = syscall.Signal(10)

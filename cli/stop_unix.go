//go:build unix

package cli

import "syscall"

// stopSignal makes a runner look for stop requests; its journal says so by its name.
const stopSignal = syscall.SIGUSR1

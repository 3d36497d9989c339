//go:build !unix

package procfs

import (
	"strconv"
	"syscall"
)

// SignalName returns the number of sig: this system names no signals.
func SignalName(sig syscall.Signal) string { return strconv.Itoa(int(sig)) }

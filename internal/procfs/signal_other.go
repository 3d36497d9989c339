//go:build !linux

package procfs

import (
	"syscall"

	"github.com/shakedown-dev/shakedown"
)

// Signal needs a pidfd, which only Linux has: elsewhere it refuses.
func Signal(pid int, start uint64, sig syscall.Signal) (bool, error) {
	return false, shakedown.NeedsLinux("signalling a process by pid and start time")
}

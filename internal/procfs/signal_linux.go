//go:build linux

package procfs

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Signal sends sig to the process pid that started at start, and to no other. It reports
// whether the signal was sent: false with a nil error when that process is gone (exited, a
// zombie, or its pid now belongs to another process). A pidfd pins the process between the
// start-time check and the signal, so a pid reused in between is never signalled.
func Signal(pid int, start uint64, sig syscall.Signal) (bool, error) {
	if pid <= 0 {
		return false, fmt.Errorf("signal pid %d: not a process id", pid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return false, nil
	case errors.Is(err, unix.ENOSYS):
		// No pidfds (Linux < 5.3): check, then signal, and accept the tiny window between.
		if !Alive(pid, start) {
			return false, nil
		}
		return sent(unix.Kill(pid, sig))
	case err != nil:
		return false, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if !Alive(pid, start) {
		return false, nil
	}
	return sent(unix.PidfdSendSignal(fd, sig, nil, 0))
}

func sent(err error) (bool, error) {
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ESRCH):
		return false, nil
	default:
		return false, err
	}
}

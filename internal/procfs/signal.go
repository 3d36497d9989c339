package procfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// SignalName returns the name of sig without its SIG prefix ("KILL"), or its number when it
// has no name.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}

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

// Catches reports whether process pid has a handler for sig (the SigCgt mask of
// root/PID/status): a signal whose default action ends a process, such as SIGUSR1, may then
// be sent to ask it something without ending it.
func Catches(root string, pid int, sig syscall.Signal) (bool, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "status"))
	if err != nil {
		return false, err
	}
	mask, err := ParseSigCgt(b)
	if err != nil {
		return false, fmt.Errorf("%s/%d/status: %w", root, pid, err)
	}
	return sig >= 1 && sig <= 64 && mask&(1<<(uint(sig)-1)) != 0, nil
}

// ParseSigCgt returns the mask of caught signals in the contents of /proc/PID/status: bit
// n-1 is signal n.
func ParseSigCgt(b []byte) (uint64, error) {
	for line := range strings.Lines(string(b)) {
		v, ok := strings.CutPrefix(line, "SigCgt:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed SigCgt: %w", err)
		}
		return mask, nil
	}
	return 0, errors.New("no SigCgt line")
}

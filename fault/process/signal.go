package process

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/shakedown-dev/shakedown/internal/procfs"
	"golang.org/x/sys/unix"
)

// maxSignal is the highest signal number Linux knows (SIGRTMAX).
const maxSignal = 64

// ParseSignal reads a signal as a name with or without its SIG prefix ("KILL", "SIGKILL",
// "term"), or as a number from 1 to 64 ("9"). Signal 0 sends nothing and is refused.
func ParseSignal(s string) (syscall.Signal, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty signal")
	}
	if t[0] >= '0' && t[0] <= '9' {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > maxSignal {
			return 0, fmt.Errorf("invalid signal %q: a number must lie in 1..%d", s, maxSignal)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(t)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q (want e.g. KILL, TERM, STOP, 9)", s)
	}
	return sig, nil
}

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
		if !procfs.Alive(pid, start) {
			return false, nil
		}
		return sent(unix.Kill(pid, sig))
	case err != nil:
		return false, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if !procfs.Alive(pid, start) {
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

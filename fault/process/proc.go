package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/shakedown-dev/shakedown/internal/procfs"
	"golang.org/x/sys/unix"
)

// readCmdline returns the argv of a process, or nil for a kernel thread or a zombie.
func readCmdline(root string, pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil, nil
	}
	return strings.Split(string(b), "\x00"), nil
}

// pids lists the process ids under root in ascending order.
func pids(root string) ([]int, error) {
	d, err := os.Open(root)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil {
			out = append(out, pid)
		}
	}
	sort.Ints(out)
	return out, nil
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

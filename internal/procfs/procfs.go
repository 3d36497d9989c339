// Package procfs reads what shakedown needs of Linux's /proc: the process ids, a process's
// stat line (its state, and the start time that, with the pid, names one process for good),
// its command line and its cgroups — and signals a process named by its pid and start time,
// never another that took its pid. The process, stress, container and exec fault families
// share it.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/shakedown-dev/shakedown"
)

// Root is where the proc filesystem is mounted.
const Root = "/proc"

// PFKThread is PF_KTHREAD in the flags field of /proc/PID/stat: the task is a kernel thread.
const PFKThread = 0x00200000

// Stat is what shakedown reads of /proc/PID/stat.
type Stat struct {
	PID       int
	Comm      string // the command name, as in /proc/PID/comm (at most 15 bytes, any bytes but NUL)
	State     byte   // R, S, D, T, t, Z, X, …
	PPID      int
	Session   int
	Flags     uint64
	StartTime uint64 // field 22: clock ticks after boot
}

// KernelThread reports whether the task is a kernel thread.
func (s Stat) KernelThread() bool { return s.Flags&PFKThread != 0 }

// Dead reports whether the task has exited (a zombie or dead task).
func (s Stat) Dead() bool { return s.State == 'Z' || s.State == 'X' || s.State == 'x' }

// ParseStat parses the contents of /proc/PID/stat. The command name sits between the first
// '(' and the last ')' and may itself hold spaces and parentheses.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	shut := bytes.LastIndexByte(b, ')')
	if open < 1 || shut < open {
		return s, errors.New("malformed stat: no (comm)")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil || pid <= 0 {
		return s, fmt.Errorf("malformed stat: bad pid %q", bytes.TrimSpace(b[:open]))
	}
	s.PID = pid
	s.Comm = string(b[open+1 : shut])
	// Fields after the comm, numbered from 3 (state).
	rest := bytes.Fields(b[shut+1:])
	const first = 3
	field := func(n int) []byte { return rest[n-first] }
	if len(rest) < 22-first+1 {
		return s, fmt.Errorf("malformed stat: %d fields after comm, want at least %d", len(rest), 22-first+1)
	}
	// The state is one letter (R, S, D, Z, T, t, X, I…).
	if st := field(3); len(st) != 1 || !('A' <= st[0] && st[0] <= 'Z' || 'a' <= st[0] && st[0] <= 'z') {
		return s, fmt.Errorf("malformed stat: bad state %q", st)
	} else {
		s.State = st[0]
	}
	if s.PPID, err = strconv.Atoi(string(field(4))); err != nil {
		return s, fmt.Errorf("malformed stat: bad ppid: %w", err)
	}
	if s.Session, err = strconv.Atoi(string(field(6))); err != nil {
		return s, fmt.Errorf("malformed stat: bad session: %w", err)
	}
	if s.Flags, err = strconv.ParseUint(string(field(9)), 10, 64); err != nil {
		return s, fmt.Errorf("malformed stat: bad flags: %w", err)
	}
	if s.StartTime, err = strconv.ParseUint(string(field(22)), 10, 64); err != nil {
		return s, fmt.Errorf("malformed stat: bad starttime: %w", err)
	}
	return s, nil
}

// ReadStat reads and parses root/PID/stat. A process that does not exist is an error for
// which errors.Is(err, fs.ErrNotExist) holds.
func ReadStat(root string, pid int) (Stat, error) {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "stat"))
	if err != nil {
		if errors.Is(err, syscall.ESRCH) {
			err = fs.ErrNotExist
		}
		return Stat{}, err
	}
	return ParseStat(b)
}

// ReadCmdline returns the argv of a process from root/PID/cmdline, or nil for a kernel
// thread or a zombie.
func ReadCmdline(root string, pid int) ([]string, error) {
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

// HasEnv reports whether the environment a process started with (root/PID/environ) holds the
// entry "NAME=value" exactly. What the process changed in its environment since is not seen;
// its children inherit the entry. A process that cannot be read (gone, another user's) does
// not have it.
func HasEnv(root string, pid int, entry string) bool {
	f, err := os.Open(filepath.Join(root, strconv.Itoa(pid), "environ"))
	if err != nil {
		return false
	}
	defer f.Close()
	// An environment is at most a few hundred KiB (ARG_MAX); read it in one go, bounded.
	b, err := io.ReadAll(io.LimitReader(f, 4<<20))
	if err != nil {
		return false
	}
	for len(b) > 0 {
		var e []byte
		e, b, _ = bytes.Cut(b, []byte{0})
		if string(e) == entry {
			return true
		}
	}
	return false
}

// PIDs lists the process ids under root in ascending order.
func PIDs(root string) ([]int, error) {
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

// ReadCgroups returns the cgroup paths of a process: "cgroup" for the unified hierarchy and
// "cgroup.<controller>" for each cgroup v1 controller. Named v1 hierarchies are left out.
func ReadCgroups(root string, pid int) map[string]string {
	b, err := os.ReadFile(filepath.Join(root, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return nil
	}
	return ParseCgroups(b)
}

// ParseCgroups parses the contents of /proc/PID/cgroup as ReadCgroups returns them.
func ParseCgroups(b []byte) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(string(b)) {
		parts := strings.SplitN(strings.TrimRight(line, "\n"), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out["cgroup"] = parts[2]
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			if c != "" && !strings.HasPrefix(c, "name=") {
				out["cgroup."+c] = parts[2]
			}
		}
	}
	return out
}

// StartTime returns the start time of process pid in clock ticks after boot (field 22 of
// /proc/PID/stat). Together with the pid it names one process for good: a pid the kernel
// hands out again belongs to a process with another start time.
// Elsewhere it refuses: a run's journal and watchdog name processes this way.
func StartTime(pid int) (uint64, error) {
	if err := shakedown.RequireLinux("naming a process by its start time"); err != nil {
		return 0, err
	}
	s, err := ReadStat(Root, pid)
	if err != nil {
		return 0, err
	}
	return s.StartTime, nil
}

// Alive reports whether the process pid that started at start still runs: it exists, has
// that start time and is not a zombie.
func Alive(pid int, start uint64) bool {
	s, err := ReadStat(Root, pid)
	return err == nil && s.StartTime == start && !s.Dead()
}

package stress

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"os"
	"strconv"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// Prefix starts the names of cgroups and files this package creates: shakedown_<run>_<fault>.
const Prefix = shakedown.ResourcePrefix

// name returns shakedown_<run>_<fault> (shakedown.ResourceName).
func name(runID, fault string) string { return shakedown.ResourceName(runID, fault) }

// runOf returns the run part of a name made by name.
func runOf(n string) (string, bool) { return shakedown.RunOfResource(n) }

// procRoot is where /proc is; tests keep it.
var procRoot = "/proc"

// StartTime returns a process's start time in clock ticks since boot, field 22 of
// /proc/PID/stat: with the pid it names one process for good.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		if os.IsNotExist(err) {
			return 0, shakedown.Errorf(shakedown.KindNotFound, "process %d is gone", pid)
		}
		return 0, shakedown.Wrap(shakedown.KindInternal, fmt.Sprintf("read stat of %d", pid), err)
	}
	return parseStartTime(b)
}

// parseStartTime reads field 22 of a /proc/PID/stat line.
func parseStartTime(b []byte) (uint64, error) {
	st, err := procfs.ParseStat(b)
	return st.StartTime, err
}

// alive reports whether pid is still the process that started at start.
func alive(pid int, start uint64) bool {
	s, err := StartTime(pid)
	return err == nil && s == start
}

// Cgroups maps a controller ("freezer", "cpu", "memory"…; "" for the v2 unified hierarchy)
// to a process's cgroup path, as /proc/PID/cgroup lists them.
type Cgroups map[string]string

// ParseCgroups reads /proc/PID/cgroup: lines "ID:controller,controller:/path".
func ParseCgroups(b []byte) (Cgroups, error) {
	out := Cgroups{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		id, rest, ok1 := strings.Cut(line, ":")
		ctrls, path, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("cgroup line %q: want ID:controllers:/path", line)
		}
		if _, err := strconv.Atoi(id); err != nil {
			return nil, fmt.Errorf("cgroup line %q: hierarchy id is not a number", line)
		}
		if ctrls == "" {
			out[""] = path
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			out[c] = path
		}
	}
	return out, sc.Err()
}

func cgroupsOf(pid int) (Cgroups, error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/cgroup", procRoot, pid))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, shakedown.Errorf(shakedown.KindNotFound, "process %d is gone", pid)
		}
		return nil, shakedown.Wrap(shakedown.KindInternal, fmt.Sprintf("read cgroups of %d", pid), err)
	}
	return ParseCgroups(b)
}

// proc is one target process, checked by start time.
type proc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"starttime"`
}

// procOf reads a process instance: Attrs "pid" and "starttime".
func procOf(in shakedown.Instance) (proc, error) {
	pid, err1 := strconv.Atoi(in.Attrs["pid"])
	st, err2 := strconv.ParseUint(in.Attrs["starttime"], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return proc{}, shakedown.Errorf(shakedown.KindInvalid, "target %s: a process instance needs attrs pid and starttime", in.Name)
	}
	return proc{PID: pid, StartTime: st}, nil
}

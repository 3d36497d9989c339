package stress

import (
	"strconv"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// Prefix starts the names of cgroups and files this package creates: shakedown_<run>_<fault>.
const Prefix = shakedown.ResourcePrefix

// name returns shakedown_<run>_<fault> (shakedown.ResourceName).
func name(runID, fault string) string { return shakedown.ResourceName(runID, fault) }

// runOf returns the run part of a name made by name.
func runOf(n string) (string, bool) { return shakedown.RunOfResource(n) }

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

// cgroupsOf reads the cgroups of a live target process as procfs.ReadCgroups keys them:
// "cgroup" for the unified hierarchy, "cgroup.<controller>" for each v1 controller.
func cgroupsOf(p proc) (map[string]string, error) {
	if !procfs.Alive(p.PID, p.StartTime) {
		return nil, shakedown.Errorf(shakedown.KindNotFound, "process %d (start %d) is gone", p.PID, p.StartTime)
	}
	cg := procfs.ReadCgroups(procfs.Root, p.PID)
	if cg == nil {
		return nil, shakedown.Errorf(shakedown.KindNotFound, "process %d is gone", p.PID)
	}
	return cg, nil
}

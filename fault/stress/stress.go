// Package stress provides the resource faults — stress.cpu, stress.memory, stress.io,
// disk.fill and process.freeze — on process and host targets.
//
// Stressors run as children of the shakedown binary (its hidden `stress` command, see
// StressMain), each in its own process group, with a TTL of their own; their undo kills that
// group, checked by start time, so the watchdog can end them after the runner dies. A
// stressor for a process target is moved into the target's cgroups, so it competes for the
// same CPU quota and memory limit. disk.fill writes one file named after the run;
// process.freeze moves the targets into a freezer cgroup named after the run. Sweep finds
// what dead runs left behind.
package stress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Undo types this package registers.
const (
	UndoStressor = "stress.stressor" // StressorUndo: kill a stressor's process group
	UndoFill     = "stress.fill"     // FillUndo: remove a fill file
	UndoFreeze   = "stress.freeze"   // FreezeUndo: thaw, move processes back, remove the cgroup
)

// CPUParams are the parameters of stress.cpu.
type CPUParams struct {
	Percent float64 `json:"percent,omitempty" doc:"busy share of each loaded core, above 0 and at most 100"`
	Cores   int     `json:"cores,omitempty" doc:"cores to load, at most the machine's; 0 means every core"`
}

// Validate checks the parameters.
func (p *CPUParams) Validate() error {
	var errs shakedown.FieldErrors
	if !(p.Percent > 0 && p.Percent <= 100) {
		errs.Add("percent", "%v: want above 0 and at most 100", p.Percent)
	}
	if p.Cores < 0 || p.Cores > 4096 {
		errs.Add("cores", "%d: want 0 (all) to 4096", p.Cores)
	}
	return errs.Err()
}

// MemoryParams are the parameters of stress.memory.
type MemoryParams struct {
	Size string `json:"size" required:"true" doc:"memory to hold resident: 256mib, 1gb"`
}

// Validate checks the parameters.
func (p *MemoryParams) Validate() error {
	var errs shakedown.FieldErrors
	if n, err := shakedown.ParseBytes(p.Size); err != nil || n == 0 {
		errs.Add("size", "%q: want a size above 0 such as 256mib", p.Size)
	}
	return errs.Err()
}

// IOParams are the parameters of stress.io.
type IOParams struct {
	Path    string `json:"path,omitempty" doc:"absolute directory to write in; default the system's temporary directory"`
	Size    string `json:"size,omitempty" doc:"bytes each worker writes and syncs over and over"`
	Workers int    `json:"workers,omitempty" doc:"concurrent writers"`
}

// Validate checks the parameters.
func (p *IOParams) Validate() error {
	var errs shakedown.FieldErrors
	// The undo removes the files a killed worker left, by name: a relative directory would be
	// looked for wherever the watchdog or `shakedown recover` runs.
	if p.Path != "" && !filepath.IsAbs(p.Path) {
		errs.Add("path", "%q: want an absolute directory", p.Path)
	}
	if n, err := shakedown.ParseBytes(p.Size); err != nil || n == 0 {
		errs.Add("size", "%q: want a size above 0 such as 64mib", p.Size)
	}
	if p.Workers < 1 || p.Workers > 64 {
		errs.Add("workers", "%d: want 1 to 64", p.Workers)
	}
	return errs.Err()
}

// FreezeParams are the parameters of process.freeze: none.
type FreezeParams struct{}

// StressorUndo is the journal form of a fault's stressors. It is written before they start,
// so it names them by the --run name they carry (shakedown_<run>_<fault>): the undo kills the
// process group of every `stress … --run Name` process, and removes the io files Name left in
// Dir. PGID and StartTime, when set, name one started stressor as well.
type StressorUndo struct {
	Name      string `json:"name"`
	Dir       string `json:"dir,omitempty"` // stress.io's directory
	PGID      int    `json:"pgid,omitempty"`
	StartTime uint64 `json:"starttime,omitempty"`
}

// hasProcess says whether a target instance stands for a process whose cgroups a stressor
// joins: a process, or a container (by its init process, as the container family gives it).
func hasProcess(in shakedown.Instance) bool { return in.Kind == "process" || in.Kind == "container" }

// Register adds the resource fault types and their undo functions to r.
func Register(r *shakedown.Registry) {
	targets := []string{"process", "container", "host"}
	r.AddFault(shakedown.FaultType{Name: "stress.cpu", Stacks: true, Summary: "burn percent of cores",
		Doc:     "Child burners in their own process group (in the target's cpu cgroup for a process or container); revert kills them.",
		Targets: targets, Params: func() any { return &CPUParams{Percent: 100} }, New: newStressor("stress.cpu")})
	r.AddFault(shakedown.FaultType{Name: "stress.memory", Stacks: true, Summary: "hold size of memory resident",
		Doc:     "A child maps and touches size bytes (in the target's memory cgroup for a process or container); revert kills it.",
		Targets: targets, Params: func() any { return &MemoryParams{} }, New: newStressor("stress.memory")})
	r.AddFault(shakedown.FaultType{Name: "stress.io", Stacks: true, Summary: "write and fsync files in path",
		Doc:     "Children write and fsync size bytes over and over in path (in the target's blkio cgroup for a process or container); revert kills them and removes the files.",
		Targets: targets, Params: func() any { return &IOParams{Size: "64mib", Workers: 1} }, New: newStressor("stress.io")})
	r.AddFault(shakedown.FaultType{Name: "disk.fill", Stacks: true, Summary: "fill the filesystem of path to percent, or by size",
		Doc:     "One preallocated file in path; refused when it would leave less than keep_free free. Revert removes it.",
		Targets: []string{"process", "host"}, Params: func() any { return &FillParams{KeepFree: DefaultKeepFree} }, New: newFill})
	r.AddFault(shakedown.FaultType{Name: "process.freeze", Summary: "freeze processes with the cgroup freezer",
		Doc:     "Moves the processes into a freezer cgroup of the run's own and freezes it; revert thaws them and moves them back.",
		Targets: []string{"process"}, Root: true, Params: func() any { return &FreezeParams{} }, New: newFreeze})
	r.AddUndo(UndoStressor, undoStressor)
	r.AddUndo(UndoFill, undoFill)
	r.AddUndo(UndoFreeze, undoFreeze)
}

// StressorPlan is one stressor to start: the arguments after the binary, and the cgroups to
// move it into (controller → absolute cgroup directory).
type StressorPlan struct {
	Args    []string
	Cgroups map[string]string
	Target  string // who it is for, for people
}

// Lines describes the plan.
func (p StressorPlan) Lines() []string {
	out := []string{fmt.Sprintf("%s: start `shakedown %s` in its own process group", p.Target, strings.Join(p.Args, " "))}
	for _, c := range sortedKeys(p.Cgroups) {
		out = append(out, fmt.Sprintf("%s:   move it into %s cgroup %s", p.Target, c, p.Cgroups[c]))
	}
	return out
}

// cgroupRoot is where cgroup hierarchies are mounted.
var cgroupRoot = "/sys/fs/cgroup"

// controllersFor lists the v1 controllers a stressor joins for a process target.
var controllersFor = map[string][]string{
	"stress.cpu":    {"cpu", "cpuacct", "cpuset"},
	"stress.memory": {"memory"},
	"stress.io":     {"blkio"},
}

// PlanStressor plans one stressor of type typ with the given argv tail, for a target whose
// cgroups are cg, keyed as procfs.ReadCgroups keys them (nil for the host). A cgroup path "/"
// is the root: nothing to join.
func PlanStressor(typ string, args []string, target string, cg map[string]string) StressorPlan {
	p := StressorPlan{Args: args, Target: target, Cgroups: map[string]string{}}
	if cg == nil {
		return p
	}
	if path, ok := cg["cgroup"]; ok && len(cg) == 1 { // v2 only
		if path != "/" {
			p.Cgroups["unified"] = filepath.Join(cgroupRoot, path)
		}
		return p
	}
	for _, c := range controllersFor[typ] {
		if path, ok := cg["cgroup."+c]; ok && path != "/" {
			p.Cgroups[c] = filepath.Join(cgroupRoot, c, path)
		}
	}
	return p
}

type stressor struct {
	typ     string
	env     shakedown.Env
	args    []string // common argv tail without --run/--ttl
	run     string
	ttl     time.Duration
	targets []shakedown.Instance
	plans   []StressorPlan
	started []*started
}

type started struct {
	cmd    *exec.Cmd
	undo   StressorUndo
	exited chan struct{}
	err    error // how it ended (cmd.Wait's error), set before exited is closed
}

func newStressor(typ string) func(shakedown.Env, *shakedown.FaultSpec, []shakedown.Instance) (shakedown.Fault, error) {
	return func(env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
		if err := shakedown.ValidateParams(spec.Params); err != nil {
			return nil, err
		}
		s := &stressor{typ: typ, env: env, targets: targets, run: name(env.RunID, spec.Name),
			ttl: shakedown.TTL(spec.Duration)}
		switch p := spec.Params.(type) {
		case *CPUParams:
			cores := p.Cores
			if cores == 0 {
				cores = runtime.NumCPU()
			}
			if cores > runtime.NumCPU() {
				// More burners than CPUs burn no more, yet starve everything else many
				// times over: the run's probes and load, and the watchdog that must end
				// them if the runner dies.
				return nil, shakedown.Errorf(shakedown.KindInvalid,
					"%s: cores %d, but this machine has %d CPUs: give at most %d (0 loads every core)",
					typ, cores, runtime.NumCPU(), runtime.NumCPU())
			}
			s.args = []string{"cpu", "--percent", strconv.FormatFloat(p.Percent, 'f', -1, 64), "--cores", strconv.Itoa(cores)}
		case *MemoryParams:
			n, _ := shakedown.ParseBytes(p.Size)
			s.args = []string{"memory", "--size", strconv.FormatUint(n, 10)}
		case *IOParams:
			n, _ := shakedown.ParseBytes(p.Size)
			dir := p.Path
			if dir == "" {
				// $TMPDIR may be relative; the undo needs the folder wherever it is replayed.
				var err error
				if dir, err = filepath.Abs(os.TempDir()); err != nil {
					return nil, shakedown.Wrap(shakedown.KindInternal, typ+": the temporary directory", err)
				}
			}
			s.args = []string{"io", "--dir", dir, "--size", strconv.FormatUint(n, 10), "--workers", strconv.Itoa(p.Workers)}
		default:
			return nil, shakedown.Errorf(shakedown.KindInternal, "%s: unexpected parameters %T", typ, spec.Params)
		}
		for _, in := range targets {
			if in.Kind != "process" && in.Kind != "container" && in.Kind != "host" {
				return nil, shakedown.Errorf(shakedown.KindInvalid, "%s acts on process, container or host targets, not %s", typ, in.Kind)
			}
			if hasProcess(in) {
				if _, err := procOf(in); err != nil {
					return nil, err
				}
			}
		}
		s.plan(nil)
		return s, nil
	}
}

func (s *stressor) argv() []string {
	// The run's name goes in first so that Sweep can tell whose stressor a process is.
	return append([]string{"stress", s.args[0], "--run", s.run, "--ttl", s.ttl.String()}, s.args[1:]...)
}

func (s *stressor) plan(cgs []map[string]string) {
	s.plans = s.plans[:0]
	for i, in := range s.targets {
		var cg map[string]string
		if cgs != nil {
			cg = cgs[i]
		}
		s.plans = append(s.plans, PlanStressor(s.typ, s.argv(), in.Name, cg))
	}
}

// Prepare reads the target processes' cgroups. It changes nothing.
func (s *stressor) Prepare(ctx context.Context) error {
	if err := supported(); err != nil {
		return err
	}
	cgs := make([]map[string]string, len(s.targets))
	for i, in := range s.targets {
		if !hasProcess(in) {
			continue
		}
		p, _ := procOf(in)
		cg, err := cgroupsOf(p)
		if err != nil {
			return err
		}
		cgs[i] = cg
	}
	s.plan(cgs)
	return nil
}

// Plan implements shakedown.Planner.
func (s *stressor) Plan() []string {
	var out []string
	for _, p := range s.plans {
		out = append(out, p.Lines()...)
	}
	return out
}

// Undo names the fault's stressors by their run name; see StressorUndo.
func (s *stressor) Undo() []shakedown.Undo {
	b, _ := json.Marshal(s.undo())
	return []shakedown.Undo{{Type: UndoStressor, Data: b,
		Summary: fmt.Sprintf("kill the process groups of the %s stressors named %s", s.typ, s.run)}}
}

func (s *stressor) undo() StressorUndo {
	u := StressorUndo{Name: s.run}
	if s.args[0] == "io" {
		u.Dir = s.args[2]
	}
	return u
}

// Executable is the binary stressors run; its `stress` command must call StressMain.
var Executable = os.Executable

// Inject starts one stressor per target and waits until each is loaded.
func (s *stressor) Inject(ctx context.Context) (shakedown.Revert, error) {
	revert := func(ctx context.Context) error {
		var errs []error
		for _, st := range s.started {
			errs = append(errs, killGroup(st.undo))
			select {
			case <-st.exited:
			case <-ctx.Done():
				errs = append(errs, ctx.Err())
			}
		}
		errs = append(errs, removeStressors(s.undo()))
		return errors.Join(errs...)
	}
	if s.env.DryRun {
		return func(context.Context) error { return nil }, nil
	}
	exe, err := Executable()
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "find the shakedown binary", err)
	}
	for _, p := range s.plans {
		st, err := start(ctx, exe, p)
		if st != nil {
			s.started = append(s.started, st)
		}
		if err != nil {
			return revert, fmt.Errorf("inject %s on %s: %w", s.typ, p.Target, err)
		}
	}
	return revert, nil
}

func undoStressor(ctx context.Context, data json.RawMessage) error {
	var u StressorUndo
	if err := json.Unmarshal(data, &u); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "decode "+UndoStressor, err)
	}
	if _, ok := runOf(u.Name); !ok {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: %q is not a stressor name of ours", UndoStressor, u.Name)
	}
	return errors.Join(killGroup(u), removeStressors(u))
}

// supported says whether this system carries stress and disk faults (cgroups, /proc,
// fallocate: Linux; see stress_other.go for what refuses elsewhere).
func supported() error {
	return shakedown.RequireLinux("stress and disk faults (cgroups, /proc)")
}

package stress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// FreezePlan is a freezer cgroup of the run's own and the processes to freeze in it.
type FreezePlan struct {
	Cgroup string       `json:"cgroup"` // absolute directory under the v1 freezer hierarchy
	Procs  []FrozenProc `json:"procs"`
}

// FrozenProc is one process to freeze and the freezer cgroup to return it to.
type FrozenProc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"starttime"`
	Original  string `json:"original"` // its freezer cgroup path before, e.g. "/"
}

// FreezeUndo is the journal form of a freeze: the plan itself.
type FreezeUndo = FreezePlan

// Lines describes the plan.
func (p FreezePlan) Lines() []string {
	out := []string{"create freezer cgroup " + p.Cgroup}
	for _, pr := range p.Procs {
		out = append(out, fmt.Sprintf("move pid %d (from freezer cgroup %s) into it", pr.PID, pr.Original))
	}
	return append(out, "write FROZEN to "+filepath.Join(p.Cgroup, "freezer.state"))
}

func freezerRoot() string { return filepath.Join(cgroupRoot, "freezer") }

// PlanFreeze plans a freeze of procs, each with its cgroups as procfs.ReadCgroups keys them.
func PlanFreeze(cgroup string, procs []proc, cgs []map[string]string) (FreezePlan, error) {
	p := FreezePlan{Cgroup: cgroup}
	for i, pr := range procs {
		orig, ok := cgs[i]["cgroup.freezer"]
		if !ok {
			return FreezePlan{}, shakedown.Errorf(shakedown.KindUnavailable,
				"process %d has no v1 freezer cgroup; this host has no cgroup v1 freezer", pr.PID)
		}
		p.Procs = append(p.Procs, FrozenProc{PID: pr.PID, StartTime: pr.StartTime, Original: orig})
	}
	return p, nil
}

type freeze struct {
	procs []proc
	plan  FreezePlan
}

func newFreeze(env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	f := &freeze{plan: FreezePlan{Cgroup: filepath.Join(freezerRoot(), name(env.RunID, spec.Name))}}
	for _, in := range targets {
		if in.Kind != "process" {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "process.freeze acts on process targets, not %s", in.Kind)
		}
		p, err := procOf(in)
		if err != nil {
			return nil, err
		}
		f.procs = append(f.procs, p)
		f.plan.Procs = append(f.plan.Procs, FrozenProc{PID: p.PID, StartTime: p.StartTime, Original: "(read when prepared)"})
	}
	return f, nil
}

// Prepare reads each process's freezer cgroup, so the undo can move it back.
func (f *freeze) Prepare(ctx context.Context) error {
	if err := supported(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(freezerRoot(), "freezer.state")); err != nil {
		if _, err := os.Stat(filepath.Join(freezerRoot(), "cgroup.procs")); err != nil {
			return shakedown.Errorf(shakedown.KindUnavailable, "no cgroup v1 freezer mounted at %s", freezerRoot())
		}
	}
	cgs := make([]map[string]string, len(f.procs))
	for i, p := range f.procs {
		cg, err := cgroupsOf(p)
		if err != nil {
			return err
		}
		cgs[i] = cg
	}
	plan, err := PlanFreeze(f.plan.Cgroup, f.procs, cgs)
	if err != nil {
		return err
	}
	f.plan = plan
	return nil
}

func (f *freeze) Plan() []string { return f.plan.Lines() }

func (f *freeze) Undo() []shakedown.Undo {
	b, _ := json.Marshal(f.plan)
	return []shakedown.Undo{{Type: UndoFreeze, Data: b, Summary: "thaw " + f.plan.Cgroup + ", move its processes back, remove it"}}
}

func (f *freeze) Inject(ctx context.Context) (shakedown.Revert, error) {
	if err := f.Prepare(ctx); err != nil {
		return nil, err
	}
	revert := func(ctx context.Context) error { return thaw(ctx, f.plan) }
	if err := os.Mkdir(f.plan.Cgroup, 0o755); err != nil {
		return nil, shakedown.Wrap(fileKind(err), "create freezer cgroup", err)
	}
	for _, p := range f.plan.Procs {
		if !procfs.Alive(p.PID, p.StartTime) {
			return revert, shakedown.Errorf(shakedown.KindNotFound, "process %d is gone", p.PID)
		}
		if err := writeFile(filepath.Join(f.plan.Cgroup, "cgroup.procs"), strconv.Itoa(p.PID)); err != nil {
			return revert, fmt.Errorf("move pid %d into the freezer cgroup: %w", p.PID, err)
		}
	}
	if err := writeFile(filepath.Join(f.plan.Cgroup, "freezer.state"), "FROZEN"); err != nil {
		return revert, fmt.Errorf("freeze: %w", err)
	}
	if err := waitState(ctx, f.plan.Cgroup, "FROZEN"); err != nil {
		return revert, err
	}
	return revert, nil
}

func writeFile(path, s string) error {
	if err := os.WriteFile(path, []byte(s), 0); err != nil {
		return shakedown.Wrap(fileKind(err), "write "+path, err)
	}
	return nil
}

// waitState polls freezer.state until it reads want (FREEZING passes to FROZEN as the
// kernel stops each task).
func waitState(ctx context.Context, cg, want string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(cg, "freezer.state"))
		if err != nil {
			return shakedown.Wrap(shakedown.KindInternal, "read freezer state", err)
		}
		if strings.TrimSpace(string(b)) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return shakedown.Errorf(shakedown.KindInternal, "freezer cgroup %s still %s, not %s, after 10s", cg, strings.TrimSpace(string(b)), want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond): // polling the kernel's state with a deadline
		}
	}
}

// thaw takes a freeze back: THAWED, each process still in the run's cgroup back to its
// freezer cgroup, the cgroup removed. A process another program moved elsewhere meanwhile (a
// container engine, a service manager) is left where it was put: moving it back would undo
// that program's change. Every step treats "already so" as success.
func thaw(ctx context.Context, p FreezePlan) error {
	if _, err := os.Stat(p.Cgroup); os.IsNotExist(err) {
		return nil
	}
	if err := writeFile(filepath.Join(p.Cgroup, "freezer.state"), "THAWED"); err != nil && !shakedown.IsKind(err, shakedown.KindNotFound) {
		return err
	}
	ours := "/" + filepath.Base(p.Cgroup) // as /proc/PID/cgroup names it: undoFreeze checked it is under the root
	var errs []error
	for _, pr := range p.Procs {
		if !procfs.Alive(pr.PID, pr.StartTime) {
			continue
		}
		if procfs.ReadCgroups(procfs.Root, pr.PID)["cgroup.freezer"] != ours {
			continue // gone meanwhile, or moved by someone else
		}
		dst := filepath.Join(freezerRoot(), filepath.Clean("/"+pr.Original))
		if err := writeFile(filepath.Join(dst, "cgroup.procs"), strconv.Itoa(pr.PID)); err != nil {
			// Its cgroup may have gone meanwhile: the root always takes it.
			if err2 := writeFile(filepath.Join(freezerRoot(), "cgroup.procs"), strconv.Itoa(pr.PID)); err2 != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := removeCgroup(ctx, p.Cgroup); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeCgroup moves any process still in cg to the freezer root and removes cg.
func removeCgroup(ctx context.Context, cg string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			_ = writeFile(filepath.Join(freezerRoot(), "cgroup.procs"), f)
		}
		err := os.Remove(cg)
		if err == nil || os.IsNotExist(err) {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return shakedown.Wrap(shakedown.KindInternal, "remove freezer cgroup", err)
		}
		time.Sleep(5 * time.Millisecond) // a dying task can keep the cgroup busy for a moment
	}
}

func undoFreeze(ctx context.Context, data json.RawMessage) error {
	var u FreezeUndo
	if err := json.Unmarshal(data, &u); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "decode "+UndoFreeze, err)
	}
	if _, ok := runOf(filepath.Base(u.Cgroup)); !ok || filepath.Dir(u.Cgroup) != freezerRoot() {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: %q is not a freezer cgroup of ours", UndoFreeze, u.Cgroup)
	}
	return thaw(ctx, u)
}

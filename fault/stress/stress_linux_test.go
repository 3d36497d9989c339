package stress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// TestMain lets the test binary stand in for the shakedown binary: stressors re-exec it
// with "stress …", as they re-exec the real binary's hidden command.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "stress" {
		if err := StressMain(context.Background(), os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// newFault builds a fault of type typ for targets with params set by with.
func newFault(t *testing.T, run, typ string, targets []shakedown.Instance, with func(p any)) shakedown.Fault {
	t.Helper()
	r := shakedown.NewRegistry()
	Register(r)
	ft, ok := r.Fault(typ)
	if !ok {
		t.Fatalf("no fault type %s", typ)
	}
	p := ft.Params()
	with(p)
	f, err := ft.New(shakedown.Env{RunID: run}, &shakedown.FaultSpec{Name: "f", Type: typ, Params: p, Duration: 20 * time.Second}, targets)
	if err != nil {
		t.Fatalf("new %s: %v", typ, err)
	}
	if pr, ok := f.(shakedown.Preparer); ok {
		if err := pr.Prepare(context.Background()); err != nil {
			t.Fatalf("prepare %s: %v", typ, err)
		}
	}
	return f
}

func injectT(t *testing.T, f shakedown.Fault) shakedown.Revert {
	t.Helper()
	rev, err := f.Inject(context.Background())
	if err != nil {
		if rev != nil {
			rev(context.Background())
		}
		t.Fatalf("inject: %v", err)
	}
	t.Cleanup(func() { rev(context.Background()) })
	return rev
}

func revertTwice(t *testing.T, rev shakedown.Revert) {
	t.Helper()
	for i := 0; i < 2; i++ {
		if err := rev(context.Background()); err != nil {
			t.Fatalf("revert (%d): %v", i+1, err)
		}
	}
}

func host() []shakedown.Instance {
	return []shakedown.Instance{{Kind: "host", ID: "host", Name: "host"}}
}

func processOf(t *testing.T, pid int) []shakedown.Instance {
	st, err := procfs.StartTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	return []shakedown.Instance{{Kind: "process", ID: fmt.Sprintf("%d@%d", pid, st), Name: fmt.Sprintf("pid %d", pid),
		Attrs: map[string]string{"pid": strconv.Itoa(pid), "starttime": strconv.FormatUint(st, 10)}}}
}

func TestDiskFill(t *testing.T) {
	dir := t.TempDir()
	f := newFault(t, "runfill", "disk.fill", host(), func(p any) {
		fp := p.(*FillParams)
		fp.Path, fp.Size, fp.KeepFree = dir, "8mib", "1mib"
	})
	rev := injectT(t, f)
	file := filepath.Join(dir, name("runfill", "f")+FillSuffix)
	var st syscall.Stat_t
	if err := syscall.Stat(file, &st); err != nil {
		t.Fatalf("fill file: %v", err)
	}
	if st.Blocks*512 < 8<<20 {
		t.Fatalf("fill file holds %d bytes on disk, want 8 MiB", st.Blocks*512)
	}
	revertTwice(t, rev)
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("fill file after revert: %v", err)
	}
}

func TestDiskFillRefusesUnderFloor(t *testing.T) {
	dir := t.TempDir()
	st, err := statFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := shakedown.NewRegistry()
	Register(r)
	ft, _ := r.Fault("disk.fill")
	p := &FillParams{Path: dir, Size: strconv.FormatUint(st.Avail, 10), KeepFree: "1mib"}
	f, err := ft.New(shakedown.Env{RunID: "runfloor"}, &shakedown.FaultSpec{Name: "f", Params: p}, host())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.(shakedown.Preparer).Prepare(context.Background()); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Fatalf("prepare a fill of all free space: %v, want kind invalid", err)
	}
	if _, err := f.Inject(context.Background()); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Fatalf("inject a fill of all free space: %v, want kind invalid", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("refused fill left %v", ents)
	}
}

func TestFreezeStopsAndThaws(t *testing.T) {
	testenv.NeedRoot(t)
	v := testenv.StartVictim(t)
	get := func(timeout time.Duration) error {
		c := http.Client{Timeout: timeout}
		resp, err := c.Get("http://" + v.Addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	before := procfs.ReadCgroups(procfs.Root, v.PID)
	f := newFault(t, "runfreeze", "process.freeze", processOf(t, v.PID), func(any) {})
	rev := injectT(t, f)
	if err := get(300 * time.Millisecond); err == nil {
		t.Fatal("frozen victim answered")
	}
	revertTwice(t, rev)
	if err := get(10 * time.Second); err != nil {
		t.Fatalf("victim after thaw: %v", err)
	}
	after := procfs.ReadCgroups(procfs.Root, v.PID)
	if before["cgroup.freezer"] != after["cgroup.freezer"] {
		t.Fatalf("victim's freezer cgroup %q after revert, want %q", after["cgroup.freezer"], before["cgroup.freezer"])
	}
	if _, err := os.Stat(filepath.Join(freezerRoot(), name("runfreeze", "f"))); !os.IsNotExist(err) {
		t.Fatalf("freezer cgroup after revert: %v", err)
	}
}

// cpuTicks returns utime+stime of pid.
func cpuTicks(t *testing.T, pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return u + s
}

func stressorsOf(n string) []found {
	var out []found
	for _, s := range findStressors() {
		if s.name == n {
			out = append(out, s)
		}
	}
	return out
}

func waitGone(t *testing.T, n string) {
	deadline := time.Now().Add(5 * time.Second)
	for len(stressorsOf(n)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stressor %s still running after revert", n)
		}
		time.Sleep(5 * time.Millisecond) // polling for the process to be reaped
	}
}

func TestStressCPU(t *testing.T) {
	f := newFault(t, "runcpu", "stress.cpu", host(), func(p any) {
		p.(*CPUParams).Percent, p.(*CPUParams).Cores = 50, 1
	})
	rev := injectT(t, f)
	n := name("runcpu", "f")
	s := stressorsOf(n)
	if len(s) != 1 {
		t.Fatalf("stressors named %s: %v, want one", n, s)
	}
	t0, c0 := time.Now(), cpuTicks(t, s[0].pid)
	time.Sleep(time.Second) // measuring CPU use over a window, not waiting for readiness
	share := float64(cpuTicks(t, s[0].pid)-c0) / 100 / time.Since(t0).Seconds()
	t.Logf("stress.cpu 50%% of 1 core: burner used %.0f%% of a core", 100*share)
	// The upper bound checks the duty cycle; the lower only that it burns, since a loaded
	// machine (other tests) can starve it well below its 50%.
	if share < 0.05 || share > 0.7 {
		t.Fatalf("burner used %.0f%% of a core, want about 50%%", 100*share)
	}
	revertTwice(t, rev)
	waitGone(t, n)
}

func TestStressMemoryJoinsTargetCgroup(t *testing.T) {
	v := testenv.StartVictim(t)
	f := newFault(t, "runmem", "stress.memory", processOf(t, v.PID), func(p any) { p.(*MemoryParams).Size = "32mib" })
	rev := injectT(t, f)
	n := name("runmem", "f")
	s := stressorsOf(n)
	if len(s) != 1 {
		t.Fatalf("stressors named %s: %v", n, s)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s[0].pid))
	var rss int
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			rss, _ = strconv.Atoi(strings.Fields(l)[1])
		}
	}
	if rss < 32<<10 {
		t.Fatalf("memory stressor RSS %d KiB, want at least 32 MiB", rss)
	}
	vc := procfs.ReadCgroups(procfs.Root, v.PID)
	sc := procfs.ReadCgroups(procfs.Root, s[0].pid)
	if vc["cgroup.memory"] != sc["cgroup.memory"] {
		t.Fatalf("stressor in memory cgroup %q, target in %q", sc["cgroup.memory"], vc["cgroup.memory"])
	}
	revertTwice(t, rev)
	waitGone(t, n)
}

func TestStressIO(t *testing.T) {
	dir := t.TempDir()
	f := newFault(t, "runio", "stress.io", host(), func(p any) {
		p.(*IOParams).Path, p.(*IOParams).Size = dir, "4mib"
	})
	rev := injectT(t, f)
	n := name("runio", "f")
	if m, _ := filepath.Glob(filepath.Join(dir, n+"_io_*.tmp")); len(m) != 1 {
		t.Fatalf("io files: %v, want one", m)
	}
	revertTwice(t, rev)
	waitGone(t, n)
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Fatalf("after revert %v remain", m)
	}
}

func TestStressorUndoFromJournal(t *testing.T) {
	// The undo written before inject kills the stressor, as the watchdog would replay it.
	f := newFault(t, "runundo", "stress.cpu", host(), func(p any) { p.(*CPUParams).Percent, p.(*CPUParams).Cores = 10, 1 })
	undo := f.Undo()
	injectT(t, f)
	n := name("runundo", "f")
	if len(stressorsOf(n)) != 1 {
		t.Fatalf("no stressor named %s", n)
	}
	if err := undoStressor(context.Background(), undo[0].Data); err != nil {
		t.Fatalf("undo: %v", err)
	}
	waitGone(t, n)
}

func TestSweepRemovesLeftovers(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	SweepDirs = []string{dir}
	defer func() { SweepDirs = nil }()
	dead := fmt.Sprintf("sweepdead%d", os.Getpid())
	// A stressor, a fill file and a frozen victim of a dead run.
	v := testenv.StartVictim(t)
	injectT(t, newFault(t, dead, "process.freeze", processOf(t, v.PID), func(any) {}))
	injectT(t, newFault(t, dead, "stress.cpu", host(), func(p any) { p.(*CPUParams).Percent, p.(*CPUParams).Cores = 10, 1 }))
	fill := filepath.Join(dir, name(dead, "g")+FillSuffix)
	if err := os.WriteFile(fill, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := Sweep(context.Background(), func(run string) bool { return run != dead })
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if len(removed) != 3 {
		t.Fatalf("sweep removed %q, want the cgroup, the stressor and the file", removed)
	}
	waitGone(t, name(dead, "f"))
	if _, err := os.Stat(fill); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("fill file after sweep: %v", err)
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + v.Addr + "/healthz")
	if err != nil {
		t.Fatalf("victim after sweep: %v", err)
	}
	resp.Body.Close()
}

// TestThawLeavesAProcessAnotherProgramMoved freezes a process, lets another program move it
// into a freezer cgroup of its own while the fault lasts (as a container engine or a service
// manager would), and reverts: the process stays where the other program put it, and the
// run's cgroup goes.
func TestThawLeavesAProcessAnotherProgramMoved(t *testing.T) {
	testenv.NeedRoot(t)
	if _, err := os.Stat(filepath.Join(freezerRoot(), "cgroup.procs")); err != nil {
		testenv.Need(t, false, "no cgroup v1 freezer at "+freezerRoot())
	}
	v := testenv.StartVictim(t)
	other := filepath.Join(freezerRoot(), fmt.Sprintf("other-program-%d", os.Getpid()))
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroup(context.Background(), other) })
	f := newFault(t, "runmoved", "process.freeze", processOf(t, v.PID), func(any) {})
	rev := injectT(t, f)
	if err := os.WriteFile(filepath.Join(other, "cgroup.procs"), []byte(strconv.Itoa(v.PID)), 0); err != nil {
		t.Fatalf("the other program moves the victim: %v", err)
	}
	revertTwice(t, rev)
	want := "/" + filepath.Base(other)
	if got := procfs.ReadCgroups(procfs.Root, v.PID)["cgroup.freezer"]; got != want {
		t.Errorf("victim's freezer cgroup after revert = %q, want %q, where the other program put it", got, want)
	}
	if _, err := os.Stat(filepath.Join(freezerRoot(), name("runmoved", "f"))); !os.IsNotExist(err) {
		t.Errorf("the run's freezer cgroup after revert: %v", err)
	}
}

// TestFaultsWhoseNamesDifferInPunctuationKeepApart: one run's faults "hog-a" and "hog_a" are
// two faults; reverting the first must leave the second's stressor running.
func TestFaultsWhoseNamesDifferInPunctuationKeepApart(t *testing.T) {
	r := shakedown.NewRegistry()
	Register(r)
	ft, _ := r.Fault("stress.cpu")
	build := func(fault string) shakedown.Fault {
		f, err := ft.New(shakedown.Env{RunID: "runpunct"}, &shakedown.FaultSpec{Name: fault, Type: ft.Name,
			Params: &CPUParams{Percent: 5, Cores: 1}, Duration: 20 * time.Second}, host())
		if err != nil {
			t.Fatalf("new %s: %v", fault, err)
		}
		return f
	}
	dash, under := build("hog-a"), build("hog_a")
	revDash := injectT(t, dash)
	injectT(t, under)
	revertTwice(t, revDash)
	n := name("runpunct", "hog_a")
	if len(stressorsOf(n)) != 1 {
		t.Fatalf("after reverting fault hog-a, the stressors of fault hog_a (%s): %v, want one running", n, stressorsOf(n))
	}
}

// TestMemoryStressorKilledInATightCgroupSaysSo: a memory stressor that joins a target whose
// memory cgroup cannot hold it is killed by the kernel before it is loaded; the inject fails
// with the signal that ended it (not an empty reason), the target lives, and nothing is left.
func TestMemoryStressorKilledInATightCgroupSaysSo(t *testing.T) {
	testenv.NeedRoot(t)
	parent := filepath.Join(cgroupRoot, "memory")
	if _, err := os.Stat(filepath.Join(parent, "memory.limit_in_bytes")); err != nil {
		testenv.Need(t, false, "no cgroup v1 memory controller at "+parent)
	}
	cg := filepath.Join(parent, fmt.Sprintf("tight-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	v := testenv.StartVictim(t)
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(parent, "cgroup.procs"), []byte(strconv.Itoa(v.PID)), 0)
		os.Remove(cg)
	})
	if err := os.WriteFile(filepath.Join(cg, "memory.limit_in_bytes"), []byte(strconv.Itoa(64<<20)), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(v.PID)), 0); err != nil {
		t.Fatal(err)
	}
	target := processOf(t, v.PID)
	f := newFault(t, "runtight", "stress.memory", target, func(p any) { p.(*MemoryParams).Size = "256mib" })
	rev, err := f.Inject(context.Background())
	if rev != nil {
		if rerr := rev(context.Background()); rerr != nil {
			t.Errorf("revert: %v", rerr)
		}
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("inject 256 MiB into a 64 MiB cgroup: %v, want the stressor's exit (an *exec.ExitError) in it", err)
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("stressor ended with %v, want killed by SIGKILL", ws)
	}
	if !procfs.Alive(v.PID, startTimeOf(target)) {
		t.Error("the target died")
	}
	waitGone(t, name("runtight", "f"))
}

func startTimeOf(in []shakedown.Instance) uint64 {
	st, _ := strconv.ParseUint(in[0].Attrs["starttime"], 10, 64)
	return st
}

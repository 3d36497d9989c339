package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/procfs/procfstest"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, 10*time.Second, cond)
}

func state(t *testing.T, pid int) byte {
	t.Helper()
	st, err := procfs.ReadStat(procfs.Root, pid)
	if err != nil {
		return 0
	}
	return st.State
}

func startTime(t *testing.T, pid int) uint64 {
	t.Helper()
	s, err := procfs.StartTime(pid)
	if err != nil {
		t.Fatalf("StartTime(%d): %v", pid, err)
	}
	return s
}

func ids(insts []shakedown.Instance) []string {
	out := []string{}
	for _, i := range insts {
		out = append(out, i.ID)
	}
	return out
}

func TestSelectorValidate(t *testing.T) {
	tests := []struct {
		name string
		sel  Selector
		ok   bool
	}{
		{"pid", Selector{PID: 12}, true},
		{"pidfile", Selector{PIDFile: "/run/x.pid"}, true},
		{"name", Selector{Name: "shop-web"}, true},
		{"cmdline", Selector{Cmdline: `shop-web .*--port=80`}, true},
		{"none", Selector{}, false},
		{"two", Selector{PID: 3, Name: "x"}, false},
		{"negative pid", Selector{PID: -3}, false},
		{"bad regexp", Selector{Cmdline: `shop(`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.sel.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate(%+v) = %v, want nil", tt.sel, err)
			}
			if !tt.ok && !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("Validate(%+v) = %v, want a KindInvalid error", tt.sel, err)
			}
			if tt.ok {
				back, ok := parseSelector(tt.sel.String())
				if !ok || back != tt.sel {
					t.Errorf("parseSelector(%q) = %+v, %v; want %+v", tt.sel.String(), back, ok, tt.sel)
				}
			}
		})
	}
}

func TestResolveVictim(t *testing.T) {
	v := testenv.StartVictim(t)
	start := startTime(t, v.PID)
	wantID := fmt.Sprintf("%d@%d", v.PID, start)
	ctx := t.Context()

	tests := []struct {
		name string
		sel  Selector
	}{
		{"pid", Selector{PID: v.PID}},
		{"pidfile", Selector{PIDFile: v.PIDFile}},
		{"name", Selector{Name: "victim"}},
		{"cmdline", Selector{Cmdline: "-pidfile " + regexp.QuoteMeta(v.PIDFile) + "( |$)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := shakedown.NewRegistry()
			Register(reg)
			kind, ok := reg.Target(Kind)
			if !ok {
				t.Fatal("process target kind not registered")
			}
			sel := tt.sel
			got, err := kind.Resolve(ctx, shakedown.Env{}, &sel)
			if err != nil {
				t.Fatalf("Resolve(%s): %v", tt.sel, err)
			}
			var inst *shakedown.Instance
			for i := range got {
				if got[i].ID == wantID {
					inst = &got[i]
				}
				if tt.name == "name" && got[i].Attrs["comm"] != "victim" {
					t.Errorf("Resolve(%s) matched %s", tt.sel, got[i].Name)
				}
			}
			if inst == nil {
				t.Fatalf("Resolve(%s) = %v, want it to hold %s", tt.sel, ids(got), wantID)
			}
			if tt.name != "name" && len(got) != 1 {
				t.Errorf("Resolve(%s) = %v, want only %s", tt.sel, ids(got), wantID)
			}
			if inst.Kind != Kind || inst.Name != fmt.Sprintf("victim (pid %d)", v.PID) {
				t.Errorf("instance kind %q name %q, want process and \"victim (pid %d)\"", inst.Kind, inst.Name, v.PID)
			}
			wantAttrs := map[string]string{"pid": strconv.Itoa(v.PID), "starttime": strconv.FormatUint(start, 10), "comm": "victim", "selector": tt.sel.String()}
			for k, want := range wantAttrs {
				if inst.Attrs[k] != want {
					t.Errorf("attr %s = %q, want %q", k, inst.Attrs[k], want)
				}
			}
			if !regexp.MustCompile(regexp.QuoteMeta(v.PIDFile)).MatchString(inst.Attrs["cmdline"]) {
				t.Errorf("attr cmdline %q does not hold the pidfile %s", inst.Attrs["cmdline"], v.PIDFile)
			}
		})
	}
}

func TestResolveNothingOrError(t *testing.T) {
	ctx := t.Context()
	dead := filepath.Join(t.TempDir(), "gone.pid")
	garbage := filepath.Join(t.TempDir(), "garbage.pid")
	if err := os.WriteFile(garbage, []byte("not a pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Neither blocks: a FIFO no one writes to, a device that never ends.
	fifo := filepath.Join(t.TempDir(), "fifo.pid")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	selfName := filepath.Base(os.Args[0])
	tests := []struct {
		name string
		sel  Selector
		kind *shakedown.Kind // nil: no error, no instances
	}{
		{"self by pid", Selector{PID: os.Getpid()}, nil},
		{"self by name", Selector{Name: selfName}, nil},
		{"init", Selector{PID: 1}, nil},
		{"kernel thread", Selector{Name: "kthreadd"}, nil},
		{"no such pid", Selector{PID: 1 << 30}, nil},
		{"no such name", Selector{Name: "no-such-process-here"}, nil},
		{"missing pidfile", Selector{PIDFile: dead}, ptr(shakedown.KindNotFound)},
		{"garbage pidfile", Selector{PIDFile: garbage}, ptr(shakedown.KindNotFound)},
		{"pidfile that is a FIFO", Selector{PIDFile: fifo}, ptr(shakedown.KindNotFound)},
		{"pidfile that is /dev/zero", Selector{PIDFile: "/dev/zero"}, ptr(shakedown.KindNotFound)},
		{"bad regexp", Selector{Cmdline: "a("}, ptr(shakedown.KindInvalid)},
		{"nothing", Selector{}, ptr(shakedown.KindInvalid)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sel.Resolve(ctx)
			switch {
			case tt.kind == nil && err != nil:
				t.Fatalf("Resolve(%s): %v, want no error", tt.sel, err)
			case tt.kind != nil && !shakedown.IsKind(err, *tt.kind):
				t.Fatalf("Resolve(%s) error = %v, want kind %v", tt.sel, err, *tt.kind)
			}
			if len(got) != 0 {
				t.Errorf("Resolve(%s) = %v, want nothing", tt.sel, ids(got))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestFindFakeProc checks what is never a target, on a proc tree made for the test.
func TestFindFakeProc(t *testing.T) {
	root := t.TempDir()
	add := func(pid int, stat string, argv string) {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644)
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(argv), 0o644)
	}
	add(1, procfstest.StatLine(1, "worker", 'S', 0, 1, 0, 1), "worker\x00")
	add(100, procfstest.StatLine(100, "worker", 'S', 2, 0, procfs.PFKThread, 10), "")
	add(101, procfstest.StatLine(101, "worker", 'Z', 1, 101, 0, 11), "")
	add(102, procfstest.StatLine(102, "worker", 'S', 1, 102, 0, 12), "worker\x00--serve\x00")
	add(103, procfstest.StatLine(103, "weird) (name", 'S', 1, 103, 0, 13), "/usr/bin/worker\x00-x\x00")
	add(104, procfstest.StatLine(104, "other", 'S', 1, 104, 0, 14), "/usr/bin/other\x00worker\x00")
	add(os.Getpid(), procfstest.StatLine(os.Getpid(), "worker", 'R', 1, 1, 0, 15), "worker\x00")
	os.MkdirAll(filepath.Join(root, "self"), 0o755)

	tests := []struct {
		sel  Selector
		want []int
	}{
		{Selector{Name: "worker"}, []int{102, 103}},
		{Selector{Name: "weird) (name"}, []int{103}},
		{Selector{Cmdline: `^worker --serve$`}, []int{102}},
		{Selector{Cmdline: `worker`}, []int{102, 103, 104}},
		{Selector{PID: 100}, nil},
		{Selector{PID: 101}, nil},
		{Selector{PID: 104}, []int{104}},
	}
	for _, tt := range tests {
		procs, _, err := tt.sel.find(t.Context(), root)
		if err != nil {
			t.Fatalf("find(%s): %v", tt.sel, err)
		}
		var got []int
		for _, p := range procs {
			got = append(got, p.PID)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("find(%s) pids (-want +got):\n%s", tt.sel, diff)
		}
	}
}

func newFault(t *testing.T, env shakedown.Env, typ string, params any, targets []shakedown.Instance) shakedown.Fault {
	t.Helper()
	reg := shakedown.NewRegistry()
	Register(reg)
	ft, ok := reg.Fault(typ)
	if !ok {
		t.Fatalf("fault type %s not registered", typ)
	}
	f, err := ft.New(env, &shakedown.FaultSpec{Name: "f1", Type: typ, Target: "web", Params: params}, targets)
	if err != nil {
		t.Fatalf("new %s: %v", typ, err)
	}
	return f
}

func undoFunc(t *testing.T, typ string) shakedown.UndoFunc {
	t.Helper()
	reg := shakedown.NewRegistry()
	Register(reg)
	f, ok := reg.Undo(typ)
	if !ok {
		t.Fatalf("undo type %s not registered", typ)
	}
	return f
}

func resolveOne(t *testing.T, sel Selector) []shakedown.Instance {
	t.Helper()
	insts, err := sel.Resolve(t.Context())
	if err != nil || len(insts) != 1 {
		t.Fatalf("Resolve(%s) = %v, %v; want one process", sel, ids(insts), err)
	}
	return insts
}

func TestPauseAndRevert(t *testing.T) {
	v := testenv.StartVictim(t)
	insts := resolveOne(t, Selector{PIDFile: v.PIDFile})
	start := startTime(t, v.PID)
	f := newFault(t, shakedown.Env{}, "process.pause", nil, insts)

	if diff := cmp.Diff([]string{fmt.Sprintf("SIGSTOP victim (pid %d)", v.PID)}, f.(shakedown.Planner).Plan()); diff != "" {
		t.Errorf("Plan (-want +got):\n%s", diff)
	}
	undos := f.Undo()
	if len(undos) != 1 || undos[0].Type != UndoSignal {
		t.Fatalf("Undo() = %+v, want one %s", undos, UndoSignal)
	}
	if diff := cmp.Diff(fmt.Sprintf(`{"pid":%d,"starttime":%d,"signal":"CONT"}`, v.PID, start), string(undos[0].Data)); diff != "" {
		t.Errorf("undo data (-want +got):\n%s", diff)
	}

	revert, err := f.Inject(t.Context())
	if err != nil || revert == nil {
		t.Fatalf("Inject: revert %v, error %v", revert != nil, err)
	}
	waitFor(t, "victim stopped", func() bool { return state(t, v.PID) == 'T' })

	if err := revert(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("revert: %v", err)
	}
	waitFor(t, "victim running again", func() bool { return state(t, v.PID) != 'T' })
	// Idempotent: again, and from the journal.
	if err := revert(t.Context()); err != nil {
		t.Errorf("second revert: %v", err)
	}
	if err := undoFunc(t, UndoSignal)(t.Context(), undos[0].Data); err != nil {
		t.Errorf("undo from journal data: %v", err)
	}
}

func TestPauseUndoFromJournal(t *testing.T) {
	v := testenv.StartVictim(t)
	insts := resolveOne(t, Selector{PID: v.PID})
	f := newFault(t, shakedown.Env{}, "process.pause", nil, insts)
	undos := f.Undo()
	if _, err := f.Inject(t.Context()); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	waitFor(t, "victim stopped", func() bool { return state(t, v.PID) == 'T' })
	// The runner died: the watchdog replays the journal.
	if err := undoFunc(t, UndoSignal)(t.Context(), undos[0].Data); err != nil {
		t.Fatalf("undo: %v", err)
	}
	waitFor(t, "victim running again", func() bool { return state(t, v.PID) != 'T' })
}

// TestPIDReuseGuard stands in for a pid handed to another process: the recorded start
// time differs from the running process's, and nothing may be signalled.
func TestPIDReuseGuard(t *testing.T) {
	v := testenv.StartVictim(t)
	start := startTime(t, v.PID)
	stale := []shakedown.Instance{{Kind: Kind, ID: fmt.Sprintf("%d@%d", v.PID, start+1), Name: "victim", Attrs: map[string]string{"comm": "victim"}}}

	t.Run("pause", func(t *testing.T) {
		f := newFault(t, shakedown.Env{}, "process.pause", nil, stale)
		revert, err := f.Inject(t.Context())
		if !shakedown.IsKind(err, shakedown.KindNotFound) || revert != nil {
			t.Fatalf("Inject on a reused pid: revert %v, error %v; want no revert and KindNotFound", revert != nil, err)
		}
		if s := state(t, v.PID); s == 'T' {
			t.Fatalf("victim was stopped")
		}
	})
	t.Run("kill", func(t *testing.T) {
		f := newFault(t, shakedown.Env{}, "process.kill", &KillParams{Signal: "KILL"}, stale)
		if _, err := f.Inject(t.Context()); !shakedown.IsKind(err, shakedown.KindNotFound) {
			t.Fatalf("Inject on a reused pid: %v, want KindNotFound", err)
		}
		if !procfs.Alive(v.PID, start) {
			t.Fatalf("victim was killed")
		}
	})
	t.Run("undo", func(t *testing.T) {
		if ok, err := procfs.Signal(v.PID, start, syscall.SIGSTOP); !ok || err != nil {
			t.Fatalf("procfs.Signal(SIGSTOP) = %v, %v", ok, err)
		}
		waitFor(t, "victim stopped", func() bool { return state(t, v.PID) == 'T' })
		data := fmt.Appendf(nil, `{"pid":%d,"starttime":%d,"signal":"CONT"}`, v.PID, start+1)
		if err := undoFunc(t, UndoSignal)(t.Context(), data); err != nil {
			t.Fatalf("undo for a reused pid: %v, want success (the process is gone)", err)
		}
		// The kernel resumes a stopped process while kill(2) delivers SIGCONT, so had one been
		// sent, the state would already show it.
		if state(t, v.PID) != 'T' {
			t.Fatal("undo with a wrong start time continued the process")
		}
		data = fmt.Appendf(nil, `{"pid":%d,"starttime":%d,"signal":"CONT"}`, v.PID, start)
		if err := undoFunc(t, UndoSignal)(t.Context(), data); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "victim running again", func() bool { return state(t, v.PID) != 'T' })
	})
}

func TestUndoSignalRejects(t *testing.T) {
	for _, data := range []string{`{`, `{"pid":0,"starttime":1,"signal":"CONT"}`, `{"pid":5,"starttime":1,"signal":"NOPE"}`} {
		if err := undoFunc(t, UndoSignal)(t.Context(), []byte(data)); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("undo %s = %v, want KindInvalid", data, err)
		}
	}
}

func TestKillWithSignal(t *testing.T) {
	v := testenv.StartVictim(t)
	start := startTime(t, v.PID)
	f := newFault(t, shakedown.Env{}, "process.kill", &KillParams{Signal: "TERM"}, resolveOne(t, Selector{PID: v.PID}))
	if diff := cmp.Diff([]string{fmt.Sprintf("SIGTERM victim (pid %d)", v.PID)}, f.(shakedown.Planner).Plan()); diff != "" {
		t.Errorf("Plan (-want +got):\n%s", diff)
	}
	if u := f.Undo(); len(u) != 0 {
		t.Errorf("Undo() without restart = %+v, want none", u)
	}
	revert, err := f.Inject(t.Context())
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	if err := v.Cmd.Wait(); err != nil {
		t.Errorf("victim after SIGTERM: %v, want a clean exit", err)
	}
	if procfs.Alive(v.PID, start) {
		t.Error("victim still alive")
	}
	if err := revert(t.Context()); err != nil {
		t.Errorf("revert without restart: %v", err)
	}
}

// countMatching counts live processes whose command line names pidfile.
func countMatching(t *testing.T, pidfile string) int {
	t.Helper()
	got, err := (&Selector{Cmdline: "-pidfile " + regexp.QuoteMeta(pidfile) + "( |$)"}).Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return len(got)
}

// adopt makes sure a process a test did not start directly is killed when the test ends.
func adopt(t *testing.T, pid int) {
	start := startTime(t, pid)
	t.Cleanup(func() {
		procfs.Signal(pid, start, syscall.SIGCONT)
		procfs.Signal(pid, start, syscall.SIGKILL)
	})
}

func TestKillAndRestart(t *testing.T) {
	v := testenv.StartVictim(t)
	bin := testenv.VictimBinary(t)
	start := startTime(t, v.PID)
	env := shakedown.Env{RunID: "run1", StateDir: filepath.Join(t.TempDir(), "state")}
	params := &KillParams{Signal: "SIGKILL", Restart: []string{bin, "-pidfile", v.PIDFile}}
	f := newFault(t, env, "process.kill", params, resolveOne(t, Selector{PIDFile: v.PIDFile}))

	if err := f.(shakedown.Preparer).Prepare(t.Context()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	undos := f.Undo()
	if len(undos) != 1 || undos[0].Type != UndoRestart {
		t.Fatalf("Undo() = %+v, want one %s", undos, UndoRestart)
	}
	revert, err := f.Inject(t.Context())
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	waitFor(t, "victim killed", func() bool { return !procfs.Alive(v.PID, start) })
	if n := countMatching(t, v.PIDFile); n != 0 {
		t.Fatalf("%d victims run after the kill, want 0", n)
	}

	if err := revert(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("revert: %v", err)
	}
	var newPID int
	waitFor(t, "victim restarted", func() bool {
		newPID = testenv.ReadPIDFile(v.PIDFile)
		return newPID != v.PID && newPID > 0
	})
	adopt(t, newPID)
	st, err := procfs.ReadStat(procfs.Root, newPID)
	if err != nil {
		t.Fatalf("restarted victim: %v", err)
	}
	if st.Session != newPID {
		t.Errorf("restarted victim is in session %d, want its own (%d)", st.Session, newPID)
	}
	if _, err := os.Stat(filepath.Join(env.StateDir, restartDir, "process-restart-run1-f1.log")); err != nil {
		t.Errorf("restart log: %v", err)
	}

	// Idempotent: again in process, and from the journal.
	if err := revert(t.Context()); err != nil {
		t.Fatalf("second revert: %v", err)
	}
	if err := undoFunc(t, UndoRestart)(t.Context(), undos[0].Data); err != nil {
		t.Fatalf("undo from journal: %v", err)
	}
	if n := countMatching(t, v.PIDFile); n != 1 {
		t.Errorf("%d victims run after three reverts, want 1", n)
	}
	if got := testenv.ReadPIDFile(v.PIDFile); got != newPID {
		t.Errorf("pidfile holds %d after more reverts, want %d", got, newPID)
	}
}

// TestRestartSkipsWhenSupervisorRestarted: something else brought the process back, so
// the revert starts nothing, with no marker file to go by (no state directory).
func TestRestartSkipsWhenSupervisorRestarted(t *testing.T) {
	v := testenv.StartVictim(t)
	bin := testenv.VictimBinary(t)
	start := startTime(t, v.PID)
	params := &KillParams{Restart: []string{bin, "-pidfile", v.PIDFile}, Signal: "9"}
	f := newFault(t, shakedown.Env{RunID: "run2"}, "process.kill", params, resolveOne(t, Selector{PIDFile: v.PIDFile}))
	if err := f.(shakedown.Preparer).Prepare(t.Context()); err != nil {
		t.Fatal(err)
	}
	undos := f.Undo()
	if _, err := f.Inject(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "victim killed", func() bool { return !procfs.Alive(v.PID, start) })

	// The supervisor.
	sup := testenv.StartVictim(t, "-pidfile", v.PIDFile)
	waitFor(t, "supervisor's victim", func() bool { return testenv.ReadPIDFile(v.PIDFile) == sup.PID })

	if err := undoFunc(t, UndoRestart)(t.Context(), undos[0].Data); err != nil {
		t.Fatalf("undo: %v", err)
	}
	if got := testenv.ReadPIDFile(v.PIDFile); got != sup.PID {
		t.Errorf("pidfile holds %d, want the supervisor's %d: a second victim was started", got, sup.PID)
	}
}

func TestRestartFailsAtOnce(t *testing.T) {
	d := RestartData{Selector: Selector{Name: "no-such-process-here"}, Argv: []string{"sh", "-c", "echo cannot bind >&2; exit 7"}, Log: filepath.Join(t.TempDir(), "r.log")}
	if err := Restart(t.Context(), d); err == nil {
		t.Fatal("Restart of a command that exits 7 at once succeeded")
	}
	d.Argv = []string{filepath.Join(t.TempDir(), "no-such-program")}
	if err := Restart(t.Context(), d); !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Fatalf("Restart of a missing program = %v, want KindNotFound", err)
	}
}

func TestKillParamsValidate(t *testing.T) {
	reg := shakedown.NewRegistry()
	Register(reg)
	ft, _ := reg.Fault("process.kill")
	def := ft.Params().(*KillParams)
	if def.Signal != "KILL" || def.Validate() != nil {
		t.Fatalf("default params %+v do not validate as KILL", def)
	}
	for _, p := range []KillParams{{Signal: "NOPE"}, {Signal: ""}, {Signal: "KILL", Restart: []string{""}}} {
		if err := p.Validate(); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Validate(%+v) = %v, want KindInvalid", p, err)
		}
	}
}

func BenchmarkResolveByName(b *testing.B) {
	// No process has this name, so every process's stat and cmdline are read: the worst case.
	sel := &Selector{Name: "no-such-process-here"}
	for b.Loop() {
		if _, err := sel.Resolve(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	all, _ := procfs.PIDs(procfs.Root)
	b.ReportMetric(float64(len(all)), "procs")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(1, len(all))), "ns/proc")
}

// TestRestartByPIDSelector: a restarted process has another pid, so with a pid target only
// what the revert itself started tells it not to start another — the marker file in the
// state directory, or, without one, the revert's own memory.
func TestRestartByPIDSelector(t *testing.T) {
	for _, stateDir := range []string{"", "state"} {
		t.Run("state dir "+strconv.Quote(stateDir), func(t *testing.T) {
			v := testenv.StartVictim(t)
			bin := testenv.VictimBinary(t)
			start := startTime(t, v.PID)
			env := shakedown.Env{RunID: "run3"}
			if stateDir != "" {
				env.StateDir = filepath.Join(t.TempDir(), stateDir)
			}
			newPIDFile := filepath.Join(t.TempDir(), "new.pid")
			params := &KillParams{Signal: "KILL", Restart: []string{bin, "-pidfile", newPIDFile}}
			f := newFault(t, env, "process.kill", params, resolveOne(t, Selector{PID: v.PID}))
			if err := f.(shakedown.Preparer).Prepare(t.Context()); err != nil {
				t.Fatal(err)
			}
			undos := f.Undo()
			revert, err := f.Inject(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "victim killed", func() bool { return !procfs.Alive(v.PID, start) })
			if err := revert(t.Context()); err != nil {
				t.Fatalf("revert: %v", err)
			}
			var newPID int
			waitFor(t, "victim restarted", func() bool { newPID = testenv.ReadPIDFile(newPIDFile); return newPID > 0 })
			adopt(t, newPID)
			if err := revert(t.Context()); err != nil {
				t.Fatalf("second revert: %v", err)
			}
			if stateDir != "" {
				if err := undoFunc(t, UndoRestart)(t.Context(), undos[0].Data); err != nil {
					t.Fatalf("undo from journal: %v", err)
				}
			}
			if n := countMatching(t, newPIDFile); n != 1 {
				t.Errorf("%d restarted victims run, want 1", n)
			}
		})
	}
}

// TestPauseLeavesAStoppedProcessStopped: a process that is stopped already when a pause is
// prepared — by a shell's job control, a debugger, or another pause of the same run — is
// left alone, and neither the revert nor the journal's undo resumes it: it was not this
// fault that stopped it. The others of its target are paused, and resumed by its revert.
func TestPauseLeavesAStoppedProcessStopped(t *testing.T) {
	v, w := testenv.StartVictim(t), testenv.StartVictim(t)
	vi, wi := resolveOne(t, Selector{PID: v.PID}), resolveOne(t, Selector{PID: w.PID})
	first := newFault(t, shakedown.Env{}, "process.pause", nil, vi)
	firstRevert, err := first.Inject(t.Context())
	if err != nil || firstRevert == nil {
		t.Fatalf("first pause: revert %v, error %v", firstRevert != nil, err)
	}
	waitFor(t, "victim stopped", func() bool { return state(t, v.PID) == 'T' })

	second := newFault(t, shakedown.Env{}, "process.pause", nil, append(vi, wi...))
	if err := second.(shakedown.Preparer).Prepare(t.Context()); err != nil { // the engine prepares, then journals the undo
		t.Fatalf("prepare the second pause: %v", err)
	}
	undos := second.Undo()
	if len(undos) != 1 || !strings.Contains(undos[0].Summary, fmt.Sprint(w.PID)) {
		t.Fatalf("second pause's undos %+v: want one, for pid %d only", undos, w.PID)
	}
	revert, err := second.Inject(t.Context())
	if err != nil || revert == nil {
		t.Fatalf("second pause: revert %v, error %v", revert != nil, err)
	}
	waitFor(t, "second victim stopped", func() bool { return state(t, w.PID) == 'T' })
	if err := revert(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("revert the second pause: %v", err)
	}
	for _, u := range undos {
		if err := undoFunc(t, u.Type)(t.Context(), u.Data); err != nil {
			t.Fatalf("replay the second pause's undo: %v", err)
		}
	}
	waitFor(t, "second victim running again", func() bool { return state(t, w.PID) != 'T' })
	if got := state(t, v.PID); got != 'T' {
		t.Fatalf("victim's state after the second pause's revert = %q, want T: the first pause still holds", got)
	}
	if err := firstRevert(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("revert the first pause: %v", err)
	}
	waitFor(t, "victim running again", func() bool { return state(t, v.PID) != 'T' })
}

// TestPauseOfStoppedProcessesIsRefused: a pause whose every process is stopped already
// would stop nothing, and the run would judge its hypothesis on a fault that never
// happened: Prepare refuses it (KindConflict, exit 5) naming them, and so does an Inject
// that finds them all stopped. Its plan, which is never prepared, looks for itself and
// says no SIGSTOP for a stopped process.
func TestPauseOfStoppedProcessesIsRefused(t *testing.T) {
	v := testenv.StartVictim(t)
	insts := resolveOne(t, Selector{PID: v.PID})
	if err := syscall.Kill(v.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "victim stopped", func() bool { return state(t, v.PID) == 'T' })

	f := newFault(t, shakedown.Env{}, "process.pause", nil, insts)
	plan := f.(shakedown.Planner).Plan()
	if slices.ContainsFunc(plan, func(l string) bool { return strings.Contains(l, "SIGSTOP") }) {
		t.Errorf("plan of a pause of a stopped process, unprepared: %q, want no SIGSTOP", plan)
	}
	if !slices.ContainsFunc(plan, func(l string) bool { return strings.Contains(l, "refused") }) {
		t.Errorf("plan of a pause of a stopped process: %q, want it to say the fault would be refused", plan)
	}
	// an Inject that was not prepared looks again
	rev, err := f.Inject(t.Context())
	if rev != nil || !shakedown.IsKind(err, shakedown.KindConflict) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", v.PID)) {
		t.Errorf("inject of a pause of a stopped process: revert %v, err %v; want none and KindConflict naming pid %d", rev != nil, err, v.PID)
	}
	err = f.(shakedown.Preparer).Prepare(t.Context())
	if !shakedown.IsKind(err, shakedown.KindConflict) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", v.PID)) {
		t.Errorf("prepare of a pause of a stopped process: %v, want KindConflict naming pid %d", err, v.PID)
	}
	if got := state(t, v.PID); got != 'T' {
		t.Errorf("victim's state = %q, want T: left as it was", got)
	}
}

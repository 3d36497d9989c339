package exec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

func build(t *testing.T, env shakedown.Env, p *Params) shakedown.Fault {
	t.Helper()
	reg := shakedown.NewRegistry()
	Register(reg)
	ft, ok := reg.Fault(Type)
	if !ok {
		t.Fatal("exec fault type not registered")
	}
	if len(ft.Targets) != 0 {
		t.Errorf("exec takes targets %v, want none", ft.Targets)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate(%+v): %v", p, err)
	}
	f, err := ft.New(env, &shakedown.FaultSpec{Name: "f1", Type: Type, Params: p}, nil)
	if err != nil {
		t.Fatalf("new exec: %v", err)
	}
	return f
}

func defaults(t *testing.T) *Params {
	t.Helper()
	reg := shakedown.NewRegistry()
	Register(reg)
	ft, _ := reg.Fault(Type)
	return ft.Params().(*Params)
}

func TestDefaultsAndValidate(t *testing.T) {
	p := defaults(t)
	if p.Timeout.D() != 30*time.Second {
		t.Errorf("default timeout %s, want 30s", p.Timeout)
	}
	tests := []struct {
		name string
		p    Params
		ok   bool
	}{
		{"inject only", Params{Inject: []string{"true"}, Timeout: p.Timeout}, true},
		{"both", Params{Inject: []string{"true"}, Revert: []string{"true"}, Timeout: p.Timeout, Env: map[string]string{"A": "1"}}, true},
		{"no inject", Params{Timeout: p.Timeout}, false},
		{"empty program", Params{Inject: []string{""}, Timeout: p.Timeout}, false},
		{"empty revert program", Params{Inject: []string{"true"}, Revert: []string{"", "x"}, Timeout: p.Timeout}, false},
		{"zero timeout", Params{Inject: []string{"true"}}, false},
		{"bad env name", Params{Inject: []string{"true"}, Timeout: p.Timeout, Env: map[string]string{"A=B": "1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("Validate = %v, want KindInvalid", err)
			}
		})
	}
}

func TestInjectAndRevert(t *testing.T) {
	dir := t.TempDir()
	p := defaults(t)
	p.Inject = []string{"sh", "-c", `echo "in $FOO $SHAKEDOWN_RUN_ID $SHAKEDOWN_FAULT $(pwd)" >> log`}
	p.Revert = []string{"sh", "-c", `echo "out $FOO" >> log`}
	p.Env = map[string]string{"FOO": "bar baz"}
	p.Dir = dir
	f := build(t, shakedown.Env{RunID: "r9"}, p)

	wantPlan := []string{
		`run sh -c "echo \"in $FOO $SHAKEDOWN_RUN_ID $SHAKEDOWN_FAULT $(pwd)\" >> log" (timeout 30s)`,
		`revert: run sh -c "echo \"out $FOO\" >> log"`,
	}
	if diff := cmp.Diff(wantPlan, f.(shakedown.Planner).Plan()); diff != "" {
		t.Errorf("Plan (-want +got):\n%s", diff)
	}
	undos := f.Undo()
	if len(undos) != 2 || undos[0].Type != StopType || !undos[0].Interrupt || undos[1].Type != UndoType || undos[1].Interrupt {
		t.Fatalf("Undo() = %+v, want an interrupting %s, then %s", undos, StopType, UndoType)
	}

	revert, err := f.Inject(t.Context())
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	if err := revert(t.Context()); err != nil {
		t.Fatalf("revert: %v", err)
	}
	reg := shakedown.NewRegistry()
	Register(reg)
	undo, _ := reg.Undo(UndoType)
	if err := undo(t.Context(), undos[1].Data); err != nil {
		t.Fatalf("undo from journal: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "log"))
	want := fmt.Sprintf("in bar baz r9 f1 %s\nout bar baz\nout bar baz\n", dir)
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestInjectFails(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "reverted")
	p := defaults(t)
	p.Inject = []string{"sh", "-c", "for i in 1 2 3 4 5 6 7; do echo line$i >&2; done; exit 3"}
	p.Revert = []string{"touch", marker}
	f := build(t, shakedown.Env{}, p)
	revert, err := f.Inject(t.Context())
	if !shakedown.IsKind(err, shakedown.KindInternal) {
		t.Fatalf("Inject = %v, want KindInternal", err)
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Inject error %v holds no *ExitError", err)
	}
	if ee.Code != 3 || ee.Signal != "" {
		t.Errorf("exit code %d signal %q, want 3 and none", ee.Code, ee.Signal)
	}
	if diff := cmp.Diff("line3\nline4\nline5\nline6\nline7", ee.Stderr); diff != "" {
		t.Errorf("stderr tail (-want +got):\n%s", diff)
	}
	// It ran, so it may have done something: its revert is still returned.
	if revert == nil {
		t.Fatal("no revert after a failed inject that ran")
	}
	if err := revert(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("revert did not run: %v", err)
	}
}

func TestInjectCannotStart(t *testing.T) {
	p := defaults(t)
	p.Inject = []string{filepath.Join(t.TempDir(), "no-such-program")}
	p.Revert = []string{"true"}
	revert, err := build(t, shakedown.Env{}, p).Inject(t.Context())
	if !shakedown.IsKind(err, shakedown.KindNotFound) || revert != nil {
		t.Fatalf("Inject = revert %v, %v; want no revert and KindNotFound", revert != nil, err)
	}
	p.Inject = []string{"no-such-program-on-path-" + strconv.Itoa(os.Getpid())}
	if _, err := build(t, shakedown.Env{}, p).Inject(t.Context()); !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Fatalf("Inject = %v, want KindNotFound", err)
	}
}

func TestRevertFails(t *testing.T) {
	p := defaults(t)
	p.Inject = []string{"true"}
	p.Revert = []string{"sh", "-c", "echo nope >&2; exit 4"}
	revert, err := build(t, shakedown.Env{}, p).Inject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	err = revert(t.Context())
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 4 || ee.Stderr != "nope" {
		t.Fatalf("revert = %v, want exit 4 with stderr nope", err)
	}
}

// TestTimeoutKillsGroup: a command that outlives its timeout is killed with everything it
// started, and the run does not wait for the background child.
func TestTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	p := defaults(t)
	// The timeout gives a busy machine time to start the shell and its child first.
	p.Timeout = shakedown.Duration(2 * time.Second)
	p.Inject = []string{"sh", "-c", `sleep 60 & echo $! > ` + pidFile + `; wait`}
	_, err := build(t, shakedown.Env{}, p).Inject(t.Context())
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Signal != "KILL" || !shakedown.IsKind(err, shakedown.KindInternal) {
		t.Fatalf("Inject = %v, want KindInternal with the command killed by SIGKILL", err)
	}
	child := testenv.ReadPIDFile(pidFile)
	if child <= 0 {
		t.Fatalf("no child pid in %s", pidFile)
	}
	testenv.WaitFor(t, fmt.Sprintf("background child %d gone after the timeout", child), 10*time.Second,
		func() bool { return !testenv.Running(child) })
}

// TestBackgroundChildDoesNotHoldUp: a command that leaves a process behind with its
// standard error open returns as soon as it exits.
func TestBackgroundChildDoesNotHoldUp(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	p := defaults(t)
	p.Timeout = shakedown.Duration(20 * time.Second)
	p.Inject = []string{"sh", "-c", `sleep 30 & echo $! > ` + pidFile}
	if _, err := build(t, shakedown.Env{}, p).Inject(t.Context()); err != nil {
		t.Fatalf("Inject: %v", err)
	}
	child := testenv.ReadPIDFile(pidFile)
	if child <= 0 {
		t.Fatalf("no child pid in %s", pidFile)
	}
	defer syscall.Kill(child, syscall.SIGKILL)
	if !testenv.Running(child) {
		t.Fatalf("background child %d is gone: Inject waited for it", child)
	}
}

func TestCancelledRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Command{Argv: []string{"sleep", "5"}, Timeout: shakedown.Duration(time.Minute)}.Run(ctx)
	if !shakedown.IsKind(err, shakedown.KindAborted) {
		t.Fatalf("Run on a cancelled context = %v, want KindAborted", err)
	}
}

func TestUndoRejects(t *testing.T) {
	reg := shakedown.NewRegistry()
	Register(reg)
	undo, _ := reg.Undo(UndoType)
	for _, data := range []string{`{`, `{"argv":[]}`, `{"argv":[""]}`} {
		if err := undo(t.Context(), []byte(data)); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("undo %s = %v, want KindInvalid", data, err)
		}
	}
}

// TestUndoStopsInjectStillRunning: the runner died while the inject ran (`sleep; touch
// mark`). Replayed from the journal, the undos first kill the inject and everything it
// started — even a child that left its process group and session — and only then revert, so
// nothing of the inject happens after the revert.
func TestUndoStopsInjectStillRunning(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "mark")
	escaped := filepath.Join(dir, "escaped")
	started := filepath.Join(dir, "started")
	p := defaults(t)
	p.Timeout = shakedown.Duration(time.Minute)
	p.Inject = []string{"sh", "-c", `setsid sh -c 'echo $$ > ` + escaped + `; sleep 60; touch ` + mark + `' & touch ` + started + `; sleep 60; touch ` + mark}
	p.Revert = []string{"rm", "-f", mark}
	f := build(t, shakedown.Env{RunID: "r1"}, p)

	injected := make(chan error, 1)
	go func() {
		_, err := f.Inject(context.Background()) // the "runner", which then dies
		injected <- err
	}()
	testenv.WaitFor(t, "inject started", 10*time.Second, func() bool {
		_, err := os.Stat(started)
		return err == nil && testenv.ReadPIDFile(escaped) > 0
	})
	other := testenv.ReadPIDFile(escaped)

	reg := shakedown.NewRegistry()
	Register(reg)
	for _, u := range shakedown.InOrder(f.Undo(), false) {
		fn, _ := reg.Undo(u.Type)
		if err := fn(t.Context(), u.Data); err != nil {
			t.Fatalf("undo %s: %v", u.Type, err)
		}
	}
	select {
	case err := <-injected:
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Signal != "KILL" {
			t.Errorf("the interrupted inject = %v, want it killed by SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the inject still runs after its undo")
	}
	testenv.WaitFor(t, fmt.Sprintf("the escaped child %d gone", other), 10*time.Second,
		func() bool { return !testenv.Running(other) })
	if _, err := os.Stat(mark); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mark: %v, want it never made", err)
	}
}

// TestUndoStopsEarlierRevert: a revert a dead runner left running is killed before the
// journal's undo runs it again, so that the two never race.
func TestUndoStopsEarlierRevert(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	p := defaults(t)
	p.Timeout = shakedown.Duration(time.Minute)
	p.Inject = []string{"true"}
	p.Revert = []string{"sh", "-c", `if [ -e ` + started + ` ]; then exit 0; fi; touch ` + started + `; sleep 60`}
	f := build(t, shakedown.Env{RunID: "r1"}, p)
	revert, err := f.Inject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() { first <- revert(context.Background()) }() // the runner's revert, then it dies
	testenv.WaitFor(t, "first revert started", 10*time.Second, func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	reg := shakedown.NewRegistry()
	Register(reg)
	undo, _ := reg.Undo(UndoType)
	if err := undo(t.Context(), f.Undo()[1].Data); err != nil {
		t.Fatalf("undo from journal: %v", err)
	}
	select {
	case err := <-first:
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Signal != "KILL" {
			t.Errorf("the earlier revert = %v, want it killed by SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the earlier revert still runs after the undo ran the revert again")
	}
}

// TestSecretsHidden: what a command prints of its env: values (not of the variables
// shakedown sets), and a URL's password in its argv, show as xxxxx in its error, its plan
// and its undo's summary; the undo's data keeps the values, since the revert needs them when
// it is replayed.
func TestSecretsHidden(t *testing.T) {
	p := defaults(t)
	p.Inject = []string{"sh", "-c", `echo "login with $TOKEN failed in $SHAKEDOWN_INJECT" >&2; exit 3`}
	p.Revert = []string{"curl", "http://ops:Passw0rdInArgv@127.0.0.1:1/undo"}
	p.Env = map[string]string{"TOKEN": "T0kenInEnv"}
	f := build(t, shakedown.Env{RunID: "r1"}, p)
	_, err := f.Inject(t.Context())
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Inject = %v, want an *ExitError", err)
	}
	if want := "login with xxxxx failed in r1/f1"; ee.Stderr != want { // shakedown's own variables are no secrets
		t.Errorf("stderr tail = %q, want %q", ee.Stderr, want)
	}
	shown := []string{err.Error()}
	shown = append(shown, f.(shakedown.Planner).Plan()...)
	var revert string
	for _, u := range f.Undo() {
		shown = append(shown, u.Summary)
		if u.Type == UndoType {
			revert = string(u.Data)
		}
	}
	for _, secret := range []string{"T0kenInEnv", "Passw0rdInArgv"} {
		if s := strings.Join(shown, "\n"); strings.Contains(s, secret) {
			t.Errorf("%q shows the secret %q", s, secret)
		}
	}
	if !strings.Contains(revert, "T0kenInEnv") || !strings.Contains(revert, "Passw0rdInArgv") {
		t.Errorf("the revert's undo data %s lost what the revert needs", revert)
	}
}

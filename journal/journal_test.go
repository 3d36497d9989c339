package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/private"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// The test binary doubles as a runner process that holds a journal, when helperEnv is set.
const helperEnv = "SHAKEDOWN_JOURNAL_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := helper(mode, os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	settle = time.Millisecond // the second pass over interrupted injects, quick in tests
	os.Exit(m.Run())
}

// helper is a runner in another process. "hold": open a journal, begin one entry, say
// "ready" and wait for stdin to end, then exit without closing the journal. "churn": begin
// and finish many entries, then close.
func helper(mode, stateDir, runID string) error {
	j, err := Open(stateDir, runID, Meta{Experiment: "helper"})
	if err != nil {
		return err
	}
	switch mode {
	case "hold":
		id, err := j.Begin("held", []shakedown.Undo{undo("mark", runID)}, time.Hour)
		if err != nil {
			return err
		}
		if err := j.Injected(id); err != nil {
			return err
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		return nil // dies holding the journal: the kernel drops the lock
	case "churn":
		for i := range 50 {
			id, err := j.Begin(fmt.Sprintf("f%d", i), []shakedown.Undo{undo("mark", runID)}, time.Hour)
			if err != nil {
				return err
			}
			if err := j.Done(id, nil); err != nil {
				return err
			}
		}
		return j.Close()
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func undo(typ, arg string) shakedown.Undo {
	data, _ := json.Marshal(arg)
	return shakedown.Undo{Type: typ, Data: data, Summary: typ + " " + arg}
}

// recorder is an undo function that notes its arguments, in order, and fails for "fail".
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) registry() *shakedown.Registry {
	reg := shakedown.NewRegistry()
	reg.AddUndo("mark", func(_ context.Context, data json.RawMessage) error {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, s)
		if s == "fail" {
			return errors.New("refused")
		}
		return nil
	})
	return reg
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// crash makes j look like the journal of a run killed at this point: its file stays as
// written and its lock is dropped.
// crashedOne leaves in dir the journal of run1, which began one fault (its undo marks
// mark) and crashed, and returns its path.
func crashedOne(t *testing.T, dir, mark string) string {
	t.Helper()
	j := mustOpen(t, dir, "run1")
	mustBegin(t, j, "a", undo("mark", mark))
	crash(t, j)
	return Path(dir, "run1")
}

// rewrite replaces the file at path with what f makes of it.
func rewrite(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func crash(t *testing.T, j *Journal) {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	if err := j.f.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t *testing.T, dir, id string) *Journal {
	t.Helper()
	j, err := Open(dir, id, Meta{Experiment: "exp", File: "exp.yaml"})
	if err != nil {
		t.Fatalf("Open(%q): %v", id, err)
	}
	return j
}

// mustBegin journals a fault and that its inject returned, as the engine does.
func mustBegin(t *testing.T, j *Journal, fault string, undos ...shakedown.Undo) int {
	t.Helper()
	id := mustBeginOnly(t, j, fault, undos...)
	if err := j.Injected(id); err != nil {
		t.Fatalf("Injected(%q): %v", fault, err)
	}
	return id
}

// mustBeginOnly journals a fault whose inject has not returned.
func mustBeginOnly(t *testing.T, j *Journal, fault string, undos ...shakedown.Undo) int {
	t.Helper()
	id, err := j.Begin(fault, undos, time.Hour)
	if err != nil {
		t.Fatalf("Begin(%q): %v", fault, err)
	}
	return id
}

var ignorePending = cmpopts.IgnoreFields(Pending{}, "Deadline", "Begun", "Meta")

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "run1")
	before := time.Now()
	a := mustBegin(t, j, "a", undo("mark", "a"))
	b := mustBegin(t, j, "b", undo("mark", "b1"), undo("mark", "b2"))
	if err := j.Done(a, nil); err != nil {
		t.Fatal(err)
	}
	got, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pending{{RunID: "run1", Entry: b, Fault: "b", Undos: []shakedown.Undo{undo("mark", "b1"), undo("mark", "b2")}, Live: true, Injected: true}}
	if d := cmp.Diff(want, got, ignorePending); d != "" {
		t.Fatalf("Scan after Begin a, b and Done a (-want +got):\n%s", d)
	}
	if dl := got[0].Deadline; dl.Before(before.Add(time.Hour)) || dl.After(time.Now().Add(time.Hour)) {
		t.Errorf("deadline %v, want about an hour from %v", dl, before)
	}
	if m := got[0].Meta; m.Experiment != "exp" || m.File != "exp.yaml" || m.PID != os.Getpid() || m.Started.IsZero() {
		t.Errorf("meta %+v, want exp, exp.yaml, this pid, a start time", m)
	}
	if err := j.Done(b, nil); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(Path(dir, "run1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal of a run that ended with nothing pending: stat says %v, want it removed", err)
	}
	if got, err := Scan(dir); err != nil || len(got) != 0 {
		t.Errorf("Scan after Close = %v, %v; want nothing", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "same")
	defer j.Close()
	tests := []struct {
		id   string
		kind shakedown.Kind
	}{
		{"same", shakedown.KindConflict},
		{"", shakedown.KindInvalid},
		{"../escape", shakedown.KindInvalid},
		{".hidden", shakedown.KindInvalid},
		{"a/b", shakedown.KindInvalid},
	}
	for _, tt := range tests {
		if _, err := Open(dir, tt.id, Meta{}); !shakedown.IsKind(err, tt.kind) {
			t.Errorf("Open(%q) = %v, want kind %v", tt.id, err, tt.kind)
		}
	}
	if _, err := j.Begin("x", nil, 0); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("Begin with ttl 0 = %v, want KindInvalid", err)
	}
	if err := j.Done(42, nil); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("Done(42) of no such entry = %v, want KindInvalid", err)
	}
}

func TestCloseKeepsPending(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "run1")
	id := mustBegin(t, j, "a", undo("mark", "a"))
	if err := j.Done(id, errors.New("revert failed")); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); !shakedown.IsKind(err, shakedown.KindNotRestored) {
		t.Fatalf("Close with an entry whose revert failed = %v, want KindNotRestored", err)
	}
	got, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pending{{RunID: "run1", Entry: id, Fault: "a", Undos: []shakedown.Undo{undo("mark", "a")}, LastErr: "revert failed", Ended: true, Injected: true}}
	if d := cmp.Diff(want, got, ignorePending); d != "" {
		t.Fatalf("Scan after Close (-want +got):\n%s", d)
	}
}

func TestReplayLIFOAndIdempotent(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "run1")
	mustBegin(t, j, "first", undo("mark", "1"))
	second := mustBegin(t, j, "second", undo("mark", "2"))
	mustBegin(t, j, "third", undo("mark", "3a"), undo("mark", "3b"))
	mustBegin(t, j, "empty")
	if err := j.Done(second, nil); err != nil {
		t.Fatal(err)
	}
	crash(t, j)

	var rec recorder
	res, err := Replay(t.Context(), dir, rec.registry(), false)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	// Last first, across entries and within one, as the engine reverts a panicked inject.
	if d := cmp.Diff([]string{"3b", "3a", "1"}, rec.got()); d != "" {
		t.Errorf("undos carried out (-want +got):\n%s", d)
	}
	want := []Result{
		{RunID: "run1", Entry: 3, Fault: "third", Undo: undo("mark", "3b")},
		{RunID: "run1", Entry: 3, Fault: "third", Undo: undo("mark", "3a")},
		{RunID: "run1", Entry: 1, Fault: "first", Undo: undo("mark", "1")},
	}
	if d := cmp.Diff(want, res, cmpopts.EquateErrors()); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	if _, err := os.Stat(Path(dir, "run1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal after a full replay: stat says %v, want it removed", err)
	}
	res, err = Replay(t.Context(), dir, rec.registry(), false)
	if err != nil || len(res) != 0 {
		t.Errorf("second Replay = %v, %v; want nothing done", res, err)
	}
	if n := len(rec.got()); n != 3 {
		t.Errorf("%d undos after the second Replay, want still 3", n)
	}
}

func TestReplayFailureStaysPending(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "run1")
	mustBegin(t, j, "ok", undo("mark", "ok"))
	mustBegin(t, j, "refused", undo("mark", "fail"))
	mustBegin(t, j, "unknown", shakedown.Undo{Type: "no.such.type", Data: json.RawMessage(`{}`)})
	crash(t, j)

	var rec recorder
	res, err := Replay(t.Context(), dir, rec.registry(), false)
	if !shakedown.IsKind(err, shakedown.KindNotRestored) {
		t.Fatalf("Replay with failing undos = %v, want KindNotRestored", err)
	}
	var failed []string
	for _, r := range res {
		if r.Err != nil {
			failed = append(failed, r.Fault)
		}
	}
	if d := cmp.Diff([]string{"unknown", "refused"}, failed); d != "" {
		t.Errorf("failed results (-want +got):\n%s", d)
	}
	left, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var faults []string
	for _, p := range left {
		faults = append(faults, p.Fault)
		if p.LastErr == "" || p.Live {
			t.Errorf("pending %q: LastErr %q, Live %v; want an error, not live", p.Fault, p.LastErr, p.Live)
		}
	}
	if d := cmp.Diff([]string{"refused", "unknown"}, faults); d != "" {
		t.Errorf("still pending after Replay (-want +got):\n%s", d)
	}
}

func TestTornLastLine(t *testing.T) {
	tests := []struct {
		name    string
		tail    func(whole []byte) []byte
		damaged bool // a line that has its newline and fails its check is damage, not a cut write
	}{
		{"cut before newline", func(w []byte) []byte { return w[:len(w)/2] }, false},
		{"cut before checksum ends", func(w []byte) []byte { return w[:5] }, false},
		{"zeros", func(w []byte) []byte { return make([]byte, 100) }, false},
		{"bad checksum, with newline", func(w []byte) []byte {
			b := append([]byte(nil), w...)
			b[20] ^= 1
			return b
		}, true},
		{"zeros and newline", func(w []byte) []byte { return append(make([]byte, 100), '\n') }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			j := mustOpen(t, dir, "run1")
			mustBegin(t, j, "a", undo("mark", "a"))
			crash(t, j)
			whole, err := encodeLine(&record{Kind: kindBegin, ID: 2, Fault: "b", Undos: []shakedown.Undo{undo("mark", "b")}})
			if err != nil {
				t.Fatal(err)
			}
			appendFile(t, Path(dir, "run1"), tt.tail(whole))

			got, err := Scan(dir)
			if tt.damaged != errors.Is(err, ErrCorrupt) {
				t.Fatalf("Scan error %v; want damage reported: %v", err, tt.damaged)
			}
			if len(got) != 1 || got[0].Fault != "a" {
				t.Fatalf("Scan = %+v, want only entry a", got)
			}
			var rec recorder
			_, err = Replay(t.Context(), dir, rec.registry(), false)
			if tt.damaged != (errors.Is(err, ErrCorrupt) && shakedown.IsKind(err, shakedown.KindNotRestored)) {
				t.Fatalf("Replay = %v; want damage (not restored) reported: %v", err, tt.damaged)
			}
			if d := cmp.Diff([]string{"a"}, rec.got()); d != "" {
				t.Errorf("undos (-want +got):\n%s", d)
			}
			_, err = os.Stat(Path(dir, "run1"))
			if kept := err == nil; kept != tt.damaged {
				t.Errorf("journal kept after the replay: %v, want %v (kept exactly when damaged)", kept, tt.damaged)
			}
		})
	}
}

func TestTornTailMarkedBeforeAppend(t *testing.T) {
	dir := t.TempDir()
	path := crashedOne(t, dir, "fail")
	appendFile(t, path, []byte("0123abcd {\"k\":\"beg"))
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	if _, err := Replay(t.Context(), dir, rec.registry(), false); !shakedown.IsKind(err, shakedown.KindNotRestored) {
		t.Fatalf("Replay = %v, want KindNotRestored", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(after, before) {
		t.Fatalf("the replay changed what was there:\nbefore %q\nafter  %q", before, after)
	}
	// The failed undo's done record went after the marked cut line: the file still reads
	// cleanly, twice.
	for range 2 {
		got, err := Scan(dir)
		if err != nil {
			t.Fatalf("Scan after a replay of a torn journal: %v", err)
		}
		if len(got) != 1 || got[0].LastErr == "" {
			t.Fatalf("Scan = %+v, want entry a with its failure", got)
		}
		if _, err := Replay(t.Context(), dir, rec.registry(), false); errors.Is(err, ErrCorrupt) {
			t.Fatalf("Replay of a marked cut line = %v, want no damage", err)
		}
	}
}

func TestTornTailOfLiveRun(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "live")
	defer j.Close()
	mustBegin(t, j, "a", undo("mark", "a"))
	// A cut line at the end of a live run's file: a replay beside the live writer must not
	// make it a bad line in the middle.
	appendFile(t, Path(dir, "live"), []byte("0123abcd {\"k\":\"beg"))
	var rec recorder
	if _, err := Replay(t.Context(), dir, rec.registry(), true); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if got, err := Scan(dir); err != nil || len(got) != 0 {
		t.Fatalf("Scan = %+v, %v; want nothing pending and no damage", got, err)
	}
}

func TestDamagedFileReportedOthersRecovered(t *testing.T) {
	dir := t.TempDir()
	bad := mustOpen(t, dir, "bad")
	mustBegin(t, bad, "bad-1", undo("mark", "bad-1"))
	mustBegin(t, bad, "bad-2", undo("mark", "bad-2"))
	crash(t, bad)
	good := mustOpen(t, dir, "good")
	mustBegin(t, good, "good-1", undo("mark", "good-1"))
	crash(t, good)

	// Damage both copies of bad-1's begin record, in the middle of the file.
	path := Path(dir, "bad")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := splitLines(data)
	lines[2][30] ^= 0x20
	lines[3][31] ^= 0x20
	if err := os.WriteFile(path, joinLines(lines), 0o600); err != nil {
		t.Fatal(err)
	}

	_, err = Scan(dir)
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Path != path || ce.RunID != "bad" {
		t.Fatalf("Scan = %v, want a CorruptError naming %s and run bad", err, path)
	}
	if lines := damagedLines(ce); !slices.Equal(lines, []int{3, 4}) {
		t.Errorf("damaged lines %v, want [3 4]", lines)
	}
	var rec recorder
	_, err = Replay(t.Context(), dir, rec.registry(), false)
	if !errors.As(err, &ce) || ce.Path != path || !shakedown.IsKind(err, shakedown.KindNotRestored) {
		t.Fatalf("Replay = %v, want a CorruptError naming %s, not restored", err, path)
	}
	if d := cmp.Diff([]string{"good-1", "bad-2"}, rec.got(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
		t.Errorf("undos: the good run and what is readable of the bad one (-want +got):\n%s", d)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("damaged journal must stay for a person to look at: %v", err)
	}
	if _, err := Replay(t.Context(), dir, rec.registry(), false); !errors.Is(err, ErrCorrupt) {
		t.Errorf("second Replay = %v, want the damage reported again", err)
	}
}

func damagedLines(ce *CorruptError) []int {
	var out []int
	for _, d := range ce.Damaged {
		out = append(out, d.Line)
	}
	return out
}

func TestLiveRunSkipped(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "live") // another open Journal of this process holds the lock
	defer j.Close()
	mustBegin(t, j, "a", undo("mark", "a"))

	var rec recorder
	res, err := Replay(t.Context(), dir, rec.registry(), false)
	if err != nil || len(res) != 0 {
		t.Fatalf("Replay of a live run = %v, %v; want it skipped", res, err)
	}
	got, err := Scan(dir)
	if err != nil || len(got) != 1 || !got[0].Live {
		t.Fatalf("Scan = %+v, %v; want one live entry", got, err)
	}
	res, err = Replay(t.Context(), dir, rec.registry(), true)
	if err != nil || len(res) != 1 {
		t.Fatalf("Replay including live runs = %v, %v; want one undo", res, err)
	}
	if got, _ := Scan(dir); len(got) != 0 {
		t.Errorf("Scan after replaying the live run = %+v, want nothing pending", got)
	}
	if err := j.Done(1, nil); err != nil { // the run's own revert, a no-op now
		t.Fatal(err)
	}
	if by, _, ok := j.RevertedBy(1); !ok || by != ByRecover {
		t.Errorf("RevertedBy(1) = %q, %v; want %q, true", by, ok, ByRecover)
	}
	// The run goes on: its own records still land in the file, after the replay's.
	id := mustBegin(t, j, "b", undo("mark", "b"))
	if _, _, ok := j.RevertedBy(id); ok {
		t.Errorf("RevertedBy(%d) of an entry not reverted says reverted", id)
	}
	if err := j.Done(id, nil); err != nil {
		t.Fatal(err)
	}
	if by, _, ok := j.RevertedBy(id); !ok || by != ByRunner {
		t.Errorf("RevertedBy(%d) = %q, %v; want %q, true", id, by, ok, ByRunner)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("Close after the watchdog replayed part of the run: %v", err)
	}
}

func TestLiveRunInOtherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$", dir, "held")
	cmd.Env = append(os.Environ(), helperEnv+"=hold")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v; want ready", line, err)
	}

	if live, err := IsLive(dir, "held"); err != nil || !live {
		t.Fatalf("IsLive of a run another process holds = %v, %v; want true", live, err)
	}
	var rec recorder
	if res, err := Replay(t.Context(), dir, rec.registry(), false); err != nil || len(res) != 0 {
		t.Fatalf("Replay while another process holds the run = %v, %v; want it skipped", res, err)
	}
	if got, err := Scan(dir); err != nil || len(got) != 1 || !got[0].Live {
		t.Fatalf("Scan = %+v, %v; want one live entry", got, err)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if live, err := IsLive(dir, "held"); err != nil || live {
		t.Fatalf("IsLive after kill -9 = %v, %v; want false", live, err)
	}
	if got, err := Scan(dir); err != nil || len(got) != 1 || got[0].Live {
		t.Fatalf("Scan after kill -9 = %+v, %v; want one dead entry", got, err)
	}
	if _, err := Replay(t.Context(), dir, rec.registry(), false); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"held"}, rec.got()); d != "" {
		t.Errorf("undos after the run died (-want +got):\n%s", d)
	}
}

func TestConcurrentRuns(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	// Two runs as goroutines of this process and two as processes, all in one state dir,
	// while a third party keeps scanning and replaying dead runs.
	for i := range 2 {
		wg.Go(func() {
			id := "g" + strconv.Itoa(i)
			j, err := Open(dir, id, Meta{})
			if err != nil {
				errs <- err
				return
			}
			for k := range 50 {
				e, err := j.Begin(fmt.Sprint(k), []shakedown.Undo{undo("mark", id)}, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if err := j.Done(e, nil); err != nil {
					errs <- err
					return
				}
			}
			if err := j.Close(); err != nil {
				errs <- err
			}
		})
	}
	for i := range 2 {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^$", dir, "p"+strconv.Itoa(i))
			cmd.Env = append(os.Environ(), helperEnv+"=churn")
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("helper p%d: %v\n%s", i, err, out)
			}
		})
	}
	var rec recorder
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := Scan(dir); err != nil {
				errs <- fmt.Errorf("scan: %w", err)
			}
			if _, err := Replay(context.Background(), dir, rec.registry(), false); err != nil {
				errs <- fmt.Errorf("replay: %w", err)
			}
		}
	})
	wg.Wait()
	close(stop)
	watcher.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := rec.got(); len(got) != 0 {
		t.Errorf("replay undid %v of live runs", got)
	}
	ents, _ := os.ReadDir(RunsDir(dir))
	if len(ents) != 0 {
		t.Errorf("%d files left in the runs folder, want none", len(ents))
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, append([]byte(nil), b[:i]...))
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

func joinLines(lines [][]byte) []byte {
	var out []byte
	for _, l := range lines {
		out = append(append(out, l...), '\n')
	}
	return out
}

func TestStaleTempRemoved(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(RunsDir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(RunsDir(dir), ".dead.123.tmp")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(RunsDir(dir), ".opening.456.tmp")
	if err := os.WriteFile(fresh, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Replay(t.Context(), dir, shakedown.NewRegistry(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file: %v, want removed", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file (an Open under way): %v, want kept", err)
	}
}

func TestOneJournalManyGoroutines(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "run1")
	var wg sync.WaitGroup
	ids := make(chan int, 8*20)
	for g := range 8 {
		wg.Go(func() {
			for k := range 20 {
				id, err := j.Begin(fmt.Sprintf("g%d-%d", g, k), []shakedown.Undo{undo("mark", "x")}, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
				if err := j.Done(id, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[int]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("entry id %d given twice", id)
		}
		seen[id] = true
	}
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	j := mustOpen(t, dir, "run1")
	defer j.Close()
	for path, want := range map[string]os.FileMode{
		dir:               0o700 | os.ModeDir,
		RunsDir(dir):      0o700 | os.ModeDir,
		Path(dir, "run1"): 0o600,
	} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode(); got != want {
			t.Errorf("mode of %s = %v, want %v", path, got, want)
		}
	}
}

// TestEveryByteDamaged damages a journal of a killed run one byte at a time — a bit flipped
// at every position, a newline made something else, a newline put in the middle of each line
// — and replays each copy. Whatever the damage, every entry the run left pending is undone,
// and a replay that reports success leaves no journal, while one that reports a problem keeps
// it: never success with a fault still in, never a journal lost.
func TestEveryByteDamaged(t *testing.T) {
	src := t.TempDir()
	j := mustOpen(t, src, "run1")
	a := mustBegin(t, j, "pause-web", undo("mark", "a"))
	if err := j.Injected(a); err != nil {
		t.Fatal(err)
	}
	if err := j.Guarded(4242); err != nil {
		t.Fatal(err)
	}
	b := mustBegin(t, j, "slow-cache", undo("mark", "b1"), undo("mark", "b2"))
	if err := j.Injected(b); err != nil {
		t.Fatal(err)
	}
	if err := j.Done(b, nil); err != nil {
		t.Fatal(err)
	}
	mustBeginOnly(t, j, "exec", shakedown.Undo{Type: "mark", Data: json.RawMessage(`"c-stop"`), Interrupt: true}, undo("mark", "c"))
	crash(t, j)
	orig, err := os.ReadFile(Path(src, "run1"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "c", "c-stop"} // each pending entry's undos, in any order

	type variant struct {
		at int
		to byte
	}
	var vs []variant
	for i, c := range orig {
		vs = append(vs, variant{i, c ^ 0x01})
		switch c {
		case '\n':
			vs = append(vs, variant{i, 'x'}, variant{i, '\r'})
		case '{', '}', ' ':
			vs = append(vs, variant{i, '\n'})
		}
	}
	for _, v := range vs {
		damaged := append([]byte(nil), orig...)
		damaged[v.at] = v.to
		dir := t.TempDir()
		if err := os.MkdirAll(RunsDir(dir), 0o700); err != nil {
			t.Fatal(err)
		}
		path := Path(dir, "run1")
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		var rec recorder
		_, err := Replay(t.Context(), dir, rec.registry(), false)
		got := rec.got()
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("byte %d (%q → %q): undo %q not carried out (did %v; replay said %v)", v.at, orig[v.at], v.to, w, got, err)
			}
		}
		_, statErr := os.Stat(path)
		switch kept := statErr == nil; {
		case err == nil && kept:
			t.Errorf("byte %d (%q → %q): replay succeeded but left the journal", v.at, orig[v.at], v.to)
		case err != nil && !kept:
			t.Errorf("byte %d (%q → %q): replay failed (%v) and the journal is gone", v.at, orig[v.at], v.to, err)
		case err != nil && !errors.Is(err, ErrCorrupt):
			t.Errorf("byte %d (%q → %q): replay failed with %v, want damage reported", v.at, orig[v.at], v.to, err)
		}
	}
	t.Logf("%d damaged copies of a %d-byte journal replayed", len(vs), len(orig))
}

// TestCRLF reads a journal whose line ends were converted to CR LF as if they had not been.
func TestCRLF(t *testing.T) {
	dir := t.TempDir()
	rewrite(t, crashedOne(t, dir, "a"), func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) })
	var rec recorder
	if _, err := Replay(t.Context(), dir, rec.registry(), false); err != nil {
		t.Fatalf("Replay of a CR LF journal: %v", err)
	}
	if d := cmp.Diff([]string{"a"}, rec.got()); d != "" {
		t.Errorf("undos (-want +got):\n%s", d)
	}
}

// TestRefusesJournalsOthersCouldWrite: a journal says which commands undo a fault, so one
// that another user owns or could have written is refused, by name and with the reason, and
// nothing in it is carried out; it stays where it is.
func TestRefusesJournalsOthersCouldWrite(t *testing.T) {
	root := os.Geteuid() == 0
	tests := []struct {
		name     string
		needRoot bool
		spoil    func(t *testing.T, stateDir, path string)
	}{
		{"journal owned by another user", true, func(t *testing.T, _, path string) {
			must(t, os.Chown(path, 65534, 65534))
		}},
		{"journal writable by others", false, func(t *testing.T, _, path string) {
			must(t, os.Chmod(path, 0o666))
		}},
		{"journal writable by its group", false, func(t *testing.T, _, path string) {
			must(t, os.Chmod(path, 0o620))
		}},
		{"runs folder writable by others", false, func(t *testing.T, stateDir, _ string) {
			must(t, os.Chmod(RunsDir(stateDir), 0o777))
		}},
		{"runs folder writable by others, sticky", false, func(t *testing.T, stateDir, _ string) {
			must(t, os.Chmod(RunsDir(stateDir), os.ModeSticky|0o777))
		}},
		{"runs folder owned by another user", true, func(t *testing.T, stateDir, _ string) {
			must(t, os.Chown(RunsDir(stateDir), 65534, 65534))
		}},
		{"state dir writable by others without the sticky bit", false, func(t *testing.T, stateDir, _ string) {
			must(t, os.Chmod(stateDir, 0o777))
		}},
		{"a folder above the state dir writable by others", false, func(t *testing.T, stateDir, _ string) {
			must(t, os.Chmod(filepath.Dir(stateDir), 0o777))
		}},
		{"journal is a symbolic link", false, func(t *testing.T, stateDir, path string) {
			elsewhere := filepath.Join(stateDir, "elsewhere.jsonl")
			must(t, os.Rename(path, elsewhere))
			must(t, os.Symlink(elsewhere, path))
		}},
		{"journal is a FIFO", false, func(t *testing.T, _, path string) {
			must(t, os.Remove(path))
			must(t, syscall.Mkfifo(path, 0o600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needRoot && !root {
				t.Skip("needs root to give a file to another user")
			}
			stateDir := filepath.Join(t.TempDir(), "above", "state")
			j := mustOpen(t, stateDir, "run1")
			mustBegin(t, j, "a", undo("mark", "a"))
			crash(t, j)
			path := Path(stateDir, "run1")
			tt.spoil(t, stateDir, path)

			var rec recorder
			_, err := Replay(t.Context(), stateDir, rec.registry(), false)
			if !errors.Is(err, private.ErrUnsafe) || !shakedown.IsKind(err, shakedown.KindNotRestored) {
				t.Fatalf("Replay = %v, want a refusal (private.ErrUnsafe), not restored", err)
			}
			if got := rec.got(); len(got) != 0 {
				t.Errorf("undos %v carried out from a refused journal", got)
			}
			if _, err := os.Lstat(path); err != nil {
				t.Errorf("refused journal: %v, want it left where it is", err)
			}
			if _, err := ScanRun(stateDir, "run1"); !errors.Is(err, private.ErrUnsafe) {
				t.Errorf("ScanRun = %v, want the refusal too", err)
			}
		})
	}
	t.Run("sticky state dir others can write", func(t *testing.T) {
		stateDir := filepath.Join(t.TempDir(), "state")
		j := mustOpen(t, stateDir, "run1")
		mustBegin(t, j, "a", undo("mark", "a"))
		crash(t, j)
		must(t, os.Chmod(stateDir, os.ModeSticky|0o777)) // like /tmp: what is ours in it stays ours
		var rec recorder
		if _, err := Replay(t.Context(), stateDir, rec.registry(), false); err != nil {
			t.Fatalf("Replay under a sticky state dir: %v", err)
		}
		if d := cmp.Diff([]string{"a"}, rec.got()); d != "" {
			t.Errorf("undos (-want +got):\n%s", d)
		}
	})
}

// TestOpenRefusesUnsafeStateDir: a run does not start a journal (and so injects nothing) in
// a state dir others could replace.
func TestOpenRefusesUnsafeStateDir(t *testing.T) {
	above := filepath.Join(t.TempDir(), "shared")
	must(t, os.Mkdir(above, 0o777))
	must(t, os.Chmod(above, 0o777))
	if _, err := Open(filepath.Join(above, "state"), "run1", Meta{}); !errors.Is(err, private.ErrUnsafe) {
		t.Errorf("Open under a folder others can write = %v, want a refusal", err)
	}
	mine := filepath.Join(t.TempDir(), "state")
	must(t, os.MkdirAll(RunsDir(mine), 0o700))
	must(t, os.Chmod(RunsDir(mine), 0o770))
	if _, err := Open(mine, "run1", Meta{}); !errors.Is(err, private.ErrUnsafe) {
		t.Errorf("Open with a runs folder its group can write = %v, want a refusal", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestHugeJournal: a journal larger than maxSize is read only so far, and said to be damaged;
// what could be read of it is undone, and it stays.
func TestHugeJournal(t *testing.T) {
	dir := t.TempDir()
	path := crashedOne(t, dir, "a")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	must(t, f.Truncate(maxSize+4096)) // a sparse tail of zeros
	f.Close()
	var rec recorder
	if _, err := Replay(t.Context(), dir, rec.registry(), false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Replay of a huge journal = %v, want damage reported", err)
	}
	if d := cmp.Diff([]string{"a"}, rec.got()); d != "" {
		t.Errorf("undos (-want +got):\n%s", d)
	}
}

// TestInterruptUndosFirstUntilInjected: an entry whose inject may still be running has its
// Interrupt undos carried out first; once the journal says the inject returned, they are not.
func TestInterruptUndosFirstUntilInjected(t *testing.T) {
	stop := shakedown.Undo{Type: "mark", Data: json.RawMessage(`"stop"`), Interrupt: true}
	for _, injected := range []bool{false, true} {
		dir := t.TempDir()
		j := mustOpen(t, dir, "run1")
		id := mustBeginOnly(t, j, "exec", undo("mark", "revert1"), stop, undo("mark", "revert2"))
		if injected {
			must(t, j.Injected(id))
		}
		crash(t, j)
		var rec recorder
		if _, err := Replay(t.Context(), dir, rec.registry(), false); err != nil {
			t.Fatal(err)
		}
		want := []string{"stop", "revert2", "revert1"}
		if injected {
			want = want[1:]
		} else {
			// Undone once more after a moment: what the interrupted inject sent may land late.
			want = append(want, want...)
		}
		if d := cmp.Diff(want, rec.got()); d != "" {
			t.Errorf("injected %v: undos (-want +got):\n%s", injected, d)
		}
	}
}

// TestFIFONeverWaitedOn: a FIFO in the runs folder under a journal's name is refused by every
// reader at once, never waited on.
func TestFIFONeverWaitedOn(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(RunsDir(dir), 0o700))
	must(t, syscall.Mkfifo(Path(dir, "fifo"), 0o600))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if live, err := IsLive(dir, "fifo"); live || !errors.Is(err, private.ErrUnsafe) {
			t.Errorf("IsLive of a FIFO = %v, %v; want a refusal", live, err)
		}
		if _, err := Scan(dir); !errors.Is(err, private.ErrUnsafe) {
			t.Errorf("Scan = %v, want a refusal", err)
		}
		if _, err := Replay(context.Background(), dir, shakedown.NewRegistry(), false); !errors.Is(err, private.ErrUnsafe) {
			t.Errorf("Replay = %v, want a refusal", err)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a reader waited on the FIFO")
	}
}

// TestReplaysTakeTurns: two replays of one journal never run at once, whoever makes them: a
// replay of a live run (the watchdog's, stop's) waits for one under way, and then finds done
// what that one undid.
func TestReplaysTakeTurns(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "live")
	defer j.Close()
	mustBegin(t, j, "a", undo("mark", "a"))

	// Another replay holds the journal's replay lock.
	other, err := os.OpenFile(Path(dir, "live"), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := lockReplay(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	res, err := ReplayRun(ctx, dir, "live", rec.registry(), ReplayOptions{IncludeLive: true})
	if !shakedown.IsKind(err, shakedown.KindAborted) || len(res) != 0 || len(rec.got()) != 0 {
		t.Fatalf("ReplayRun while another replay holds the journal = %v, %v (undos %v); want it to wait, and give up aborted when its context ends",
			res, err, rec.got())
	}

	// The other replay is done: the next one goes ahead.
	done := make(chan error, 1)
	go func() {
		_, err := ReplayRun(t.Context(), dir, "live", rec.registry(), ReplayOptions{IncludeLive: true})
		done <- err
	}()
	other.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rec.got(); len(got) != 1 || got[0] != "a" {
		t.Errorf("undos = %v, want [a]", got)
	}
}

// TestReadRun: what a journal says of its run, pending entries or not, and nothing of a run
// without one.
func TestReadRun(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, "run1")
	defer j.Close()
	r, err := ReadRun(dir, "run1")
	if err != nil || r == nil {
		t.Fatalf("ReadRun = %v, %v", r, err)
	}
	start, _ := procfs.StartTime(os.Getpid())
	if !r.Live || r.Ended || len(r.Pending) != 0 || r.Meta.PID != os.Getpid() || r.Meta.Start != start || r.Meta.Experiment != "exp" {
		t.Errorf("ReadRun of a live run holding nothing = %+v; want live, this process (start %d), nothing pending", r, start)
	}
	mustBegin(t, j, "a", undo("mark", "a"))
	if r, err := ReadRun(dir, "run1"); err != nil || len(r.Pending) != 1 || r.Pending[0].Fault != "a" {
		t.Errorf("ReadRun after a begin = %+v, %v; want a pending", r, err)
	}
	if r, err := ReadRun(dir, "nosuch"); r != nil || err != nil {
		t.Errorf("ReadRun of a run without a journal = %+v, %v; want nil, nil", r, err)
	}
	if _, err := ReadRun(dir, "../x"); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("ReadRun(../x) = %v, want an invalid run id", err)
	}
}

// An undo that cannot reach what lapses by itself counts as done once the lapse has passed,
// but only when its run is dead: a live runner may still renew what it took.
func TestReplayWaitsForALapseOfADeadRunOnly(t *testing.T) {
	const after = 200 * time.Millisecond
	reg := shakedown.NewRegistry()
	var calls int
	reg.AddUndo("unreachable", func(context.Context, json.RawMessage) error {
		calls++
		return shakedown.Wrap(shakedown.KindUnavailable, "DELETE http://127.0.0.1:1/proxies/db/toxics/t",
			&shakedown.Lapse{After: after, Err: errors.New("connection refused")})
	})

	dir := t.TempDir()
	live := mustOpen(t, dir, "live")
	mustBegin(t, live, "slow", undo("unreachable", "t"))
	res, err := ReplayRun(t.Context(), dir, "live", reg, ReplayOptions{IncludeLive: true, By: ByWatchdog})
	if !shakedown.IsKind(err, shakedown.KindNotRestored) || len(res) != 1 || res[0].Err == nil || res[0].Lapsed != nil || calls != 1 {
		t.Fatalf("replay of a live run = %+v, %v after %d tries; want the failure at once", res, err, calls)
	}
	crash(t, live)

	calls = 0
	start := time.Now()
	res, err = ReplayRun(t.Context(), dir, "live", reg, ReplayOptions{})
	if err != nil || len(res) != 1 || res[0].Err != nil || res[0].Lapsed == nil {
		t.Fatalf("replay of the dead run = %+v, %v; want the undo lapsed", res, err)
	}
	if took := time.Since(start); took < after || calls < 2 {
		t.Errorf("counted as lapsed after %v and %d tries; want at least %v, tried again meanwhile", took, calls, after)
	}
	if !strings.Contains(res[0].Lapsed.Error(), "connection refused") {
		t.Errorf("lapsed %q does not say why", res[0].Lapsed)
	}
	if left, err := Scan(dir); err != nil || len(left) != 0 {
		t.Errorf("Scan after the lapse = %+v, %v; want nothing left, the journal gone", left, err)
	}
}

// TestNoRunRecordIsDamage: Open names a file only once its run record is synced, so a journal
// without one — emptied, or cut inside its first line — cannot be a crash's leftover. Every
// reader reports it as damage and a replay keeps it, even with nothing readable left to undo.
func TestNoRunRecordIsDamage(t *testing.T) {
	tests := []struct {
		name string
		cut  func(whole []byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"only a newline", func([]byte) []byte { return []byte("\n") }},
		{"cut inside the first line", func(w []byte) []byte { return w[:100] }},
		{"cut before the checksum ends", func(w []byte) []byte { return w[:5] }},
		{"first line without its newline", func(w []byte) []byte { return w[:bytes.IndexByte(w, '\n')] }},
		{"zeros", func(w []byte) []byte { return make([]byte, len(w)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := crashedOne(t, dir, "a")
			rewrite(t, path, tt.cut)
			if _, err := ScanRun(dir, "run1"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("ScanRun = %v, want ErrCorrupt", err)
			}
			if _, err := Scan(dir); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Scan = %v, want ErrCorrupt", err)
			}
			for range 2 {
				var rec recorder
				_, err := ReplayRun(t.Context(), dir, "run1", rec.registry(), ReplayOptions{IncludeLive: true, By: ByWatchdog})
				if !errors.Is(err, ErrCorrupt) || !shakedown.IsKind(err, shakedown.KindNotRestored) {
					t.Errorf("ReplayRun = %v, want ErrCorrupt of kind not restored", err)
				}
				if _, err := os.Stat(path); err != nil {
					t.Fatalf("the damaged journal is gone after a replay: %v", err)
				}
			}
		})
	}
}

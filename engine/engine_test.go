package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/engine"
)

func exp(faults ...*shakedown.FaultSpec) *shakedown.Experiment {
	return &shakedown.Experiment{Version: 1, Name: "test", File: "test.yaml",
		Baseline: 3 * time.Second, Recovery: 10 * time.Second, Faults: faults}
}

func flagCheck(name string, f *atomic.Bool) *shakedown.Check {
	return &shakedown.Check{Name: name, Probe: &shakedown.ProbeSpec{Type: "flag", Params: &flagParams{Flag: f}}, Every: time.Second}
}

func fake(name string, p *fakeParams, d time.Duration, after ...string) *shakedown.FaultSpec {
	return &shakedown.FaultSpec{Name: name, Type: "fake", Params: p, Duration: d, After: after}
}

// events collects a run's events.
type events struct {
	mu  sync.Mutex
	all []shakedown.Event
}

func (e *events) add(ev shakedown.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) kinds(k shakedown.EventKind) []shakedown.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []shakedown.Event
	for _, ev := range e.all {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

func opts(tr *trace, evs *events) engine.Options {
	o := engine.Options{Registry: registry(), StateDir: "/tmp/state", Seed: 7}
	if tr != nil {
		o.OpenJournal = newJournal(tr).open
	}
	if evs != nil {
		o.Events = evs.add
	}
	return o
}

func wantVerdict(t *testing.T, rec *shakedown.Record, v shakedown.Verdict) {
	t.Helper()
	if rec.Verdict != v || rec.ExitCode != v.ExitCode() {
		t.Fatalf("verdict %s (exit %d), want %s (exit %d); reason: %s", rec.Verdict, rec.ExitCode, v, v.ExitCode(), rec.Reason)
	}
	if rec.Reason == "" || strings.Contains(rec.Reason, "\n") {
		t.Errorf("reason %q: want one non-empty line", rec.Reason)
	}
}

func check(rec *shakedown.Record, name string) *shakedown.CheckRecord {
	for i := range rec.Checks {
		if rec.Checks[i].Name == name {
			return &rec.Checks[i]
		}
	}
	return nil
}

func phases(rec *shakedown.Record) []shakedown.Phase {
	var out []shakedown.Phase
	for _, p := range rec.Phases {
		out = append(out, p.Name)
	}
	return out
}

func TestPassed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		var injected, broken atomic.Bool
		e := exp(fake("slow", &fakeParams{Trace: tr, Flag: &injected}, 5*time.Second))
		e.SteadyState = []*shakedown.Check{flagCheck("healthy", &broken)}
		evs := &events{}
		start := time.Now()
		rec := engine.Run(t.Context(), e, opts(tr, evs))
		wantVerdict(t, rec, shakedown.VerdictPassed)
		if diff := cmp.Diff([]shakedown.Phase{"baseline", "inject", "revert", "recovery"}, phases(rec)); diff != "" {
			t.Errorf("phases (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"begin slow", "inject slow", "revert slow", "done slow", "close"}, tr.list()); diff != "" {
			t.Errorf("journal and fault calls (-want +got):\n%s", diff)
		}
		f := rec.Faults[0]
		if f.InjectedAt == nil || f.RevertedAt == nil {
			t.Fatalf("fault record %+v: want injected_at and reverted_at", f)
		}
		if got := f.InjectedAt.Sub(start); got != 3*time.Second {
			t.Errorf("injected %s after the start, want 3s (the baseline)", got)
		}
		if got := f.RevertedAt.Sub(f.InjectedAt.Time); got != 5*time.Second {
			t.Errorf("held %s, want 5s", got)
		}
		c := check(rec, "healthy")
		if c == nil || !c.Held || c.Kind != "flag" || c.Role != "steady_state" {
			t.Fatalf("check record %+v: want a held steady-state flag check", c)
		}
		for _, p := range []shakedown.Phase{"baseline", "inject", "recovery"} {
			if pr := c.PerPhase[p]; pr == nil || !pr.Held || len(pr.Samples) == 0 {
				t.Errorf("check in %s: %+v, want held with samples", p, pr)
			}
		}
		if rec.Recovery.TimeToRecover == nil {
			t.Errorf("no time to recover recorded")
		}
		if rec.Seed != 7 || len(rec.ID) != 26 || rec.Schema != shakedown.RecordSchema {
			t.Errorf("record seed %d id %q schema %q", rec.Seed, rec.ID, rec.Schema)
		}
		if got := evs.kinds(shakedown.EventRunEnd); len(got) != 1 || got[0].Verdict != shakedown.VerdictPassed {
			t.Errorf("run end events %+v", got)
		}
		if got := len(evs.kinds(shakedown.EventPhase)); got != 4 {
			t.Errorf("%d phase events, want 4", got)
		}
	})
}

func TestFailedWhenSteadyStateBreaksDuringInject(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		var flag atomic.Bool
		e := exp(fake("break", &fakeParams{Trace: tr, Flag: &flag}, 5*time.Second))
		e.SteadyState = []*shakedown.Check{flagCheck("healthy", &flag)}
		rec := engine.Run(t.Context(), e, opts(tr, nil))
		wantVerdict(t, rec, shakedown.VerdictFailed)
		c := check(rec, "healthy")
		if c.Held || c.PerPhase["inject"].Held || !c.PerPhase["baseline"].Held || !c.PerPhase["recovery"].Held {
			t.Errorf("check %+v: want broken in inject only, held in baseline and recovery", c)
		}
		if !tr.has("revert break") || flag.Load() {
			t.Errorf("the fault was not reverted: %v", tr.list())
		}
		if want := []shakedown.Phase{"baseline", "inject", "revert", "recovery"}; !cmp.Equal(want, phases(rec)) {
			t.Errorf("phases %v, want %v: the run goes on through revert and recovery", phases(rec), want)
		}
	})
}

func TestNotSteadyInjectsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		var flag atomic.Bool
		flag.Store(true) // broken from the start
		e := exp(fake("never", &fakeParams{Trace: tr, Flag: &atomic.Bool{}}, 5*time.Second))
		e.Baseline = time.Minute
		e.SteadyState = []*shakedown.Check{flagCheck("healthy", &flag)}
		start := time.Now()
		rec := engine.Run(t.Context(), e, opts(tr, nil))
		wantVerdict(t, rec, shakedown.VerdictNotSteady)
		if tr.has("inject never") || tr.has("begin never") {
			t.Errorf("something was injected or journaled: %v", tr.list())
		}
		if d := time.Since(start); d >= time.Minute {
			t.Errorf("the run took %s: a broken baseline should stop it at once", d)
		}
		if rec.Faults[0].InjectedAt != nil {
			t.Errorf("fault record says injected")
		}
	})
}

func TestStopConditionAborts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		var stormy atomic.Bool
		e := exp(
			fake("storm", &fakeParams{Trace: tr, Flag: &atomic.Bool{}, Flag2: &stormy, After: 2 * time.Second}, time.Minute),
			fake("second", &fakeParams{Trace: tr, Flag: &atomic.Bool{}}, time.Minute, "storm"),
		)
		stop := flagCheck("error storm", &stormy)
		stop.For = 2 * time.Second
		e.StopIf = []*shakedown.Check{stop}
		evs := &events{}
		rec := engine.Run(t.Context(), e, opts(tr, evs))
		wantVerdict(t, rec, shakedown.VerdictAborted)
		if !strings.Contains(rec.Reason, "error storm") {
			t.Errorf("reason %q does not name the stop condition", rec.Reason)
		}
		// Both reverted, last in first out.
		if i, j := tr.index("revert second"), tr.index("revert storm"); i < 0 || j < 0 || i > j {
			t.Errorf("reverts out of order or missing: %v", tr.list())
		}
		flipped, _ := tr.at("flag2 storm")
		reverted, _ := tr.at("revert storm")
		// The breach must last 2s (for:), is seen within one sampling interval (1s).
		if d := reverted.Sub(flipped); d < 2*time.Second || d > 3*time.Second {
			t.Errorf("reverted %s after the breach began, want within [2s, 3s]", d)
		}
		if len(evs.kinds(shakedown.EventStop)) != 1 {
			t.Errorf("stop events: %+v", evs.kinds(shakedown.EventStop))
		}
		if c := check(rec, "error storm"); c == nil || c.Held || c.Role != "stop_if" {
			t.Errorf("stop check record %+v", c)
		}
		if want := []shakedown.Phase{"baseline", "inject", "revert"}; !cmp.Equal(want, phases(rec)) {
			t.Errorf("phases %v, want %v", phases(rec), want)
		}
	})
}

func TestCancelAndTimeoutAbortAndRevert(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cancelAt   time.Duration
		cause      error // of the cancellation
		timeout    time.Duration
		wantReason string
	}{
		{name: "cancel", cancelAt: 10 * time.Second, wantReason: "cancelled"},
		{name: "stop", cancelAt: 10 * time.Second, cause: &engine.Stopped{By: "ann on box (shakedown stop, pid 7)"},
			wantReason: "stopped by ann on box (shakedown stop, pid 7)"},
		{name: "timeout", timeout: 2 * time.Minute, wantReason: "timeout after 2m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := &trace{}
				var flag atomic.Bool
				e := exp(fake("long", &fakeParams{Trace: tr, Flag: &flag}, time.Hour))
				ctx, cancel := context.WithCancelCause(t.Context())
				defer cancel(nil)
				if tc.cancelAt > 0 {
					time.AfterFunc(tc.cancelAt, func() { cancel(tc.cause) })
				}
				o := opts(tr, nil)
				o.Timeout = tc.timeout
				start := time.Now()
				rec := engine.Run(ctx, e, o)
				wantVerdict(t, rec, shakedown.VerdictAborted)
				if rec.Reason != tc.wantReason {
					t.Errorf("reason %q, want %q", rec.Reason, tc.wantReason)
				}
				if flag.Load() || !tr.has("done long") {
					t.Errorf("not reverted: %v", tr.list())
				}
				if d := time.Since(start); d > max(tc.cancelAt, tc.timeout) {
					t.Errorf("run took %s", d)
				}
			})
		})
	}
}

// TestClaimCutShort: a run cancelled while its claim waits (for a lock another run holds)
// ends aborted, as any run a signal cuts short; a claim refused on its own is an error.
func TestClaimCutShort(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cancel  bool
		verdict shakedown.Verdict
	}{
		{"cancelled while waiting", true, shakedown.VerdictAborted},
		{"refused", false, shakedown.VerdictError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			e := exp(fake("f", &fakeParams{}, time.Second))
			e.Baseline, e.Recovery = 0, 0
			o := opts(&trace{}, nil)
			o.Claim = func(string, []engine.Claim) (func(bool), error) {
				if tc.cancel {
					cancel()
					<-ctx.Done()
					return nil, shakedown.Wrap(shakedown.KindAborted, "lock staging: waiting for run x", ctx.Err())
				}
				return nil, shakedown.Errorf(shakedown.KindConflict, "lock staging: held by run x; gave up")
			}
			rec := engine.Run(ctx, e, o)
			wantVerdict(t, rec, tc.verdict)
			if len(rec.Faults) != 1 || rec.Faults[0].InjectedAt != nil {
				t.Errorf("faults %+v: want one, never injected", rec.Faults)
			}
		})
	}
}

// TestClaimCutShortByAnAncestor: a claim that waited on a context above the run's returns
// cancelled an instant before the cancellation reaches the run's own context (a context's done
// channel closes before its children are cancelled): the run still ends aborted, not in error.
func TestClaimCutShortByAnAncestor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		e := exp(fake("f", &fakeParams{}, time.Second))
		e.Baseline, e.Recovery = 0, 0
		o := opts(&trace{}, nil)
		o.Claim = func(string, []engine.Claim) (func(bool), error) {
			time.AfterFunc(time.Millisecond, cancel) // the run's context, a moment later
			return nil, shakedown.Wrap(shakedown.KindAborted, "lock staging: waiting for run x", context.Canceled)
		}
		rec := engine.Run(ctx, e, o)
		wantVerdict(t, rec, shakedown.VerdictAborted)
	})
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, tc := range []struct {
		name    string
		exp     func() *shakedown.Experiment
		opts    func(*engine.Options)
		verdict shakedown.Verdict
		gone    []string // files that must not exist after the run
	}{
		{
			name: "empty target",
			exp: func() *shakedown.Experiment {
				e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Target: "web", Params: &fakeParams{}, Duration: time.Second})
				e.Targets = []*shakedown.TargetSpec{{Name: "web", Kind: "names", Params: &namesParams{}}}
				return e
			},
			verdict: shakedown.VerdictError,
		},
		{
			name: "over the blast-radius cap",
			exp: func() *shakedown.Experiment {
				e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Target: "web", Params: &fakeParams{}, Duration: time.Second})
				e.Targets = []*shakedown.TargetSpec{{Name: "web", Kind: "names", Params: &namesParams{Names: []string{"a", "b", "c"}}}}
				return e
			},
			opts:    func(o *engine.Options) { o.MaxTargets = 2 },
			verdict: shakedown.VerdictError,
		},
		{
			name: "inject fails after another fault was injected",
			exp: func() *shakedown.Experiment {
				return exp(
					&shakedown.FaultSpec{Name: "first", Type: "file", Params: &fileParams{Path: a}, Duration: time.Hour},
					&shakedown.FaultSpec{Name: "second", Type: "file.half", Params: &fileParams{Path: b}, Duration: time.Hour, After: []string{"first"}},
				)
			},
			verdict: shakedown.VerdictError,
			gone:    []string{a, b},
		},
		{
			// Exit 2 says that nothing was injected: a fault refused as a bad request
			// at inject time, after another was injected, is an error (5).
			name: "inject refused as invalid after another fault was injected",
			exp: func() *shakedown.Experiment {
				return exp(
					&shakedown.FaultSpec{Name: "first", Type: "file", Params: &fileParams{Path: a}, Duration: time.Hour},
					&shakedown.FaultSpec{Name: "second", Type: "fake", Params: &fakeParams{FailAsBad: true}, Duration: time.Hour, After: []string{"first"}},
				)
			},
			verdict: shakedown.VerdictError,
			gone:    []string{a},
		},
		{
			name: "inject panics",
			exp: func() *shakedown.Experiment {
				return exp(
					&shakedown.FaultSpec{Name: "first", Type: "file", Params: &fileParams{Path: a}, Duration: time.Hour},
					&shakedown.FaultSpec{Name: "boom", Type: "file.panic", Params: &fileParams{Path: b}, Duration: time.Hour},
				)
			},
			verdict: shakedown.VerdictError,
			gone:    []string{a, b},
		},
		{
			name: "a schedule past the longest",
			exp: func() *shakedown.Experiment {
				a := &shakedown.FaultSpec{Name: "a", Type: "file", Params: &fileParams{Path: a}, Delay: 2000000 * time.Hour}
				b := &shakedown.FaultSpec{Name: "b", Type: "file", Params: &fileParams{Path: b}, Delay: 2000000 * time.Hour, Duration: time.Second, After: []string{"a"}}
				return exp(a, b)
			},
			verdict: shakedown.VerdictInvalid,
			gone:    []string{a, b},
		},
		{
			name: "unknown fault type",
			exp: func() *shakedown.Experiment {
				return exp(&shakedown.FaultSpec{Name: "f", Type: "nope", Duration: time.Second})
			},
			verdict: shakedown.VerdictInvalid,
		},
		{
			name: "loads without a load generator",
			exp: func() *shakedown.Experiment {
				e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Params: &fakeParams{}, Duration: time.Second})
				e.Loads = []*shakedown.LoadSpec{{Name: "web", URL: "http://127.0.0.1:1/", Rate: 1}}
				return e
			},
			verdict: shakedown.VerdictError,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.exp()
			e.Baseline, e.Recovery = 0, 0
			tr := &trace{}
			o := opts(tr, nil)
			if tc.opts != nil {
				tc.opts(&o)
			}
			rec := engine.Run(t.Context(), e, o)
			wantVerdict(t, rec, tc.verdict)
			for _, p := range tc.gone {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s still exists: not reverted", p)
				}
			}
			if len(rec.Faults) != len(e.Faults) {
				t.Errorf("%d fault records, want %d", len(rec.Faults), len(e.Faults))
			}
		})
	}
}

func TestEmptyTargetInjectsNothing(t *testing.T) {
	tr := &trace{}
	e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Target: "web", Params: &fakeParams{Trace: tr}, Duration: time.Second})
	e.Targets = []*shakedown.TargetSpec{{Name: "web", Kind: "names", Params: &namesParams{}}}
	rec := engine.Run(t.Context(), e, opts(tr, nil))
	wantVerdict(t, rec, shakedown.VerdictError)
	if !strings.HasPrefix(rec.Reason, "target web resolved to nothing") {
		t.Errorf("reason %q", rec.Reason)
	}
	if len(tr.list()) != 0 {
		t.Errorf("something happened: %v", tr.list())
	}
	_, err := engine.Plan(t.Context(), e, opts(nil, nil))
	if !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Errorf("plan: %v, want a not-found error", err)
	}
}

// TestEveryTargetsOutcome: resolution goes through every target, so that the plan and the
// run's error name each one that cannot be used, with its reason, and list each one that can;
// the error's kind is the most severe of theirs, whatever their order.
func TestEveryTargetsOutcome(t *testing.T) {
	names := func(name string, ns ...string) *shakedown.TargetSpec {
		return &shakedown.TargetSpec{Name: name, Kind: "names", Params: &namesParams{Names: ns}}
	}
	for _, tc := range []struct {
		name     string
		targets  []*shakedown.TargetSpec
		maxTgt   int
		kind     shakedown.Kind
		failed   []string // the targets that cannot be used, in file order
		resolved []string // the ones that can
	}{
		{
			name:     "two resolve to nothing around one that resolves",
			targets:  []*shakedown.TargetSpec{names("web"), names("cache", "c1"), names("db")},
			kind:     shakedown.KindNotFound,
			failed:   []string{"web", "db"},
			resolved: []string{"cache"},
		},
		{
			name:     "nothing and over the cap",
			targets:  []*shakedown.TargetSpec{names("web"), names("cache", "c1", "c2", "c3")},
			maxTgt:   2,
			kind:     shakedown.KindNotFound,
			failed:   []string{"web", "cache"},
			resolved: []string{},
		},
		{
			name:     "an unknown kind after one that resolves to nothing is invalid",
			targets:  []*shakedown.TargetSpec{names("web"), names("cache", "c1"), {Name: "db", Kind: "nope"}},
			kind:     shakedown.KindInvalid,
			failed:   []string{"web", "db"},
			resolved: []string{"cache"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var faults []*shakedown.FaultSpec
			for _, ts := range tc.targets {
				faults = append(faults, &shakedown.FaultSpec{Name: "f-" + ts.Name, Type: "fake", Target: ts.Name, Params: &fakeParams{}, Duration: time.Second})
			}
			e := exp(faults...)
			e.Baseline, e.Recovery = 0, 0
			e.Targets = tc.targets
			o := opts(nil, nil)
			o.MaxTargets = tc.maxTgt
			p, err := engine.Plan(t.Context(), e, o)
			if got := shakedown.KindOf(err); got != tc.kind {
				t.Errorf("plan: kind %v (%v), want %v", got, err, tc.kind)
			}
			if got := len(shakedown.Unjoin(err)); got != len(tc.failed) {
				t.Errorf("plan: %d problems (%v), want %d", got, err, len(tc.failed))
			}
			failed, resolved := []string{}, []string{}
			for _, tr := range p.Targets {
				if tr.Error != "" {
					failed = append(failed, tr.Name)
				} else {
					resolved = append(resolved, tr.Name)
				}
			}
			if diff := cmp.Diff(tc.failed, failed); diff != "" {
				t.Errorf("plan: targets that cannot be used (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.resolved, resolved); diff != "" {
				t.Errorf("plan: targets that can (-want +got):\n%s", diff)
			}

			tr := &trace{}
			o = opts(tr, nil)
			o.MaxTargets = tc.maxTgt
			rec := engine.Run(t.Context(), e, o)
			wantVerdict(t, rec, tc.kind.Verdict())
			if len(rec.Targets) != len(tc.targets) {
				t.Errorf("run: %d target records, want %d", len(rec.Targets), len(tc.targets))
			}
			for _, name := range tc.failed {
				if !strings.Contains(rec.Reason, "target "+name) {
					t.Errorf("run: reason %q does not name target %s", rec.Reason, name)
				}
			}
			if len(tr.list()) != 0 {
				t.Errorf("run: something happened: %v", tr.list())
			}
		})
	}
}

func TestNotRestored(t *testing.T) {
	t.Run("revert fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := &trace{}
			e := exp(fake("stuck", &fakeParams{Trace: tr, FailRevert: true}, time.Second))
			rec := engine.Run(t.Context(), e, opts(tr, nil))
			wantVerdict(t, rec, shakedown.VerdictNotRestored)
			if rec.Recover != "shakedown recover --state-dir /tmp/state" {
				t.Errorf("recover %q", rec.Recover)
			}
			if rec.Faults[0].RevertError == "" || rec.Faults[0].RevertedAt != nil {
				t.Errorf("fault record %+v: want a revert error and no reverted_at", rec.Faults[0])
			}
			if !tr.has("done-failed stuck") {
				t.Errorf("journal not told of the failed revert: %v", tr.list())
			}
		})
	})
	t.Run("no recovery within the window", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := &trace{}
			var flag atomic.Bool
			e := exp(fake("lasting", &fakeParams{Trace: tr, Flag: &flag, Keep: true}, time.Second))
			e.SteadyState = []*shakedown.Check{flagCheck("healthy", &flag)}
			start := time.Now()
			rec := engine.Run(t.Context(), e, opts(tr, nil))
			wantVerdict(t, rec, shakedown.VerdictNotRestored)
			if rec.Recover != "" {
				t.Errorf("recover %q: nothing is left injected", rec.Recover)
			}
			if c := check(rec, "healthy"); c.PerPhase["recovery"].Held {
				t.Errorf("recovery phase held")
			}
			if d := time.Since(start); d < 3*time.Second+time.Second+10*time.Second {
				t.Errorf("run took %s: the whole recovery window must be waited for", d)
			}
		})
	})
}

// TestLostHoldIsNoPass: a fault that says it lost hold while it lasts (someone took it
// back, a host dropped out) cannot let the run pass, though every check held and the revert
// found nothing to do: the hypothesis was judged on a fault that did not hold. The run goes
// on to its end and reverts as usual, and says why in its reason.
func TestLostHoldIsNoPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		var injected, broken atomic.Bool
		e := exp(fake("pause-web", &fakeParams{Trace: tr, Flag: &injected, LoseAfter: time.Second}, 5*time.Second))
		e.SteadyState = []*shakedown.Check{flagCheck("healthy", &broken)}
		rec := engine.Run(t.Context(), e, opts(tr, nil))
		wantVerdict(t, rec, shakedown.VerdictError)
		if rec.ExitCode != 5 || !strings.Contains(rec.Reason, "fault pause-web did not hold for its duration: pause-web: taken back by someone else") {
			t.Errorf("exit %d, reason %q: want 5, saying which fault lost hold and why", rec.ExitCode, rec.Reason)
		}
		if f := rec.Faults[0]; f.RevertedAt == nil || injected.Load() {
			t.Errorf("fault record %+v, still injected %v: want it reverted as usual", f, injected.Load())
		}
		if !tr.has("done pause-web") {
			t.Errorf("journal not told of the revert: %v", tr.list())
		}
	})
}

func TestRecoveryEndsOnceSteady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var flag atomic.Bool
		e := exp(fake("f", &fakeParams{Flag: &flag}, 5*time.Second))
		e.Recovery = 10 * time.Minute
		e.SteadyState = []*shakedown.Check{flagCheck("healthy", &flag)}
		start := time.Now()
		rec := engine.Run(t.Context(), e, opts(nil, nil))
		wantVerdict(t, rec, shakedown.VerdictFailed)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("run took %s: recovery should end as soon as the steady state is back", d)
		}
		if rec.Recovery.TimeToRecover == nil || rec.Recovery.TimeToRecover.Duration() != 0 {
			t.Errorf("time to recover %v, want 0 (the first sample after the revert holds)", rec.Recovery.TimeToRecover)
		}
	})
}

func TestGraphOrderAndParallelism(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		p := func() *fakeParams { return &fakeParams{Trace: tr} }
		b := fake("b", p(), 5*time.Second, "a")
		b.Delay = 2 * time.Second
		c := fake("c", p(), 3*time.Second)
		c.Delay = time.Second
		e := exp(fake("a", p(), 10*time.Second), b, c, fake("d", p(), time.Second, "b", "c"))
		e.Baseline, e.Recovery = 0, 0
		start := time.Now()
		rec := engine.Run(t.Context(), e, opts(tr, nil))
		wantVerdict(t, rec, shakedown.VerdictPassed)
		want := map[string]time.Duration{
			"inject a": 0, "inject c": time.Second, "inject b": 2 * time.Second, "inject d": 2 * time.Second,
			"revert d": 3 * time.Second, "revert c": 4 * time.Second, "revert b": 7 * time.Second, "revert a": 10 * time.Second,
		}
		got := map[string]time.Duration{}
		for w := range want {
			at, ok := tr.at(w)
			if ok {
				got[w] = at.Sub(start)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("fault timeline (-want +got):\n%s", diff)
		}
		if i, j := tr.index("begin d"), tr.index("inject d"); i < 0 || i > j {
			t.Errorf("journal Begin not before Inject: %v", tr.list())
		}
		if i, j := tr.index("revert d"), tr.index("done d"); j < 0 || i > j {
			t.Errorf("journal Done not after revert: %v", tr.list())
		}
		plan, err := engine.Plan(t.Context(), e, opts(nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		var timeline []string
		for _, f := range plan.Faults {
			timeline = append(timeline, f.Name+" "+f.Start.String()+"-"+f.End.String())
		}
		if diff := cmp.Diff([]string{"a 0s-10s", "b 2s-7s", "c 1s-4s", "d 2s-3s"}, timeline); diff != "" {
			t.Errorf("plan timeline (-want +got):\n%s", diff)
		}
		if got := plan.Faults[0].Lines; !cmp.Equal(got, []string{"set flag of a"}) {
			t.Errorf("plan lines %q", got)
		}
	})
}

func TestOneShotRevertsInRevertPhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		e := exp(
			&shakedown.FaultSpec{Name: "kill", Type: "fake.oneshot", Params: &fakeParams{Trace: tr}},
			fake("after", &fakeParams{Trace: tr}, 2*time.Second, "kill"),
		)
		e.Baseline, e.Recovery = 0, 0
		start := time.Now()
		rec := engine.Run(t.Context(), e, opts(tr, nil))
		wantVerdict(t, rec, shakedown.VerdictPassed)
		at, _ := tr.at("revert kill")
		if d := at.Sub(start); d != 2*time.Second {
			t.Errorf("one-shot reverted at %s, want 2s (in the revert phase, after the graph)", d)
		}
	})
}

func TestSelectionIsSeeded(t *testing.T) {
	e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Target: "web", Params: &fakeParams{}, Duration: time.Second})
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	e.Targets = []*shakedown.TargetSpec{{Name: "web", Kind: "names", Params: &namesParams{Names: names},
		Select: shakedown.Selection{Mode: shakedown.SelectCount, Count: 3}}}
	pick := func(seed int64) []string {
		o := opts(nil, nil)
		o.Seed = seed
		p, err := engine.Plan(t.Context(), e, o)
		if err != nil {
			t.Fatal(err)
		}
		if p.Seed != seed || len(p.Targets) != 1 || len(p.Targets[0].Matched) != 10 {
			t.Fatalf("plan %+v", p)
		}
		return p.Targets[0].Selected
	}
	first := pick(42)
	if len(first) != 3 {
		t.Fatalf("selected %v, want 3", first)
	}
	if again := pick(42); !cmp.Equal(first, again) {
		t.Errorf("seed 42 picked %v then %v", first, again)
	}
	e.Baseline, e.Recovery = 0, 0
	o := opts(nil, nil)
	o.Seed = 42
	rec := engine.Run(t.Context(), e, o)
	if !cmp.Equal(rec.Targets[0].Selected, first) || rec.Seed != 42 {
		t.Errorf("run selected %v with seed %d, plan %v", rec.Targets[0].Selected, rec.Seed, first)
	}
	o.Seed = 0
	if p, err := engine.Plan(t.Context(), e, o); err != nil || p.Seed == 0 {
		t.Errorf("plan with no seed: seed %v, err %v; want one picked", p.Seed, err)
	}
}

func TestMetricChecks(t *testing.T) {
	latency := "web.latency.p99"
	for _, tc := range []struct {
		name     string
		check    func(t *testing.T) *shakedown.Check
		baseline map[string]float64
		baseN    int
		during   float64 // live value while the fault is injected
		verdict  shakedown.Verdict
		stop     bool
	}{
		{
			name: "absolute holds",
			check: func(t *testing.T) *shakedown.Check {
				return &shakedown.Check{Name: "p99", Metric: latency, Max: mustTol(t, "400ms")}
			},
			during:  0.2,
			verdict: shakedown.VerdictPassed,
		},
		{
			name: "absolute breaks",
			check: func(t *testing.T) *shakedown.Check {
				return &shakedown.Check{Name: "p99", Metric: latency, Max: mustTol(t, "400ms")}
			},
			during:  0.5,
			verdict: shakedown.VerdictFailed,
		},
		{
			name: "relative holds",
			check: func(t *testing.T) *shakedown.Check {
				return &shakedown.Check{Name: "p99", Metric: latency, Max: mustTol(t, "2x baseline")}
			},
			baseline: map[string]float64{"latency.p99": 0.1}, baseN: 500,
			during:  0.15,
			verdict: shakedown.VerdictPassed,
		},
		{
			name: "relative breaks",
			check: func(t *testing.T) *shakedown.Check {
				return &shakedown.Check{Name: "p99", Metric: latency, Max: mustTol(t, "2x baseline")}
			},
			baseline: map[string]float64{"latency.p99": 0.1}, baseN: 500,
			during:  0.25,
			verdict: shakedown.VerdictFailed,
		},
		{
			name: "too few baseline samples",
			check: func(t *testing.T) *shakedown.Check {
				return &shakedown.Check{Name: "p99", Metric: latency, Max: mustTol(t, "baseline + 50ms")}
			},
			baseline: map[string]float64{"latency.p99": 0.1}, baseN: 3,
			during:  0.1,
			verdict: shakedown.VerdictFailed,
		},
		{
			name: "stop condition on a metric",
			check: func(t *testing.T) *shakedown.Check {
				return &shakedown.Check{Name: "storm", Metric: "web.errors", Max: mustTol(t, "20%"), For: 2 * time.Second}
			},
			during:  0.5,
			verdict: shakedown.VerdictAborted,
			stop:    true,
		},
		{
			name: "window tolerates a blip",
			check: func(t *testing.T) *shakedown.Check {
				return &shakedown.Check{Name: "p99", Metric: latency, Max: mustTol(t, "400ms"), Window: shakedown.NofM{N: 3, M: 5}}
			},
			during:  -1, // one breached sample only
			verdict: shakedown.VerdictPassed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLoad()
				if tc.baseline != nil {
					l.phase["baseline"], l.phaseN["baseline"] = tc.baseline, tc.baseN
				}
				metric := strings.TrimPrefix(tc.check(t).Metric, "web.")
				l.set(metric, 0.1)
				if metric == "errors" {
					l.set(metric, 0)
				}
				e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Params: &fakeParams{}, Duration: 10 * time.Second})
				e.Loads = []*shakedown.LoadSpec{{Name: "web", URL: "http://127.0.0.1:1/", Rate: 10}}
				c := tc.check(t)
				if tc.stop {
					e.StopIf = []*shakedown.Check{c}
				} else {
					e.SteadyState = []*shakedown.Check{c}
				}
				o := opts(nil, nil)
				o.NewLoad = func(spec *shakedown.LoadSpec) (engine.Load, error) { return l, nil }
				o.Events = func(ev shakedown.Event) {
					switch {
					case ev.Kind == shakedown.EventInject && tc.during >= 0:
						l.set(metric, tc.during)
					case ev.Kind == shakedown.EventInject:
						l.set(metric, 0.5)
						time.AfterFunc(500*time.Millisecond, func() { l.set(metric, 0.1) })
					case ev.Kind == shakedown.EventRevert:
						l.set(metric, 0.1)
						if metric == "errors" {
							l.set(metric, 0)
						}
					}
				}
				rec := engine.Run(t.Context(), e, o)
				wantVerdict(t, rec, tc.verdict)
				if !l.ran.Load() {
					t.Errorf("the load never ran")
				}
				if len(rec.Loads) != 1 {
					t.Errorf("%d load records, want 1", len(rec.Loads))
				}
			})
		})
	}
}

// TestSamplesRestOnEnoughRequests: a sample of a percentile or an error fraction looks back
// over as many requests as its value needs. At 50 requests a second, each second's p99 is
// its slowest request, and one error in it is 2 %: the seconds alone would break both
// checks, a window of the last hundred-odd requests breaks neither. A phase with too few
// requests so far is judged on what it has, and the sample says so.
func TestSamplesRestOnEnoughRequests(t *testing.T) {
	// lastSecond gives a value of the 50 requests of the last second, and another of the
	// 125 latest, which a second reaches back to when it must hold more than 50, and which
	// the phase so far holds.
	lastSecond := func(second, longer float64) func(time.Duration, int) (float64, int) {
		return func(w time.Duration, least int) (float64, int) {
			if w > 0 && w <= time.Second && least <= 50 {
				return second, 50
			}
			return longer, 125
		}
	}
	for _, tc := range []struct {
		name    string
		check   *shakedown.Check
		values  func(window time.Duration, least int) (float64, int)
		base    float64 // the baseline phase's value of the metric
		verdict shakedown.Verdict
		thin    string // at the end of every baseline sample's observed, when set
	}{
		{
			name:    "a p99 over the last hundred requests",
			check:   &shakedown.Check{Name: "c", Metric: "web.latency.p99", Max: &shakedown.Tolerance{Value: 0.4, Text: "400ms"}},
			values:  lastSecond(0.5, 0.1), // the second's slowest request
			verdict: shakedown.VerdictPassed,
		},
		{
			name:    "an error fraction over as many requests as its bound needs",
			check:   &shakedown.Check{Name: "c", Metric: "web.errors", Max: &shakedown.Tolerance{Value: 0.01, Text: "1%"}},
			values:  lastSecond(0.02, 0.008), // one error in the second
			verdict: shakedown.VerdictPassed,
		},
		{
			name:    "an error fraction under a bound relative to the baseline's",
			check:   &shakedown.Check{Name: "c", Metric: "web.errors", Max: &shakedown.Tolerance{Relation: shakedown.Factor, Value: 2, Text: "2x baseline"}},
			base:    0.005, // a bound of 1 %, which needs 100 requests
			values:  lastSecond(0.02, 0.008),
			verdict: shakedown.VerdictPassed,
		},
		{
			name:    "a maximum needs no more than the interval",
			check:   &shakedown.Check{Name: "c", Metric: "web.latency.max", Max: &shakedown.Tolerance{Value: 0.4, Text: "400ms"}},
			values:  lastSecond(0.5, 0.1),
			verdict: shakedown.VerdictNotSteady,
		},
		{
			name:  "too few requests in the phase",
			check: &shakedown.Check{Name: "c", Metric: "web.latency.p99", Max: &shakedown.Tolerance{Value: 0.4, Text: "400ms"}},
			values: func(time.Duration, int) (float64, int) {
				return 0.5, 30
			},
			verdict: shakedown.VerdictNotSteady,
			thin:    "(30 of the 100 requests it needs so far in the phase)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLoad()
				l.byWindow = func(metric string, w time.Duration, least int) (float64, int) { return tc.values(w, least) }
				l.phase["baseline"], l.phaseN["baseline"] = map[string]float64{"errors": tc.base}, 500
				e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Params: &fakeParams{}, Duration: 5 * time.Second})
				e.Loads = []*shakedown.LoadSpec{{Name: "web", URL: "http://127.0.0.1:1/", Rate: 50}}
				e.SteadyState = []*shakedown.Check{tc.check}
				o := opts(nil, nil)
				o.NewLoad = func(spec *shakedown.LoadSpec) (engine.Load, error) { return l, nil }
				rec := engine.Run(t.Context(), e, o)
				wantVerdict(t, rec, tc.verdict)
				if tc.thin == "" {
					return
				}
				c := check(rec, "c")
				ps := c.PerPhase[shakedown.PhaseBaseline]
				if ps == nil || len(ps.Samples) == 0 {
					t.Fatalf("no baseline samples in %+v", c)
				}
				for _, s := range ps.Samples {
					if !strings.HasSuffix(s.Observed, tc.thin) {
						t.Errorf("sample observed %q, want it to end %q", s.Observed, tc.thin)
					}
				}
			})
		})
	}
}

func TestAlertExpectation(t *testing.T) {
	for _, tc := range []struct {
		name              string
		fireAfter         time.Duration
		resolveAfter      time.Duration
		verdict           shakedown.Verdict
		wantDetect, wantR time.Duration
	}{
		// Alerts are polled every second from the first inject: a change is seen at the next poll.
		{name: "met", fireAfter: 1500 * time.Millisecond, resolveAfter: 2500 * time.Millisecond, verdict: shakedown.VerdictPassed, wantDetect: 2 * time.Second, wantR: 3 * time.Second},
		{name: "fires too late", fireAfter: 20 * time.Second, resolveAfter: time.Second, verdict: shakedown.VerdictFailed},
		{name: "resolves too late", fireAfter: 500 * time.Millisecond, resolveAfter: 40 * time.Second, verdict: shakedown.VerdictFailed, wantDetect: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := &alert{}
				e := exp(fake("f", &fakeParams{}, 30*time.Second))
				e.Expect = []*shakedown.Expectation{{Name: "alert fires", Alert: &shakedown.AlertSpec{Name: "Slow"},
					FiresWithin: 10 * time.Second, ResolvesWithin: 30 * time.Second}}
				o := opts(nil, nil)
				o.NewAlert = func(*shakedown.AlertSpec) (engine.AlertSource, error) { return a, nil }
				o.Events = func(ev shakedown.Event) {
					switch ev.Kind {
					case shakedown.EventInject:
						time.AfterFunc(tc.fireAfter, func() { a.firing.Store(true) })
					case shakedown.EventRevert:
						time.AfterFunc(tc.resolveAfter, func() { a.firing.Store(false) })
					}
				}
				rec := engine.Run(t.Context(), e, o)
				wantVerdict(t, rec, tc.verdict)
				x := rec.Expectations[0]
				if tc.wantDetect > 0 && (x.TimeToDetect == nil || x.TimeToDetect.Duration() != tc.wantDetect) {
					t.Errorf("time to detect %v ms, want %s (%s)", deref(x.TimeToDetect), tc.wantDetect, x.Detail)
				}
				if tc.wantR > 0 && (x.TimeToRecover == nil || x.TimeToRecover.Duration() != tc.wantR) {
					t.Errorf("time to recover %v ms, want %s (%s)", deref(x.TimeToRecover), tc.wantR, x.Detail)
				}
				if x.Detail == "" {
					t.Errorf("no detail")
				}
			})
		})
	}
}

func TestProbeExpectation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var flag atomic.Bool
		e := exp(fake("f", &fakeParams{Flag: &flag, Keep: true}, 5*time.Second))
		e.Expect = []*shakedown.Expectation{{Name: "back", Probe: &shakedown.ProbeSpec{Type: "flag", Params: &flagParams{Flag: &flag}},
			RecoversWithin: 10 * time.Second}}
		o := opts(nil, nil)
		o.Events = func(ev shakedown.Event) {
			if ev.Kind == shakedown.EventRevert {
				time.AfterFunc(4*time.Second, func() { flag.Store(false) })
			}
		}
		rec := engine.Run(t.Context(), e, o)
		wantVerdict(t, rec, shakedown.VerdictPassed)
		x := rec.Expectations[0]
		if !x.Held || x.TimeToRecover == nil || x.TimeToRecover.Duration() < 4*time.Second || x.TimeToRecover.Duration() > 5*time.Second {
			t.Errorf("expectation %+v, want held with time to recover in [4s, 5s]", x)
		}
	})
}

// TestPauseVictim pauses a real process and watches it with a real HTTP probe. The probe's
// timeout is long enough that a busy machine answering slowly does not break the baseline,
// and the pause outlasts it.
func TestPauseVictim(t *testing.T) {
	v := startVictim(t)
	before := runtime.NumGoroutine()
	e := &shakedown.Experiment{Version: 1, Name: "pause", Baseline: 300 * time.Millisecond, Recovery: 5 * time.Second,
		Targets: []*shakedown.TargetSpec{{Name: "web", Kind: "pid", Params: &pidParams{PID: v.PID}}},
		Faults:  []*shakedown.FaultSpec{{Name: "pause-web", Type: "pause", Target: "web", Duration: 4 * time.Second}},
		SteadyState: []*shakedown.Check{{Name: "healthz", Every: 100 * time.Millisecond, Timeout: 2 * time.Second,
			Probe: &shakedown.ProbeSpec{Type: "http", Params: &urlParams{URL: "http://" + v.Addr + "/healthz"}}}},
	}
	tr := &trace{}
	rec := engine.Run(t.Context(), e, opts(tr, nil))
	wantVerdict(t, rec, shakedown.VerdictFailed)
	if state := procState(t, v.PID); state == "T" {
		t.Fatalf("victim left stopped")
	}
	c := check(rec, "healthz")
	if c.PerPhase["inject"].Held || !c.PerPhase["recovery"].Held {
		t.Errorf("healthz: %+v", c.PerPhase)
	}
	if rec.Recovery.TimeToRecover == nil {
		t.Errorf("no time to recover")
	}
	waitGoroutines(t, before)
}

// TestCancelPausedVictim cancels a run while a real process is paused; it must be resumed.
func TestCancelPausedVictim(t *testing.T) {
	v := startVictim(t)
	e := &shakedown.Experiment{Version: 1, Name: "pause",
		Targets: []*shakedown.TargetSpec{{Name: "web", Kind: "pid", Params: &pidParams{PID: v.PID}}},
		Faults:  []*shakedown.FaultSpec{{Name: "pause-web", Type: "pause", Target: "web", Duration: time.Hour}},
	}
	ctx, cancel := context.WithCancel(t.Context())
	o := opts(nil, nil)
	o.Events = func(ev shakedown.Event) {
		if ev.Kind == shakedown.EventInject {
			cancel()
		}
	}
	rec := engine.Run(ctx, e, o)
	wantVerdict(t, rec, shakedown.VerdictAborted)
	if state := procState(t, v.PID); state == "T" {
		t.Fatalf("victim left stopped")
	}
}

func TestPanicInEventsStillReverts(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	e := exp(&shakedown.FaultSpec{Name: "first", Type: "file", Params: &fileParams{Path: a}, Duration: time.Hour})
	e.Baseline, e.Recovery = 0, 0
	o := opts(nil, nil)
	o.Events = func(ev shakedown.Event) {
		if ev.Kind == shakedown.EventInject {
			panic("a broken progress printer")
		}
	}
	rec := engine.Run(t.Context(), e, o)
	wantVerdict(t, rec, shakedown.VerdictError)
	if _, err := os.Stat(a); err == nil {
		t.Errorf("%s left behind", a)
	}
}

func TestNoGoroutinesLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		var flag atomic.Bool
		e := exp(fake("f", &fakeParams{Flag: &flag}, 20*time.Millisecond))
		e.Baseline, e.Recovery = 20*time.Millisecond, time.Second
		c := flagCheck("healthy", &flag)
		c.Every = 5 * time.Millisecond
		e.SteadyState = []*shakedown.Check{c}
		engine.Run(t.Context(), e, opts(&trace{}, nil))
	}
	waitGoroutines(t, before)
}

func TestID(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	a, b := engine.NewID(t0), engine.NewID(t0.Add(time.Millisecond))
	if len(a) != 26 || strings.ToLower(a) != a || strings.ContainsAny(a, "ilou") {
		t.Errorf("id %q: want 26 lower-case Crockford characters", a)
	}
	if !(a < b) {
		t.Errorf("ids not sorted by time: %q then %q", a, b)
	}
	if engine.NewID(t0) == a {
		t.Errorf("two ids in the same millisecond are equal")
	}
}

func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

func deref(m *shakedown.Millis) any {
	if m == nil {
		return nil
	}
	return float64(*m)
}

// TestCheckBoundsInTheRecord: a metric check's record names its metric and gives its bounds
// per phase as numbers in the metric's base unit: an absolute bound in every phase, a
// baseline-relative one once the baseline's value is known (not in the baseline itself).
func TestCheckBoundsInTheRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoad()
		l.phase["baseline"], l.phaseN["baseline"] = map[string]float64{"latency.p99": 0.1, "errors": 0}, 500
		l.phase["inject"], l.phaseN["inject"] = map[string]float64{"latency.p99": 0.15, "errors": 0}, 500
		l.set("latency.p99", 0.1)
		l.set("errors", 0)
		e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Params: &fakeParams{}, Duration: 5 * time.Second})
		e.Loads = []*shakedown.LoadSpec{{Name: "web", URL: "http://127.0.0.1:1/", Rate: 10}}
		e.SteadyState = []*shakedown.Check{
			{Name: "p99", Metric: "web.latency.p99", Max: mustTol(t, "2x baseline")},
			{Name: "errors", Metric: "web.errors", Max: mustTol(t, "1%"), Min: mustTol(t, "0%")},
		}
		o := opts(nil, nil)
		o.NewLoad = func(*shakedown.LoadSpec) (engine.Load, error) { return l, nil }
		rec := engine.Run(t.Context(), e, o)
		wantVerdict(t, rec, shakedown.VerdictPassed)
		val := func(p *float64) any {
			if p == nil {
				return nil
			}
			return *p
		}
		for _, tc := range []struct {
			check, metric string
			phase         shakedown.Phase
			max, min      any
		}{
			{"p99", "web.latency.p99", shakedown.PhaseBaseline, nil, nil},
			{"p99", "web.latency.p99", shakedown.PhaseInject, 0.2, nil},
			{"errors", "web.errors", shakedown.PhaseBaseline, 0.01, 0.0},
			{"errors", "web.errors", shakedown.PhaseInject, 0.01, 0.0},
		} {
			c := check(rec, tc.check)
			if c.Metric != tc.metric {
				t.Errorf("check %s: metric %q, want %q", tc.check, c.Metric, tc.metric)
			}
			pr := c.PerPhase[tc.phase]
			if pr == nil {
				t.Errorf("check %s: no %s phase", tc.check, tc.phase)
				continue
			}
			if got, ok := val(pr.Max).(float64); tc.max != nil && (!ok || math.Abs(got-tc.max.(float64)) > 1e-9) || tc.max == nil && pr.Max != nil {
				t.Errorf("check %s in %s: max %v, want %v", tc.check, tc.phase, val(pr.Max), tc.max)
			}
			if got, ok := val(pr.Min).(float64); tc.min != nil && (!ok || got != tc.min.(float64)) || tc.min == nil && pr.Min != nil {
				t.Errorf("check %s in %s: min %v, want %v", tc.check, tc.phase, val(pr.Min), tc.min)
			}
		}
	})
}

func TestCompareHookAndRecordJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLoad()
		l.phase["baseline"], l.phaseN["baseline"] = map[string]float64{"latency.p99": 0.1}, 500
		l.phase["inject"], l.phaseN["inject"] = map[string]float64{"latency.p99": 0.15}, 500
		l.set("latency.p99", 0.1)
		e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Params: &fakeParams{}, Duration: 5 * time.Second})
		e.Loads = []*shakedown.LoadSpec{{Name: "web", URL: "http://127.0.0.1:1/", Rate: 10}}
		e.SteadyState = []*shakedown.Check{{Name: "p99", Metric: "web.latency.p99", Max: mustTol(t, "2x baseline")}}
		o := opts(nil, nil)
		o.NewLoad = func(*shakedown.LoadSpec) (engine.Load, error) { return l, nil }
		var calls atomic.Int32
		o.Compare = func(metric string, baseline, observed []float64) engine.Comparison {
			calls.Add(1)
			return engine.Comparison{Enough: true, Significant: true, Note: "p=0.001"}
		}
		rec := engine.Run(t.Context(), e, o)
		wantVerdict(t, rec, shakedown.VerdictPassed)
		pr := check(rec, "p99").PerPhase["inject"]
		if pr.Significant == nil || !*pr.Significant || pr.Note != "p=0.001" {
			t.Errorf("inject phase record %+v: want the comparer's judgement", pr)
		}
		if pr.Observed != "150ms over 500 requests" || pr.Threshold != "max 2x baseline (200ms)" {
			t.Errorf("observed %q threshold %q", pr.Observed, pr.Threshold)
		}
		if calls.Load() == 0 {
			t.Errorf("comparer never called")
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		for _, k := range []string{"schema", "id", "experiment", "started_at", "ended_at", "seed", "shakedown_version",
			"verdict", "exit_code", "reason", "phases", "targets", "faults", "checks", "expectations", "loads", "recovery"} {
			if v, ok := m[k]; !ok || v == nil {
				t.Errorf("record field %q missing or null in %s", k, b)
			}
		}
	})
}

type failingAlert struct{}

func (failingAlert) Firing(ctx context.Context) (bool, error) {
	return false, shakedown.Errorf(shakedown.KindUnavailable, "GET http://127.0.0.1:9/api/v1/alerts: connection refused")
}

func TestUnreachableAlertSourceInBaselineInjectsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		e := exp(fake("f", &fakeParams{Trace: tr}, 5*time.Second))
		e.Expect = []*shakedown.Expectation{{Name: "fires", Alert: &shakedown.AlertSpec{Name: "Slow"}, FiresWithin: time.Minute}}
		o := opts(tr, nil)
		o.NewAlert = func(*shakedown.AlertSpec) (engine.AlertSource, error) { return failingAlert{}, nil }
		rec := engine.Run(t.Context(), e, o)
		wantVerdict(t, rec, shakedown.VerdictError)
		if !strings.Contains(rec.Reason, "127.0.0.1:9") {
			t.Errorf("reason %q does not name the source", rec.Reason)
		}
		if tr.has("inject f") {
			t.Errorf("injected: %v", tr.list())
		}
	})
}

func TestPanickingProbeStillReverts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		var flag atomic.Bool
		e := exp(fake("f", &fakeParams{Trace: tr, Flag: &flag}, time.Hour))
		reg := registry()
		reg.AddProbe(shakedown.ProbeType{Name: "boom", New: func(shakedown.Env, any, time.Duration) (shakedown.Prober, error) {
			return proberFunc(func(ctx context.Context) (string, error) {
				if flag.Load() {
					panic("probe bug")
				}
				return "", nil
			}), nil
		}})
		e.SteadyState = []*shakedown.Check{{Name: "boom", Probe: &shakedown.ProbeSpec{Type: "boom"}, Every: time.Second}}
		o := opts(tr, nil)
		o.Registry = reg
		rec := engine.Run(t.Context(), e, o)
		wantVerdict(t, rec, shakedown.VerdictError)
		if flag.Load() || !tr.has("done f") {
			t.Errorf("not reverted: %v", tr.list())
		}
	})
}

// TestSignificanceDecidesRelativeBreaches: a baseline-relative check breaks only on a
// significant breach, and does not pass on too few samples.
func TestSignificanceDecidesRelativeBreaches(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inject   float64 // p99 during inject; the bound is 2x the baseline's 0.1
		cmp      engine.Comparison
		want     shakedown.Verdict
		wantNote string
	}{
		{"breach, significant", 0.35, engine.Comparison{Enough: true, Significant: true, Note: "diff +250ms"}, shakedown.VerdictFailed, "diff +250ms"},
		{"breach, not significant", 0.35, engine.Comparison{Enough: true, Note: "diff +250ms [-10ms, +500ms]"}, shakedown.VerdictPassed, "not significant"},
		{"held, too few samples", 0.15, engine.Comparison{Note: "p99 needs 1000 samples, baseline has 500"}, shakedown.VerdictFailed, "1000 samples"},
		{"held, enough", 0.15, engine.Comparison{Enough: true, Significant: true, Note: "diff +50ms"}, shakedown.VerdictPassed, "diff +50ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLoad()
				l.phase["baseline"], l.phaseN["baseline"] = map[string]float64{"latency.p99": 0.1}, 500
				l.phase["inject"], l.phaseN["inject"] = map[string]float64{"latency.p99": tc.inject}, 500
				l.set("latency.p99", 0.1)
				e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake", Params: &fakeParams{}, Duration: 5 * time.Second})
				e.Loads = []*shakedown.LoadSpec{{Name: "web", URL: "http://127.0.0.1:1/", Rate: 10}}
				e.SteadyState = []*shakedown.Check{{Name: "p99", Metric: "web.latency.p99", Max: mustTol(t, "2x baseline"),
					Phases: []shakedown.Phase{shakedown.PhaseBaseline, shakedown.PhaseInject}}}
				o := opts(nil, nil)
				o.NewLoad = func(*shakedown.LoadSpec) (engine.Load, error) { return l, nil }
				o.Compare = func(string, []float64, []float64) engine.Comparison { return tc.cmp }
				rec := engine.Run(t.Context(), e, o)
				wantVerdict(t, rec, tc.want)
				pr := check(rec, "p99").PerPhase["inject"]
				if !strings.Contains(pr.Note+rec.Reason, tc.wantNote) {
					t.Errorf("inject note %q, reason %q: want %q in one of them", pr.Note, rec.Reason, tc.wantNote)
				}
			})
		})
	}
}

// TestInjectJudgedOnceAnswered: the inject phase is judged on its requests once they have
// been answered — here 3s after the fault ends, slower than the bound — while the revert
// goes ahead on time; a panic in that wait is an error of the run, which still reverts.
func TestInjectJudgedOnceAnswered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		panic bool
		want  shakedown.Verdict
	}{
		{"late answers are slow", false, shakedown.VerdictFailed},
		{"the wait panics", true, shakedown.VerdictError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr := &trace{}
				var flag atomic.Bool
				l := newLoad()
				l.set("latency.p99", 0.1)
				l.phase["baseline"], l.phaseN["baseline"] = map[string]float64{"latency.p99": 0.1}, 30
				l.phase["inject"], l.phaseN["inject"] = map[string]float64{"latency.p99": 0.1}, 10
				var answered time.Time
				l.await = func(ctx context.Context, p shakedown.Phase) error {
					if p != shakedown.PhaseInject {
						return nil
					}
					time.Sleep(3 * time.Second)
					if tc.panic {
						panic("load bug")
					}
					l.mu.Lock()
					l.phase["inject"], l.phaseN["inject"] = map[string]float64{"latency.p99": 4}, 50
					l.mu.Unlock()
					answered = time.Now()
					return nil
				}
				e := exp(fake("f", &fakeParams{Trace: tr, Flag: &flag}, 5*time.Second))
				e.Loads = []*shakedown.LoadSpec{{Name: "web", URL: "http://127.0.0.1:1/", Rate: 10}}
				e.SteadyState = []*shakedown.Check{{Name: "p99", Metric: "web.latency.p99", Max: mustTol(t, "1s")}}
				o := opts(tr, nil)
				o.NewLoad = func(*shakedown.LoadSpec) (engine.Load, error) { return l, nil }
				rec := engine.Run(t.Context(), e, o)
				wantVerdict(t, rec, tc.want)
				if flag.Load() || !tr.has("done f") {
					t.Fatalf("not reverted: %v", tr.list())
				}
				if tc.panic {
					return
				}
				f := rec.Faults[0]
				if f.RevertedAt == nil || f.InjectedAt == nil || f.RevertedAt.Sub(f.InjectedAt.Time) != 5*time.Second {
					t.Errorf("fault %+v: want it reverted on time, 5s after the inject", f)
				}
				if !f.RevertedAt.Before(answered) {
					t.Errorf("reverted at %v, after the inject's requests were answered at %v: the revert waited", f.RevertedAt.Time, answered)
				}
				pr := check(rec, "p99").PerPhase["inject"]
				if pr == nil || pr.Held || !strings.Contains(pr.Observed, "over 50 requests") {
					t.Errorf("inject phase %+v: want it broken on the 50 answered requests", pr)
				}
			})
		})
	}
}

// TestProbeHeldPastTheInjectBreaksIt: a probe sample sent during the inject phase that the
// fault holds until after the phase has ended (it times out then) breaks the inject phase,
// and the phase is judged only once that sample is back.
func TestProbeHeldPastTheInjectBreaksIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		var hung atomic.Bool
		reg := registry()
		reg.AddProbe(shakedown.ProbeType{Name: "hangs", New: func(shakedown.Env, any, time.Duration) (shakedown.Prober, error) {
			return proberFunc(func(ctx context.Context) (string, error) {
				if !hung.Load() {
					return "", nil
				}
				<-ctx.Done() // no answer while the fault is in: the sample times out
				return "", ctx.Err()
			}), nil
		}})
		// The fault starts 500ms into the inject phase, after its first sample, and ends at
		// 2.5s; the sample of 1s times out at 3s, after the phase.
		f := fake("f", &fakeParams{Trace: tr, Flag: &hung}, 2*time.Second)
		f.Delay = 500 * time.Millisecond
		e := exp(f)
		e.SteadyState = []*shakedown.Check{{Name: "answers", Probe: &shakedown.ProbeSpec{Type: "hangs"},
			Every: time.Second, Timeout: 2 * time.Second}}
		o := opts(tr, nil)
		o.Registry = reg
		rec := engine.Run(t.Context(), e, o)
		wantVerdict(t, rec, shakedown.VerdictFailed)
		if pr := check(rec, "answers").PerPhase["inject"]; pr == nil || pr.Held {
			t.Errorf("inject phase %+v: want it broken by the sample that came back after it", pr)
		}
		if hung.Load() || !tr.has("done f") {
			t.Errorf("not reverted: %v", tr.list())
		}
	})
}

// TestInjectedJournaled: once a fault's Inject has returned, the journal hears of it, so that
// a replay knows nothing of the inject still runs; an Inject that panicked is not reported so,
// and its undos are replayed as for an inject that may still be running.
func TestInjectedJournaled(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	e := exp(
		&shakedown.FaultSpec{Name: "first", Type: "file", Params: &fileParams{Path: a}, Duration: time.Hour},
		&shakedown.FaultSpec{Name: "boom", Type: "file.panic", Params: &fileParams{Path: b}, Duration: time.Hour, After: []string{"first"}},
	)
	e.Baseline, e.Recovery = 0, 0
	tr := &trace{}
	o := opts(tr, nil)
	j := newJournal(tr)
	o.OpenJournal = j.open
	engine.Run(t.Context(), e, o)
	if d := cmp.Diff(map[string]bool{"first": true}, j.injected); d != "" {
		t.Errorf("faults journaled as injected (-want +got):\n%s", d)
	}
}

// TestRecordHidesSecrets: the record shows a fault's parameters with their secrets as
// xxxxx, and lists the fields of the experiment that held one; the experiment keeps them.
func TestRecordHidesSecrets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		var injected atomic.Bool
		p := &fakeParams{Trace: tr, Flag: &injected, Token: "T0kenInParams"}
		e := exp(fake("slow", p, time.Second))
		e.SteadyState = []*shakedown.Check{{Name: "web", Probe: &shakedown.ProbeSpec{Type: "url",
			Params: &urlParams{URL: "http://u:Passw0rdInURL@127.0.0.1:1/"}}}}
		rec := engine.Run(t.Context(), e, opts(tr, &events{}))
		b, err := json.Marshal(rec.Faults[0].Params)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"Token":"xxxxx"`) || strings.Contains(string(b), "T0kenInParams") {
			t.Errorf("fault params in the record: %s, want the token as xxxxx", b)
		}
		if p.Token != "T0kenInParams" {
			t.Errorf("the experiment's parameters lost their token: %q", p.Token)
		}
		if diff := cmp.Diff([]string{"faults[0].with.Token", "steady_state[0].url.URL"}, rec.Redacted); diff != "" {
			t.Errorf("redacted fields (-want +got):\n%s", diff)
		}
	})
}

// TestCancelWhileResolving: a run cancelled while a target resolves — an engine that does not
// answer — is aborted, not an error of the tool, and injects nothing.
func TestCancelWhileResolving(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := registry()
		reg.AddTarget(shakedown.TargetKind{Name: "hang", Resolve: func(ctx context.Context, env shakedown.Env, params any) ([]shakedown.Instance, error) {
			<-ctx.Done()
			return nil, shakedown.Wrap(shakedown.KindUnavailable, "ask the engine", ctx.Err())
		}})
		tr := &trace{}
		e := exp(&shakedown.FaultSpec{Name: "f", Type: "fake.oneshot", Params: &fakeParams{Trace: tr}})
		e.Targets = []*shakedown.TargetSpec{{Name: "web", Kind: "hang"}}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		time.AfterFunc(10*time.Second, cancel)
		o := opts(tr, nil)
		o.Registry = reg
		rec := engine.Run(ctx, e, o)
		wantVerdict(t, rec, shakedown.VerdictAborted)
		if got := tr.list(); len(got) != 0 {
			t.Errorf("something ran: %v", got)
		}
	})
}

// TestJournalOpenCutShortIsAborted: a journal whose open is cut short by a cancellation (a
// watchdog still starting when a signal came) makes the run aborted, not an error, even when
// the open returns before the run's own context has heard of it; nothing is injected.
func TestJournalOpenCutShortIsAborted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		e := exp(fake("slow", &fakeParams{Trace: tr}, time.Second))
		e.Baseline, e.Recovery = 0, 0
		parent, cancel := context.WithCancelCause(t.Context())
		stop := &cancelled{errors.New("interrupted by SIGTERM")}
		o := opts(tr, nil)
		o.OpenJournal = func(runID string, exp *shakedown.Experiment) (engine.Journal, error) {
			// The open watched a context above the run's, which has not heard of it yet.
			return nil, shakedown.Wrap(shakedown.KindInternal, "start watchdog", stop)
		}
		done := make(chan *shakedown.Record, 1)
		go func() { done <- engine.Run(parent, e, o) }()
		synctest.Wait() // the run has the open's error in hand
		cancel(stop)
		rec := <-done
		wantVerdict(t, rec, shakedown.VerdictAborted)
		if got := tr.list(); len(got) != 0 {
			t.Errorf("injected or reverted with no journal: %v", got)
		}
	})
}

// cancelled is a cancellation cause, as the cli's signals and stops are.
type cancelled struct{ error }

func (c *cancelled) Is(target error) bool { return target == context.Canceled }

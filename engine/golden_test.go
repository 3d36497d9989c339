package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

var update = flag.Bool("update", false, "rewrite the golden records in testdata")

// phasedLoad is a load whose live values, phase aggregates and phase samples a test fixes
// per phase.
type phasedLoad struct {
	mu      sync.Mutex
	cur     shakedown.Phase
	live    map[string]float64 // metric@phase: what Value returns during the phase
	agg     map[string]float64 // metric@phase: the phase's aggregate
	n       map[shakedown.Phase]int
	samples map[string][]float64 // metric@phase
}

func key(metric string, p shakedown.Phase) string { return metric + "@" + string(p) }

func (l *phasedLoad) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (l *phasedLoad) SetPhase(p shakedown.Phase) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur = p
}

func (l *phasedLoad) Value(metric string, window time.Duration, least int) (float64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live[key(metric, l.cur)], 100
}

func (l *phasedLoad) AwaitPhase(ctx context.Context, p shakedown.Phase) error { return nil }

func (l *phasedLoad) PhaseValue(p shakedown.Phase, metric string) (float64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.agg[key(metric, p)], l.n[p]
}

func (l *phasedLoad) PhaseSamples(p shakedown.Phase, metric string) []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.samples[key(metric, p)]
}

func (l *phasedLoad) Record() shakedown.LoadRecord { return shakedown.LoadRecord{Name: "web"} }

type flagProber struct{ flag *atomic.Bool }

func (p flagProber) Probe(ctx context.Context) (string, error) {
	if p.flag.Load() {
		return "", fmt.Errorf("flag is set")
	}
	return "flag clear", nil
}

// meanComparer is a deterministic Comparer: enough with 3 samples a side, significant when
// the observed mean passes 1.5 times the baseline's.
func meanComparer(metric string, baseline, observed []float64) Comparison {
	if len(baseline) < 3 || len(observed) < 3 {
		return Comparison{Note: fmt.Sprintf("%s needs 3 samples a side, has %d and %d", metric, len(baseline), len(observed))}
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	b, o := mean(baseline), mean(observed)
	return Comparison{Enough: true, Significant: o > 1.5*b, Note: fmt.Sprintf("mean %.3g vs %.3g", o, b)}
}

// TestGoldenRecords drives a runner through its phases by hand — every sample taken at a
// fixed instant of a fake clock, no goroutines — and compares the record it writes, byte for
// byte, with testdata/golden: how checks are judged (samples, phase aggregates,
// significance, too few samples, recovery) must not change unnoticed. Run with -update to
// rewrite them.
func TestGoldenRecords(t *testing.T) {
	const (
		b = shakedown.PhaseBaseline
		i = shakedown.PhaseInject
		v = shakedown.PhaseRevert
		c = shakedown.PhaseRecovery
	)
	type vals map[shakedown.Phase]float64
	for _, tc := range []struct {
		name    string
		p99     vals // live value of latency.p99 per phase; the aggregate unless agg says
		agg     vals // aggregate of latency.p99 per phase, where it differs
		errs    vals // live and aggregate value of errors per phase
		n       map[shakedown.Phase]int
		samples map[shakedown.Phase][]float64 // latency.p99 samples per phase
		flag    bool                          // the fault breaks the probe while injected
		stop    bool                          // the stop condition's bound is low enough to fire
		compare bool
	}{
		{name: "passed", p99: vals{b: 0.1, i: 0.15, v: 0.12, c: 0.1}, errs: vals{b: 0, i: 0.005, v: 0, c: 0},
			samples: map[shakedown.Phase][]float64{b: {0.1, 0.1, 0.1}, i: {0.12, 0.15, 0.13}, c: {0.1, 0.1, 0.1}}, compare: true},
		{name: "relative_breach_significant", p99: vals{b: 0.1, i: 0.35, v: 0.1, c: 0.1}, errs: vals{},
			samples: map[shakedown.Phase][]float64{b: {0.1, 0.1, 0.1}, i: {0.3, 0.35, 0.4}, c: {0.1, 0.1, 0.1}}, compare: true},
		{name: "relative_breach_not_significant", p99: vals{b: 0.1, i: 0.35, v: 0.1, c: 0.1}, errs: vals{},
			samples: map[shakedown.Phase][]float64{b: {0.1, 0.1, 0.1}, i: {0.1, 0.12, 0.11}, c: {0.1, 0.1, 0.1}}, compare: true},
		{name: "relative_too_few_to_compare", p99: vals{b: 0.1, i: 0.15, v: 0.1, c: 0.1}, errs: vals{},
			samples: map[shakedown.Phase][]float64{b: {0.1}, i: {0.15}}, compare: true},
		{name: "relative_without_comparer", p99: vals{b: 0.1, i: 0.35, v: 0.1, c: 0.1}, errs: vals{}},
		{name: "baseline_too_few_requests", p99: vals{b: 0.1, i: 0.15, v: 0.1, c: 0.1}, errs: vals{},
			n: map[shakedown.Phase]int{b: 5, i: 500, v: 50, c: 500}, compare: true},
		{name: "baseline_aggregate_breaks", p99: vals{b: 0.1, i: 0.1, v: 0.1, c: 0.1}, agg: vals{b: 1.5}, errs: vals{}},
		{name: "inject_aggregate_breaks", p99: vals{b: 0.1, i: 0.1, v: 0.1, c: 0.1}, agg: vals{i: 1.5}, errs: vals{}},
		{name: "inject_no_requests", p99: vals{b: 0.1, i: 0.1, v: 0.1, c: 0.1}, errs: vals{},
			n: map[shakedown.Phase]int{b: 500, i: 0, v: 0, c: 500}},
		{name: "probe_breaks_in_inject", p99: vals{b: 0.1, i: 0.1, v: 0.1, c: 0.1}, errs: vals{}, flag: true},
		{name: "stop_condition_fires", p99: vals{b: 0.1, i: 0.1, v: 0.1, c: 0.1}, errs: vals{b: 0, i: 0.6, v: 0.6, c: 0}, stop: true},
		{name: "not_recovered", p99: vals{b: 0.1, i: 0.5, v: 1.5, c: 1.5}, errs: vals{b: 0, i: 0.02, v: 0.02, c: 0.02}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var broken atomic.Bool
			l := &phasedLoad{live: map[string]float64{}, agg: map[string]float64{}, n: map[shakedown.Phase]int{},
				samples: map[string][]float64{}}
			for _, p := range []shakedown.Phase{b, i, v, c} {
				l.live[key("latency.p99", p)], l.agg[key("latency.p99", p)] = tc.p99[p], tc.p99[p]
				if a, ok := tc.agg[p]; ok {
					l.agg[key("latency.p99", p)] = a
				}
				l.live[key("errors", p)], l.agg[key("errors", p)] = tc.errs[p], tc.errs[p]
				l.n[p] = 500
				if n, ok := tc.n[p]; ok {
					l.n[p] = n
				}
				l.samples[key("latency.p99", p)] = tc.samples[p]
			}
			reg := shakedown.NewRegistry()
			reg.AddProbe(shakedown.ProbeType{Name: "flag", New: func(shakedown.Env, any, time.Duration) (shakedown.Prober, error) {
				return flagProber{&broken}, nil
			}})
			tol := func(s string) *shakedown.Tolerance {
				tol, err := shakedown.ParseTolerance(s)
				if err != nil {
					t.Fatal(err)
				}
				return &tol
			}
			e := &shakedown.Experiment{Version: 1, Name: "golden", File: "golden.yaml",
				Baseline: 3 * time.Second, Recovery: 10 * time.Second,
				Loads: []*shakedown.LoadSpec{{Name: "web", URL: "http://127.0.0.1:1/", Rate: 10}}}
			stopAt := "50%"
			if tc.stop {
				stopAt = "40%"
			}
			e.SteadyState = []*shakedown.Check{
				{Name: "healthy", Probe: &shakedown.ProbeSpec{Type: "flag"}},
				{Name: "p99", Metric: "web.latency.p99", Max: tol("1s")},
				{Name: "p99-relative", Metric: "web.latency.p99", Max: tol("2x baseline")},
				{Name: "errors", Metric: "web.errors", Max: tol("1%"), Window: shakedown.NofM{N: 2, M: 3},
					Phases: []shakedown.Phase{b, i, c}},
			}
			e.StopIf = []*shakedown.Check{{Name: "errors-stop", Metric: "web.errors", Max: tol(stopAt)}}
			clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			o := Options{Registry: reg, StateDir: "/tmp/state", Seed: 7, Now: func() time.Time { return clock },
				NewLoad: func(*shakedown.LoadSpec) (Load, error) { return l, nil }}
			if tc.compare {
				o.Compare = meanComparer
			}
			ctx := t.Context()
			r := newRunner(ctx, e, o)
			r.s = &setup{}
			if err := r.setupMonitors(); err != nil {
				t.Fatal(err)
			}
			// phase enters p and takes samples of every check that applies to it, one
			// each 700ms.
			phase := func(p shakedown.Phase, samples int) {
				r.enter(p, 0)
				for range samples {
					clock = clock.Add(700 * time.Millisecond)
					for _, ck := range r.checks {
						if ck.c.AppliesTo(p) {
							r.sample(ctx, ck, p, r.testEpoch())
						}
					}
				}
			}
			phase(b, 4)
			r.closePhase(b)
			r.computeBaselines()
			broken.Store(tc.flag)
			phase(i, 4)
			broken.Store(false)
			phase(v, 1)
			r.closePhase(i)
			r.closePhase(v)
			phase(c, 3)
			r.closePhase(c)
			r.finishChecks()
			r.rec.Verdict, r.rec.Reason = r.verdict()
			r.rec.ExitCode = r.rec.Verdict.ExitCode()
			r.rec.ID, r.rec.Version = "golden-run", "golden" // random, and changing with each release
			got, err := json.MarshalIndent(r.rec, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("record of %s differs from %s (-want +got):\n%s", tc.name, path, cmp.Diff(string(want), string(got)))
			}
		})
	}
}

// testEpoch is the runner's phase epoch, for a test that samples by hand.
func (r *runner) testEpoch() (epoch int) {
	r.state.with(func(s *runState) { epoch = s.epoch })
	return epoch
}

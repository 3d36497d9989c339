package engine

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

func f64(v float64) *float64 { return &v }
func boolp(v bool) *bool     { return &v }

// TestPhaseJudge: closing a phase judges a check from its snapshot alone — the phase's
// aggregate against the bounds, the comparer's significance, too few samples, the recovery —
// and says what the record shows and what the run's verdict gets.
func TestPhaseJudge(t *testing.T) {
	// p99 is a steady-state metric check with max 1s, judged over the inject phase.
	p99 := func(edit func(j *phaseJudge)) phaseJudge {
		j := phaseJudge{phase: shakedown.PhaseInject, name: "p99", metric: "web.latency.p99", role: roleSteady,
			unit: shakedown.UnitDuration, load: true, recovery: 10 * time.Second, threshold: "max 1s",
			hasMax: true, max: f64(1), n: 4, last: "web.latency.p99 100ms",
			m: measurement{value: 0.1, requests: 500}}
		if edit != nil {
			edit(&j)
		}
		return j
	}
	// relative is p99 with max 2x baseline (200ms), judged by significance.
	relative := func(edit func(j *phaseJudge)) phaseJudge {
		return p99(func(j *phaseJudge) {
			j.name, j.threshold, j.max, j.bySignificance = "rel", "max 2x baseline (200ms)", f64(0.2), true
			if edit != nil {
				edit(j)
			}
		})
	}
	for _, tc := range []struct {
		name string
		in   phaseJudge
		want checkJudgement
	}{{
		name: "aggregate within the bound",
		in:   p99(nil),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "100ms over 500 requests", held: true},
	}, {
		name: "aggregate over the bound breaks the check",
		in:   p99(func(j *phaseJudge) { j.m.value = 1.5 }),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "1.5s over 500 requests",
			broken: true, detail: "web.latency.p99 1.5s over the inject phase (max 1s)",
			broke: "web.latency.p99 1.5s over the inject phase (max 1s)"},
	}, {
		name: "aggregate under a lower bound breaks the check in the baseline",
		in: p99(func(j *phaseJudge) {
			j.phase, j.metric, j.unit, j.threshold = shakedown.PhaseBaseline, "web.throughput", shakedown.UnitRate, "min 10/s"
			j.hasMax, j.max, j.hasMin, j.min, j.m.value = false, nil, true, f64(10), 4
		}),
		want: checkJudgement{threshold: "min 10/s", min: f64(10), observed: "4/s over 500 requests",
			broken: true, detail: "web.throughput 4/s over the baseline phase (min 10/s)",
			broke: "web.throughput 4/s over the baseline phase (min 10/s)"},
	}, {
		name: "a flake-resistant check is judged on its samples only",
		in:   p99(func(j *phaseJudge) { j.m.value, j.flakeResistant = 1.5, true }),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "1.5s over 500 requests", held: true},
	}, {
		name: "a bound not known in the baseline leaves the aggregate unjudged",
		in:   relative(func(j *phaseJudge) { j.phase, j.max, j.m.value = shakedown.PhaseBaseline, nil, 5 }),
		want: checkJudgement{threshold: "max 2x baseline (200ms)", observed: "5s over 500 requests", held: true},
	}, {
		name: "the recovery's aggregate breaks nothing",
		in:   p99(func(j *phaseJudge) { j.phase, j.m.value, j.recovered = shakedown.PhaseRecovery, 1.5, true }),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "1.5s over 500 requests", held: true},
	}, {
		name: "a break from the samples stands",
		in:   p99(func(j *phaseJudge) { j.broken, j.detail = true, "web.latency.p99 3s (max 1s)" }),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "100ms over 500 requests",
			broken: true, detail: "web.latency.p99 3s (max 1s)"},
	}, {
		name: "no requests in the inject phase",
		in:   p99(func(j *phaseJudge) { j.m = measurement{} }),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "no requests",
			note: "not judged: the load sent no request in this phase", held: true},
	}, {
		name: "no requests in the revert",
		in:   p99(func(j *phaseJudge) { j.phase, j.m = shakedown.PhaseRevert, measurement{} }),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "no requests",
			note: "not judged during the revert", held: true},
	}, {
		name: "a breach that is significant fails the run",
		in: relative(func(j *phaseJudge) {
			j.m.value, j.m.cmp = 0.35, &Comparison{Enough: true, Significant: true, Note: "diff +250ms"}
			j.broken, j.detail = true, "web.latency.p99 350ms (max 2x baseline (200ms))"
		}),
		want: checkJudgement{threshold: "max 2x baseline (200ms)", max: f64(0.2), significant: boolp(true),
			observed: "350ms over 500 requests", note: "diff +250ms",
			broken: true, detail: "web.latency.p99 350ms (max 2x baseline (200ms))",
			failed: []string{`check "rel" broke during inject: web.latency.p99 350ms (max 2x baseline (200ms)); diff +250ms`}},
	}, {
		name: "a breach that is not significant holds",
		in: relative(func(j *phaseJudge) {
			j.m.value, j.m.cmp = 0.35, &Comparison{Enough: true, Note: "diff +250ms [-10ms, +500ms]"}
			j.broken, j.detail = true, "web.latency.p99 350ms (max 2x baseline (200ms))"
		}),
		want: checkJudgement{threshold: "max 2x baseline (200ms)", max: f64(0.2), significant: boolp(false),
			observed: "350ms over 500 requests",
			note:     "bound breached, but the difference from the baseline is not significant: diff +250ms [-10ms, +500ms]",
			held:     true, detail: "web.latency.p99 350ms (max 2x baseline (200ms))"},
	}, {
		name: "a check that held, with no significant difference",
		in:   relative(func(j *phaseJudge) { j.m.cmp = &Comparison{Enough: true, Note: "diff +1ms"} }),
		want: checkJudgement{threshold: "max 2x baseline (200ms)", max: f64(0.2), significant: boolp(false),
			observed: "100ms over 500 requests", note: "diff +1ms", held: true},
	}, {
		name: "an aggregate breach is left to significance",
		in: relative(func(j *phaseJudge) {
			j.m.value, j.m.cmp = 0.35, &Comparison{Enough: true, Note: "diff +250ms [-10ms, +500ms]"}
		}),
		want: checkJudgement{threshold: "max 2x baseline (200ms)", max: f64(0.2), significant: boolp(false),
			observed: "350ms over 500 requests",
			note:     "bound breached, but the difference from the baseline is not significant: diff +250ms [-10ms, +500ms]",
			held:     true, detail: "web.latency.p99 350ms over the inject phase (max 2x baseline (200ms))",
			broke: "web.latency.p99 350ms over the inject phase (max 2x baseline (200ms))"},
	}, {
		name: "too few samples to compare fails even a check that held",
		in:   relative(func(j *phaseJudge) { j.m.cmp = &Comparison{Note: "p99 needs 1000 samples"} }),
		want: checkJudgement{threshold: "max 2x baseline (200ms)", max: f64(0.2), observed: "100ms over 500 requests",
			note: "p99 needs 1000 samples", broken: true, detail: "too few samples to judge: p99 needs 1000 samples",
			failed: []string{`check "rel": too few samples to judge: p99 needs 1000 samples`}},
	}, {
		name: "significance outside the inject phase is only shown",
		in: relative(func(j *phaseJudge) {
			j.phase, j.recovered, j.m.cmp = shakedown.PhaseRecovery, true, &Comparison{Note: "too few"}
		}),
		want: checkJudgement{threshold: "max 2x baseline (200ms)", max: f64(0.2), observed: "100ms over 500 requests",
			note: "too few", held: true},
	}, {
		name: "too few baseline requests fail the inject phase",
		in: relative(func(j *phaseJudge) {
			j.tooFew, j.max = "too few samples to judge: the baseline had 5 requests, 20 needed", nil
		}),
		want: checkJudgement{threshold: "max 2x baseline (200ms)", observed: "100ms over 500 requests",
			note:   "too few samples to judge: the baseline had 5 requests, 20 needed",
			detail: "too few samples to judge: the baseline had 5 requests, 20 needed"},
	}, {
		name: "too few baseline requests fail the recovery",
		in: relative(func(j *phaseJudge) {
			j.phase, j.recovered, j.max = shakedown.PhaseRecovery, true, nil
			j.tooFew = "too few samples to judge: the baseline had 5 requests, 20 needed"
		}),
		want: checkJudgement{threshold: "max 2x baseline (200ms)", observed: "100ms over 500 requests",
			note: "too few samples to judge: the baseline had 5 requests, 20 needed"},
	}, {
		name: "not back in the recovery window",
		in:   p99(func(j *phaseJudge) { j.phase, j.m.value, j.last = shakedown.PhaseRecovery, 1.5, "web.latency.p99 1.5s" }),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "1.5s over 500 requests",
			detail: "not back within 10s of the revert; last web.latency.p99 1.5s"},
	}, {
		name: "no recovery window",
		in:   p99(func(j *phaseJudge) { j.phase, j.recovery = shakedown.PhaseRecovery, 0 }),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "100ms over 500 requests",
			note: "not judged: no recovery window", held: true},
	}, {
		name: "a probe is judged on its samples",
		in: phaseJudge{phase: shakedown.PhaseInject, name: "healthy", role: roleSteady, threshold: "http probe holds",
			n: 4, bad: 1, last: "failed: status 503", broken: true, detail: "failed: status 503", recovery: time.Second},
		want: checkJudgement{threshold: "http probe holds", observed: "3 of 4 samples held; last failed: status 503",
			broken: true, detail: "failed: status 503"},
	}, {
		name: "a probe never sampled",
		in:   phaseJudge{phase: shakedown.PhaseBaseline, name: "healthy", role: roleSteady, threshold: "http probe holds"},
		want: checkJudgement{threshold: "http probe holds", observed: "0 of 0 samples held", held: true},
	}, {
		name: "a stop condition that fired",
		in: p99(func(j *phaseJudge) {
			j.role, j.phase, j.broken, j.detail = roleStop, shakedown.PhaseRecovery, true, "web.latency.p99 3s (max 1s)"
		}),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "100ms over 500 requests",
			broken: true, detail: "web.latency.p99 3s (max 1s)"},
	}, {
		name: "a stop condition's aggregate fires nothing",
		in:   p99(func(j *phaseJudge) { j.role, j.m.value = roleStop, 1.5 }),
		want: checkJudgement{threshold: "max 1s", max: f64(1), observed: "1.5s over 500 requests", held: true},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			got := in.judge()
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(checkJudgement{})); diff != "" {
				t.Errorf("judge(%+v) (-want +got):\n%s", tc.in, diff)
			}
			if diff := cmp.Diff(tc.in, in, cmp.AllowUnexported(phaseJudge{}, measurement{})); diff != "" {
				t.Errorf("judge changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

package report

import (
	"fmt"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// The records below are built by hand as the engine would fill them, with fixed times so
// that golden files do not move.

var t0 = time.Date(2025, 6, 2, 9, 30, 0, 0, time.UTC)

func at(d time.Duration) shakedown.Time    { return shakedown.At(t0.Add(d)) }
func atp(d time.Duration) *shakedown.Time  { return shakedown.AtPtr(t0.Add(d)) }
func ms(d time.Duration) *shakedown.Millis { return shakedown.MsPtr(d) }
func fp(v float64) *float64                { return &v }
func bp(v bool) *bool                      { return &v }
func samples(start time.Duration, vals ...float64) []shakedown.Sample {
	out := make([]shakedown.Sample, len(vals))
	for i, v := range vals {
		out[i] = shakedown.Sample{At: at(start + time.Duration(i)*time.Second), Held: true, Value: fp(v)}
	}
	return out
}

func phases(baseline, inject, revert, recovery time.Duration) []shakedown.PhaseRecord {
	var out []shakedown.PhaseRecord
	t := time.Duration(0)
	for _, p := range []struct {
		name shakedown.Phase
		d    time.Duration
	}{{shakedown.PhaseBaseline, baseline}, {shakedown.PhaseInject, inject},
		{shakedown.PhaseRevert, revert}, {shakedown.PhaseRecovery, recovery}} {
		if p.d < 0 {
			break
		}
		out = append(out, shakedown.PhaseRecord{Name: p.name, Start: at(t), End: at(t + p.d)})
		t += p.d
	}
	return out
}

func held(observed, threshold string, vals ...float64) *shakedown.CheckPhaseRecord {
	return &shakedown.CheckPhaseRecord{Held: true, Observed: observed, Threshold: threshold, Samples: samples(0, vals...)}
}

func breached(observed, threshold string, vals ...float64) *shakedown.CheckPhaseRecord {
	s := samples(0, vals...)
	for i := range s {
		s[i].Held = false
	}
	return &shakedown.CheckPhaseRecord{Held: false, Observed: observed, Threshold: threshold, Samples: s}
}

func loadStats(count, errs int64, p50, p99 time.Duration, rate float64) *shakedown.LoadStats {
	return &shakedown.LoadStats{Count: count, Errors: errs, P50: shakedown.Ms(p50), P90: shakedown.Ms(p99 * 8 / 10),
		P95: shakedown.Ms(p99 * 9 / 10), P99: shakedown.Ms(p99), Max: shakedown.Ms(p99 * 2), Mean: shakedown.Ms(p50 * 11 / 10),
		Throughput: rate}
}

// base is the slow-cache experiment of DESIGN §3 as it looks once it has run and passed.
func base(id string) *shakedown.Record {
	return &shakedown.Record{
		Schema: shakedown.RecordSchema,
		ID:     id,
		Experiment: shakedown.ExperimentRef{
			Name:        "checkout-tolerates-slow-cache",
			File:        "experiments/checkout-slow-cache.yaml",
			SHA256:      "9f2c1e4b7a3d5f60812c4e9a7b3d1f0e5c6a8b9d2e4f6a1c3b5d7e9f0a2c4e6b",
			Description: "With 200 ms added to every cache call, checkout p99 stays under 400 ms.",
			Labels:      map[string]string{"team": "shop", "tier": "1"},
		},
		Commit:    &shakedown.Commit{SHA: "3f9a7c1d2e4b6a8c0e1f3a5b7c9d1e3f5a7b9c1d", Branch: "main", Source: "GITHUB_SHA"},
		StartedAt: at(0),
		EndedAt:   at(112*time.Second + 340*time.Millisecond),
		Seed:      42,
		Version:   "v0.3.0",
		Host:      "ci-runner-3",
		Verdict:   shakedown.VerdictPassed,
		ExitCode:  0,
		Reason:    "the hypothesis held: 3 checks held in every phase, 1 expectation met, 2 faults reverted",
		Phases:    phases(20*time.Second, 60*time.Second, 340*time.Millisecond, 32*time.Second),
		Targets: []shakedown.TargetRecord{
			{Name: "cache", Kind: "proxy", Selection: "all", Matched: []string{"127.0.0.1:16379 -> 127.0.0.1:6379"},
				Selected: []string{"127.0.0.1:16379 -> 127.0.0.1:6379"}},
			{Name: "web", Kind: "process", Selection: "count(1)", Matched: []string{"pid 4121 shop-web", "pid 4122 shop-web", "pid 4123 shop-web"},
				Selected: []string{"pid 4122 shop-web"}},
		},
		Faults: []shakedown.FaultRecord{
			{Name: "slow-cache", Type: "proxy.latency", Target: "cache", Params: map[string]any{"latency": "200ms", "jitter": "20ms"},
				InjectedAt: atp(20*time.Second + 12*time.Millisecond), RevertedAt: atp(80*time.Second + 305*time.Millisecond)},
			{Name: "pause-one-web", Type: "process.pause", Target: "web",
				InjectedAt: atp(20*time.Second + 15*time.Millisecond), RevertedAt: atp(30*time.Second + 20*time.Millisecond)},
		},
		Checks: []shakedown.CheckRecord{
			{Name: "checkout p99 under 400ms", Kind: "metric", Role: "steady_state", Held: true,
				PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
					shakedown.PhaseBaseline: held("118ms", "max 400ms", 0.117, 0.119),
					shakedown.PhaseInject:   held("331ms", "max 400ms", 0.322, 0.331),
					shakedown.PhaseRecovery: held("121ms", "max 400ms", 0.121),
				}},
			{Name: "checkout errors under 1%", Kind: "metric", Role: "steady_state", Held: true,
				PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
					shakedown.PhaseBaseline: held("0%", "max 1%", 0),
					shakedown.PhaseInject:   held("0.2%", "max 1%", 0.002),
					shakedown.PhaseRecovery: held("0%", "max 1%", 0),
				}},
			{Name: "healthz answers", Kind: "http", Role: "steady_state", Held: true,
				PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
					shakedown.PhaseBaseline: held("200", "status 200"),
					shakedown.PhaseInject:   held("200", "status 200"),
					shakedown.PhaseRecovery: held("200", "status 200"),
				}},
			{Name: "error storm", Kind: "metric", Role: "stop_if", Held: true,
				PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
					shakedown.PhaseInject: held("0.2%", "max 20% for 5s", 0.002),
				}},
		},
		Expectations: []shakedown.ExpectationRecord{
			{Name: "cache alert fires", Held: true, FiredAt: atp(43*time.Second + 500*time.Millisecond),
				ResolvedAt: atp(95*time.Second + 305*time.Millisecond), TimeToDetect: ms(23*time.Second + 488*time.Millisecond),
				TimeToRecover: ms(15 * time.Second)},
		},
		Loads: []shakedown.LoadRecord{
			{Name: "checkout", URL: "http://127.0.0.1:8080/checkout", Rate: 50,
				PerPhase: map[shakedown.Phase]*shakedown.LoadStats{
					shakedown.PhaseBaseline: loadStats(1000, 0, 41*time.Millisecond, 118*time.Millisecond, 50),
					shakedown.PhaseInject:   loadStats(3000, 6, 243*time.Millisecond, 331*time.Millisecond, 49.9),
					shakedown.PhaseRevert:   loadStats(17, 0, 240*time.Millisecond, 250*time.Millisecond, 50),
					shakedown.PhaseRecovery: loadStats(1600, 0, 42*time.Millisecond, 121*time.Millisecond, 50),
				},
				Timeline: []shakedown.TimelineRow{
					{T: at(0), Count: 50, P50: 41, P99: 117},
					{T: at(time.Second), Count: 50, P50: 40, P99: 119},
				}},
		},
		Recovery: shakedown.RecoveryRecord{TimeToRecover: ms(2*time.Second + 100*time.Millisecond)},
	}
}

func passedRecord() *shakedown.Record { return base("01JXA6Q8W3M4N5P6R7S8T9V0WA") }

func failedRecord() *shakedown.Record {
	r := base("01JXA6Q8W3M4N5P6R7S8T9V0WB")
	r.Verdict, r.ExitCode = shakedown.VerdictFailed, 1
	r.Reason = "checkout p99 under 400ms did not hold in inject: observed 612ms, threshold max 400ms"
	r.Checks[0].Held = false
	r.Checks[0].Detail = "breached for 41s of 60s"
	r.Checks[0].PerPhase[shakedown.PhaseInject] = breached("612ms", "max 400ms", 0.598, 0.612)
	r.Checks[0].PerPhase[shakedown.PhaseInject].Significant = bp(true)
	r.Loads[0].PerPhase[shakedown.PhaseInject] = loadStats(3000, 21, 402*time.Millisecond, 612*time.Millisecond, 49.7)
	r.Loads[0].PerPhase[shakedown.PhaseInject].Late = 12 // the generator fell behind while the cache was slow
	return r
}

func notRestoredRecord() *shakedown.Record {
	r := base("01JXA6Q8W3M4N5P6R7S8T9V0WC")
	r.Verdict, r.ExitCode = shakedown.VerdictNotRestored, 4
	r.Reason = "revert of pause-one-web failed: send SIGCONT to pid 4122: operation not permitted"
	r.Faults[1].RevertedAt = nil
	r.Faults[1].RevertError = "send SIGCONT to pid 4122: operation not permitted"
	r.Recover = "shakedown recover --state-dir .shakedown"
	r.Checks[2].Held = false
	r.Checks[2].Detail = "no answer within 2s"
	r.Checks[2].PerPhase[shakedown.PhaseRecovery] = breached("timeout after 2s", "status 200")
	r.Recovery.TimeToRecover = nil
	r.Expectations[0].ResolvedAt, r.Expectations[0].TimeToRecover = nil, nil
	r.Expectations[0].Held = false
	r.Expectations[0].Detail = "CacheSlow still firing 2m after the revert"
	return r
}

func notSteadyRecord() *shakedown.Record {
	r := base("01JXA6Q8W3M4N5P6R7S8T9V0WD")
	r.Verdict, r.ExitCode = shakedown.VerdictNotSteady, 6
	r.Reason = "the baseline did not hold: checkout errors under 1% observed 4.8%, threshold max 1%; nothing was injected"
	r.EndedAt = at(20*time.Second + 8*time.Millisecond)
	r.Phases = phases(20*time.Second, -1, -1, -1)
	for i := range r.Faults {
		r.Faults[i].InjectedAt, r.Faults[i].RevertedAt = nil, nil
	}
	for i := range r.Checks {
		c := &r.Checks[i]
		c.PerPhase = map[shakedown.Phase]*shakedown.CheckPhaseRecord{shakedown.PhaseBaseline: c.PerPhase[shakedown.PhaseBaseline]}
		if c.Role == "stop_if" {
			c.PerPhase = nil
		}
	}
	r.Checks[1].Held = false
	r.Checks[1].PerPhase[shakedown.PhaseBaseline] = breached("4.8%", "max 1%", 0.048)
	r.Expectations[0] = shakedown.ExpectationRecord{Name: "cache alert fires", Detail: "not evaluated"}
	r.Loads[0].PerPhase = map[shakedown.Phase]*shakedown.LoadStats{
		shakedown.PhaseBaseline: loadStats(1000, 48, 44*time.Millisecond, 160*time.Millisecond, 50),
	}
	r.Recovery.TimeToRecover = nil
	return r
}

func abortedRecord() *shakedown.Record {
	r := base("01JXA6Q8W3M4N5P6R7S8T9V0WE")
	r.Verdict, r.ExitCode = shakedown.VerdictAborted, 3
	r.Reason = "stop condition error storm fired in inject: observed 27.5%, threshold max 20% for 5s; faults were reverted"
	r.Phases = phases(20*time.Second, 14*time.Second, 300*time.Millisecond, 32*time.Second)
	r.EndedAt = at(66*time.Second + 300*time.Millisecond)
	r.Faults[0].RevertedAt = atp(34*time.Second + 250*time.Millisecond)
	r.Checks[3].Held = false
	r.Checks[3].Detail = "fired after 5s above 20%"
	r.Checks[3].PerPhase[shakedown.PhaseInject] = breached("27.5%", "max 20% for 5s", 0.21, 0.25, 0.275)
	r.Checks[1].Held = false
	r.Checks[1].PerPhase[shakedown.PhaseInject] = breached("27.5%", "max 1%", 0.275)
	r.Expectations[0] = shakedown.ExpectationRecord{Name: "cache alert fires", Detail: "the run was aborted before the alert fired"}
	r.Loads[0].PerPhase[shakedown.PhaseInject] = loadStats(700, 193, 380*time.Millisecond, 2*time.Second, 50)
	return r
}

func errorRecord() *shakedown.Record {
	r := base("01JXA6Q8W3M4N5P6R7S8T9V0WF")
	r.Verdict, r.ExitCode = shakedown.VerdictError, 5
	r.Reason = "inject proxy.latency on cache: connect to 127.0.0.1:8474: connection refused"
	r.Phases = phases(20*time.Second, 10*time.Millisecond, 5*time.Millisecond, -1)
	r.EndedAt = at(20*time.Second + 15*time.Millisecond)
	r.Faults[0] = shakedown.FaultRecord{Name: "slow-cache", Type: "proxy.latency", Target: "cache",
		Error: "connect to 127.0.0.1:8474: connection refused"}
	r.Faults[1].InjectedAt, r.Faults[1].RevertedAt = nil, nil
	for i := range r.Checks {
		c := &r.Checks[i]
		c.PerPhase = map[shakedown.Phase]*shakedown.CheckPhaseRecord{shakedown.PhaseBaseline: c.PerPhase[shakedown.PhaseBaseline]}
		if c.Role == "stop_if" {
			c.PerPhase = nil
		}
	}
	r.Expectations[0] = shakedown.ExpectationRecord{Name: "cache alert fires", Detail: "not evaluated"}
	r.Loads[0].PerPhase = map[shakedown.Phase]*shakedown.LoadStats{
		shakedown.PhaseBaseline: loadStats(1000, 0, 41*time.Millisecond, 118*time.Millisecond, 50),
	}
	r.Recovery.TimeToRecover = nil
	return r
}

func invalidRecord() *shakedown.Record {
	return &shakedown.Record{
		Schema:     shakedown.RecordSchema,
		ID:         "01JXA6Q8W3M4N5P6R7S8T9V0WG",
		Experiment: shakedown.ExperimentRef{Name: "db-failover", File: "experiments/db-failover.yaml"},
		StartedAt:  at(0),
		EndedAt:    at(3 * time.Millisecond),
		Seed:       7,
		Version:    "v0.3.0",
		Host:       "ci-runner-3",
		Verdict:    shakedown.VerdictInvalid,
		ExitCode:   2,
		Reason:     "experiments/db-failover.yaml:14:5: faults[0].type: unknown fault type \"pg.failover\"",
	}
}

// regressedRecord passed its own checks, but its p99 under the fault is well above that of
// its reference runs on main.
func regressedRecord() *shakedown.Record {
	r := base("01JXA6Q8W3M4N5P6R7S8T9V0WH")
	r.Commit = &shakedown.Commit{SHA: "5e1f3c9a0b7d2e4f6a8c0b1d3e5f7a9c1b3d5e7f", Branch: "feature/cache", Source: "GITHUB_SHA"}
	r.Verdict, r.ExitCode = shakedown.VerdictRegressed, 7
	r.Reason = "checkout.latency.p99 during inject 331ms vs 92ms (median of 10 runs on main, p<0.01); 1 more figure regressed"
	var refs []string
	for i := range 10 {
		refs = append(refs, fmt.Sprintf("01JXA5Q8W3M4N5P6R7S8T9V0%02d", i))
	}
	r.Gate = &shakedown.GateRecord{Reference: "main", References: refs, MinRuns: 5, MaxRuns: 10, Tolerance: 0.2,
		Floors: map[string]float64{"ms": 5, "ratio": 0.01, "rps": 1, "": 0}, Alpha: 0.01, Judged: true,
		Regressions: []string{"checkout.latency.p99 during inject", "recovery.time_to_recover"},
		Figures: []shakedown.GateFigure{
			{Name: "checkout.latency.p50", Phase: "inject", Unit: "ms", Value: 243, N: 10, Median: 240, Scale: 4, Change: 3, P: 0.31},
			{Name: "checkout.latency.p99", Phase: "inject", Unit: "ms", Value: 331, N: 10, Median: 92, Scale: 2.5, Change: 239,
				P: 1e-6, Significant: true, Material: true, Regressed: true},
			{Name: "recovery.time_to_recover", Unit: "ms", Value: 9000, N: 10, Median: 3000, Scale: 150, Change: 6000,
				P: 1e-5, Significant: true, Material: true, Regressed: true},
		}}
	return r
}

// gatedRecord passed, and the gate could not judge it yet.
func gatedRecord() *shakedown.Record {
	r := base("01JXA6Q8W3M4N5P6R7S8T9V0WJ")
	r.Gate = &shakedown.GateRecord{Reference: "main", References: []string{"a", "b", "c"}, MinRuns: 5, MaxRuns: 10, Tolerance: 0.2,
		Floors: map[string]float64{"ms": 5}, Alpha: 0.01, Note: "not enough history (3 of 5)"}
	return r
}

// cases are the records the golden files are made from.
var cases = []struct {
	name    string
	records func() []*shakedown.Record
}{
	{"passed", func() []*shakedown.Record { return []*shakedown.Record{passedRecord()} }},
	{"failed", func() []*shakedown.Record { return []*shakedown.Record{failedRecord()} }},
	{"not_restored", func() []*shakedown.Record { return []*shakedown.Record{notRestoredRecord()} }},
	{"not_steady", func() []*shakedown.Record { return []*shakedown.Record{notSteadyRecord()} }},
	{"aborted", func() []*shakedown.Record { return []*shakedown.Record{abortedRecord()} }},
	{"error", func() []*shakedown.Record { return []*shakedown.Record{errorRecord()} }},
	{"invalid", func() []*shakedown.Record { return []*shakedown.Record{invalidRecord()} }},
	{"suite", func() []*shakedown.Record { return []*shakedown.Record{passedRecord(), failedRecord()} }},
	{"regressed", func() []*shakedown.Record { return []*shakedown.Record{regressedRecord()} }},
	{"gated", func() []*shakedown.Record { return []*shakedown.Record{gatedRecord()} }},
}

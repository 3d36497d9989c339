package shakedown_test

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

func ms(v float64) *shakedown.Millis { m := shakedown.Millis(v); return &m }

func val(v float64) *float64 { return &v }

func figureRecord() *shakedown.Record {
	return &shakedown.Record{
		Loads: []shakedown.LoadRecord{
			{Name: "search", PerPhase: map[shakedown.Phase]*shakedown.LoadStats{
				shakedown.PhaseInject: {Count: 10, Errors: 0, P50: 3, P99: 4, Throughput: 10},
			}},
			{Name: "checkout", PerPhase: map[shakedown.Phase]*shakedown.LoadStats{
				shakedown.PhaseRecovery: {Count: 100, Errors: 1, P50: 10, P99: 30, Throughput: 50},
				shakedown.PhaseBaseline: {Count: 200, Errors: 2, P50: 12, P99: 40, Throughput: 49.5},
				shakedown.PhaseInject:   {Count: 400, Errors: 40, P50: 90, P99: 241, Throughput: 48},
				shakedown.PhaseRevert:   {Count: 0}, // sent nothing: no figures
			}},
		},
		Checks: []shakedown.CheckRecord{
			{Name: "p99-bound", PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
				shakedown.PhaseInject:   {Observed: "241ms over 400 requests", Threshold: "max 2x baseline (80ms)"},
				shakedown.PhaseBaseline: {Observed: "40ms over 200 requests", Threshold: "max 400ms"},
				shakedown.PhaseRevert:   {Observed: "no requests", Threshold: "max 400ms"},
			}},
			{Name: "health", PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
				shakedown.PhaseInject: {Observed: "5 of 5 samples held; last ok", Threshold: "http probe holds",
					Samples: []shakedown.Sample{{Held: true, Observed: "ok"}}},
			}},
			{Name: "rate", PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
				// No number in the text: the median of the samples, in the unit of their metric.
				shakedown.PhaseInject: {Observed: "xxxxx", Threshold: "min 40/s", Samples: []shakedown.Sample{
					{Value: val(30), Observed: "checkout.throughput 30/s"},
					{Value: val(50), Observed: "checkout.throughput 50/s"},
					{Value: nil, Observed: "checkout.throughput"},
					{Value: val(40), Observed: "checkout.throughput 40/s"},
					{Value: val(44), Observed: "checkout.throughput 44/s"},
				}},
			}},
			{Name: "slow", PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
				shakedown.PhaseInject: {Observed: "", Threshold: "max 1s", Samples: []shakedown.Sample{
					{Value: val(0.2), Observed: "checkout.latency.p99 200ms"},
				}},
			}},
			{Name: "share", PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
				shakedown.PhaseInject: {Observed: "2.5% over 400 requests", Threshold: "max 5%"},
			}},
		},
		Expectations: []shakedown.ExpectationRecord{
			{Name: "paged", TimeToDetect: ms(3000), TimeToRecover: ms(9000)},
			{Name: "never-fired"},
		},
		Recovery: shakedown.RecoveryRecord{TimeToRecover: ms(2500)},
	}
}

func TestFigures(t *testing.T) {
	got := shakedown.Figures(figureRecord())
	want := []shakedown.Figure{
		{Name: "checkout.latency.p50", Phase: "baseline", Unit: "ms", Value: 12, Worse: 1},
		{Name: "checkout.latency.p99", Phase: "baseline", Unit: "ms", Value: 40, Worse: 1},
		{Name: "checkout.errors", Phase: "baseline", Unit: "ratio", Value: 0.01, Worse: 1},
		{Name: "checkout.throughput", Phase: "baseline", Unit: "rps", Value: 49.5, Worse: -1},
		{Name: "checkout.latency.p50", Phase: "inject", Unit: "ms", Value: 90, Worse: 1},
		{Name: "checkout.latency.p99", Phase: "inject", Unit: "ms", Value: 241, Worse: 1},
		{Name: "checkout.errors", Phase: "inject", Unit: "ratio", Value: 0.1, Worse: 1},
		{Name: "checkout.throughput", Phase: "inject", Unit: "rps", Value: 48, Worse: -1},
		{Name: "checkout.latency.p50", Phase: "recovery", Unit: "ms", Value: 10, Worse: 1},
		{Name: "checkout.latency.p99", Phase: "recovery", Unit: "ms", Value: 30, Worse: 1},
		{Name: "checkout.errors", Phase: "recovery", Unit: "ratio", Value: 0.01, Worse: 1},
		{Name: "checkout.throughput", Phase: "recovery", Unit: "rps", Value: 50, Worse: -1},
		{Name: "search.latency.p50", Phase: "inject", Unit: "ms", Value: 3, Worse: 1},
		{Name: "search.latency.p99", Phase: "inject", Unit: "ms", Value: 4, Worse: 1},
		{Name: "search.errors", Phase: "inject", Unit: "ratio", Value: 0, Worse: 1},
		{Name: "search.throughput", Phase: "inject", Unit: "rps", Value: 10, Worse: -1},
		{Name: "p99-bound.observed", Phase: "baseline", Unit: "ms", Value: 40, Worse: 1},
		{Name: "p99-bound.observed", Phase: "inject", Unit: "ms", Value: 241, Worse: 1},
		{Name: "rate.observed", Phase: "inject", Unit: "rps", Value: 42, Worse: -1},
		{Name: "share.observed", Phase: "inject", Unit: "ratio", Value: 0.025, Worse: 1},
		{Name: "slow.observed", Phase: "inject", Unit: "ms", Value: 200, Worse: 1},
		{Name: "paged.time_to_detect", Unit: "ms", Value: 3000, Worse: 1},
		{Name: "paged.time_to_recover", Unit: "ms", Value: 9000, Worse: 1},
		{Name: "recovery.time_to_recover", Unit: "ms", Value: 2500, Worse: 1},
	}
	approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })
	if d := cmp.Diff(want, got, approx); d != "" {
		t.Errorf("Figures (-want +got):\n%s", d)
	}
}

func TestFiguresStableOrder(t *testing.T) {
	// Map iteration order must not leak into the order: the same record gives the same list.
	first := shakedown.Figures(figureRecord())
	for i := 0; i < 50; i++ {
		if d := cmp.Diff(first, shakedown.Figures(figureRecord())); d != "" {
			t.Fatalf("run %d differs (-first +got):\n%s", i, d)
		}
	}
}

func TestFiguresLeaveOutNonFinite(t *testing.T) {
	r := &shakedown.Record{
		Loads: []shakedown.LoadRecord{{Name: "l", PerPhase: map[shakedown.Phase]*shakedown.LoadStats{
			shakedown.PhaseInject: {Count: 1, P50: shakedown.Millis(math.NaN()), P99: 5, Throughput: math.Inf(1)},
		}}},
		Recovery: shakedown.RecoveryRecord{TimeToRecover: ms(math.NaN())},
	}
	got := shakedown.Figures(r)
	want := []shakedown.Figure{
		{Name: "l.latency.p99", Phase: "inject", Unit: "ms", Value: 5, Worse: 1},
		{Name: "l.errors", Phase: "inject", Unit: "ratio", Value: 0, Worse: 1},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Figures (-want +got):\n%s", d)
	}
	if got := shakedown.Figures(nil); got != nil {
		t.Errorf("Figures(nil) = %v, want nil", got)
	}
}

func TestFigureKey(t *testing.T) {
	for _, tc := range []struct {
		f    shakedown.Figure
		want string
	}{
		{shakedown.Figure{Name: "checkout.latency.p99", Phase: shakedown.PhaseInject}, "checkout.latency.p99 during inject"},
		{shakedown.Figure{Name: "recovery.time_to_recover"}, "recovery.time_to_recover"},
	} {
		if got := tc.f.Key(); got != tc.want {
			t.Errorf("Key(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

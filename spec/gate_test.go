package spec_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

func TestGateBlock(t *testing.T) {
	reg := testRegistry()
	share := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name string
		src  string
		want *shakedown.GateSpec
	}{
		{"absent", withFault(), nil},
		{"every field", withFault(
			"gate:",
			"  min_runs: 8",
			"  max_runs: 20",
			"  tolerance: 30%",
			"  floors: {ms: 10, ratio: 0.02, rps: 2, number: 1}",
			"  ignore: ['*.throughput', 'shop.latency.p50 during revert']",
		), &shakedown.GateSpec{MinRuns: 8, MaxRuns: 20, Tolerance: share(0.3),
			Floors: map[string]float64{"ms": 10, "ratio": 0.02, "rps": 2, "": 1},
			Ignore: []string{"*.throughput", "shop.latency.p50 during revert"}}},
		{"tolerance as a number, one floor", withFault("gate: {tolerance: 0.5, floors: {ms: 0}}"),
			&shakedown.GateSpec{Tolerance: share(0.5), Floors: map[string]float64{"ms": 0}}},
		{"empty", withFault("gate: {}"), &shakedown.GateSpec{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := spec.Load(tc.name+".yaml", []byte(tc.src), nil, reg)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if d := cmp.Diff(tc.want, x.Gate, cmpopts.IgnoreFields(shakedown.GateSpec{}, "Pos"), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Gate (-want +got):\n%s", d)
			}
		})
	}
}

func TestGateProblems(t *testing.T) {
	src := withFault(
		"gate:",            // 16
		"  min_runs: 0",    // 17
		"  max_runs: many", // 18
		"  tolerance: -5%", // 19
		"  floors: {ms: -1, ratio: 2, percent: 1, rps: fast}", // 20
		"  ignore: ['[', ok, {a: b}]",                         // 21
		"  window: 3",                                         // 22
	)
	want := []at{
		{17, 13, "gate.min_runs"},
		{18, 13, "gate.max_runs"},
		{19, 14, "gate.tolerance"},
		{20, 16, "gate.floors.ms"},
		{20, 27, "gate.floors.ratio"},
		{20, 30, "gate.floors.percent"},
		{20, 47, "gate.floors.rps"},
		{21, 12, "gate.ignore[0]"},
		{21, 21, "gate.ignore[2]"},
		{22, 3, "gate.window"},
	}
	if d := cmp.Diff(want, problemsOf(t, "gate.yaml", src, nil)); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]at{{18, 13, "gate.max_runs"}}, problemsOf(t, "runs.yaml", withFault("gate:", "  min_runs: 8", "  max_runs: 4"), nil)); d != "" {
		t.Errorf("max_runs below min_runs (-want +got):\n%s", d)
	}
}

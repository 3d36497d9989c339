package report

import (
	"testing"

	"github.com/shakedown-dev/shakedown"
)

// TestGateSummary: a gate that passes says how many figures it judged and how many it could
// not (too few requests, missing from the run); with none judged, its JUnit case is skipped.
func TestGateSummary(t *testing.T) {
	judged := shakedown.GateFigure{Name: "checkout.latency.p99", Phase: shakedown.PhaseInject, Unit: shakedown.FigureMs, N: 10}
	few := judged
	few.Phase, few.Note = shakedown.PhaseRevert, "too few requests to judge (30 of 1000)"
	missing := judged
	missing.Phase, missing.Note, missing.Missing = shakedown.PhaseBaseline, "missing from this run (10 of 10 reference runs hold it)", true
	refs := []string{"a", "b", "c", "d", "e"}
	for _, tc := range []struct {
		name    string
		figures []shakedown.GateFigure
		want    string
		skipped bool
	}{
		{"all judged", []shakedown.GateFigure{judged, judged}, "no regression in 2 figures against 5 runs on main", false},
		{"too few requests", []shakedown.GateFigure{judged, few}, "no regression in 1 figure against 5 runs on main; 1 not judged", false},
		{"missing", []shakedown.GateFigure{judged, few, missing}, "no regression in 1 figure against 5 runs on main; 2 not judged (1 missing from this run)", false},
		{"none judged", []shakedown.GateFigure{missing}, "no regression in 0 figures against 5 runs on main; 1 not judged (1 missing from this run)", true},
	} {
		g := &shakedown.GateRecord{Reference: "main", References: refs, Judged: true, Figures: tc.figures}
		if got := gateSummary(g); got != tc.want {
			t.Errorf("%s: gateSummary = %q, want %q", tc.name, got, tc.want)
		}
		cases := gateCases("exp", &shakedown.Record{Gate: g})
		if len(cases) != 1 || (cases[0].Skipped != nil) != tc.skipped {
			t.Errorf("%s: JUnit cases %+v, want one, skipped %v", tc.name, cases, tc.skipped)
		}
	}
}

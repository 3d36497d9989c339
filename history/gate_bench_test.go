package history_test

import (
	"context"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/regress"
)

// BenchmarkGate: the regression gate's whole judgement of one run over 100,000 stored runs —
// reading the last 10 passing runs of its experiment on main, and judging every figure of the
// run against theirs (package regress) — (goal ≤ 50 ms).
func BenchmarkGate(b *testing.B) {
	s := open(b, big(b))
	ctx := context.Background()
	run := variant(realistic(b), bigHistory+27) // experiment-07, on main, passed
	if run.Experiment.Name != "experiment-07" || run.Commit.Branch != "main" {
		b.Fatalf("run is of %s on %s", run.Experiment.Name, run.Commit.Branch)
	}
	figures := 0
	for b.Loop() {
		refs, err := s.Reference(ctx, run.Experiment.Name, "main", run.ID, regress.DefaultMaxRuns)
		if err != nil || len(refs) != regress.DefaultMaxRuns {
			b.Fatal(len(refs), err)
		}
		r := *run
		regress.Gate(&r, refs, "main", regress.Defaults())
		if r.Gate == nil || !r.Gate.Judged || r.Verdict != shakedown.VerdictPassed {
			b.Fatalf("the gate did not judge a run like its references: %+v %s", r.Gate, r.Reason)
		}
		figures = len(r.Gate.Figures)
	}
	b.ReportMetric(float64(figures), "figures")
}

package dashboard

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

// TestCharts: one chart per trend figure, oldest run first, ratios in per cent, a run's
// regressions marked on the figures its gate named, or on all of them when it named none.
func TestCharts(t *testing.T) {
	p99 := func(v float64) figureView {
		return figureView{Key: "web.latency.p99 during inject", Name: "web.latency.p99", Phase: shakedown.PhaseInject, Unit: "ms", Value: v}
	}
	errs := func(v float64) figureView {
		return figureView{Key: "web.errors during inject", Name: "web.errors", Phase: shakedown.PhaseInject, Unit: "ratio", Value: v}
	}
	other := figureView{Key: "web.throughput during inject", Name: "web.throughput", Phase: shakedown.PhaseInject, Unit: "rps", Value: 50}
	runs := []runView{ // newest first
		{ID: "c", Verdict: shakedown.VerdictRegressed, Figures: []figureView{p99(300), errs(0.5)}},
		{ID: "b", Verdict: shakedown.VerdictRegressed, Regressions: []string{"web.errors during inject"}, Figures: []figureView{p99(200), errs(0.25), other}},
		{ID: "a", Verdict: shakedown.VerdictPassed, Figures: []figureView{p99(100)}},
	}
	f := func(v float64) *float64 { return &v }
	want := []chart{
		{Key: "web.latency.p99 during inject", Title: "web.latency.p99", Group: "p99", Unit: "ms", Values: []*float64{f(100), f(200), f(300)}, Regressed: []bool{false, false, true}},
		{Key: "web.errors during inject", Title: "web.errors", Group: "errors", Unit: "%", Values: []*float64{nil, f(25), f(50)}, Regressed: []bool{false, true, true}},
	}
	if diff := cmp.Diff(want, charts(runs)); diff != "" {
		t.Errorf("charts (-want +got):\n%s", diff)
	}
}

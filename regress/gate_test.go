package regress

import (
	"fmt"
	"testing"

	"github.com/shakedown-dev/shakedown"
)

// record is a passed run whose checkout p99 during inject is p99 ms and whose time to recover
// is ttr ms.
func record(id string, p99, ttr float64) *shakedown.Record {
	m := shakedown.Millis(ttr)
	return &shakedown.Record{
		ID: id, Verdict: shakedown.VerdictPassed, Reason: "the hypothesis held",
		Loads: []shakedown.LoadRecord{{Name: "checkout", PerPhase: map[shakedown.Phase]*shakedown.LoadStats{
			shakedown.PhaseBaseline: {Count: 1000, P50: 20, P99: 40, Throughput: 50},
			shakedown.PhaseInject:   {Count: 1000, P50: 60, P99: shakedown.Millis(p99), Throughput: 50},
			shakedown.PhaseRevert:   {Count: 30, P50: 60, P99: 70, Throughput: 50},
		}}},
		Recovery: shakedown.RecoveryRecord{TimeToRecover: &m},
	}
}

func history(n int) []*shakedown.Record {
	var out []*shakedown.Record
	for i := range n {
		out = append(out, record(fmt.Sprintf("ref%02d", i), 92+float64(i%3)-1, 3000+float64(10*(i%4))))
	}
	return out
}

func TestGateRegressed(t *testing.T) {
	r := record("run", 241, 3000)
	if !Gate(r, history(12), "main", Defaults()) {
		t.Fatalf("a p99 of 241ms against 92ms did not regress: %+v", r.Gate)
	}
	if r.Verdict != shakedown.VerdictRegressed || r.ExitCode != 7 {
		t.Errorf("verdict %s exit %d, want regressed 7", r.Verdict, r.ExitCode)
	}
	if want := "checkout.latency.p99 during inject 241ms vs 92ms (median of 10 runs on main, p<0.01)"; r.Reason != want {
		t.Errorf("reason %q, want %q", r.Reason, want)
	}
	g := r.Gate
	if !g.Judged || len(g.References) != 10 || g.References[0] != "ref00" || len(g.Regressions) != 1 {
		t.Errorf("gate record: judged %v, references %v, regressions %v", g.Judged, g.References, g.Regressions)
	}
	if len(g.Figures) != 13 {
		t.Errorf("judged %d figures, want 13", len(g.Figures))
	}
}

func TestGateSeveralRegressions(t *testing.T) {
	r := record("run", 241, 9000)
	Gate(r, history(10), "", Defaults())
	if want := "recovery.time_to_recover 9000ms vs 3010ms (median of 10 runs, p<0.01); 1 more figure regressed"; r.Reason != want {
		t.Errorf("reason %q, want %q", r.Reason, want)
	}
}

func TestGatePasses(t *testing.T) {
	r := record("run", 93, 3020)
	if Gate(r, history(10), "main", Defaults()) || r.Verdict != shakedown.VerdictPassed || r.Reason != "the hypothesis held" {
		t.Errorf("a usual run: verdict %s, reason %q", r.Verdict, r.Reason)
	}
	if !r.Gate.Judged || len(r.Gate.Figures) != 13 || len(r.Gate.Regressions) != 0 {
		t.Errorf("gate: judged %v, %d figures, regressions %v", r.Gate.Judged, len(r.Gate.Figures), r.Gate.Regressions)
	}
}

func TestGateNotEnoughHistory(t *testing.T) {
	r := record("run", 500, 3000)
	if Gate(r, history(3), "main", Defaults()) || r.Verdict != shakedown.VerdictPassed {
		t.Errorf("3 references regressed the run: %s", r.Verdict)
	}
	if r.Gate.Judged || len(r.Gate.References) != 3 {
		t.Errorf("gate: judged %v, references %v", r.Gate.Judged, r.Gate.References)
	}
	if r.Gate.Note != "not enough history (3 of 5)" {
		t.Errorf("gate note %q", r.Gate.Note)
	}
}

func TestGateOnlyJudgesPassedRuns(t *testing.T) {
	r := record("run", 500, 3000)
	r.Verdict, r.ExitCode, r.Reason = shakedown.VerdictFailed, 1, "checkout p99 broke"
	if Gate(r, history(10), "main", Defaults()) || r.Verdict != shakedown.VerdictFailed || r.ExitCode != 1 || r.Reason != "checkout p99 broke" {
		t.Errorf("a failed run: verdict %s exit %d reason %q; want its own", r.Verdict, r.ExitCode, r.Reason)
	}
	if r.Gate.Judged || r.Gate.Note != "not judged: its own verdict is failed" {
		t.Errorf("gate: judged %v, note %q", r.Gate.Judged, r.Gate.Note)
	}
}

// TestGateTooFewRequests: a p99 over fewer than 1000 requests is one of its few slowest
// requests; it is shown, not judged, in the run and left out of the references.
func TestGateTooFewRequests(t *testing.T) {
	r := record("run", 241, 3000)
	r.Loads[0].PerPhase[shakedown.PhaseInject].Count = 400
	r.Checks = []shakedown.CheckRecord{{Name: "p99", PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{
		shakedown.PhaseInject: {Observed: "241ms over 400 requests", Threshold: "max 1s",
			Samples: []shakedown.Sample{{Observed: "checkout.latency.p99 241ms"}}},
		shakedown.PhaseBaseline: {Observed: "1% over 400 requests", Threshold: "max 5%",
			Samples: []shakedown.Sample{{Observed: "checkout.errors 1%"}}},
	}}}
	if Gate(r, history(10), "main", Defaults()) {
		t.Fatalf("regressed on a p99 of 400 requests: %s", r.Reason)
	}
	notes := map[string]string{}
	for _, f := range r.Gate.Figures {
		notes[shakedown.Figure{Name: f.Name, Phase: f.Phase}.Key()] = f.Note
	}
	for key, want := range map[string]string{
		"checkout.latency.p99 during inject": "too few requests to judge (400 of 1000)",
		"p99.observed during inject":         "too few requests to judge (400 of 1000)",
		"checkout.latency.p99 during revert": "too few requests to judge (30 of 1000)",
		"checkout.latency.p50 during revert": "",
		"checkout.latency.p50 during inject": "",
	} {
		if got, ok := notes[key]; !ok || got != want {
			t.Errorf("%s: note %q (present %v), want %q", key, got, ok, want)
		}
	}
	if _, ok := notes["p99.observed during baseline"]; !ok {
		t.Errorf("an error ratio over 400 requests is a mean: judged, not left out (notes %v)", notes)
	}
}

// BenchmarkJudge: judging the figures of a run against 10 references, without the store
// (BenchmarkGate in package history measures it with the reference query).
func BenchmarkJudge(b *testing.B) {
	refs := history(10)
	for b.Loop() {
		r := record("run", 241, 3000)
		Gate(r, refs, "main", Defaults())
	}
}

// TestGateMissingFigures: figures the references hold and the run does not (its load sent
// nothing during the inject) are listed as not judged, missing from the run, so that the gate
// does not pass for want of them without saying so.
func TestGateMissingFigures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(r *shakedown.Record)
		missing []string
	}{
		{"no inject", func(r *shakedown.Record) { delete(r.Loads[0].PerPhase, shakedown.PhaseInject) }, []string{
			"checkout.latency.p50 during inject", "checkout.latency.p99 during inject",
			"checkout.errors during inject", "checkout.throughput during inject"}},
		{"no requests during inject", func(r *shakedown.Record) { r.Loads[0].PerPhase[shakedown.PhaseInject].Count = 0 }, []string{
			"checkout.latency.p50 during inject", "checkout.latency.p99 during inject",
			"checkout.errors during inject", "checkout.throughput during inject"}},
		{"no time to recover", func(r *shakedown.Record) { r.Recovery.TimeToRecover = nil }, []string{"recovery.time_to_recover"}},
		{"ignored", func(r *shakedown.Record) { r.Recovery.TimeToRecover = nil }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := record("run", 93, 3020)
			tc.change(r)
			o := Defaults()
			if tc.name == "ignored" {
				o.Ignore = []string{"recovery.*"}
			}
			if Gate(r, history(10), "main", o) || r.Verdict != shakedown.VerdictPassed {
				t.Fatalf("verdict %s, want passed", r.Verdict)
			}
			var got []string
			for _, f := range r.Gate.Figures {
				if f.Missing {
					got = append(got, shakedown.Figure{Name: f.Name, Phase: f.Phase}.Key())
					if f.Note != "missing from this run (10 of 10 reference runs hold it)" || f.N != 10 || f.Regressed {
						t.Errorf("%s: note %q, n %d, regressed %v", f.Name, f.Note, f.N, f.Regressed)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.missing) {
				t.Errorf("missing figures %v, want %v", got, tc.missing)
			}
		})
	}
}

package regress

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/words"
	"github.com/shakedown-dev/shakedown/stats"
)

// Gate judges run r against its reference runs refs (the last passing runs of its experiment
// on branch, newest first) and writes the judgement into r.Gate. A run whose own verdict is
// not passed is not judged: its verdict stands. A passed run with a regressed figure becomes
// regressed (exit 7) with a reason naming the worst figure:
//
//	checkout.latency.p99 during inject 241ms vs 92ms (median of 10 runs on main, p<0.01)
//
// It reports whether the run regressed.
func Gate(r *shakedown.Record, refs []*shakedown.Record, branch string, o Options) bool {
	o = o.normal()
	g := &shakedown.GateRecord{Reference: branch, MinRuns: o.MinRuns, MaxRuns: o.MaxRuns, Tolerance: o.Tolerance,
		Floors: o.Floors, Alpha: o.Alpha, Ignore: o.Ignore}
	r.Gate = g
	if len(refs) > o.MaxRuns {
		refs = refs[:o.MaxRuns]
	}
	for _, ref := range refs {
		g.References = append(g.References, ref.ID)
	}
	if r.Verdict != shakedown.VerdictPassed {
		g.Note = fmt.Sprintf("not judged: its own verdict is %s", r.Verdict)
		return false
	}
	figs := make([][]shakedown.Figure, len(refs))
	for i, ref := range refs {
		figs[i], _ = Judgeable(ref)
	}
	run, few := Judgeable(r)
	j := Judge(run, figs, o)
	if !j.Enough {
		g.Note = j.Note()
		return false
	}
	g.Judged = true
	// The figures with too few requests go where they stand in the run's order.
	byKey := map[string]Result{}
	for _, f := range append(j.Figures, few...) {
		byKey[f.Key()] = f
	}
	var all []Result
	for _, f := range shakedown.Figures(r) {
		if res, ok := byKey[f.Key()]; ok && !ignored(f, o.Ignore) {
			all = append(all, res)
			delete(byKey, f.Key())
		}
	}
	// Then those the references hold and the run does not.
	for _, f := range j.Figures {
		if _, ok := byKey[f.Key()]; ok && f.Missing {
			all = append(all, f)
			delete(byKey, f.Key())
		}
	}
	for _, f := range all {
		g.Figures = append(g.Figures, shakedown.GateFigure{Name: f.Name, Phase: f.Phase, Unit: f.Unit,
			Value: f.Value, N: f.N, Median: f.Median, Scale: f.Scale, Change: f.Change, P: f.P,
			Significant: f.Significant, Material: f.Material, Regressed: f.Regressed, Note: f.Note, Missing: f.Missing})
	}
	reg := j.Regressions()
	for _, f := range reg {
		g.Regressions = append(g.Regressions, f.Key())
	}
	if len(reg) == 0 {
		return false
	}
	r.Verdict = shakedown.VerdictRegressed
	r.ExitCode = r.Verdict.ExitCode()
	r.Reason = reg[0].Line(j.Runs, branch, o.Alpha)
	if len(reg) > 1 {
		r.Reason += fmt.Sprintf("; %d more figure%s regressed", len(reg)-1, words.Plural(len(reg)-1))
	}
	return true
}

// Judgeable returns the figures of r that rest on enough requests to be compared across runs,
// and, as results not judged, those that do not. A latency quantile q of a load in a phase
// needs the requests the stats package asks of it (stats.MinSamples: 20 for p50, 1000 for
// p99), and so does a check's value of such a quantile ("150ms over 500 requests"): below
// that, the quantile is one of the few slowest requests, and one scheduling hiccup of the
// machine moves it by more than any tolerance.
func Judgeable(r *shakedown.Record) (judgeable []shakedown.Figure, tooFew []Result) {
	type count struct{ have, want int }
	few := map[string]count{} // figure key → the requests it rests on, when too few
	quantile := func(metric string) (int, bool) {
		s := stats.ForMetric(metric)
		return stats.MinSamples(s), s != stats.Mean
	}
	for _, l := range r.Loads {
		for p, st := range l.PerPhase {
			if st == nil {
				continue
			}
			for _, m := range []string{"latency.p50", "latency.p99"} {
				if want, _ := quantile(m); st.Count < int64(want) {
					few[shakedown.Figure{Name: l.Name + "." + m, Phase: p}.Key()] = count{int(st.Count), want}
				}
			}
		}
	}
	for _, c := range r.Checks {
		for p, cp := range c.PerPhase {
			if cp == nil {
				continue
			}
			n, ok := requestsOf(cp.Observed)
			if !ok {
				continue
			}
			if want, isQ := quantile(metricOf(cp)); isQ && n < want {
				few[shakedown.Figure{Name: c.Name + ".observed", Phase: p}.Key()] = count{n, want}
			}
		}
	}
	for _, f := range shakedown.Figures(r) {
		if c, ok := few[f.Key()]; ok {
			tooFew = append(tooFew, Result{Figure: f, Note: fmt.Sprintf("too few requests to judge (%d of %d)", c.have, c.want)})
			continue
		}
		judgeable = append(judgeable, f)
	}
	return judgeable, tooFew
}

// requestsOf reads N from a check's "150ms over N requests".
func requestsOf(observed string) (int, bool) {
	_, rest, ok := strings.Cut(observed, " over ")
	if !ok {
		return 0, false
	}
	num, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// metricOf is the load metric a check watches, as its samples name it
// ("checkout.latency.p99 150ms"), without the load: "latency.p99".
func metricOf(cp *shakedown.CheckPhaseRecord) string {
	for _, s := range cp.Samples {
		name, _, _ := strings.Cut(s.Observed, " ")
		if m, err := shakedown.ParseMetric(name); err == nil {
			return m.Name
		}
	}
	return ""
}

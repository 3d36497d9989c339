package regress

import (
	"fmt"

	"github.com/shakedown-dev/shakedown"
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
		g.Note = fmt.Sprintf("not judged: the run %s on its own", r.Verdict)
		return false
	}
	figs := make([][]shakedown.Figure, len(refs))
	for i, ref := range refs {
		figs[i] = shakedown.Figures(ref)
	}
	j := Judge(shakedown.Figures(r), figs, o)
	if !j.Enough {
		g.Note = j.Note()
		return false
	}
	g.Judged = true
	for _, f := range j.Figures {
		g.Figures = append(g.Figures, shakedown.GateFigure{Name: f.Name, Phase: f.Phase, Unit: f.Unit,
			Value: f.Value, N: f.N, Median: f.Median, Scale: f.Scale, Change: f.Change, P: f.P,
			Significant: f.Significant, Material: f.Material, Regressed: f.Regressed, Note: f.Note})
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
		r.Reason += fmt.Sprintf("; %d more figure%s regressed", len(reg)-1, plural(len(reg)-1))
	}
	return true
}

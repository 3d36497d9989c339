package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/words"
)

// RegressionCase prefixes the JUnit testcase of each figure that regressed; GateCase is the
// one testcase of a gated run where none did.
const (
	RegressionCase = "regression: "
	GateCase       = "regression gate"
)

// gateSummary says in one line what the gate made of a run: "no regression in 24 figures
// against 10 runs on main", "2 of 24 figures regressed against 10 runs on main", "not enough
// history (3 of 5) on main".
func gateSummary(g *shakedown.GateRecord) string {
	on := ""
	if g.Reference != "" {
		on = " on " + oneLine(g.Reference)
	}
	runs := len(g.References)
	switch {
	case !g.Judged:
		note := oneLine(g.Note)
		if note == "" {
			note = "not judged"
		}
		if !strings.HasPrefix(note, "not enough history") {
			return note // not about the references
		}
		return note + on
	}
	judged, unjudged, missing := gateCounts(g)
	rest := ""
	if unjudged > 0 {
		rest = fmt.Sprintf("; %d not judged", unjudged)
		if missing > 0 {
			rest += fmt.Sprintf(" (%d missing from this run)", missing)
		}
	}
	if len(g.Regressions) == 0 {
		return fmt.Sprintf("no regression in %s against %s%s%s", words.Count(judged, "figure"), words.Count(runs, "run"), on, rest)
	}
	return fmt.Sprintf("%d of %s regressed against %s%s%s", len(g.Regressions), words.Count(judged, "figure"), words.Count(runs, "run"), on, rest)
}

// gateCounts counts the figures of g that were judged, those that were not (too few
// requests, too few references holding them, missing from the run), and of those the ones
// missing from the run: a gate that passes says what it could not judge.
func gateCounts(g *shakedown.GateRecord) (judged, unjudged, missing int) {
	for _, f := range g.Figures {
		switch {
		case f.Note == "":
			judged++
		case f.Missing:
			unjudged++
			missing++
		default:
			unjudged++
		}
	}
	return judged, unjudged, missing
}

// regressed returns the figures of g that regressed, in the order of g.Regressions (the
// most worse first).
func regressed(g *shakedown.GateRecord) []shakedown.GateFigure {
	var out []shakedown.GateFigure
	for _, key := range g.Regressions {
		for _, f := range g.Figures {
			if f.Regressed && figureKey(f) == key {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

func figureKey(f shakedown.GateFigure) string {
	return shakedown.Figure{Name: f.Name, Phase: f.Phase}.Key()
}

// pText writes a p-value: "p<0.01" below alpha, else "p=0.23".
func pText(p, alpha float64) string {
	if p < alpha {
		return "p<" + strconv.FormatFloat(alpha, 'g', -1, 64)
	}
	return "p=" + strconv.FormatFloat(p, 'f', 2, 64)
}

// changeText writes a change with its share of the reference: "+149ms (+162%)".
func changeText(f shakedown.GateFigure) string {
	s := shakedown.FormatFigure(f.Change, f.Unit)
	if f.Change >= 0 {
		s = "+" + s
	}
	if f.Median != 0 {
		pct := 100 * f.Change / math.Abs(f.Median)
		s += fmt.Sprintf(" (%+.0f%%)", pct)
	}
	return s
}

// figureLine says what one regressed figure was against its references.
func figureLine(g *shakedown.GateRecord, f shakedown.GateFigure) string {
	on := ""
	if g.Reference != "" {
		on = " on " + oneLine(g.Reference)
	}
	return fmt.Sprintf("%s %s vs %s (median of %s%s, %s), %s", oneLine(figureKey(f)),
		shakedown.FormatFigure(f.Value, f.Unit), shakedown.FormatFigure(f.Median, f.Unit),
		words.Count(f.N, "run"), on, pText(f.P, g.Alpha), changeText(f))
}

// gateCases are the JUnit testcases of the gate: a failure per figure that regressed, named
// for it, or one case that passed (or was skipped when the gate could not judge).
func gateCases(class string, r *shakedown.Record) []junit.Testcase {
	g := r.Gate
	if g == nil {
		return nil
	}
	regs := regressed(g)
	if len(regs) == 0 {
		tc := junit.Testcase{Name: GateCase, Classname: class}
		if judged, _, _ := gateCounts(g); g.Judged && judged > 0 {
			tc.SystemOut = &junit.Output{Data: xmlText(gateSummary(g) + "\n")}
		} else {
			tc.Skipped = &junit.Result{Message: xmlText("not judged: " + gateSummary(g))}
		}
		return []junit.Testcase{tc}
	}
	var out []junit.Testcase
	for _, f := range regs {
		line := figureLine(g, f)
		out = append(out, junit.Testcase{Name: xmlText(RegressionCase + figureKey(f)), Classname: class,
			Failure: &junit.Result{Message: xmlText(line), Type: "regressed",
				Data: xmlText(line + "\nsignificantly and materially worse than the reference runs (" + gateSummary(g) + ")\n")}})
	}
	return out
}

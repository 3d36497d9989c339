package report

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// The tables of a run, computed once and written by both the Markdown summary and the HTML
// report:
//
//	record ──► runTables ──► []table ──┬──► writeTableMarkdown (mdText, **strong**)
//	                                   └──► html/template       (escaped by the template)
//
// A table holds plain text: each writer escapes it for its own format.

// table is one section of a run's report: a title, sentences before it, its rows, a list of
// notes and sentences after it. A section with no head is sentences only.
type table struct {
	Title  string
	Before []para
	Head   []string
	Right  []bool // per column: right-aligned (numbers, times)
	Rows   [][]cell
	Notes  []string
	After  []para
}

// para is a sentence or two: its spans written one after the other.
type para []span

func sentence(s string) para { return para{{Text: s}} }

// cell is one table cell: its parts, written one after the other with "; " between them.
type cell []span

// span is a piece of a cell's text; a strong one is what went wrong. A literal one is
// written as is in Markdown: a number, duration or time this package formatted, which holds
// no markup.
type span struct {
	Text    string
	Strong  bool
	Literal bool
}

func text(s string) cell    { return cell{{Text: s}} }
func strong(s string) cell  { return cell{{Text: s, Strong: true}} }
func literal(s string) cell { return cell{{Text: s, Literal: true}} }

// runTables are the sections of a run's report after its headline, in order: the gate, the
// targets, the checks, the faults, the expectations and the loads.
func runTables(r *shakedown.Record) []table {
	var out []table
	for _, t := range []*table{gateTable(r), targetsTable(r), checksTable(r), faultsTable(r),
		expectationsTable(r), loadsTable(r)} {
		if t != nil {
			out = append(out, *t)
		}
	}
	return out
}

// verdictCounts says how many runs ended how: "3 runs: 2 passed, 1 failed."; empty for one
// run.
func verdictCounts(records []*shakedown.Record) string {
	if len(records) < 2 {
		return ""
	}
	counts := map[shakedown.Verdict]int{}
	for _, r := range records {
		counts[r.Verdict]++
	}
	var parts []string
	known := 0
	for _, v := range shakedown.Verdicts {
		if n := counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(string(v), "_", " ")))
			known += n
		}
	}
	if n := len(records) - known; n > 0 {
		parts = append(parts, fmt.Sprintf("%d unknown", n))
	}
	return fmt.Sprintf("%d runs: %s.", len(records), strings.Join(parts, ", "))
}

// summaryExperiment is the column of summaryTable that names the experiment.
const summaryExperiment = 1

// summaryTable has one row per run: status, experiment, exit code, duration and reason.
func summaryTable(records []*shakedown.Record) table {
	t := table{Head: []string{"status", "experiment", "exit", "duration", "reason"},
		Right: []bool{false, false, true, true, false}}
	for _, r := range records {
		t.Rows = append(t.Rows, []cell{text(Status(r.Verdict)), text(r.Experiment.Name),
			literal(fmt.Sprint(r.ExitCode)), literal(fmtDur(runDuration(r))), text(r.Reason)})
	}
	return t
}

// runFacts are the facts of a run in one line's parts: file, id, start, duration, seed,
// commit, host, version. The code-like ones are marked so a writer can set them as code.
func runFacts(r *shakedown.Record) []fact {
	var facts []fact
	if r.Experiment.File != "" {
		facts = append(facts, fact{Code: r.Experiment.File})
	}
	if r.ID != "" {
		facts = append(facts, fact{Text: "run ", Code: r.ID})
	}
	facts = append(facts, fact{Text: "started " + fmtUTC(r.StartedAt.Time)}, fact{Text: "took " + fmtDur(runDuration(r))},
		fact{Text: fmt.Sprintf("seed %d", r.Seed)})
	if c := r.Commit; c != nil && c.SHA != "" {
		f := fact{Text: "commit ", Code: shortSHA(c.SHA)}
		if c.Branch != "" {
			f.More, f.MoreCode = " on ", c.Branch
		}
		facts = append(facts, f)
	}
	if r.Host != "" {
		facts = append(facts, fact{Text: "host ", Code: r.Host})
	}
	if r.Version != "" {
		facts = append(facts, fact{Text: "shakedown ", Code: r.Version})
	}
	return facts
}

// fact is Text, then Code set as code, then More and MoreCode the same way.
type fact struct{ Text, Code, More, MoreCode string }

func gateTable(r *shakedown.Record) *table {
	g := r.Gate
	if g == nil {
		return nil
	}
	regs := regressed(g)
	if len(regs) == 0 {
		return &table{Before: []para{sentence("Regression gate: " + gateSummary(g) + ".")}}
	}
	t := &table{Title: "Regressions",
		Before: []para{{{Text: gateSummary(g)}, {Text: fmt.Sprintf(" (tolerance %s, %s).",
			shakedown.FormatFigure(g.Tolerance, shakedown.FigureRatio), pText(0, g.Alpha)), Literal: true}}},
		Head:  []string{"figure", "this run", "reference median", "change", "runs", "p"},
		Right: []bool{false, true, true, true, true, true}}
	for _, f := range regs {
		t.Rows = append(t.Rows, []cell{text(figureKey(f)), literal(shakedown.FormatFigure(f.Value, f.Unit)),
			literal(shakedown.FormatFigure(f.Median, f.Unit)), text(changeText(f)), literal(fmt.Sprint(f.N)),
			literal(pText(f.P, g.Alpha))})
	}
	return t
}

func targetsTable(r *shakedown.Record) *table {
	if len(r.Targets) == 0 {
		return nil
	}
	t := &table{Title: "Targets", Head: []string{"target", "kind", "selection", "matched", "selected"},
		Right: []bool{false, false, false, true, false}}
	for _, tg := range r.Targets {
		sel := tg.Selection
		if sel == "" {
			sel = "all"
		}
		selected := listSome(tg.Selected, 5)
		if tg.Error != "" {
			selected = "cannot be used: " + tg.Error
		}
		t.Rows = append(t.Rows, []cell{text(tg.Name), text(tg.Kind), text(sel), literal(fmt.Sprint(len(tg.Matched))),
			text(selected)})
	}
	return t
}

func checksTable(r *shakedown.Record) *table {
	if len(r.Checks) == 0 {
		if injected(r) {
			return &table{Before: []para{sentence("No steady-state checks: this run only shows that its faults inject and revert cleanly.")}}
		}
		return nil
	}
	maps := make([]map[shakedown.Phase]*shakedown.CheckPhaseRecord, len(r.Checks))
	for i := range r.Checks {
		maps[i] = r.Checks[i].PerPhase
	}
	phases := phaseOrder(maps...)
	t := &table{Title: "Checks", Head: []string{"check", "role"}}
	for _, p := range phases {
		t.Head = append(t.Head, string(p))
	}
	t.Head = append(t.Head, "held")
	for _, c := range r.Checks {
		row := []cell{text(c.Name), text(roleWord(c.Role))}
		for _, p := range phases {
			pr := c.PerPhase[p]
			if pr == nil {
				row = append(row, literal("-"))
				continue
			}
			s := oneLine(orNothing(pr.Observed))
			if th := oneLine(pr.Threshold); th != "" {
				s += " vs " + th
			}
			if pr.Held {
				row = append(row, text(s))
			} else {
				row = append(row, strong(s+" (breached)"))
			}
			for _, x := range checkExtras(pr) {
				t.Notes = append(t.Notes, fmt.Sprintf("%s, %s: %s", oneLine(c.Name), p, x))
			}
		}
		switch {
		case !c.Held:
			row = append(row, strong("no"))
		case len(c.PerPhase) == 0:
			row = append(row, literal("not judged"))
		default:
			row = append(row, literal("yes"))
		}
		t.Rows = append(t.Rows, row)
		if d := oneLine(c.Detail); d != "" && !c.Held {
			t.Notes = append(t.Notes, fmt.Sprintf("%s: %s", oneLine(c.Name), d))
		}
	}
	if ttr := r.Recovery.TimeToRecover; ttr != nil {
		t.After = append(t.After, sentence(fmt.Sprintf("The steady state was back %s after the revert.", fmtDur(ttr.Duration()))))
	}
	return t
}

func faultsTable(r *shakedown.Record) *table {
	if len(r.Faults) == 0 {
		return nil
	}
	t := &table{Title: "Faults", Head: []string{"fault", "type", "target", "injected", "reverted", "error"},
		Right: []bool{false, false, false, true, true, false}}
	if !injected(r) {
		t.Before = []para{sentence("Nothing was injected.")}
	}
	for _, f := range r.Faults {
		var errs cell
		if f.Error != "" {
			errs = append(errs, span{Text: "inject: " + oneLine(f.Error)})
		}
		if f.RevertError != "" {
			errs = append(errs, span{Text: "revert: " + oneLine(f.RevertError), Strong: true})
		}
		if f.RevertNote != "" {
			errs = append(errs, span{Text: "revert " + oneLine(f.RevertNote)})
		}
		target := f.Target
		if target == "" {
			target = "-"
		}
		t.Rows = append(t.Rows, []cell{text(f.Name), text(f.Type), text(target),
			literal(fmtRel(r, f.InjectedAt)), literal(fmtRel(r, f.RevertedAt)), errs})
	}
	return t
}

func expectationsTable(r *shakedown.Record) *table {
	if len(r.Expectations) == 0 {
		return nil
	}
	t := &table{Title: "Expectations",
		Head:  []string{"expectation", "held", "fired", "time to detect", "resolved", "time to recover", "detail"},
		Right: []bool{false, false, true, true, true, true, false}}
	for i := range r.Expectations {
		e := &r.Expectations[i]
		held := literal("yes")
		switch {
		case !judged(r, e):
			held = literal("not judged")
		case !e.Held:
			held = strong("no")
		}
		t.Rows = append(t.Rows, []cell{text(e.Name), held, literal(fmtRel(r, e.FiredAt)),
			literal(fmtMillisPtr(e.TimeToDetect)), literal(fmtRel(r, e.ResolvedAt)),
			literal(fmtMillisPtr(e.TimeToRecover)), text(e.Detail)})
	}
	return t
}

// loadsTable sums up each load per phase. When a load did not keep its schedule — sends
// that left late, or requests never sent because the generator or its bound on requests
// in flight held them back — a column says how many, so that its figures are not read as
// those of the rate it declared.
func loadsTable(r *shakedown.Record) *table {
	if len(r.Loads) == 0 {
		return nil
	}
	late := false
	for _, l := range r.Loads {
		for _, s := range l.PerPhase {
			late = late || (s != nil && s.Late > 0)
		}
	}
	t := &table{Title: "Load", Head: []string{"load", "phase", "requests", "errors", "p50", "p99", "throughput"},
		Right: []bool{false, false, true, true, true, true, true}}
	if late {
		t.Head, t.Right = append(t.Head, "late or not sent"), append(t.Right, true)
	}
	share := func(n, of int64) string {
		s := fmt.Sprintf("%d", n)
		if of > 0 && n > 0 {
			s += fmt.Sprintf(" (%.1f%%)", 100*float64(n)/float64(of))
		}
		return s
	}
	for _, l := range r.Loads {
		for _, p := range phaseOrder(l.PerPhase) {
			s := l.PerPhase[p]
			if s == nil {
				continue
			}
			row := []cell{text(l.Name), text(string(p)), literal(fmt.Sprint(s.Count)), literal(share(s.Errors, s.Count)),
				literal(fmtMillis(s.P50)), literal(fmtMillis(s.P99)), literal(fmt.Sprintf("%.1f/s", s.Throughput))}
			if late {
				row = append(row, literal(share(s.Late, s.Count)))
			}
			t.Rows = append(t.Rows, row)
		}
	}
	return t
}

// writeTableMarkdown writes a section as GitHub-flavoured Markdown.
func writeTableMarkdown(b *bytes.Buffer, t table) {
	if t.Title != "" {
		fmt.Fprintf(b, "#### %s\n\n", mdText(t.Title))
	}
	for _, p := range t.Before {
		b.WriteString(mdPara(p) + "\n\n")
	}
	if len(t.Head) > 0 {
		b.WriteString("|")
		for _, h := range t.Head {
			b.WriteString(" " + mdText(h) + " |")
		}
		b.WriteString("\n|")
		for i := range t.Head {
			if i < len(t.Right) && t.Right[i] {
				b.WriteString("---:|")
			} else {
				b.WriteString("---|")
			}
		}
		b.WriteString("\n")
		for _, row := range t.Rows {
			b.WriteString("|")
			for _, c := range row {
				b.WriteString(" " + mdCell(c) + " |")
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	for _, n := range t.Notes {
		b.WriteString("- " + mdText(n) + "\n")
	}
	if len(t.Notes) > 0 {
		b.WriteString("\n")
	}
	for _, p := range t.After {
		b.WriteString(mdPara(p) + "\n\n")
	}
}

func mdCell(c cell) string {
	parts := make([]string, len(c))
	for i, s := range c {
		parts[i] = mdSpan(s)
	}
	return strings.Join(parts, "; ")
}

func mdPara(p para) string {
	var b strings.Builder
	for _, s := range p {
		b.WriteString(mdSpan(s))
	}
	return b.String()
}

func mdSpan(s span) string {
	t := s.Text
	if !s.Literal {
		t = mdText(t)
	}
	if s.Strong {
		t = "**" + t + "**"
	}
	return t
}

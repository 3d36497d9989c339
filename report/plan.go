package report

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Plan is what `shakedown plan` found: the targets resolved, the faults that would run and
// when, and the checks that would be watched. Nothing in it has been applied.
type Plan struct {
	Experiment string
	File       string
	Baseline   time.Duration
	Recovery   time.Duration
	Targets    []PlanTarget
	Faults     []PlanFault
	Loads      []string // what each load sends, through every phase
	Checks     []string
	Notes      []string
}

// PlanTarget is one target as resolved now.
type PlanTarget struct {
	Name      string
	Kind      string
	Selection string   // "all", "count(1)", …
	Matched   []string // every instance the target resolved to
	Selected  []string // the ones the selection picked
	Error     string   // why the target cannot be used; empty when it can
}

// PlanFault is one fault of the graph, placed in time.
type PlanFault struct {
	Name   string
	Type   string
	Target string
	Start  time.Duration // offset from the start of the inject phase
	End    time.Duration // End == Start for a one-shot fault
	After  []string
	Lines  []string // what it will do, one step a line
}

// Rendering limits of the plan.
const (
	planBarWidth   = 60 // columns of the timeline across the inject phase
	planListMax    = 20 // instances listed per target before "and N more"
	planNameMaxLen = 32
)

// WritePlan writes the plan as text: the targets with what they matched and selected, the
// fault graph as a timeline (one row per fault across the inject phase, # while it is
// injected, * where a one-shot fault fires), what each fault will do, the checks, and a
// closing line saying that nothing was injected.
func WritePlan(w io.Writer, p *Plan) error {
	if p == nil {
		return shakedown.Errorf(shakedown.KindInternal, "report: plan is nil")
	}
	bw := bufio.NewWriter(w)
	writePlan(bw, p)
	if err := bw.Flush(); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "write plan", err)
	}
	return nil
}

func writePlan(w *bufio.Writer, p *Plan) {
	span := planSpan(p.Faults)
	fmt.Fprintf(w, "plan for %s", oneLine(p.Experiment))
	if p.File != "" {
		fmt.Fprintf(w, " (%s)", oneLine(p.File))
	}
	fmt.Fprintf(w, "\nphases: baseline %s, inject %s, revert, recovery %s\n", fmtDur(p.Baseline), fmtDur(span), fmtDur(p.Recovery))

	w.WriteString("\ntargets\n")
	if len(p.Targets) == 0 {
		w.WriteString("  none\n")
	}
	tw := 0
	for _, t := range p.Targets {
		tw = max(tw, len([]rune(clip(oneLine(t.Name), planNameMaxLen))))
	}
	for _, t := range p.Targets {
		sel := oneLine(t.Selection)
		if sel == "" {
			sel = "all"
		}
		fmt.Fprintf(w, "  %s  %s, select %s: %d matched, %d selected\n", pad(clip(oneLine(t.Name), planNameMaxLen), tw),
			oneLine(t.Kind), sel, len(t.Matched), len(t.Selected))
		if t.Error != "" {
			fmt.Fprintf(w, "    ! cannot be used: %s\n", oneLine(t.Error))
		}
		selected := map[string]bool{}
		for _, s := range t.Selected {
			selected[s] = true
		}
		list := t.Matched
		// Anything selected but not listed as matched is still shown.
		for _, s := range t.Selected {
			if !slices.Contains(t.Matched, s) {
				list = append(list[:len(list):len(list)], s)
			}
		}
		for i, m := range list {
			if i == planListMax {
				fmt.Fprintf(w, "      ... and %d more\n", len(list)-i)
				break
			}
			mark := " "
			if selected[m] {
				mark = "*"
			}
			fmt.Fprintf(w, "    %s %s\n", mark, oneLine(m))
		}
	}
	switch {
	case slices.ContainsFunc(p.Targets, func(t PlanTarget) bool { return t.Error != "" }):
		w.WriteString("    (* selected; ! cannot be used)\n")
	case len(p.Targets) > 0:
		w.WriteString("    (* selected)\n")
	}

	w.WriteString("\nfault timeline across the inject phase\n")
	if len(p.Faults) == 0 {
		w.WriteString("  no faults\n")
	} else {
		writeGantt(w, p.Faults, span)
	}

	if len(p.Faults) > 0 {
		w.WriteString("\nfaults\n")
	}
	for _, f := range p.Faults {
		fmt.Fprintf(w, "  %s: %s", oneLine(f.Name), oneLine(f.Type))
		if f.Target != "" {
			fmt.Fprintf(w, " on %s", oneLine(f.Target))
		}
		if len(f.After) > 0 {
			after := make([]string, len(f.After))
			for i, a := range f.After {
				after[i] = oneLine(a)
			}
			fmt.Fprintf(w, ", after %s", strings.Join(after, ", "))
		}
		if f.End > f.Start {
			fmt.Fprintf(w, ", from %s to %s\n", fmtDur(f.Start), fmtDur(f.End))
		} else {
			fmt.Fprintf(w, ", once at %s\n", fmtDur(f.Start))
		}
		for _, l := range f.Lines {
			fmt.Fprintf(w, "    - %s\n", oneLine(l))
		}
	}

	if len(p.Loads) > 0 {
		w.WriteString("\nload, through every phase\n")
		for _, l := range p.Loads {
			fmt.Fprintf(w, "  - %s\n", oneLine(l))
		}
	}
	if len(p.Checks) > 0 {
		w.WriteString("\nchecks watched\n")
		for _, c := range p.Checks {
			fmt.Fprintf(w, "  - %s\n", oneLine(c))
		}
	}
	if len(p.Notes) > 0 {
		w.WriteString("\nnotes\n")
		for _, n := range p.Notes {
			fmt.Fprintf(w, "  - %s\n", oneLine(n))
		}
	}
	w.WriteString("\nnothing was injected\n")
}

// planSpan is how long the inject phase lasts: until the last fault ends.
func planSpan(faults []PlanFault) time.Duration {
	var span time.Duration
	for _, f := range faults {
		span = max(span, f.Start, f.End)
	}
	return span
}

// writeGantt draws one row per fault: planBarWidth cells across [0, span), each cell # when
// the fault is injected during it, * in the cell where a one-shot fault fires.
func writeGantt(w *bufio.Writer, faults []PlanFault, span time.Duration) {
	nw := 0
	for _, f := range faults {
		nw = max(nw, len([]rune(clip(oneLine(f.Name), planNameMaxLen))))
	}
	scale := span
	if scale <= 0 {
		scale = 1
	}
	const width = planBarWidth
	// The axis: labels at 0, 1/4, 1/2, 3/4 and the end, under the bar's columns.
	axis := []rune(strings.Repeat(" ", width+2))
	last := -1
	marks := 4
	if span <= 0 {
		marks = 0 // everything happens at 0s
	}
	for i := 0; i <= marks; i++ {
		label := []rune(fmtDur(span / 4 * time.Duration(i)))
		col := 1 + width*i/4
		if i == 4 {
			col = width + 2 - len(label)
		}
		if col <= last || col+len(label) > len(axis) {
			continue
		}
		copy(axis[col:], label)
		last = col + len(label)
	}
	fmt.Fprintf(w, "  %s %s\n", strings.Repeat(" ", nw), strings.TrimRight(string(axis), " "))
	for _, f := range faults {
		row := []byte(strings.Repeat(" ", width))
		if f.End > f.Start {
			for i := range width {
				from := scale * time.Duration(i) / width
				to := scale * time.Duration(i+1) / width
				if from < f.End && to > f.Start {
					row[i] = '#'
				}
			}
		} else {
			i := int(int64(f.Start) * width / int64(scale))
			row[min(max(i, 0), width-1)] = '*'
		}
		fmt.Fprintf(w, "  %s |%s|\n", pad(clip(oneLine(f.Name), planNameMaxLen), nw), row)
	}
}

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

// pad fills s with spaces to n runes.
func pad(s string, n int) string {
	if k := len([]rune(s)); k < n {
		return s + strings.Repeat(" ", n-k)
	}
	return s
}

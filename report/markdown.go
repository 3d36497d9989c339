package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// WriteMarkdown writes a GitHub-flavoured Markdown summary of the runs, suited to
// $GITHUB_STEP_SUMMARY: a table with one row per run (status word, experiment, exit code,
// duration, reason), then for each run its targets, checks (observed against threshold per
// phase), faults (inject and revert times relative to the start, errors), expectations
// (time to detect and to recover), loads per phase with a Mermaid chart of each load's p99
// per second, and for a run that was not restored the `shakedown recover` command.
func WriteMarkdown(w io.Writer, records []*shakedown.Record) error {
	if err := checkRecords(records); err != nil {
		return err
	}
	var b bytes.Buffer
	writeMarkdown(&b, records)
	if _, err := w.Write(b.Bytes()); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "write markdown report", err)
	}
	return nil
}

// AppendStepSummary appends the Markdown summary of the runs to the file named by
// GITHUB_STEP_SUMMARY, when getenv says it is set; otherwise it does nothing. The file is
// created if missing.
func AppendStepSummary(records []*shakedown.Record, getenv func(string) string) error {
	path := getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return nil
	}
	if err := checkRecords(records); err != nil {
		return err
	}
	var b bytes.Buffer
	writeMarkdown(&b, records)
	f, err := userfile.Create(path, true)
	if err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "append step summary", err)
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		// Keep the summary apart from whatever an earlier step wrote.
		if _, err := f.WriteString("\n"); err != nil {
			f.Close()
			return shakedown.Wrap(shakedown.KindInternal, "append step summary to "+path, err)
		}
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return shakedown.Wrap(shakedown.KindInternal, "append step summary to "+path, err)
	}
	if err := f.Close(); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "append step summary to "+path, err)
	}
	return nil
}

func writeMarkdown(b *bytes.Buffer, records []*shakedown.Record) {
	verdicts := make([]shakedown.Verdict, len(records))
	counts := map[shakedown.Verdict]int{}
	for i, r := range records {
		verdicts[i] = r.Verdict
		counts[r.Verdict]++
	}
	fmt.Fprintf(b, "## shakedown: %s\n\n", Status(shakedown.Worst(verdicts...)))
	if len(records) == 0 {
		b.WriteString("No experiments ran.\n")
		return
	}
	if len(records) > 1 {
		var parts []string
		for _, v := range shakedown.Verdicts {
			if n := counts[v]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(string(v), "_", " ")))
			}
		}
		fmt.Fprintf(b, "%d runs: %s.\n\n", len(records), strings.Join(parts, ", "))
	}
	b.WriteString("| status | experiment | exit | duration | reason |\n")
	b.WriteString("|---|---|---:|---:|---|\n")
	for _, r := range records {
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s |\n", Status(r.Verdict), mdText(r.Experiment.Name),
			r.ExitCode, fmtDur(runDuration(r)), mdText(r.Reason))
	}
	b.WriteString("\n")
	for _, r := range records {
		writeRunMarkdown(b, r)
	}
	// Every block ends with a blank line; the document ends with one newline.
	for bytes.HasSuffix(b.Bytes(), []byte("\n\n")) {
		b.Truncate(b.Len() - 1)
	}
}

func writeRunMarkdown(b *bytes.Buffer, r *shakedown.Record) {
	fmt.Fprintf(b, "### %s: %s\n\n", Status(r.Verdict), mdText(r.Experiment.Name))
	fmt.Fprintf(b, "**%s** (exit %d): %s\n\n", Status(r.Verdict), r.ExitCode, mdText(reason(r)))
	if d := oneLine(r.Experiment.Description); d != "" {
		fmt.Fprintf(b, "%s\n\n", mdText(d))
	}

	var facts []string
	if r.Experiment.File != "" {
		facts = append(facts, mdCode(r.Experiment.File))
	}
	if r.ID != "" {
		facts = append(facts, "run "+mdCode(r.ID))
	}
	facts = append(facts, "started "+fmtUTC(r.StartedAt.Time), "took "+fmtDur(runDuration(r)),
		fmt.Sprintf("seed %d", r.Seed))
	if c := r.Commit; c != nil && c.SHA != "" {
		s := "commit " + mdCode(shortSHA(c.SHA))
		if c.Branch != "" {
			s += " on " + mdCode(c.Branch)
		}
		facts = append(facts, s)
	}
	if r.Host != "" {
		facts = append(facts, "host "+mdCode(r.Host))
	}
	if r.Version != "" {
		facts = append(facts, "shakedown "+mdCode(r.Version))
	}
	b.WriteString(strings.Join(facts, " · ") + "\n\n")

	if leftInjected(r) {
		b.WriteString("> [!CAUTION]\n> Something may still be injected. Revert it with:\n>\n")
		b.WriteString("> ```sh\n> " + oneLine(recoverCommand(r)) + "\n> ```\n\n")
	}

	writeGateMarkdown(b, r)
	writeTargetsMarkdown(b, r)
	writeChecksMarkdown(b, r)
	writeFaultsMarkdown(b, r)
	writeExpectationsMarkdown(b, r)
	writeLoadsMarkdown(b, r)
	writeLoadChartsMarkdown(b, r)
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func writeTargetsMarkdown(b *bytes.Buffer, r *shakedown.Record) {
	if len(r.Targets) == 0 {
		return
	}
	b.WriteString("#### Targets\n\n| target | kind | selection | matched | selected |\n|---|---|---|---:|---|\n")
	for _, t := range r.Targets {
		sel := t.Selection
		if sel == "" {
			sel = "all"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s |\n", mdText(t.Name), mdText(t.Kind), mdText(sel),
			len(t.Matched), mdText(listSome(t.Selected, 5)))
	}
	b.WriteString("\n")
}

// listSome joins up to n items and says how many more there are.
func listSome(items []string, n int) string {
	if len(items) == 0 {
		return "none"
	}
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

func writeChecksMarkdown(b *bytes.Buffer, r *shakedown.Record) {
	if len(r.Checks) == 0 {
		if injected(r) {
			b.WriteString("No steady-state checks: this run only shows that its faults inject and revert cleanly.\n\n")
		}
		return
	}
	maps := make([]map[shakedown.Phase]*shakedown.CheckPhaseRecord, len(r.Checks))
	for i := range r.Checks {
		maps[i] = r.Checks[i].PerPhase
	}
	phases := phaseOrder(maps...)
	b.WriteString("#### Checks\n\n| check | role |")
	for _, p := range phases {
		fmt.Fprintf(b, " %s |", mdText(string(p)))
	}
	b.WriteString(" held |\n|---|---|")
	for range phases {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	var notes []string
	for _, c := range r.Checks {
		fmt.Fprintf(b, "| %s | %s |", mdText(c.Name), roleWord(c.Role))
		for _, p := range phases {
			pr := c.PerPhase[p]
			if pr == nil {
				b.WriteString(" - |")
				continue
			}
			cell := mdText(orNothing(pr.Observed))
			if th := oneLine(pr.Threshold); th != "" {
				cell += " vs " + mdText(th)
			}
			if !pr.Held {
				cell = "**" + cell + " (breached)**"
			}
			fmt.Fprintf(b, " %s |", cell)
			for _, x := range checkExtras(pr) {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", mdText(c.Name), p, mdText(x)))
			}
		}
		held := "yes"
		switch {
		case !c.Held:
			held = "**no**"
		case len(c.PerPhase) == 0:
			held = "not judged"
		}
		fmt.Fprintf(b, " %s |\n", held)
		if d := oneLine(c.Detail); d != "" && !c.Held {
			notes = append(notes, fmt.Sprintf("%s: %s", mdText(c.Name), mdText(d)))
		}
	}
	b.WriteString("\n")
	for _, n := range notes {
		b.WriteString("- " + n + "\n")
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
	if ttr := r.Recovery.TimeToRecover; ttr != nil {
		fmt.Fprintf(b, "The steady state was back %s after the revert.\n\n", fmtDur(ttr.Duration()))
	}
}

func orNothing(s string) string {
	if oneLine(s) == "" {
		return "nothing"
	}
	return s
}

func writeFaultsMarkdown(b *bytes.Buffer, r *shakedown.Record) {
	if len(r.Faults) == 0 {
		return
	}
	b.WriteString("#### Faults\n\n")
	if !injected(r) {
		b.WriteString("Nothing was injected.\n\n")
	}
	b.WriteString("| fault | type | target | injected | reverted | error |\n|---|---|---|---:|---:|---|\n")
	for _, f := range r.Faults {
		var errs []string
		if f.Error != "" {
			errs = append(errs, "inject: "+mdText(f.Error))
		}
		if f.RevertError != "" {
			errs = append(errs, "**revert: "+mdText(f.RevertError)+"**")
		}
		target := f.Target
		if target == "" {
			target = "-"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", mdText(f.Name), mdText(f.Type), mdText(target),
			fmtRel(r, f.InjectedAt), fmtRel(r, f.RevertedAt), strings.Join(errs, "; "))
	}
	b.WriteString("\n")
}

func writeExpectationsMarkdown(b *bytes.Buffer, r *shakedown.Record) {
	if len(r.Expectations) == 0 {
		return
	}
	b.WriteString("#### Expectations\n\n| expectation | held | fired | time to detect | resolved | time to recover | detail |\n|---|---|---:|---:|---:|---:|---|\n")
	for i := range r.Expectations {
		e := &r.Expectations[i]
		held := "yes"
		switch {
		case !judged(r, e):
			held = "not judged"
		case !e.Held:
			held = "**no**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s |\n", mdText(e.Name), held,
			fmtRel(r, e.FiredAt), fmtMillisPtr(e.TimeToDetect), fmtRel(r, e.ResolvedAt),
			fmtMillisPtr(e.TimeToRecover), mdText(e.Detail))
	}
	b.WriteString("\n")
}

func fmtMillisPtr(m *shakedown.Millis) string {
	if m == nil {
		return "-"
	}
	return fmtDur(m.Duration())
}

func writeLoadsMarkdown(b *bytes.Buffer, r *shakedown.Record) {
	if len(r.Loads) == 0 {
		return
	}
	b.WriteString("#### Load\n\n| load | phase | requests | errors | p50 | p99 | throughput |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, l := range r.Loads {
		for _, p := range phaseOrder(l.PerPhase) {
			s := l.PerPhase[p]
			if s == nil {
				continue
			}
			errs := fmt.Sprintf("%d", s.Errors)
			if s.Count > 0 && s.Errors > 0 {
				errs += fmt.Sprintf(" (%.1f%%)", 100*float64(s.Errors)/float64(s.Count))
			}
			fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s | %.1f/s |\n", mdText(l.Name), mdText(string(p)),
				s.Count, errs, fmtMillis(s.P50), fmtMillis(s.P99), s.Throughput)
		}
	}
	b.WriteString("\n")
}

// mdText makes s safe as inline Markdown text, in a table cell too: on one line, with
// every character that GitHub's Markdown could take as markup escaped.
func mdText(s string) string {
	s = oneLine(s)
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune("\\`*_[]<>|#~&!$", c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// mdCode writes s as an inline code span outside tables.
func mdCode(s string) string {
	s = oneLine(s)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

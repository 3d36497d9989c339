package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
	"github.com/shakedown-dev/shakedown/internal/words"
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
	for i, r := range records {
		verdicts[i] = r.Verdict
	}
	fmt.Fprintf(b, "## shakedown: %s\n\n", mdText(Status(shakedown.Worst(verdicts...))))
	if len(records) == 0 {
		b.WriteString("No experiments ran.\n")
		return
	}
	if c := verdictCounts(records); c != "" {
		b.WriteString(mdText(c) + "\n\n")
	}
	writeTableMarkdown(b, summaryTable(records))
	for _, r := range records {
		writeRunMarkdown(b, r)
	}
	// Every block ends with a blank line; the document ends with one newline.
	for bytes.HasSuffix(b.Bytes(), []byte("\n\n")) {
		b.Truncate(b.Len() - 1)
	}
}

func writeRunMarkdown(b *bytes.Buffer, r *shakedown.Record) {
	fmt.Fprintf(b, "### %s: %s\n\n", mdText(Status(r.Verdict)), mdText(r.Experiment.Name))
	fmt.Fprintf(b, "**%s** (exit %d): %s\n\n", mdText(Status(r.Verdict)), r.ExitCode, mdText(reason(r)))
	if d := oneLine(r.Experiment.Description); d != "" {
		fmt.Fprintf(b, "%s\n\n", mdText(d))
	}

	var facts []string
	for _, f := range runFacts(r) {
		s := f.Text
		if f.Code != "" {
			s += mdCode(f.Code)
		}
		if f.MoreCode != "" {
			s += f.More + mdCode(f.MoreCode)
		}
		facts = append(facts, s)
	}
	b.WriteString(strings.Join(facts, " · ") + "\n\n")

	if leftInjected(r) {
		b.WriteString("> [!CAUTION]\n> Something may still be injected. Revert it with:\n>\n")
		b.WriteString("> ```sh\n> " + oneLine(recoverCommand(r)) + "\n> ```\n\n")
	}

	for _, t := range runTables(r) {
		writeTableMarkdown(b, t)
	}
	writeLoadChartsMarkdown(b, r)
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// listSome joins up to n items and says how many more there are.
func listSome(items []string, n int) string {
	if len(items) == 0 {
		return "none"
	}
	return words.Some(items, n)
}

func orNothing(s string) string {
	if oneLine(s) == "" {
		return "nothing"
	}
	return s
}

func fmtMillisPtr(m *shakedown.Millis) string {
	if m == nil {
		return "-"
	}
	return fmtDur(m.Duration())
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

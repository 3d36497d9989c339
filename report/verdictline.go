package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// WriteVerdictLine writes the one line printed at the end of a run:
//
//	FAILED checkout-tolerates-slow-cache (exit 1, 1m52s): checkout p99 under 400ms did not hold
//
// A run that left a fault injected also names the command that reverts it; a gated run that
// did not regress says what the gate made of it ("; gate: not enough history (3 of 5) on
// main"). Where the
// reports went is the caller's to print. Write errors are ignored: the line goes to a
// terminal or a CI log, and the exit code carries the verdict anyway.
func WriteVerdictLine(w io.Writer, r *shakedown.Record) {
	if r == nil {
		return
	}
	_, _ = io.WriteString(w, verdictLine(r)+"\n")
}

func verdictLine(r *shakedown.Record) string {
	var b strings.Builder
	b.WriteString(Status(r.Verdict))
	if name := oneLine(r.Experiment.Name); name != "" {
		b.WriteString(" " + name)
	}
	fmt.Fprintf(&b, " (exit %d, %s)", r.ExitCode, fmtDur(runDuration(r)))
	b.WriteString(": " + reason(r))
	if leftInjected(r) {
		b.WriteString("; revert what is left with: " + oneLine(recoverCommand(r)))
	}
	if r.Gate != nil && r.Verdict != shakedown.VerdictRegressed {
		b.WriteString("; gate: " + gateSummary(r.Gate))
	}
	return b.String()
}

package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
)

// evil is what a run record another tool wrote may hold: escapes that clear the screen or
// recolour it, and a newline that forges a line of output.
const evil = "evil\x1b[2J\nPASSED fake-line\u202e"

// TestStoredTextIsShownNotActedOn: history and compare print what the store holds with its
// control characters escaped: one line per run, no escape reaches the terminal.
func TestStoredTextIsShownNotActedOn(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out}
	err := writeEntries(a, []history.Entry{{ID: "r\x1b[31m", Experiment: evil, Commit: "\x1b[31mred", Branch: "a\nb",
		StartedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Verdict: shakedown.VerdictPassed}})
	if err != nil {
		t.Fatal(err)
	}
	c := &comparison{Experiment: evil, Run: runRef{ID: "a\nb", Verdict: shakedown.VerdictPassed, Commit: "\x1b[0m", Branch: "x\ry"},
		Other: runRef{ID: "o\x07"}, Note: "note\x1b]0;title\x07",
		Figures: []figureChange{{Name: "x.latency.p99\x1b[2K", Phase: shakedown.PhaseInject}}}
	if err := c.write(&out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.IndexFunc(got, func(r rune) bool { return r != '\n' && shakedown.Unprintable(r) }) >= 0 {
		t.Errorf("the output holds control characters:\n%q", got)
	}
	if strings.Contains(got, "\nPASSED fake-line") || strings.Count(got, "\n") != 2+6 {
		t.Errorf("the output has lines the stored text made:\n%s", got)
	}
}

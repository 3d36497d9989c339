// Package report turns run records (shakedown.Record) and live run events (shakedown.Event)
// into what people and CI systems read: the JSON record, JUnit XML, a GitHub-flavoured
// Markdown summary, a self-contained HTML report with charts, live terminal progress, the
// verdict line printed after each run, and the text of `shakedown plan`.
//
// Writers take an io.Writer and never close it; the caller owns it. Output is deterministic
// for a given record: times are written in UTC or relative to the run's start, and maps are
// walked in a fixed order, so reports can be compared with golden files.
package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/shakedown-dev/shakedown"
)

// Status returns the upper-case word a report shows for a verdict: PASSED, FAILED, INVALID,
// ABORTED, NOT RESTORED, ERROR, NOT STEADY or REGRESSED. An empty verdict reads UNKNOWN; an unknown
// one is written the same way, on one line.
func Status(v shakedown.Verdict) string {
	w := oneLine(strings.ReplaceAll(string(v), "_", " "))
	if w == "" {
		return "UNKNOWN"
	}
	return strings.ToUpper(w)
}

// runDuration is how long the run took, zero when either end is unknown.
func runDuration(r *shakedown.Record) time.Duration {
	if r.StartedAt.IsZero() || r.EndedAt.IsZero() || r.EndedAt.Before(r.StartedAt.Time) {
		return 0
	}
	return r.EndedAt.Sub(r.StartedAt.Time)
}

// fmtDur writes a duration compactly and deterministically: 850ms, 20s, 12.3s, 1m20s.
func fmtDur(d time.Duration) string {
	neg := ""
	if d < 0 {
		neg, d = "-", -d
	}
	switch {
	case d == 0:
		return "0s"
	case d < time.Millisecond:
		return neg + fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return neg + fmt.Sprintf("%dms", d.Round(time.Millisecond)/time.Millisecond)
	case d < time.Minute && d%time.Second == 0:
		return neg + fmt.Sprintf("%ds", d/time.Second)
	case d < time.Minute:
		return neg + fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return neg + d.Round(time.Second).String()
	}
}

// fmtMillis writes a latency from the record.
func fmtMillis(m shakedown.Millis) string {
	switch {
	case m == 0:
		return "0ms"
	case m < 1:
		return fmt.Sprintf("%.2fms", float64(m))
	case m < 1000:
		return fmt.Sprintf("%.0fms", float64(m))
	default:
		return fmt.Sprintf("%.2fs", float64(m)/1000)
	}
}

// fmtRel writes t relative to the run's start ("+20.0s"), or "-" when t is unknown.
func fmtRel(r *shakedown.Record, t *shakedown.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	if r.StartedAt.IsZero() {
		return t.UTC().Format(shakedown.TimeLayout)
	}
	d := t.Sub(r.StartedAt.Time)
	if d < 0 {
		return fmtDur(d)
	}
	return "+" + fmtDur(d)
}

// fmtUTC writes an absolute time for people, in UTC.
func fmtUTC(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// phaseOrder returns the phases in keys in run order, then any unknown ones sorted.
func phaseOrder[V any](maps ...map[shakedown.Phase]V) []shakedown.Phase {
	seen := map[shakedown.Phase]bool{}
	for _, m := range maps {
		for p := range m {
			seen[p] = true
		}
	}
	var out, extra []shakedown.Phase
	for _, p := range shakedown.Phases {
		if seen[p] {
			out = append(out, p)
			delete(seen, p)
		}
	}
	for p := range seen {
		extra = append(extra, p)
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// injected reports whether the run got as far as touching anything: an inject phase ran or
// a fault was injected or failed to inject.
func injected(r *shakedown.Record) bool {
	for _, p := range r.Phases {
		if p.Name == shakedown.PhaseInject {
			return true
		}
	}
	for _, f := range r.Faults {
		if f.InjectedAt != nil || f.Error != "" || f.RevertError != "" {
			return true
		}
	}
	return false
}

// judged reports whether an expectation that did not hold was really judged, rather than
// cut short: it fired, or the run went through every phase (passed, failed, not_restored,
// regressed).
func judged(r *shakedown.Record, e *shakedown.ExpectationRecord) bool {
	if e.Held || e.FiredAt != nil {
		return true
	}
	switch r.Verdict {
	case shakedown.VerdictPassed, shakedown.VerdictFailed, shakedown.VerdictNotRestored, shakedown.VerdictRegressed:
		return true
	}
	return false
}

// reason is why the run ended as it did, on one line: the record's reason, or what its
// verdict means when it gives none.
func reason(r *shakedown.Record) string {
	if s := oneLine(r.Reason); s != "" {
		return s
	}
	return r.Verdict.Meaning()
}

// leftInjected says whether a run not restored may have left a fault injected: its revert
// failed, or it was injected and no revert was recorded. A run not restored only because its
// steady state did not come back has nothing left for recover to undo.
func leftInjected(r *shakedown.Record) bool {
	if r.Verdict != shakedown.VerdictNotRestored {
		return false
	}
	for _, f := range r.Faults {
		if f.RevertError != "" || f.InjectedAt != nil && f.RevertedAt == nil {
			return true
		}
	}
	return false
}

// recoverCommand is the command that reverts what a not_restored run left behind.
func recoverCommand(r *shakedown.Record) string {
	if r.Recover != "" {
		return r.Recover
	}
	return "shakedown recover"
}

// oneLine makes s fit on one line of plain text: ANSI escape sequences are dropped, line
// breaks and other control characters become spaces, runs of spaces collapse to one, and
// surrounding space is trimmed.
func oneLine(s string) string {
	clean := true
	for _, c := range s {
		if isControl(c) {
			clean = false
			break
		}
	}
	if clean {
		return strings.TrimSpace(s)
	}
	s = shakedown.StripEscapes(s)
	var b strings.Builder
	space := false
	for _, c := range s {
		if isControl(c) || unicode.IsSpace(c) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(c)
	}
	return b.String()
}

func isControl(c rune) bool { return shakedown.Unprintable(c) }

// checkPhaseLine says how a check did in one phase: "inject: observed 612ms, threshold max
// 400ms".
func checkPhaseLine(p shakedown.Phase, c *shakedown.CheckPhaseRecord) string {
	var b strings.Builder
	b.WriteString(string(p))
	b.WriteString(": ")
	obs := oneLine(c.Observed)
	if obs == "" {
		obs = "nothing"
	}
	b.WriteString("observed " + obs)
	if th := oneLine(c.Threshold); th != "" {
		b.WriteString(", threshold " + th)
	}
	return b.String()
}

// checkExtras is what a phase result adds beyond observed and threshold.
func checkExtras(c *shakedown.CheckPhaseRecord) []string {
	var out []string
	if c.Significant != nil {
		if *c.Significant {
			out = append(out, "difference from baseline is significant")
		} else {
			out = append(out, "difference from baseline is not significant")
		}
	}
	if n := oneLine(c.Note); n != "" {
		out = append(out, n)
	}
	return out
}

// breaches lists the phases in which a check did not hold, in run order.
func breaches(c *shakedown.CheckRecord) []string {
	var out []string
	for _, p := range phaseOrder(c.PerPhase) {
		if pr := c.PerPhase[p]; pr != nil && !pr.Held {
			out = append(out, checkPhaseLine(p, pr))
		}
	}
	return out
}

// roleWord names a check's role for people.
func roleWord(role string) string {
	switch role {
	case "steady_state":
		return "steady state"
	case "stop_if":
		return "stop if"
	case "":
		return "check"
	default:
		return strings.ReplaceAll(role, "_", " ")
	}
}

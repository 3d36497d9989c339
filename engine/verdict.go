package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// verdict picks the verdict by precedence — not_restored > error > aborted > failed >
// not_steady > passed, as a suite orders exit codes — and the one line that explains it.
func (r *runner) verdict() (shakedown.Verdict, string) {
	var o outcome
	r.state.with(func(s *runState) { o = s.out })
	switch {
	case len(o.notRestored) > 0:
		return shakedown.VerdictNotRestored, more(o.notRestored)
	case len(o.errs) > 0:
		v := shakedown.KindOf(o.errs[0]).Verdict()
		if v != shakedown.VerdictInvalid {
			v = shakedown.VerdictError
		}
		msgs := make([]string, len(o.errs))
		for i, e := range o.errs {
			msgs[i] = oneLine(e)
		}
		return v, more(msgs)
	case o.aborted != "":
		return shakedown.VerdictAborted, o.aborted
	case len(o.failed) > 0:
		return shakedown.VerdictFailed, more(o.failed)
	case o.notSteady != "":
		return shakedown.VerdictNotSteady, o.notSteady
	}
	reverted := 0
	for _, f := range r.rec.Faults {
		if f.InjectedAt != nil {
			reverted++
		}
	}
	reason := fmt.Sprintf("hypothesis held: %d of %d faults injected and reverted", reverted, len(r.rec.Faults))
	if t := r.rec.Recovery.TimeToRecover; t != nil {
		reason += "; steady state back " + shortDur(t.Duration()) + " after the revert"
	}
	if n := len(r.expects); n > 0 {
		reason += fmt.Sprintf("; %d expectations met", n)
	}
	return shakedown.VerdictPassed, reason
}

// oneLine says err on one line, as the reason is: the problems it joins (every target that
// cannot be used, say) each named, separated by "; ".
func oneLine(err error) string {
	ps := shakedown.Unjoin(err)
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "; ")
}

// more returns the first message, saying how many others there are.
func more(msgs []string) string {
	if len(msgs) == 1 {
		return msgs[0]
	}
	return fmt.Sprintf("%s (and %d more)", msgs[0], len(msgs)-1)
}

// formatValue writes a metric value in its unit: 412ms, 3.2%, 48.5/s.
func formatValue(u shakedown.Unit, v float64) string {
	switch u {
	case shakedown.UnitDuration:
		d := time.Duration(v * float64(time.Second))
		switch {
		case d >= time.Second:
			d = d.Round(time.Millisecond)
		case d >= time.Millisecond:
			d = d.Round(10 * time.Microsecond)
		}
		return d.String()
	case shakedown.UnitFraction:
		return strconv.FormatFloat(roundTo(v*100, 2), 'f', -1, 64) + "%"
	case shakedown.UnitRate:
		return strconv.FormatFloat(roundTo(v, 1), 'f', -1, 64) + "/s"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func roundTo(v float64, digits int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return f
}

// shortDur writes a duration as people write it: 2m, 1h30m, 1.2s, 350ms.
func shortDur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		d = d.Round(time.Second)
	case d >= time.Second:
		d = d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(time.Millisecond)
	}
	return shakedown.FormatDuration(d)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

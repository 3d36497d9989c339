package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/words"
)

// The names of the testcases every suite has besides one per check and expectation.
const (
	VerdictCase = "verdict"
	FaultsCase  = "faults inject and revert cleanly"
)

// WriteJUnit writes the run records as JUnit XML: a <testsuites> holding one <testsuite>
// per run, named after the experiment. Each suite has the testcases
//
//   - "verdict": passes when the run passed; otherwise an <error> (invalid, error) or a
//     <failure> (failed, aborted, not_restored, not_steady) whose message is the reason, so
//     that a run that never got to its checks still shows red with why;
//   - "steady_state: NAME" and "stop_if: NAME", one per check, failing with the observed
//     value and the threshold of each phase in which it did not hold;
//   - "expect: NAME", one per expectation;
//   - "faults inject and revert cleanly", failing with every fault's inject or revert error.
//
// Checks, expectations and faults that were never judged because nothing was injected are
// <skipped> with the reason. The run's verdict, exit code, seed, id and commit are suite
// properties.
func WriteJUnit(w io.Writer, records []*shakedown.Record) error {
	if err := checkRecords(records); err != nil {
		return err
	}
	suites := junit.Testsuites{Name: "shakedown"}
	var total time.Duration
	for i, r := range records {
		suites.AddSuite(junitSuite(i, r))
		total += runDuration(r)
	}
	suites.Time = seconds(total)

	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := suites.WriteXML(&buf); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "encode junit report", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "write junit report", err)
	}
	return nil
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func junitSuite(i int, r *shakedown.Record) junit.Testsuite {
	name := xmlText(r.Experiment.Name)
	if name == "" {
		name = "unnamed experiment"
	}
	s := junit.Testsuite{
		Name:     name,
		ID:       i,
		Hostname: xmlText(r.Host),
		File:     xmlText(r.Experiment.File),
		Time:     seconds(runDuration(r)),
	}
	if !r.StartedAt.IsZero() {
		// The JUnit schema's timestamp has no zone; it is UTC here.
		s.Timestamp = r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	s.AddProperty("verdict", string(r.Verdict))
	s.AddProperty("exit_code", strconv.Itoa(r.ExitCode))
	s.AddProperty("reason", xmlText(r.Reason))
	s.AddProperty("seed", strconv.FormatInt(r.Seed, 10))
	s.AddProperty("run_id", xmlText(r.ID))
	if r.Commit != nil {
		s.AddProperty("commit", xmlText(r.Commit.SHA))
		if r.Commit.Branch != "" {
			s.AddProperty("branch", xmlText(r.Commit.Branch))
		}
		s.AddProperty("commit_source", xmlText(r.Commit.Source))
	}
	if r.Experiment.SHA256 != "" {
		s.AddProperty("experiment_sha256", xmlText(r.Experiment.SHA256))
	}
	if r.Version != "" {
		s.AddProperty("shakedown_version", xmlText(r.Version))
	}
	labels := make([]string, 0, len(r.Experiment.Labels))
	for k := range r.Experiment.Labels {
		labels = append(labels, k)
	}
	sort.Strings(labels)
	for _, k := range labels {
		s.AddProperty("label."+xmlText(k), xmlText(r.Experiment.Labels[k]))
	}

	class := name
	s.AddTestcase(verdictCase(class, r))
	for i := range r.Checks {
		s.AddTestcase(checkCase(class, r, &r.Checks[i]))
	}
	for i := range r.Expectations {
		s.AddTestcase(expectCase(class, r, &r.Expectations[i]))
	}
	s.AddTestcase(faultsCase(class, r))
	for _, tc := range gateCases(class, r) {
		s.AddTestcase(tc)
	}
	return s
}

func verdictCase(class string, r *shakedown.Record) junit.Testcase {
	tc := junit.Testcase{Name: VerdictCase, Classname: class, Time: seconds(runDuration(r))}
	if r.Verdict == shakedown.VerdictPassed {
		if r.Reason != "" {
			tc.SystemOut = &junit.Output{Data: xmlText(r.Reason)}
		}
		return tc
	}
	why := reason(r)
	var data strings.Builder
	fmt.Fprintf(&data, "%s (exit %d): %s\n", Status(r.Verdict), r.ExitCode, why)
	fmt.Fprintf(&data, "%s means %s\n", r.Verdict, r.Verdict.Meaning())
	if leftInjected(r) {
		fmt.Fprintf(&data, "something may still be injected; revert it with: %s\n", recoverCommand(r))
	}
	res := &junit.Result{
		Message: xmlText(Status(r.Verdict) + ": " + why),
		Type:    string(r.Verdict),
		Data:    xmlText(data.String()),
	}
	switch r.Verdict {
	case shakedown.VerdictFailed, shakedown.VerdictAborted, shakedown.VerdictNotRestored,
		shakedown.VerdictNotSteady, shakedown.VerdictRegressed:
		tc.Failure = res
	default: // invalid, error and anything unknown: the run itself went wrong
		tc.Error = res
	}
	return tc
}

func checkCase(class string, r *shakedown.Record, c *shakedown.CheckRecord) junit.Testcase {
	role := c.Role
	if role == "" {
		role = "check"
	}
	tc := junit.Testcase{Name: xmlText(role + ": " + c.Name), Classname: class}

	var data strings.Builder
	for _, p := range phaseOrder(c.PerPhase) {
		pr := c.PerPhase[p]
		if pr == nil {
			continue
		}
		state := "held"
		if !pr.Held {
			state = "breached"
		}
		extras := append([]string{state, words.Count(len(pr.Samples), "sample")}, checkExtras(pr)...)
		fmt.Fprintf(&data, "%s (%s)\n", checkPhaseLine(p, pr), strings.Join(extras, ", "))
	}

	switch {
	case !c.Held:
		// The message names what was observed against the threshold in each phase that
		// broke; the engine's own detail goes in the body.
		msg := strings.Join(breaches(c), "; ")
		if msg == "" {
			msg = oneLine(c.Detail)
		}
		if msg == "" {
			msg = "did not hold"
		}
		typ := "breached"
		if c.Role == "stop_if" {
			typ = "stop_condition"
		}
		body := data.String()
		if d := oneLine(c.Detail); d != "" {
			body = d + "\n" + body
		}
		tc.Failure = &junit.Result{Message: xmlText(msg), Type: typ, Data: xmlText(body)}
	case len(c.PerPhase) == 0:
		tc.Skipped = &junit.Result{Message: xmlText("not judged: " + notJudged(r))}
	default:
		tc.SystemOut = &junit.Output{Data: xmlText(data.String())}
	}
	return tc
}

// notJudged says why something was never judged.
func notJudged(r *shakedown.Record) string {
	why := Status(r.Verdict)
	if reason := oneLine(r.Reason); reason != "" {
		why += ": " + reason
	}
	if !injected(r) {
		return "nothing was injected (" + why + ")"
	}
	return "the run ended first (" + why + ")"
}

func expectTimes(r *shakedown.Record, e *shakedown.ExpectationRecord) string {
	var parts []string
	if e.FiredAt != nil {
		parts = append(parts, "fired at "+fmtRel(r, e.FiredAt))
	}
	if e.TimeToDetect != nil {
		parts = append(parts, "time to detect "+fmtDur(e.TimeToDetect.Duration()))
	}
	if e.ResolvedAt != nil {
		parts = append(parts, "resolved at "+fmtRel(r, e.ResolvedAt))
	}
	if e.TimeToRecover != nil {
		parts = append(parts, "time to recover "+fmtDur(e.TimeToRecover.Duration()))
	}
	return strings.Join(parts, ", ")
}

func expectCase(class string, r *shakedown.Record, e *shakedown.ExpectationRecord) junit.Testcase {
	tc := junit.Testcase{Name: xmlText("expect: " + e.Name), Classname: class}
	times := expectTimes(r, e)
	switch {
	case e.Held:
		if times != "" {
			tc.SystemOut = &junit.Output{Data: xmlText(times + "\n")}
		}
	case !judged(r, e):
		tc.Skipped = &junit.Result{Message: xmlText("not judged: " + notJudged(r))}
	default:
		msg := oneLine(e.Detail)
		if msg == "" {
			msg = "did not hold"
		}
		data := msg + "\n"
		if times != "" {
			data += times + "\n"
		}
		tc.Failure = &junit.Result{Message: xmlText(msg), Type: "expectation", Data: xmlText(data)}
	}
	return tc
}

func faultsCase(class string, r *shakedown.Record) junit.Testcase {
	tc := junit.Testcase{Name: FaultsCase, Classname: class}
	if !injected(r) {
		tc.Skipped = &junit.Result{Message: xmlText(notJudged(r))}
		return tc
	}
	if len(r.Faults) == 0 {
		tc.Skipped = &junit.Result{Message: "the run has no faults"}
		return tc
	}
	var errs []string
	var data strings.Builder
	reverts := false
	for _, f := range r.Faults {
		fmt.Fprintf(&data, "%s (%s", f.Name, f.Type)
		if f.Target != "" {
			fmt.Fprintf(&data, " on %s", f.Target)
		}
		fmt.Fprintf(&data, "): injected %s, reverted %s\n", fmtRel(r, f.InjectedAt), fmtRel(r, f.RevertedAt))
		if e := oneLine(f.Error); e != "" {
			errs = append(errs, f.Name+": inject: "+e)
			fmt.Fprintf(&data, "  inject error: %s\n", e)
		}
		if e := oneLine(f.RevertError); e != "" {
			reverts = true
			errs = append(errs, f.Name+": revert: "+e)
			fmt.Fprintf(&data, "  revert error: %s\n", e)
		}
		if f.InjectedAt != nil && f.RevertedAt == nil && f.RevertError == "" {
			fmt.Fprintf(&data, "  no revert was recorded\n")
		}
	}
	switch {
	case reverts:
		// A revert that failed left the system changed: a failure of what this case tests.
		data.WriteString("something may still be injected; revert it with: " + recoverCommand(r) + "\n")
		tc.Failure = &junit.Result{Message: xmlText(strings.Join(errs, "; ")), Type: "revert", Data: xmlText(data.String())}
	case len(errs) > 0:
		tc.Error = &junit.Result{Message: xmlText(strings.Join(errs, "; ")), Type: "inject", Data: xmlText(data.String())}
	default:
		tc.SystemOut = &junit.Output{Data: xmlText(data.String())}
	}
	return tc
}

// xmlText replaces what XML 1.0 cannot carry, even escaped, with U+FFFD.
func xmlText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	ok := true
	for _, c := range s {
		if !xmlChar(c) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strings.Map(func(c rune) rune {
		if xmlChar(c) {
			return c
		}
		return '\uFFFD'
	}, s)
}

// xmlChar is the Char production of XML 1.0. Invalid UTF-8 ranges as U+FFFD, which is one.
func xmlChar(c rune) bool {
	return c == 0x09 || c == 0x0A || c == 0x0D ||
		c >= 0x20 && c <= 0xD7FF ||
		c >= 0xE000 && c <= 0xFFFD ||
		c >= 0x10000 && c <= 0x10FFFF
}

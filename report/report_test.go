package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to make it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

var writers = []struct {
	ext   string
	write func(io.Writer, []*shakedown.Record) error
}{
	{"json", WriteJSON},
	{"junit.xml", WriteJUnit},
	{"md", WriteMarkdown},
}

func TestGolden(t *testing.T) {
	for _, c := range cases {
		for _, w := range writers {
			t.Run(c.name+"."+w.ext, func(t *testing.T) {
				var b bytes.Buffer
				if err := w.write(&b, c.records()); err != nil {
					t.Fatalf("write %s of %s: %v", w.ext, c.name, err)
				}
				golden(t, c.name+"."+w.ext, b.Bytes())
			})
		}
	}
}

func TestVerdictLines(t *testing.T) {
	var b bytes.Buffer
	for _, c := range cases {
		for _, r := range c.records() {
			WriteVerdictLine(&b, r)
		}
	}
	golden(t, "verdict-lines.txt", b.Bytes())
	for i, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if l == "" || strings.ContainsAny(l, "\r\x1b") {
			t.Errorf("verdict line %d is %q: want one non-empty plain line", i, l)
		}
	}
}

// TestRecoverHintOnlyWhenSomethingIsLeft: a run not restored because a revert failed names
// the command that reverts what is left, in every report; one not restored only because its
// steady state did not come back (every fault reverted) has nothing left for it to undo,
// and does not send its reader there.
func TestRecoverHintOnlyWhenSomethingIsLeft(t *testing.T) {
	notBack := notRestoredRecord()
	notBack.Reason = "steady state not back within 30s of the revert: check \"checkout answers\": timeout after 2s"
	notBack.Faults[1].RevertedAt = notBack.Faults[1].InjectedAt
	notBack.Faults[1].RevertError = ""
	for _, tc := range []struct {
		name string
		r    *shakedown.Record
		want bool
	}{
		{"revert failed", notRestoredRecord(), true},
		{"steady state not back", notBack, false},
	} {
		var line, junit, md bytes.Buffer
		WriteVerdictLine(&line, tc.r)
		if err := WriteJUnit(&junit, []*shakedown.Record{tc.r}); err != nil {
			t.Fatal(err)
		}
		if err := WriteMarkdown(&md, []*shakedown.Record{tc.r}); err != nil {
			t.Fatal(err)
		}
		for what, out := range map[string]string{"verdict line": line.String(), "JUnit": junit.String(), "Markdown": md.String()} {
			if got := strings.Contains(out, tc.r.Recover); got != tc.want {
				t.Errorf("%s: %s names %q: %v, want %v:\n%s", tc.name, what, tc.r.Recover, got, tc.want, out)
			}
		}
	}
}

// timeEqual lets cmp compare record times by instant.
var timeEqual = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func TestJSONRoundTrip(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			records := c.records()
			var b bytes.Buffer
			if err := WriteJSON(&b, records); err != nil {
				t.Fatal(err)
			}
			var got []*shakedown.Record
			if len(records) == 1 {
				var r shakedown.Record
				if err := json.Unmarshal(b.Bytes(), &r); err != nil {
					t.Fatalf("decode one record: %v", err)
				}
				got = []*shakedown.Record{&r}
			} else if err := json.Unmarshal(b.Bytes(), &got); err != nil {
				t.Fatalf("decode %d records: %v", len(records), err)
			}
			// Params are decoded as generic JSON; compare them as such.
			for _, r := range records {
				for i := range r.Faults {
					if p := r.Faults[i].Params; p != nil {
						raw, _ := json.Marshal(p)
						var v any
						_ = json.Unmarshal(raw, &v)
						r.Faults[i].Params = v
					}
				}
			}
			if diff := cmp.Diff(records, got, timeEqual); diff != "" {
				t.Errorf("records after a JSON round trip differ (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSONShapes(t *testing.T) {
	tests := []struct {
		name    string
		records []*shakedown.Record
		want    byte // the first byte of the document
	}{
		{"none", nil, '['},
		{"one", []*shakedown.Record{passedRecord()}, '{'},
		{"two", []*shakedown.Record{passedRecord(), failedRecord()}, '['},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := WriteJSON(&b, tt.records); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := b.Bytes()[0]; got != tt.want {
			t.Errorf("%s: document starts with %q, want %q", tt.name, got, tt.want)
		}
		if !json.Valid(b.Bytes()) {
			t.Errorf("%s: output is not valid JSON", tt.name)
		}
	}
}

func TestNilRecord(t *testing.T) {
	for _, w := range writers {
		err := w.write(io.Discard, []*shakedown.Record{passedRecord(), nil})
		if !shakedown.IsKind(err, shakedown.KindInternal) {
			t.Errorf("%s with a nil record: got %v, want a KindInternal error", w.ext, err)
		}
	}
}

type failWriter struct{}

var errWrite = io.ErrClosedPipe

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriteErrors(t *testing.T) {
	for _, w := range writers {
		err := w.write(failWriter{}, []*shakedown.Record{passedRecord()})
		if !errors.Is(err, errWrite) || !shakedown.IsKind(err, shakedown.KindInternal) {
			t.Errorf("%s to a failing writer: got %v, want a KindInternal error wrapping %v", w.ext, err, errWrite)
		}
	}
	if err := WritePlan(failWriter{}, samplePlan()); !errors.Is(err, errWrite) {
		t.Errorf("plan to a failing writer: got %v, want %v", err, errWrite)
	}
}

// JUnit as a CI system reads it, declared here apart from the writer's types.
type xSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []xSuite `xml:"testsuite"`
}

type xSuite struct {
	Name       string  `xml:"name,attr"`
	Tests      int     `xml:"tests,attr"`
	Failures   int     `xml:"failures,attr"`
	Errors     int     `xml:"errors,attr"`
	Skipped    int     `xml:"skipped,attr"`
	Time       string  `xml:"time,attr"`
	Timestamp  string  `xml:"timestamp,attr"`
	Properties []xProp `xml:"properties>property"`
	Cases      []xCase `xml:"testcase"`
}

type xProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type xCase struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Failure   *xResult `xml:"failure"`
	Error     *xResult `xml:"error"`
	Skipped   *xResult `xml:"skipped"`
}

type xResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func parseJUnit(t *testing.T, b []byte) xSuites {
	t.Helper()
	var s xSuites
	if err := xml.Unmarshal(b, &s); err != nil {
		t.Fatalf("JUnit output does not parse: %v\n%s", err, b)
	}
	return s
}

// checkCounts checks that every count in the document agrees with the testcases under it.
func checkCounts(t *testing.T, s xSuites) {
	t.Helper()
	var tests, failures, errs, skipped int
	for _, su := range s.Suites {
		var f, e, sk int
		for _, c := range su.Cases {
			if c.Failure != nil {
				f++
			}
			if c.Error != nil {
				e++
			}
			if c.Skipped != nil {
				sk++
			}
		}
		if su.Tests != len(su.Cases) || su.Failures != f || su.Errors != e || su.Skipped != sk {
			t.Errorf("suite %q says tests=%d failures=%d errors=%d skipped=%d; its testcases have %d, %d, %d, %d",
				su.Name, su.Tests, su.Failures, su.Errors, su.Skipped, len(su.Cases), f, e, sk)
		}
		tests, failures, errs, skipped = tests+len(su.Cases), failures+f, errs+e, skipped+sk
	}
	if s.Tests != tests || s.Failures != failures || s.Errors != errs || s.Skipped != skipped {
		t.Errorf("testsuites says tests=%d failures=%d errors=%d skipped=%d; its suites add up to %d, %d, %d, %d",
			s.Tests, s.Failures, s.Errors, s.Skipped, tests, failures, errs, skipped)
	}
}

func TestJUnitParsesAndCountsAddUp(t *testing.T) {
	// outcome is what a testcase came to: "pass", "failure", "error" or "skipped".
	type outcome map[string]string
	passed := outcome{
		"verdict": "pass", "steady_state: checkout p99 under 400ms": "pass",
		"steady_state: checkout errors under 1%": "pass", "steady_state: healthz answers": "pass",
		"stop_if: error storm": "pass", "expect: cache alert fires": "pass", FaultsCase: "pass",
	}
	failed := outcome{
		"verdict": "failure", "steady_state: checkout p99 under 400ms": "failure",
		"steady_state: checkout errors under 1%": "pass", "steady_state: healthz answers": "pass",
		"stop_if: error storm": "pass", "expect: cache alert fires": "pass", FaultsCase: "pass",
	}
	tests := []struct {
		name string
		want []outcome // per suite, testcase name → outcome
	}{
		{"passed", []outcome{passed}},
		{"failed", []outcome{failed}},
		{"not_restored", []outcome{{
			"verdict": "failure", "steady_state: checkout p99 under 400ms": "pass",
			"steady_state: checkout errors under 1%": "pass", "steady_state: healthz answers": "failure",
			"stop_if: error storm": "pass", "expect: cache alert fires": "failure", FaultsCase: "failure",
		}}},
		{"not_steady", []outcome{{
			"verdict": "failure", "steady_state: checkout p99 under 400ms": "pass",
			"steady_state: checkout errors under 1%": "failure", "steady_state: healthz answers": "pass",
			"stop_if: error storm": "skipped", "expect: cache alert fires": "skipped", FaultsCase: "skipped",
		}}},
		{"aborted", []outcome{{
			"verdict": "failure", "steady_state: checkout p99 under 400ms": "pass",
			"steady_state: checkout errors under 1%": "failure", "steady_state: healthz answers": "pass",
			"stop_if: error storm": "failure", "expect: cache alert fires": "skipped", FaultsCase: "pass",
		}}},
		{"error", []outcome{{
			"verdict": "error", "steady_state: checkout p99 under 400ms": "pass",
			"steady_state: checkout errors under 1%": "pass", "steady_state: healthz answers": "pass",
			"stop_if: error storm": "skipped", "expect: cache alert fires": "skipped", FaultsCase: "error",
		}}},
		{"invalid", []outcome{{"verdict": "error", FaultsCase: "skipped"}}},
		{"suite", []outcome{passed, failed}},
	}
	byName := map[string]func() []*shakedown.Record{}
	for _, c := range cases {
		byName[c.name] = c.records
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := byName[tt.name]()
			var b bytes.Buffer
			if err := WriteJUnit(&b, records); err != nil {
				t.Fatal(err)
			}
			s := parseJUnit(t, b.Bytes())
			checkCounts(t, s)
			if len(s.Suites) != len(tt.want) {
				t.Fatalf("%d suites, want %d", len(s.Suites), len(tt.want))
			}
			for i, su := range s.Suites {
				r := records[i]
				if su.Name != r.Experiment.Name {
					t.Errorf("suite %d is named %q, want %q", i, su.Name, r.Experiment.Name)
				}
				got := outcome{}
				for _, c := range su.Cases {
					o := "pass"
					switch {
					case c.Failure != nil:
						o = "failure"
					case c.Error != nil:
						o = "error"
					case c.Skipped != nil:
						o = "skipped"
					}
					got[c.Name] = o
					if o != "pass" && o != "skipped" && strings.TrimSpace(messageOf(c)) == "" {
						t.Errorf("testcase %q is a %s without a message", c.Name, o)
					}
				}
				if diff := cmp.Diff(tt.want[i], got); diff != "" {
					t.Errorf("suite %q outcomes (-want +got):\n%s", su.Name, diff)
				}
				props := map[string]string{}
				for _, p := range su.Properties {
					props[p.Name] = p.Value
				}
				for _, k := range []string{"verdict", "exit_code", "seed", "run_id"} {
					if _, ok := props[k]; !ok {
						t.Errorf("suite %q has no property %q", su.Name, k)
					}
				}
				if props["verdict"] != string(r.Verdict) {
					t.Errorf("suite %q: verdict property %q, want %q", su.Name, props["verdict"], r.Verdict)
				}
				if r.Commit != nil && props["commit"] != r.Commit.SHA {
					t.Errorf("suite %q: commit property %q, want %q", su.Name, props["commit"], r.Commit.SHA)
				}
			}
		})
	}
}

func messageOf(c xCase) string {
	if c.Failure != nil {
		return c.Failure.Message
	}
	return c.Error.Message
}

// The failure of a breached check names what was observed and the threshold, per phase.
func TestJUnitBreachMessage(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJUnit(&b, []*shakedown.Record{failedRecord()}); err != nil {
		t.Fatal(err)
	}
	s := parseJUnit(t, b.Bytes())
	want := "inject: observed 612ms, threshold max 400ms"
	for _, c := range s.Suites[0].Cases {
		if c.Name == "steady_state: checkout p99 under 400ms" {
			if c.Failure == nil || c.Failure.Message != want {
				t.Errorf("failure of %q = %+v, want message %q", c.Name, c.Failure, want)
			}
			return
		}
	}
	t.Error("no testcase for the breached check")
}

func TestAppendStepSummary(t *testing.T) {
	records := []*shakedown.Record{passedRecord(), notRestoredRecord()}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, records); err != nil {
		t.Fatal(err)
	}
	env := func(path string) func(string) string {
		return func(k string) string {
			if k == "GITHUB_STEP_SUMMARY" {
				return path
			}
			return ""
		}
	}

	t.Run("appends", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "summary.md")
		earlier := "## an earlier step\n"
		if err := os.WriteFile(path, []byte(earlier), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := AppendStepSummary(records, env(path)); err != nil {
			t.Fatal(err)
		}
		if err := AppendStepSummary(records[:1], env(path)); err != nil {
			t.Fatal(err)
		}
		var one bytes.Buffer
		_ = WriteMarkdown(&one, records[:1])
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := earlier + "\n" + md.String() + "\n" + one.String()
		if diff := cmp.Diff(want, string(got)); diff != "" {
			t.Errorf("step summary file (-want +got):\n%s", diff)
		}
	})
	t.Run("creates", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "summary.md")
		if err := AppendStepSummary(records, env(path)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(md.String(), string(got)); diff != "" {
			t.Errorf("new step summary file (-want +got):\n%s", diff)
		}
	})
	t.Run("unset", func(t *testing.T) {
		dir := t.TempDir()
		if err := AppendStepSummary(records, env("")); err != nil {
			t.Fatalf("with GITHUB_STEP_SUMMARY unset: %v", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("with GITHUB_STEP_SUMMARY unset, files were written: %v", entries)
		}
	})
	t.Run("unwritable", func(t *testing.T) {
		err := AppendStepSummary(records, env(t.TempDir())) // a directory
		if !shakedown.IsKind(err, shakedown.KindInternal) {
			t.Errorf("appending to a directory: got %v, want a KindInternal error", err)
		}
	})
}

func TestMarkdownEscapes(t *testing.T) {
	r := failedRecord()
	r.Experiment.Name = "pipes | and *stars* <b>"
	r.Reason = "line one\nline two | `code`"
	r.Checks[0].Name = "p99 | <script>"
	r.Checks[1].Role = "a | <b>role</b>"
	odd := passedRecord()
	odd.Verdict = "no|such <i>verdict</i>"
	var b bytes.Buffer
	if err := WriteMarkdown(&b, []*shakedown.Record{r, odd}); err != nil {
		t.Fatal(err)
	}
	// Every row of a table has as many unescaped pipes as the table's header.
	header := -1
	for _, l := range strings.Split(b.String(), "\n") {
		if !strings.HasPrefix(l, "|") {
			header = -1
			continue
		}
		n := unescapedPipes(l)
		if header < 0 {
			header = n
		} else if n != header {
			t.Errorf("table row %q has %d unescaped pipes, its header %d", l, n, header)
		}
	}
	if strings.Contains(b.String(), "<script>") || strings.Contains(b.String(), "line one\nline two") ||
		strings.Contains(b.String(), "<B>") || strings.Contains(b.String(), "<I>") || strings.Contains(b.String(), "<b>") {
		t.Errorf("markup from the record went through unescaped:\n%s", b.String())
	}
}

func unescapedPipes(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n
}

func TestFormats(t *testing.T) {
	durs := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {300 * time.Microsecond, "0.300ms"}, {850 * time.Millisecond, "850ms"},
		{20 * time.Second, "20s"}, {20*time.Second + 12*time.Millisecond, "20.0s"},
		{12345 * time.Millisecond, "12.3s"}, {80*time.Second + 305*time.Millisecond, "1m20s"},
		{-1500 * time.Millisecond, "-1.5s"}, {2 * time.Hour, "2h0m0s"},
	}
	for _, tt := range durs {
		if got := fmtDur(tt.d); got != tt.want {
			t.Errorf("fmtDur(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	millis := []struct {
		m    shakedown.Millis
		want string
	}{
		{0, "0ms"}, {0.25, "0.25ms"}, {41, "41ms"}, {612.4, "612ms"}, {2000, "2.00s"},
	}
	for _, tt := range millis {
		if got := fmtMillis(tt.m); got != tt.want {
			t.Errorf("fmtMillis(%v) = %q, want %q", tt.m, got, tt.want)
		}
	}
	statuses := map[shakedown.Verdict]string{
		shakedown.VerdictPassed: "PASSED", shakedown.VerdictNotRestored: "NOT RESTORED",
		shakedown.VerdictNotSteady: "NOT STEADY", "": "UNKNOWN",
	}
	for v, want := range statuses {
		if got := Status(v); got != want {
			t.Errorf("Status(%q) = %q, want %q", v, got, want)
		}
	}
}

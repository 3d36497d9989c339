package report

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shakedown-dev/shakedown"
)

var fuzzSeeds = []string{
	"", "plain", "pipes | and *stars*", "line\nbreak", "\x1b[31mred\x1b[0m", "\x1b]0;title\x07",
	"]]>", "<![CDATA[x]]>", "\x00\x01\x7f", "\xff\xfe bad utf-8", "\u2028sep", "`tick` ``two``",
	"&amp; <b>", "$x$", "emoji \U0001F600", "\t tab \r\n",
}

// Whatever text a record carries, the JUnit output parses and its counts add up, and the
// suite keeps the experiment's name as far as XML can carry it.
func FuzzJUnit(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, s, s, s)
	}
	f.Fuzz(func(t *testing.T, name, detail, observed, reason string) {
		r := failedRecord()
		r.Experiment.Name = name
		r.Reason = reason
		r.Checks[0].Name = name
		r.Checks[0].Detail = detail
		r.Checks[0].PerPhase[shakedown.PhaseInject].Observed = observed
		r.Faults[0].RevertError = detail
		r.Expectations[0].Detail = detail
		r.Host = observed
		var b bytes.Buffer
		if err := WriteJUnit(&b, []*shakedown.Record{r}); err != nil {
			t.Fatal(err)
		}
		s := parseJUnit(t, b.Bytes())
		checkCounts(t, s)
		want := xmlText(name)
		if want == "" {
			want = "unnamed experiment"
		}
		if got := s.Suites[0].Name; got != want {
			t.Errorf("suite name %q, want %q", got, want)
		}
	})
}

// oneLine leaves one line of printable text, and is idempotent.
func FuzzOneLine(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := oneLine(s)
		for _, c := range got {
			if isControl(c) {
				t.Fatalf("oneLine(%q) = %q has control character %U", s, got, c)
			}
		}
		if got != strings.TrimSpace(got) {
			t.Errorf("oneLine(%q) = %q is not trimmed", s, got)
		}
		if again := oneLine(got); again != got {
			t.Errorf("oneLine not idempotent on %q: %q then %q", s, got, again)
		}
	})
}

// A plain progress line is one line with no escape byte, whatever the event carries.
func FuzzPlainLine(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, s, s, s)
	}
	f.Fuzz(func(t *testing.T, exp, name, detail, errText string) {
		var b bytes.Buffer
		p := NewProgress(&b, false)
		for _, k := range []shakedown.EventKind{shakedown.EventRunStart, shakedown.EventInject, shakedown.EventCheck,
			shakedown.EventLog, shakedown.EventKind(name), shakedown.EventRunEnd} {
			p.Event(shakedown.Event{Time: t0, Run: name, Experiment: exp, Kind: k, Phase: shakedown.Phase(detail),
				Name: name, Detail: detail, Err: errText, Verdict: shakedown.Verdict(errText)})
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if n := strings.Count(out, "\n"); n != 6 || !strings.HasSuffix(out, "\n") {
			t.Fatalf("6 events gave %d lines:\n%q", n, out)
		}
		for _, c := range strings.TrimSuffix(out, "\n") {
			if c != '\n' && isControl(c) {
				t.Fatalf("progress line has control character %U: %q", c, out)
			}
		}
	})
}

// Markdown text stays inline: one line, no unescaped pipe that would split a table cell, no
// raw HTML, and valid UTF-8.
func FuzzMarkdownText(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := mdText(s)
		if strings.ContainsAny(got, "\n\r") {
			t.Errorf("mdText(%q) = %q spans lines", s, got)
		}
		if n := unescapedPipes(got); n != 0 {
			t.Errorf("mdText(%q) = %q has %d unescaped pipes", s, got, n)
		}
		for i := 0; i < len(got); i++ {
			if got[i] == '\\' {
				i++
				continue
			}
			if got[i] == '<' {
				t.Errorf("mdText(%q) = %q has an unescaped <", s, got)
			}
		}
		if !utf8.ValidString(got) && utf8.ValidString(s) {
			t.Errorf("mdText(%q) = %q is not valid UTF-8", s, got)
		}
	})
}

// Whatever text a record carries, the HTML report keeps it text: the page has its own three
// scripts and nothing else that runs or loads, and its data block is JSON.
func FuzzHTML(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, s, s, s)
	}
	f.Add(hostile, hostile, hostile, hostile)
	f.Add("01JX:a", "javascript:alert(1)", "a#b", "a.3ab")
	f.Fuzz(func(t *testing.T, name, detail, observed, reason string) {
		r := hostileRecord()
		r.ID = name
		r.Experiment.Name = name
		r.Reason = reason
		r.Checks[0].Name = name
		r.Checks[0].Detail = detail
		r.Checks[0].PerPhase[shakedown.PhaseInject].Samples[0].Observed = observed
		r.Checks[0].PerPhase[shakedown.PhaseInject].Samples[0].Value = nil
		r.Faults[0].Name = detail
		r.Expectations[0].Name = observed
		r.Loads[0].Name = name
		r.Loads[0].URL = observed
		r.Host = observed
		r.Experiment.File = detail
		r.Commit.Branch = reason
		var b bytes.Buffer
		if err := WriteHTML(&b, []*shakedown.Record{r}, HTMLOptions{Title: reason}); err != nil {
			t.Fatal(err)
		}
		checkFragmentsResolve(t, checkPageSafe(t, b.Bytes()))
	})
}

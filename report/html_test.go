package report

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/shakedown-dev/shakedown"
)

// hostile is text from outside (an experiment's name, a URL, a probe's output) written to
// break out of where the report puts it: the markup, an attribute, the script, the JSON.
const hostile = "</script><img src=x onerror=alert(1)><!--<script>x\u2028\"'`]]>&amp;</style>\x1b[2J\u202eevil\x01\x85\xff"

// hostileRecord has the hostile text in every field a record takes from outside.
func hostileRecord() *shakedown.Record {
	r := failedRecord()
	r.ID = "01J" + hostile
	r.Experiment.Name = "exp " + hostile
	r.Experiment.Description = "desc " + hostile
	r.Experiment.File = "file " + hostile
	r.Reason = "reason " + hostile
	r.Host = "host " + hostile
	r.Commit.Branch = "branch " + hostile
	r.Targets[0].Name = "target " + hostile
	r.Targets[0].Selected = []string{"sel " + hostile}
	r.Faults[0].Name = "fault " + hostile
	r.Faults[1].RevertError = "revert " + hostile
	r.Checks[0].Name = "check " + hostile
	r.Checks[0].Metric = "load " + hostile + ".latency.p99"
	r.Checks[0].PerPhase[shakedown.PhaseInject].Samples[0].Observed = "probe said " + hostile
	r.Checks[0].PerPhase[shakedown.PhaseInject].Samples[0].Value = nil
	r.Checks[0].PerPhase[shakedown.PhaseInject].Observed = "observed " + hostile
	r.Checks[0].PerPhase[shakedown.PhaseInject].Max = fp(0.4)
	r.Expectations[0].Name = "expect " + hostile
	r.Expectations[0].Detail = "detail " + hostile
	r.Loads[0].Name = "load " + hostile
	r.Loads[0].URL = "http://127.0.0.1/?q=" + hostile
	return r
}

// parseHTML parses a page as a browser would and returns its elements by tag.
func parseHTML(t *testing.T, page []byte) map[string][]*html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("parse the page: %v", err)
	}
	els := map[string][]*html.Node{}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			els[n.Data] = append(els[n.Data], n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return els
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// TestHTMLKeepsHostileTextText: text from a record that holds markup, a script's end or a
// comment stays text everywhere: the page has only its own three scripts (the data, uPlot,
// ours) and no element or attribute of the record's making, and the data block reads back
// as the record's text.
func TestHTMLKeepsHostileTextText(t *testing.T) {
	r := hostileRecord()
	var b bytes.Buffer
	if err := WriteHTML(&b, []*shakedown.Record{r, passedRecord()}, HTMLOptions{Title: "title " + hostile,
		RunURL: func(id string) string { return "/runs/" + id }}); err != nil {
		t.Fatal(err)
	}
	els := checkPageSafe(t, b.Bytes())
	if !strings.Contains(textOf(els["h2"][0]), "exp "+oneLine(hostile)) {
		t.Errorf("the run's heading %q does not show the experiment's name as text", textOf(els["h2"][0]))
	}
	got := pageData(t, els)
	if len(got.Runs) != 2 {
		t.Fatalf("the data holds %d runs, want 2", len(got.Runs))
	}
	run := got.Runs[0]
	want := oneLine(hostile)
	if run.Loads[0].Name != "load "+want || run.Checks[0].Name != "check "+want ||
		!slices.Contains(run.Checks[0].Text, "probe said "+want) || run.Faults[0].Name != "fault "+want {
		t.Errorf("the data does not read back as the record's text: %+v", run)
	}
	if run.Checks[0].Load != run.Loads[0].Name || run.Checks[0].Metric != "latency.p99" {
		t.Errorf("the check's metric reads %q %q, want the load's latency.p99", run.Checks[0].Load, run.Checks[0].Metric)
	}
	// The anchors and links of the runs lead to their sections.
	checkFragmentsResolve(t, els)
}

// TestHTMLRunAnchors: whatever a run id holds, each run's section has an anchor of its own
// that the list's link and the section's "#" link lead to — never #ZgotmplZ, which
// html/template puts for a link it finds unsafe (an id with ':' looked like a scheme).
func TestHTMLRunAnchors(t *testing.T) {
	for _, tc := range []struct {
		ids  []string
		want []string // the sections' ids
	}{
		{[]string{"01jxa6q8w3", "run_2-b"}, []string{"run-01jxa6q8w3", "run-run_2-b"}},
		{[]string{"01JX:a", "javascript:alert(1)"}, []string{"run-01JX.3aa", "run-javascript.3aalert.281.29"}},
		{[]string{"a:b", "a.3ab"}, []string{"run-a.3ab", "run-a.2e3ab"}},
		{[]string{"a b", "a\"b#c?d/e%f"}, []string{"run-a.20b", "run-a.22b.23c.3fd.2fe.25f"}},
		{[]string{"ünï", ""}, []string{"run-.c3.bcn.c3.af", "run.2"}},
	} {
		var records []*shakedown.Record
		for _, id := range tc.ids {
			r := passedRecord()
			r.ID = id
			records = append(records, r)
		}
		var b bytes.Buffer
		if err := WriteHTML(&b, records, HTMLOptions{}); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b.Bytes(), []byte("ZgotmplZ")) {
			t.Errorf("ids %q: the page holds a link html/template refused (ZgotmplZ)", tc.ids)
		}
		els := parseHTML(t, b.Bytes())
		var got []string
		for _, s := range els["section"] {
			got = append(got, attr(s, "id"))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ids %q: sections %q, want %q", tc.ids, got, tc.want)
		}
		checkFragmentsResolve(t, els)
	}
}

// checkFragmentsResolve fails t unless every link of the page to a fragment leads to exactly
// one element, and every run's section is linked to from the list of runs.
func checkFragmentsResolve(t *testing.T, els map[string][]*html.Node) {
	t.Helper()
	ids := map[string]int{}
	for _, nodes := range els {
		for _, n := range nodes {
			if id := attr(n, "id"); id != "" {
				ids[id]++
			}
		}
	}
	linked := map[string]bool{}
	for _, a := range els["a"] {
		href := attr(a, "href")
		if !strings.HasPrefix(href, "#") {
			continue
		}
		frag, err := url.PathUnescape(href[1:])
		if err != nil || ids[frag] != 1 {
			t.Errorf("the link %q leads to %d elements, want 1", href, ids[frag])
		}
		linked[frag] = true
	}
	for _, s := range els["section"] {
		if id := attr(s, "id"); strings.HasPrefix(id, "run") && !linked[id] {
			t.Errorf("no link leads to the run's section %q", id)
		}
	}
}

// checkPageSafe parses a page and fails t if it has more than its own scripts (the data
// block, uPlot and ours, none loaded from anywhere), an element that loads or embeds
// something, an event handler attribute, or a data block that is not JSON.
func checkPageSafe(t *testing.T, page []byte) map[string][]*html.Node {
	t.Helper()
	els := parseHTML(t, page)
	if n := len(els["script"]); n != 3 {
		t.Errorf("the page has %d scripts, want 3 (data, uPlot, ours)", n)
	}
	for _, s := range els["script"] {
		if attr(s, "src") != "" {
			t.Errorf("a script loads %s", attr(s, "src"))
		}
	}
	for _, tag := range []string{"img", "iframe", "object", "embed", "link", "base", "form", "svg", "math"} {
		if n := len(els[tag]); n != 0 {
			t.Errorf("the page has %d <%s> elements, want none", n, tag)
		}
	}
	if n := len(els["style"]); n != 2 {
		t.Errorf("the page has %d <style> elements, want 2 (uPlot's, ours)", n)
	}
	for tag, nodes := range els {
		for _, n := range nodes {
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || a.Key == "style" || a.Key == "srcdoc" {
					t.Errorf("<%s> has an attribute %s=%q", tag, a.Key, a.Val)
				}
				if a.Key == "href" && !strings.HasPrefix(a.Val, "#") && !strings.HasPrefix(a.Val, "/runs/") &&
					a.Val != "https://github.com/leeoniya/uPlot" {
					t.Errorf("<%s> links to %q", tag, a.Val)
				}
			}
		}
	}
	// Nothing that would reorder, hide or act on text: no escape sequence, control character,
	// line separator or bidirectional override, whichever field brought it.
	if i := strings.IndexFunc(string(page), func(r rune) bool {
		return shakedown.Unprintable(r) && r != '\t' && r != '\n' && r != '\r'
	}); i >= 0 {
		t.Errorf("the page has an unprintable character at byte %d: %q", i, page[max(0, i-40):min(len(page), i+10)])
	}
	pageData(t, els)
	return els
}

// pageData decodes the page's data block.
func pageData(t *testing.T, els map[string][]*html.Node) chartData {
	t.Helper()
	var data chartData
	for _, s := range els["script"] {
		if attr(s, "type") == "application/json" {
			if err := json.Unmarshal([]byte(textOf(s)), &data); err != nil {
				t.Fatalf("the data block is not JSON: %v", err)
			}
			return data
		}
	}
	t.Fatal("no data block")
	return data
}

// TestHTMLEdgeRecords: a page renders for runs with nothing to draw or little of it: no
// loads, no faults, no timeline, a run that ended before the inject, an invalid run, a
// record of nothing, an old record without the fields added since, and a suite of them.
func TestHTMLEdgeRecords(t *testing.T) {
	for _, c := range edgeCases() {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteHTML(&b, c.records, HTMLOptions{}); err != nil {
				t.Fatal(err)
			}
			els := parseHTML(t, b.Bytes())
			if n := len(els["section"]); n != len(c.records) {
				t.Errorf("%d run sections, want %d", n, len(c.records))
			}
			charts := 0
			for _, d := range els["div"] {
				if strings.Contains(attr(d, "class"), "chart") {
					charts++
				}
			}
			if charts != c.charts {
				t.Errorf("%d charts, want %d", charts, c.charts)
			}
		})
	}
}

type edgeCase struct {
	name    string
	records []*shakedown.Record
	charts  int
}

func edgeCases() []edgeCase {
	noLoads := passedRecord()
	noLoads.Loads = nil
	noFaults := passedRecord()
	noFaults.Faults, noFaults.Expectations = nil, nil
	noTimeline := passedRecord()
	noTimeline.Loads[0].Timeline = nil
	var old shakedown.Record
	if err := json.Unmarshal([]byte(`{"schema":"shakedown.run/v1","id":"old","experiment":{"name":"old"},
		"started_at":"2025-06-02T09:30:00.000Z","verdict":"passed",
		"checks":[{"name":"c","kind":"metric","role":"steady_state","held":true,"phases":{"baseline":{"held":true,"observed":"1ms","threshold":"max 1s","samples":[{"t":"2025-06-02T09:30:01.000Z","held":true,"value":0.001}]}}}],
		"loads":[{"name":"l","url":"http://x","rate":1,"phases":{},"timeline":[{"t":"2025-06-02T09:30:00.000Z","count":1,"errors":0,"p50":1,"p99":2}]}]}`), &old); err != nil {
		panic(err)
	}
	return []edgeCase{
		{"none", nil, 0},
		{"empty record", []*shakedown.Record{{}}, 0},
		{"passed", []*shakedown.Record{passedRecord()}, 4},
		{"no loads", []*shakedown.Record{noLoads}, 1},
		{"no faults", []*shakedown.Record{noFaults}, 4},
		{"no timeline", []*shakedown.Record{noTimeline}, 1},
		{"not steady", []*shakedown.Record{notSteadyRecord()}, 4},
		{"aborted", []*shakedown.Record{abortedRecord()}, 4},
		{"error", []*shakedown.Record{errorRecord()}, 4},
		{"invalid", []*shakedown.Record{invalidRecord()}, 0},
		{"not restored", []*shakedown.Record{notRestoredRecord()}, 4},
		{"regressed", []*shakedown.Record{regressedRecord()}, 4},
		{"old", []*shakedown.Record{&old}, 4},
		{"suite", []*shakedown.Record{passedRecord(), invalidRecord(), noLoads, &old, longRecord(time.Minute)}, 4 + 0 + 1 + 4 + 7},
	}
}

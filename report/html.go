package report

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/webassets"
)

// The HTML report is one file that opens with no network, from a CI artifact:
//
//	records ──► htmlPage ──► html/template (report.html.tmpl)
//	               │            ├── uPlot's script and style, inlined (internal/webassets)
//	               │            ├── report.js, report.css: ours
//	               │            └── the tables (runTables, shared with the Markdown summary)
//	               └── chartData ──► <script type="application/json"> ──► report.js ──► uPlot
//
// Everything taken from a record is text to html/template: it escapes it for where it lands
// (element, attribute, URL, the JSON block), so a name holding markup stays text; the page as
// a whole then passes through shakedown.Displayable, so that no field carries an escape
// sequence, a control character or a bidirectional override into it. A Content
// Security Policy lets only the page's own two scripts run and nothing load from anywhere.

var (
	//go:embed html/report.html.tmpl
	htmlTemplateText string
	//go:embed html/report.js
	htmlScript string
	//go:embed html/report.css
	htmlStyle string

	htmlTemplate = template.Must(template.New("report").Parse(htmlTemplateText))
	// scriptHashes are the Content Security Policy's hashes of the page's scripts.
	scriptHashes = sync.OnceValue(func() string {
		var parts []string
		for _, s := range []string{webassets.UPlotJS, htmlScript} {
			h := sha256.Sum256([]byte(s))
			parts = append(parts, "'sha256-"+base64.StdEncoding.EncodeToString(h[:])+"'")
		}
		return strings.Join(parts, " ")
	})
)

// ContentSecurityPolicy is the HTML report's policy, in its <meta> tag: only the page's own
// scripts run (by their hashes), nothing loads from anywhere, no <base> or form takes effect.
// A server that serves the report sends it as a header too, where it may add frame-ancestors.
func ContentSecurityPolicy() string {
	return "default-src 'none'; script-src " + scriptHashes() + "; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
}

// HTMLOptions change the HTML report.
type HTMLOptions struct {
	// Title is the page's title; empty means "shakedown: " and the worst verdict of the runs.
	Title string
	// RunURL, when set, says where a run's own page is (the dashboard's run page); each run
	// links to it. Nil for a report written to a file.
	RunURL func(id string) string
}

// WriteHTML writes the runs as one self-contained HTML page: for each run its verdict and
// reason, charts of each load's latency (p50, p99), error rate and throughput per second with
// the phases as bands, each fault's window shaded, each check's bound drawn and the moments
// of detection, revert and steady state back marked; the checks' samples over time; then
// the tables of the Markdown summary. Several runs make one page with a list of them at the
// top, each run at #run-ID. The page needs no network: uPlot (internal/webassets) and the
// run data are inside it.
func WriteHTML(w io.Writer, records []*shakedown.Record, o HTMLOptions) error {
	if err := checkRecords(records); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, newHTMLPage(records, o)); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "render html report", err)
	}
	// html/template escapes markup; what it leaves, a character that would reorder or hide
	// text, goes here, for every field at once.
	if _, err := io.WriteString(w, shakedown.Displayable(buf.String())); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "write html report", err)
	}
	return nil
}

// htmlPage is what the template shows.
type htmlPage struct {
	Title, Status, StatusClass string
	Counts                     string // "3 runs: 2 passed, 1 failed."
	Overview                   htmlTable
	Runs                       []htmlRun
	Data                       chartData

	CSP                    string
	UPlotCSS, CSS          template.CSS
	UPlotJS, JS            template.JS
	UPlotVersion, UPlotLic string
}

// htmlRun is one run's section.
type htmlRun struct {
	Index               int
	Anchor, URL         string
	Status, StatusClass string
	Experiment, Reason  string
	Description         string
	ExitCode            int
	Facts               []fact
	Recover             string     // the command that reverts what the run may have left
	Loads               []htmlLoad // the loads with a timeline to draw
	NoTimeline          bool       // loads, but none with a timeline
	HasSamples          bool
	Tables              []htmlTable
}

type htmlLoad struct{ Name, URL, Rate string }

type htmlTable struct {
	Title         string
	Before, After []para
	Head          []htmlHead
	Rows          [][]htmlCell
	Notes         []string
}

type htmlHead struct {
	Text  string
	Right bool
}

type htmlCell struct {
	Spans []span
	Right bool
	Link  string // a fragment to link the cell's text to
}

func newHTMLPage(records []*shakedown.Record, o HTMLOptions) *htmlPage {
	verdicts := make([]shakedown.Verdict, len(records))
	for i, r := range records {
		verdicts[i] = r.Verdict
	}
	worst := shakedown.Worst(verdicts...)
	p := &htmlPage{
		Title:        o.Title,
		Status:       Status(worst),
		StatusClass:  verdictClass(worst),
		Counts:       verdictCounts(records),
		CSP:          ContentSecurityPolicy(),
		UPlotCSS:     template.CSS(webassets.UPlotCSS),
		CSS:          template.CSS(htmlStyle),
		UPlotJS:      template.JS(webassets.UPlotJS),
		JS:           template.JS(htmlScript),
		UPlotVersion: webassets.UPlotVersion,
		UPlotLic:     webassets.UPlotLicense,
		Data:         chartData{Runs: make([]chartRun, len(records))},
	}
	if p.Title == "" {
		p.Title = "shakedown: " + p.Status
	}
	p.Overview = newHTMLTable(summaryTable(records))
	for i, r := range records {
		run := newHTMLRun(i, r, o)
		p.Runs = append(p.Runs, run)
		p.Overview.Rows[i][summaryExperiment].Link = "#" + run.Anchor // the list links each run
		p.Data.Runs[i] = newChartRun(r)
		for _, l := range p.Data.Runs[i].Loads {
			hl := htmlLoad{Name: l.Name, URL: l.url}
			if l.rate > 0 {
				hl.Rate = strconv.FormatFloat(l.rate, 'f', -1, 64) + "/s"
			}
			p.Runs[i].Loads = append(p.Runs[i].Loads, hl)
		}
		p.Runs[i].NoTimeline = len(r.Loads) > 0 && len(p.Runs[i].Loads) == 0
		p.Runs[i].HasSamples = len(p.Data.Runs[i].Checks) > 0
	}
	return p
}

func newHTMLRun(i int, r *shakedown.Record, o HTMLOptions) htmlRun {
	run := htmlRun{
		Index:       i,
		Anchor:      runAnchor(i, r),
		Status:      Status(r.Verdict),
		StatusClass: verdictClass(r.Verdict),
		Experiment:  oneLine(r.Experiment.Name),
		Reason:      reason(r),
		Description: oneLine(r.Experiment.Description),
		ExitCode:    r.ExitCode,
		Facts:       runFacts(r),
	}
	if run.Experiment == "" {
		run.Experiment = "unnamed experiment"
	}
	if o.RunURL != nil && r.ID != "" {
		run.URL = o.RunURL(r.ID)
	}
	if leftInjected(r) {
		run.Recover = oneLine(recoverCommand(r))
	}
	for _, t := range runTables(r) {
		run.Tables = append(run.Tables, newHTMLTable(t))
	}
	return run
}

// runAnchor is the id of a run's section, and what every link to it follows "#" with:
// run-ID, or run.N for a record without an id. It is a valid fragment whatever the id holds:
// letters, digits, '_' and '-' are kept and every other byte is written .XX (its hex), so
// html/template has nothing to refuse (a ':' would make a link #ZgotmplZ), no escaping makes
// a link differ from the id it names, and two ids never share an anchor.
func runAnchor(i int, r *shakedown.Record) string {
	if r.ID == "" {
		return fmt.Sprintf("run.%d", i+1)
	}
	var b strings.Builder
	b.WriteString("run-")
	for _, c := range []byte(r.ID) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, ".%02x", c)
		}
	}
	return b.String()
}

func newHTMLTable(t table) htmlTable {
	h := htmlTable{Title: t.Title, Before: t.Before, After: t.After, Notes: t.Notes}
	right := func(i int) bool { return i < len(t.Right) && t.Right[i] }
	for i, s := range t.Head {
		h.Head = append(h.Head, htmlHead{Text: s, Right: right(i)})
	}
	for _, row := range t.Rows {
		cells := make([]htmlCell, len(row))
		for i, c := range row {
			spans := make([]span, len(c))
			for j, s := range c {
				spans[j] = span{Text: oneLine(s.Text), Strong: s.Strong}
			}
			cells[i] = htmlCell{Spans: spans, Right: right(i)}
		}
		h.Rows = append(h.Rows, cells)
	}
	return h
}

// verdictClass is the CSS class of a verdict's colour; an unknown verdict gets the class of
// none.
func verdictClass(v shakedown.Verdict) string {
	for _, k := range shakedown.Verdicts {
		if v == k {
			return "v-" + strings.ReplaceAll(string(v), "_", "-")
		}
	}
	return "v-unknown"
}

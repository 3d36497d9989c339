package cli

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/browser"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// realRunExperiment is a few seconds of a real system under a real fault: a load at 100/s
// through a proxy to an HTTP server, the proxy's latency raised by 300 ms for 3 s, a latency
// bound and a probe through the proxy, and an alert that fires while the proxy is slow.
func realRunExperiment(proxy, upstream, alerts string) string {
	return `version: 1
name: checkout-through-a-slow-proxy
description: With 300 ms added by the proxy, checkout p99 stays under 1.5 s and the slow alert fires.
targets:
  link:
    proxy: {listen: "` + proxy + `", upstream: "` + upstream + `"}
load:
  checkout: {url: "http://` + proxy + `/checkout", rate: 100/s, timeout: 3s}
steady_state:
  - name: checkout p99 under 1.5s
    metric: checkout.latency.p99
    max: 1500ms
    every: 250ms
  - name: checkout answers
    http: {url: "http://` + proxy + `/healthz", status: 200}
    every: 250ms
    timeout: 2s
phases: {baseline: 3s, recovery: 3s}
faults:
  - name: slow-link
    type: proxy.latency
    target: link
    with: {latency: 300ms}
    duration: 3s
expect:
  - name: slow alert fires
    alert: {alertmanager: "` + alerts + `", name: CheckoutSlow}
    fires_within: 2s
    resolves_within: 3s
`
}

// slowAlerts is an Alertmanager's alert list that holds CheckoutSlow while a request through
// url takes longer than 150 ms: a blackbox check, asked afresh each time.
func slowAlerts(url string) http.Handler {
	client := &http.Client{Timeout: 2 * time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		alerts := "[]"
		if err != nil || time.Since(start) > 150*time.Millisecond {
			alerts = `[{"labels": {"alertname": "CheckoutSlow"}, "status": {"state": "active"}}]`
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, alerts)
	})
}

// readback is what a chart of the page drew, read from its uPlot instance.
type readback struct {
	Kind   string       `json:"kind"`
	Load   string       `json:"load"`
	Labels []string     `json:"labels"`
	Data   [][]*float64 `json:"data"`
	Drawn  struct {
		Phases []drawnSpan `json:"phases"`
		Faults []drawnSpan `json:"faults"`
		Marks  []struct {
			Kind  string  `json:"kind"`
			Label string  `json:"label"`
			T     float64 `json:"t"`
			X     float64 `json:"x"`
		} `json:"marks"`
		Bounds []struct {
			Label string  `json:"label"`
			Value float64 `json:"value"`
			Y     float64 `json:"y"`
		} `json:"bounds"`
	} `json:"drawn"`
}

type drawnSpan struct {
	Name string  `json:"name"`
	From float64 `json:"from"`
	To   float64 `json:"to"`
	X0   float64 `json:"x0"`
	X1   float64 `json:"x1"`
}

// TestHTMLReportOfARealRun: the real binary runs an experiment on a real server through a
// real proxy with a real fault, and writes its record and its HTML report. The report opens
// in Chromium with no network and no console error, and its charts draw the record: each
// load chart's series is the record's timeline, the fault's window is shaded from its
// injected_at to its reverted_at, the check's bound is a line at its max, and the marks
// stand at the alert's fired_at, the fault's reverted_at and the steady state back. With
// SHAKEDOWN_UPDATE_SCREENSHOTS=1 it writes the README's picture of it, docs/report.png.
func TestHTMLReportOfARealRun(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: a real run of a few seconds and a browser")
	}
	testenv.Need(t, browser.Find() != "", "no Chromium (apt-get install chromium)")
	bin := buildBinary(t)
	dir := t.TempDir()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(upstream.Close)
	proxy := fmt.Sprintf("127.0.0.1:%d", testenv.Ports(t, 1)[0])
	alerts := httptest.NewServer(slowAlerts("http://" + proxy + "/healthz"))
	t.Cleanup(alerts.Close)
	exp := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(exp, []byte(realRunExperiment(proxy, strings.TrimPrefix(upstream.URL, "http://"), alerts.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonOut, htmlOut := filepath.Join(dir, "run.json"), filepath.Join(dir, "report.html")
	cmd := exec.Command(bin, "run", "--progress", "none", "--state-dir", filepath.Join(dir, "state"), "--history", "off",
		"--json", jsonOut, "--html", htmlOut, exp)
	cmd.Env = append(os.Environ(), "GITHUB_STEP_SUMMARY=", "SHAKEDOWN_RUNTIME_DIR="+filepath.Join(dir, "runtime"))
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run: %v", err)
	}
	t.Logf("run: exit %d\n%s", cmd.ProcessState.ExitCode(), out)
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := history.DecodeRecords(data)
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	if len(r.Loads) != 1 || len(r.Loads[0].Timeline) < 5 || len(r.Faults) != 1 || r.Faults[0].InjectedAt == nil || r.Faults[0].RevertedAt == nil {
		t.Fatalf("the run did not load, inject and revert as the test needs (%s: %s)", r.Verdict, r.Reason)
	}

	tab := browser.Open(t, browser.Options{Offline: true, Width: 1280, Height: 1000})
	tab.Do(t, chromedp.Navigate("file://"+htmlOut))
	drawn := browser.Eval[bool](t, tab, `new Promise(ok => { const t0 = Date.now();
		(function wait() { if (document.body.dataset.charts === "drawn") ok(true); else if (Date.now() - t0 > 20000) ok(false); else setTimeout(wait, 20); })(); })`)
	if !drawn {
		t.Fatalf("the charts were not drawn (page errors: %v)", tab.Errors())
	}
	tab.NoErrors(t)
	charts := browser.Eval[[]readback](t, tab, `window.shakedownCharts.map(c => ({kind: c.kind, load: c.load,
		labels: c.plot.series.map(s => s.label), data: c.plot.data, drawn: c.plot.shakedown}))`)
	kinds := map[string]readback{}
	for _, c := range charts {
		kinds[c.Kind] = c
	}
	if len(charts) != 4 || len(kinds) != 4 {
		t.Fatalf("charts %v, want latency, errors, throughput and checks", len(charts))
	}

	rel := func(at time.Time) float64 { return math.Round(at.Sub(r.StartedAt.Time).Seconds()*1000) / 1000 }
	near := func(a, b, eps float64) bool { return math.Abs(a-b) <= eps }
	// The series are the record's timeline, second by second.
	tl := r.Loads[0].Timeline
	for _, s := range []struct {
		kind, label string
		want        func(shakedown.TimelineRow) (float64, bool)
	}{
		{"latency", "p50", func(row shakedown.TimelineRow) (float64, bool) { return float64(row.P50), true }},
		{"latency", "p99", func(row shakedown.TimelineRow) (float64, bool) { return float64(row.P99), true }},
		{"throughput", "requests/s", func(row shakedown.TimelineRow) (float64, bool) { return float64(row.Count), true }},
		{"errors", "error rate", func(row shakedown.TimelineRow) (float64, bool) {
			return 100 * float64(row.Errors) / float64(row.Count), row.Count > 0
		}},
	} {
		c := kinds[s.kind]
		col := -1
		for i, l := range c.Labels {
			if l == s.label {
				col = i
			}
		}
		if col < 0 {
			t.Errorf("the %s chart has no %s series: %v", s.kind, s.label, c.Labels)
			continue
		}
		got := map[float64]float64{}
		for i, x := range c.Data[0] {
			if y := c.Data[col][i]; x != nil && y != nil {
				got[*x] = *y
			}
		}
		n := 0
		for _, row := range tl {
			want, ok := s.want(row)
			if !ok {
				continue
			}
			n++
			if y, drawn := got[rel(row.T.Time)]; !drawn || !near(y, want, 1e-9) {
				t.Errorf("%s %s at %.3fs: drawn %v (%v), record %v", s.kind, s.label, rel(row.T.Time), y, drawn, want)
			}
		}
		if len(got) != n {
			t.Errorf("%s %s: %d points drawn, the record has %d", s.kind, s.label, len(got), n)
		}
	}

	// The fault's window is where the record says, on every chart, at the x uPlot gives
	// for those times.
	f := r.Faults[0]
	for i, c := range charts {
		if len(c.Drawn.Faults) != 1 {
			t.Fatalf("%s chart: %d fault windows drawn, want 1", c.Kind, len(c.Drawn.Faults))
		}
		w := c.Drawn.Faults[0]
		from, to := rel(f.InjectedAt.Time), rel(f.RevertedAt.Time)
		if w.Name != f.Name || w.From != from || w.To != to {
			t.Errorf("%s chart: fault window %+v, record %s %.3f..%.3f", c.Kind, w, f.Name, from, to)
		}
		x := browser.Eval[[]float64](t, tab, fmt.Sprintf(`[%d, %g, %g].slice(1).map(v => window.shakedownCharts[%d].plot.valToPos(v, "x"))`, i, from, to, i))
		if !near(w.X0, x[0], 0.5) || !near(w.X1, x[1], 0.5) {
			t.Errorf("%s chart: fault window drawn at x %.1f..%.1f, the record's times are at %.1f..%.1f", c.Kind, w.X0, w.X1, x[0], x[1])
		}
		if len(c.Drawn.Phases) != len(r.Phases) {
			t.Errorf("%s chart: %d phases drawn, the record has %d", c.Kind, len(c.Drawn.Phases), len(r.Phases))
		}
	}

	// The marks: the alert fired, the fault reverted, the steady state back.
	marks := map[string]float64{"revert": rel(f.RevertedAt.Time)}
	if e := r.Expectations[0]; e.FiredAt != nil {
		marks["detect"] = rel(e.FiredAt.Time)
	} else {
		t.Errorf("the alert did not fire (%s): the page has no detection to mark", e.Detail)
	}
	if ttr := r.Recovery.TimeToRecover; ttr != nil {
		for _, p := range r.Phases {
			if p.Name == shakedown.PhaseRevert {
				marks["back"] = rel(p.End.Add(ttr.Duration()))
			}
		}
	} else {
		t.Errorf("the steady state was not back (%s): the page has no recovery to mark", r.Reason)
	}
	got := map[string]float64{}
	for _, m := range kinds["latency"].Drawn.Marks {
		got[m.Kind] = m.T
	}
	for k, v := range marks {
		if g, ok := got[k]; !ok || !near(g, v, 0.0015) {
			t.Errorf("mark %s at %v (drawn %v), record %.3f", k, g, ok, v)
		}
	}

	// The latency bound is a line at 1500 ms, where uPlot puts 1500 on the y scale.
	bounds := kinds["latency"].Drawn.Bounds
	if len(bounds) == 0 {
		t.Fatal("no bound drawn on the latency chart")
	}
	y := browser.Eval[float64](t, tab, `window.shakedownCharts.find(c => c.kind === "latency").plot.valToPos(1500, "y")`)
	for _, b := range bounds {
		if b.Value != 1500 || !near(b.Y, y, 0.5) {
			t.Errorf("bound %q drawn at %v (y %.1f), want 1500 at y %.1f", b.Label, b.Value, b.Y, y)
		}
	}

	// Every sample of every check is a point of the samples chart.
	samples := 0
	for _, c := range r.Checks {
		for _, p := range c.PerPhase {
			samples += len(p.Samples)
		}
	}
	points := 0
	for _, col := range kinds["checks"].Data[1:] {
		for _, v := range col {
			if v != nil {
				points++
			}
		}
	}
	if points != samples {
		t.Errorf("the samples chart has %d points, the record %d samples", points, samples)
	}

	// Under the cursor, the list under the samples chart says what the probe saw last: at a
	// sample in the middle of the inject phase (a phase's start takes a sample at once, so
	// its edges have samples milliseconds apart).
	var probe *shakedown.Sample
	for _, c := range r.Checks {
		if c.Name == "checkout answers" {
			if p := c.PerPhase[shakedown.PhaseInject]; p != nil && len(p.Samples) > 2 {
				probe = &p.Samples[len(p.Samples)/2]
			}
		}
	}
	if probe == nil {
		t.Fatal("the probe has no sample in the inject phase")
	}
	said := browser.Eval[[]string](t, tab, fmt.Sprintf(`(() => { const c = window.shakedownCharts.find(c => c.kind === "checks");
		c.plot.setCursor({left: c.plot.valToPos(%g, "x") + 0.5, top: 5});
		return [...c.plot.root.parentNode.querySelectorAll(".readout li")].map(li => li.textContent); })()`, rel(probe.At.Time)))
	// The page writes seconds to the hundredth.
	at := strconv.FormatFloat(math.Round(rel(probe.At.Time)*100)/100, 'f', -1, 64)
	want := fmt.Sprintf("checkout answers at %ss: %s (held)", at, probe.Observed)
	if !probe.Held {
		want = strings.Replace(want, "(held)", "(breached)", 1)
	}
	if !slices.Contains(said, want) {
		t.Errorf("under the cursor at %.3fs the list says %q, want %q among it", rel(probe.At.Time), said, want)
	}

	if os.Getenv("SHAKEDOWN_UPDATE_SCREENSHOTS") == "1" {
		png, err := chromedp.Run(tab.Ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "docs", "report.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var sizes []string
	for _, p := range []string{jsonOut, htmlOut} {
		if fi, err := os.Stat(p); err == nil {
			sizes = append(sizes, fmt.Sprintf("%s %d bytes", filepath.Base(p), fi.Size()))
		}
	}
	t.Log(strings.Join(sizes, ", "))
}

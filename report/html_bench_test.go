package report

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/browser"
)

// maxHTMLBytes is the most a ten-minute run's HTML report may weigh: small enough to keep as
// a CI artifact of every run and to open at once.
const maxHTMLBytes = 1 << 20

// tenMinutes is the record of a ten-minute run: two loads with 600 timeline rows each, three
// metric checks and a probe sampled every second.
func tenMinutes() []*shakedown.Record { return []*shakedown.Record{longRecord(10 * time.Minute)} }

// TestHTMLTenMinuteRunSize: the report of a ten-minute run stays under maxHTMLBytes.
func TestHTMLTenMinuteRunSize(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, tenMinutes(), HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("the HTML report of a ten-minute run: %d bytes", b.Len())
	if b.Len() > maxHTMLBytes {
		t.Errorf("the HTML report of a ten-minute run is %d bytes, want at most %d", b.Len(), maxHTMLBytes)
	}
}

// BenchmarkWriteHTML writes the page of a ten-minute run; bytes/page is its size.
func BenchmarkWriteHTML(b *testing.B) {
	records := tenMinutes()
	var size int
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		if err := WriteHTML(&buf, records, HTMLOptions{}); err != nil {
			b.Fatal(err)
		}
		size = buf.Len()
	}
	b.ReportMetric(float64(size), "bytes/page")
}

// BenchmarkWriteHTMLSuite writes the page of three short runs, as the other writers do.
func BenchmarkWriteHTMLSuite(b *testing.B) {
	benchWriter(b, func(w io.Writer, rs []*shakedown.Record) error { return WriteHTML(w, rs, HTMLOptions{}) })
}

// BenchmarkHTMLRenderInChromium opens the page of a ten-minute run in Chromium, offline,
// until every chart has drawn: the time a reader waits for it.
func BenchmarkHTMLRenderInChromium(b *testing.B) {
	page := filepath.Join(b.TempDir(), "report.html")
	f, err := os.Create(page)
	if err != nil {
		b.Fatal(err)
	}
	if err := WriteHTML(f, tenMinutes(), HTMLOptions{}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	tab := browser.Open(b, browser.Options{Offline: true})
	var inPage float64
	for b.Loop() {
		tab.Do(b, chromedp.Navigate("file://"+page))
		if !waitDrawn(b, tab) {
			b.Fatalf("the charts were not drawn (page errors: %v)", tab.Errors())
		}
		inPage += browser.Eval[float64](b, tab, `window.shakedownDrawnAt`)
	}
	// The page's own time: from the start of its navigation to the last chart drawn.
	b.ReportMetric(inPage/float64(b.N), "ms-to-drawn/op")
	tab.NoErrors(b)
}

// waitDrawn waits up to 20 s for the page's charts to have drawn and says whether they did.
func waitDrawn(t testing.TB, tab *browser.Tab) bool {
	return browser.Eval[bool](t, tab, `new Promise(ok => { const t0 = Date.now();
		(function wait() { if (document.body && document.body.dataset.charts === "drawn") ok(true);
			else if (Date.now() - t0 > 20000) ok(false); else requestAnimationFrame(wait); })(); })`)
}

// TestHTMLEdgeRecordsInChromium: one page holding every edge record and a hostile one opens
// in Chromium with no console error; every chart of the page is drawn; the hostile text made
// no element and ran nothing; every run's section is where its link says.
func TestHTMLEdgeRecordsInChromium(t *testing.T) {
	records := []*shakedown.Record{hostileRecord()}
	for _, c := range edgeCases() {
		records = append(records, c.records...)
	}
	// The hostile text tries to run this; nothing may.
	records[0].Experiment.Name = `</script><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">`
	page := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, records, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tab := browser.Open(t, browser.Options{Offline: true})
	tab.Do(t, chromedp.Navigate("file://"+page))
	if !waitDrawn(t, tab) {
		t.Fatalf("the charts were not drawn (page errors: %v)", tab.Errors())
	}
	tab.NoErrors(t)
	type state struct {
		Charts, Elements, Images, Sections int
		Pwned                              any
		Heading                            string
		Linked                             bool
	}
	got := browser.Eval[state](t, tab, `({
		charts: window.shakedownCharts.length,
		elements: document.querySelectorAll(".chart[data-kind]").length,
		images: document.images.length,
		sections: document.querySelectorAll("section.run").length,
		pwned: window.pwned === undefined ? null : window.pwned,
		heading: document.querySelector("section.run h2").textContent,
		linked: [...document.querySelectorAll("header.page table a")].every(a => document.getElementById(decodeURIComponent(a.hash.slice(1))) !== null),
	})`)
	if got.Charts != got.Elements || got.Charts == 0 {
		t.Errorf("%d charts drawn for %d chart elements", got.Charts, got.Elements)
	}
	if got.Images != 0 || got.Pwned != nil {
		t.Errorf("the hostile name made %d images, window.pwned = %v", got.Images, got.Pwned)
	}
	if !strings.Contains(got.Heading, records[0].Experiment.Name) {
		t.Errorf("the first run's heading %q does not show its name as text", got.Heading)
	}
	if got.Sections != len(records) || !got.Linked {
		t.Errorf("%d run sections for %d records; every link of the list reaches its run: %v", got.Sections, len(records), got.Linked)
	}
}

// TestHTMLEverySampleIsAPoint: the samples chart has a point for every sample of the record,
// even where samples share a millisecond (a phase's last and the next phase's first often
// do), held ones held and breached ones breached.
func TestHTMLEverySampleIsAPoint(t *testing.T) {
	r := failedRecord()
	// Two samples of one check in the same millisecond, one held and one breached, and a
	// third in the same millisecond of another check.
	c := r.Checks[0].PerPhase[shakedown.PhaseInject]
	c.Samples = append(c.Samples, shakedown.Sample{At: c.Samples[0].At, Held: true, Value: fp(0.1)})
	c.Samples[0].At = shakedown.Time{Time: c.Samples[0].At.Add(300 * time.Microsecond)}
	r.Checks[1].PerPhase[shakedown.PhaseInject].Samples[0].At = c.Samples[0].At
	want := map[string][2]int{}
	for _, c := range r.Checks {
		var n [2]int
		for _, p := range c.PerPhase {
			for _, s := range p.Samples {
				if s.Held {
					n[0]++
				} else {
					n[1]++
				}
			}
		}
		if n != [2]int{} {
			want[c.Name] = n
		}
	}
	page := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, []*shakedown.Record{r}, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tab := browser.Open(t, browser.Options{Offline: true})
	tab.Do(t, chromedp.Navigate("file://"+page))
	if !waitDrawn(t, tab) {
		t.Fatalf("the charts were not drawn (page errors: %v)", tab.Errors())
	}
	tab.NoErrors(t)
	// Each check has two series, held then breached; a point is a value that is not null.
	got := browser.Eval[map[string][2]int](t, tab, `(() => {
		const p = window.shakedownCharts.find(c => c.kind === "checks").plot, out = {};
		for (let i = 1; i < p.series.length; i += 2) {
			const n = d => p.data[d].filter(v => v !== null).length;
			out[p.series[i].label.replace(/ held$/, "")] = [n(i), n(i + 1)];
		}
		return out;
	})()`)
	for name, n := range want {
		if got[name] != n {
			t.Errorf("check %q: %v points (held, breached) drawn, the record has %v", name, got[name], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d checks drawn, the record has %d with samples", len(got), len(want))
	}
}

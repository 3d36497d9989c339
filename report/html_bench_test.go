package report

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
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
	for b.Loop() {
		tab.Do(b, chromedp.Navigate("file://"+page))
		if !waitDrawn(b, tab) {
			b.Fatalf("the charts were not drawn (page errors: %v)", tab.Errors())
		}
	}
	tab.NoErrors(b)
}

// waitDrawn waits up to 20 s for the page's charts to have drawn and says whether they did.
func waitDrawn(t testing.TB, tab *browser.Tab) bool {
	return browser.Eval[bool](t, tab, `new Promise(ok => { const t0 = Date.now();
		(function wait() { if (document.body && document.body.dataset.charts === "drawn") ok(true);
			else if (Date.now() - t0 > 20000) ok(false); else requestAnimationFrame(wait); })(); })`)
}

package browser

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestTabRendersAPageAndSeesItsErrors(t *testing.T) {
	page := filepath.Join(t.TempDir(), "page.html")
	html := `<!doctype html><title>t</title><p id=p>hello</p>
<script>document.getElementById("p").textContent += " world"; console.error("boom", 42);</script>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	tab := Open(t, Options{Offline: true})
	tab.Do(t, chromedp.Navigate("file://"+page))
	text := Eval[string](t, tab, `document.getElementById("p").textContent`)
	if text != "hello world" {
		t.Fatalf("page text %q, want the script to have run", text)
	}
	var errs []string
	for _, e := range tab.Errors() {
		if strings.Contains(e, "boom 42") {
			errs = append(errs, e)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("console errors %v, want the page's one", tab.Errors())
	}
	if png := tab.Screenshot(t); len(png) < 100 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
}

func TestOfflineTabReachesNoServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<p id=p>online</p>"))
	}))
	defer srv.Close()
	tab := Open(t, Options{Offline: true})
	err := chromedp.Do(tab.Ctx, chromedp.Navigate(srv.URL))
	text, _ := chromedp.Run(tab.Ctx, chromedp.Evaluate[string](`document.body ? document.body.textContent : ""`))
	if err == nil && strings.Contains(text, "online") {
		t.Fatal("an offline tab loaded a page from an HTTP server")
	}
}

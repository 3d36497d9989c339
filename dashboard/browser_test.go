package dashboard_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shakedown-dev/shakedown/dashboard"
	"github.com/shakedown-dev/shakedown/internal/browser"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// screenshot writes a screenshot of the page (whole, or what the window shows) to docs/NAME
// when SHAKEDOWN_UPDATE_SCREENSHOTS=1: the pictures the README shows.
func screenshot(t *testing.T, tab *browser.Tab, name string, whole bool) {
	if os.Getenv("SHAKEDOWN_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	png := tab.Screenshot(t)
	if !whole {
		var err error
		if png, err = chromedp.Run(tab.Ctx, chromedp.CaptureScreenshot()); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join("..", "docs", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// poll waits until a JavaScript expression is true in the tab, through the navigations that
// lead there (an evaluation a navigation cuts short is tried again).
func poll(t *testing.T, tab *browser.Tab, expr string) {
	t.Helper()
	var last error
	testenv.WaitFor(t, "the page to show "+expr, 20*time.Second, func() bool {
		ok, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[bool](expr))
		last = err
		return err == nil && ok
	})
	_ = last
}

// noErrorsBut fails t if the tab logged an error other than ones containing allowed.
func noErrorsBut(t *testing.T, tab *browser.Tab, allowed string) {
	t.Helper()
	for _, e := range tab.Errors() {
		if !strings.Contains(e, allowed) {
			t.Errorf("the page logged: %s", e)
		}
	}
}

// TestPagesInBrowser: the home, experiment and run pages and a badge render in Chromium with
// no console error, offline but for the dashboard; the trends draw the API's numbers, with
// the gate's regression where the record says; a point opens its run.
func TestPagesInBrowser(t *testing.T) {
	u := serve(t, dashboard.Options{Title: "shop staging", Schedules: func() []dashboard.Schedule {
		return []dashboard.Schedule{{Name: "checkout-drill", Experiments: "experiments/checkout.yaml", Every: "6h", Lock: "staging",
			Next: mustTime(t, "2026-12-04T06:00:00Z"), LastRun: "01SAMPLE00039", LastVerdict: "passed"}}
	}})
	tab := browser.Open(t, browser.Options{Width: 1400, Height: 1000})

	tab.Do(t, chromedp.Navigate(u+"/"))
	poll(t, tab, `document.readyState === "complete"`)
	if n := browser.Eval[int](t, tab, `document.querySelectorAll(".strip .cell").length`); n != 3*dashboard.StripRuns {
		t.Errorf("home: %d cells in the strips, want %d", n, 3*dashboard.StripRuns)
	}
	if got := browser.Eval[string](t, tab, `getComputedStyle(document.querySelector(".strip .cell.v-failed")).backgroundColor`); got != "rgb(207, 34, 46)" {
		t.Errorf("a failed run's cell is %s, want red", got)
	}
	if n := browser.Eval[int](t, tab, `document.querySelectorAll(".mark-discovered, .mark-fixed, .mark-flaky").length`); n == 0 {
		t.Error("home: no marks")
	}
	if !strings.Contains(browser.Eval[string](t, tab, `document.querySelector("section.schedules").innerText`), "checkout-drill") {
		t.Error("home: the schedule is not shown")
	}
	tab.NoErrors(t)
	screenshot(t, tab, "dashboard.png", true)

	tab.Do(t, chromedp.Navigate(u+"/experiments/"+url.PathEscape(expCheckout)+"?limit=40"))
	poll(t, tab, `window.shakedownCharts && window.shakedownCharts.length === document.querySelectorAll("figure.chart").length`)
	charts := browser.Eval[[]struct {
		Key       string     `json:"key"`
		Points    int        `json:"points"`
		Values    []*float64 `json:"values"`
		Regressed int        `json:"regressed"`
	}](t, tab, `window.shakedownCharts`)
	if len(charts) != 5 {
		t.Fatalf("%d charts drawn, want 5", len(charts))
	}
	var api struct {
		Charts []struct {
			Key    string     `json:"key"`
			Values []*float64 `json:"values"`
		} `json:"charts"`
	}
	getJSON(t, u+"/api/experiments/"+url.PathEscape(expCheckout)+"?limit=40", &api)
	for i, c := range charts {
		if c.Key != api.Charts[i].Key || c.Points != sampleRuns {
			t.Errorf("chart %d: %s with %d points, want %s with %d", i, c.Key, c.Points, api.Charts[i].Key, sampleRuns)
			continue
		}
		for j, v := range c.Values {
			if (v == nil) != (api.Charts[i].Values[j] == nil) || v != nil && *v != *api.Charts[i].Values[j] {
				t.Errorf("chart %s, point %d: drew %v, the API says %v", c.Key, j, v, api.Charts[i].Values[j])
			}
		}
		want := 0
		if c.Key == "checkout.latency.p99 during inject" || c.Key == "recovery.time_to_recover" {
			want = 1 // the gate block of run 30 names these two
		}
		if c.Regressed != want {
			t.Errorf("chart %s: %d regressed points, want %d", c.Key, c.Regressed, want)
		}
	}
	if n := browser.Eval[int](t, tab, `document.querySelectorAll("figure.chart canvas").length`); n != 5 {
		t.Errorf("%d canvases, want 5", n)
	}
	tab.NoErrors(t)
	tab.Do(t, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	screenshot(t, tab, "dashboard-experiment.png", false)

	// A click on the first chart's last point opens that run (the newest).
	at := browser.Eval[[]float64](t, tab, `(() => {
		const over = document.querySelector("figure.chart .u-over");
		over.scrollIntoView({block: "center"});
		const r = over.getBoundingClientRect();
		return [r.right - 2, r.top + r.height / 2];
	})()`)
	tab.Do(t, chromedp.MouseEvent("mouseMoved", at[0]-20, at[1]), chromedp.MouseEvent("mouseMoved", at[0], at[1]), chromedp.MouseClickXY(at[0], at[1]))
	poll(t, tab, `location.pathname === "/runs/01SAMPLE00039"`)
	poll(t, tab, `document.readyState === "complete"`)
	if title := browser.Eval[string](t, tab, `document.title`); !strings.Contains(title, "01SAMPLE00039") {
		t.Errorf("run page title %q", title)
	}
	tab.NoErrors(t)

	tab.Do(t, chromedp.Navigate(u+"/runs/01SAMPLE00030"))
	poll(t, tab, `document.readyState === "complete" && document.querySelectorAll("canvas").length > 0`)
	tab.NoErrors(t)

	for _, tc := range []struct{ name, want string }{{expCheckout, "passed"}, {"no-such-experiment", "unknown"}} {
		tab.Do(t, chromedp.Navigate(u+"/badge/"+tc.name+".svg"))
		poll(t, tab, `document.readyState === "complete"`)
		got := browser.Eval[string](t, tab, `document.documentElement.tagName + " " + document.querySelector("svg text:last-of-type").textContent`)
		if got != "svg "+tc.want {
			t.Errorf("badge of %s: %q, want an svg saying %s", tc.name, got, tc.want)
		}
		if w := browser.Eval[float64](t, tab, `document.documentElement.getBBox().width`); w < 50 {
			t.Errorf("badge of %s is %v px wide", tc.name, w)
		}
	}
}

// TestLoginInBrowser: with tokens, a page asks for one; a wrong token is refused, the read
// token lets one read, kept in a cookie no script reads.
func TestLoginInBrowser(t *testing.T) {
	u := serve(t, dashboard.Options{ReadToken: readToken, WriteToken: writeToken})
	tab := browser.Open(t, browser.Options{})
	tab.Do(t, chromedp.Navigate(u+"/experiments/"+url.PathEscape(expCheckout)))
	poll(t, tab, `location.pathname === "/login"`)

	tab.Do(t, chromedp.SendKeys(`input[name="token"]`, "guess"), chromedp.Submit(`form.login`))
	poll(t, tab, `document.querySelector(".error") !== null`)
	if got := browser.Eval[string](t, tab, `document.querySelector(".error").textContent`); got != "wrong token" {
		t.Errorf("after a wrong token the page says %q", got)
	}
	if p := browser.Eval[string](t, tab, `location.pathname`); p != "/login" {
		t.Errorf("a wrong token got to %s", p)
	}

	tab.Do(t, chromedp.SendKeys(`input[name="token"]`, readToken), chromedp.Submit(`form.login`))
	poll(t, tab, `location.pathname === "/experiments/`+url.PathEscape(expCheckout)+`"`)
	poll(t, tab, `window.shakedownCharts && window.shakedownCharts.length > 0`)
	if c := browser.Eval[string](t, tab, `document.cookie`); c != "" {
		t.Errorf("a script reads the cookie: %q", c)
	}
	// The wrong token's answer is a 401, which Chromium logs.
	noErrorsBut(t, tab, "/login:1: Failed to load resource: the server responded with a status of 401")

	tab.Do(t, chromedp.Submit(`form[action="/logout"]`))
	poll(t, tab, `location.pathname === "/login"`)
	tab.Do(t, chromedp.Navigate(u+"/"))
	poll(t, tab, `location.pathname === "/login"`)
}

// TestStopButtonInBrowser: the page of a live run stops it with the write token, and says
// why not with the read token.
func TestStopButtonInBrowser(t *testing.T) {
	stop := newFakeStop(liveRun)
	u := serve(t, dashboard.Options{ReadToken: readToken, WriteToken: writeToken, Stop: stop.Stop, Live: stop.Live})
	tab := browser.Open(t, browser.Options{})

	// Logged in to read, the page asks for the write token.
	tab.Do(t, chromedp.Navigate(u+"/login?next=/runs/"+liveRun))
	tab.Do(t, chromedp.SendKeys(`input[name="token"]`, readToken), chromedp.Submit(`form.login`))
	poll(t, tab, `location.pathname === "/runs/`+liveRun+`" && document.querySelector("#stop") !== null`)
	tab.Do(t, chromedp.SendKeys(`#stop input[name="token"]`, readToken), chromedp.Click(`#stop button`))
	poll(t, tab, `document.querySelector("#stop output").textContent.startsWith("not stopped")`)
	if got := browser.Eval[string](t, tab, `document.querySelector("#stop output").textContent`); !strings.Contains(got, "write token") {
		t.Errorf("with the read token the page says %q", got)
	}
	if n := len(stop.Calls()); n != 0 {
		t.Fatalf("the read token stopped the run")
	}
	tab.Do(t, chromedp.Evaluate[chromedp.Void](`document.querySelector('#stop input[name="token"]').value = ""`), chromedp.SendKeys(`#stop input[name="token"]`, writeToken), chromedp.Click(`#stop button`))
	poll(t, tab, `document.querySelector("#stop output").textContent.startsWith("stopped")`)
	if calls := stop.Calls(); len(calls) != 1 || calls[0].id != liveRun {
		t.Errorf("stop calls %+v", calls)
	}
	// The read token's answer is a 403, which Chromium logs.
	noErrorsBut(t, tab, "/stop:1: Failed to load resource: the server responded with a status of 403")

	// Logged in with the write token, the button alone stops.
	stop.mu.Lock()
	stop.live["01LIVE00000002"] = true
	stop.mu.Unlock()
	tab.Do(t, chromedp.Navigate(u+"/login?next=/runs/01LIVE00000002"))
	tab.Do(t, chromedp.SendKeys(`input[name="token"]`, writeToken), chromedp.Submit(`form.login`))
	poll(t, tab, `location.pathname === "/runs/01LIVE00000002" && document.querySelector("#stop button") !== null`)
	if n := browser.Eval[int](t, tab, `document.querySelectorAll("#stop input").length`); n != 0 {
		t.Errorf("logged in with the write token, the form still asks for a token")
	}
	tab.Do(t, chromedp.Click(`#stop button`))
	poll(t, tab, `document.querySelector("#stop output").textContent.startsWith("stopped")`)
	if calls := stop.Calls(); len(calls) != 2 || calls[1].id != "01LIVE00000002" {
		t.Errorf("stop calls %+v", calls)
	}
	noErrorsBut(t, tab, "/stop:1: Failed to load resource: the server responded with a status of 403")
}

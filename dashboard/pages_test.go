package dashboard_test

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown/dashboard"
	"github.com/shakedown-dev/shakedown/history"
)

// TestPages: each page's status and what it must hold, without a browser.
func TestPages(t *testing.T) {
	stop := newFakeStop(liveRun)
	store := sampleStore(t)
	unique := sampleRun(t, expSearch, 2, sampleRuns)
	unique.ID = "01UNIQUERUN"
	if err := store.Record(t.Context(), unique); err != nil {
		t.Fatal(err)
	}
	u := serve(t, dashboard.Options{Store: store, Live: stop.Live, Stop: stop.Stop})
	for _, tc := range []struct {
		path   string
		status int
		holds  string
	}{
		{"/", 200, `href="/runs/01SAMPLE00039"`},
		{"/", 200, `href="/runs/` + liveRun + `"`},
		{"/experiments/" + expCheckout, 200, `id="trend-data"`},
		{"/experiments/" + expCheckout + "?branch=main&limit=5", 200, "5 newest runs of 40"},
		{"/experiments/no-such-experiment", 404, "no run recorded"},
		{"/experiments/" + expCheckout + "?limit=x", 400, "want a number above zero"},
		{"/runs/01SAMPLE00030", 200, "01SAMPLE00030"},
		{"/runs/01NOSUCHRUN", 404, "no such run"},
		{"/runs/01SAMPLE0003", 400, "several runs begin with"},
		{"/runs/" + liveRun, 200, `id="stop"`},
		{"/assets/dashboard.js", 200, "shakedownCharts"},
		{"/assets/uPlot.iife.min.js", 200, "uPlot"},
		{"/assets/nothing.js", 404, ""},
		{"/nothing", 404, ""},
		{"/login", 200, `name="token"`},
		{"/badge/" + expCheckout + ".svg", 200, "<svg"},
		{"/api/experiments", 200, expCheckout},
		{"/api/nothing", 404, ""},
	} {
		status, h, body := call(t, "GET", u+tc.path, "", "")
		if status != tc.status || !strings.Contains(string(body), tc.holds) {
			t.Errorf("GET %s: %d, want %d holding %q:\n%.300s", tc.path, status, tc.status, tc.holds, body)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q, want one with default-src 'none' and frame-ancestors 'none'", tc.path, csp)
		}
	}
	// A run's unambiguous prefix leads to its page.
	status, h, _ := call(t, "GET", u+"/runs/01UNIQ", "", "")
	if status != http.StatusFound || h.Get("Location") != "/runs/01UNIQUERUN" {
		t.Errorf("GET /runs/01UNIQ (the prefix of one run): %d to %q, want 302 to /runs/01UNIQUERUN", status, h.Get("Location"))
	}
}

// TestLogin: the login form sets an HttpOnly, SameSite=Strict cookie for a good token, goes
// back only to a page of the dashboard, and refuses a wrong token with 401.
func TestLogin(t *testing.T) {
	u := serve(t, dashboard.Options{ReadToken: readToken, WriteToken: writeToken})
	status, h, _ := call(t, "GET", u+"/experiments/"+expCheckout, "", "")
	if status != http.StatusSeeOther || h.Get("Location") != "/login?next="+url.QueryEscape("/experiments/"+expCheckout) {
		t.Errorf("a page without a token: %d to %q", status, h.Get("Location"))
	}
	form := func(token, next string) string { return url.Values{"token": {token}, "next": {next}}.Encode() }
	ct := []string{"Content-Type", "application/x-www-form-urlencoded"}
	for _, tc := range []struct {
		token, next, origin string
		status              int
		location            string
	}{
		{readToken, "/experiments/x", "", 303, "/experiments/x"},
		{writeToken, "/", u, 303, "/"},
		{" " + readToken + " ", "//evil.example/", "", 303, "/"},
		{readToken, "https://evil.example/", "", 303, "/"},
		{readToken, "/\\evil.example", "", 303, "/"},
		{"wrong", "/", "", 401, ""},
		{"", "/", "", 401, ""},
		{readToken, "/", "http://evil.example", 403, ""},
	} {
		hdr := ct
		if tc.origin != "" {
			hdr = append(hdr, "Origin", tc.origin)
		}
		status, h, body := call(t, "POST", u+"/login", "", form(tc.token, tc.next), hdr...)
		if status != tc.status || h.Get("Location") != tc.location {
			t.Errorf("login with %q to %q from %q: %d to %q, want %d to %q", tc.token, tc.next, tc.origin, status, h.Get("Location"), tc.status, tc.location)
		}
		cookie := h.Get("Set-Cookie")
		if tc.status == 303 {
			for _, want := range []string{"shakedown_token=", "HttpOnly", "SameSite=Strict", "Path=/"} {
				if !strings.Contains(cookie, want) {
					t.Errorf("login cookie %q lacks %s", cookie, want)
				}
			}
		} else if cookie != "" || tc.status == 401 && !strings.Contains(string(body), "wrong token") {
			t.Errorf("a refused login set %q, said %.200s", cookie, body)
		}
	}
	status, _, _ = call(t, "POST", u+"/login", "", "%zz", ct...)
	if status != 400 {
		t.Errorf("a malformed login form: %d, want 400", status)
	}
	status, _, body := call(t, "GET", u+"/", "", "", "Cookie", "shakedown_token="+readToken)
	if status != 200 || !strings.Contains(string(body), expCheckout) {
		t.Errorf("home with the cookie: %d", status)
	}
	status, h, _ = call(t, "GET", u+"/", "", "", "Cookie", "shakedown_token=stale")
	if status != 303 || !strings.Contains(h.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("home with a stale cookie: %d, Set-Cookie %q; want the login form and the cookie dropped", status, h.Get("Set-Cookie"))
	}
}

// TestEmptyHistory: a store with no run yet shows a home that says so, an empty API list,
// metrics with nothing but the store's health, and unknown badges.
func TestEmptyHistory(t *testing.T) {
	s, err := history.Open(t.Context(), history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(t.TempDir(), "h.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := serve(t, dashboard.Options{Store: s})
	if status, _, body := call(t, "GET", u+"/", "", ""); status != 200 || !strings.Contains(string(body), "No run is recorded") {
		t.Errorf("home: %d %.300s", status, body)
	}
	if status, _, body := call(t, "GET", u+"/api/experiments", "", ""); status != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("api: %d %s", status, body)
	}
	if status, _, body := call(t, "GET", u+"/metrics", "", ""); status != 200 || !strings.Contains(string(body), "shakedown_history_up 1") {
		t.Errorf("metrics: %d %s", status, body)
	}
	if status, _, body := call(t, "GET", u+"/badge/x.svg", "", ""); status != 404 || !strings.Contains(string(body), ">unknown<") {
		t.Errorf("badge: %d %s", status, body)
	}
}

// TestWrongTokensThrottled: a client that presents MaxWrongTokens wrong tokens — in the login
// form, a bearer header or a cookie alike — is refused with 429 for every token it presents
// next, the right one too, so that guessing goes no faster than the refill.
func TestWrongTokensThrottled(t *testing.T) {
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	for _, tc := range []struct {
		what  string
		guess func(u string) int
	}{
		{"login form", func(u string) int { s, _, _ := call(t, "POST", u+"/login", "", "token=guess", form...); return s }},
		{"bearer", func(u string) int { s, _, _ := call(t, "GET", u+"/api/experiments", "guess", ""); return s }},
		{"cookie", func(u string) int {
			s, _, _ := call(t, "GET", u+"/badge/x.svg", "", "", "Cookie", "shakedown_token=guess")
			return s
		}},
	} {
		u := serve(t, dashboard.Options{ReadToken: readToken, WriteToken: writeToken})
		for i := range dashboard.MaxWrongTokens {
			if s := tc.guess(u); s == http.StatusTooManyRequests {
				t.Fatalf("%s: guess %d refused with 429 already", tc.what, i+1)
			}
		}
		if s := tc.guess(u); s != http.StatusTooManyRequests {
			t.Errorf("%s: guess %d: status %d, want 429", tc.what, dashboard.MaxWrongTokens+1, s)
		}
		s, h, _ := call(t, "GET", u+"/api/experiments", readToken, "")
		if s != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Errorf("%s: the right token after too many wrong ones: %d, Retry-After %q; want 429 with Retry-After", tc.what, s, h.Get("Retry-After"))
		}
		s, _, _ = call(t, "POST", u+"/login", "", "token="+readToken, form...)
		if s != http.StatusTooManyRequests {
			t.Errorf("%s: a login with the right token after too many wrong ones: %d, want 429", tc.what, s)
		}
	}
}

// TestLiveRunLinksEscaped: the links to a live run and its stop form's action are built by
// one path-escaping builder, so an id with '/', '?', '#' or '%' leads to its own page, and
// posting the form stops that run and no other.
func TestLiveRunLinksEscaped(t *testing.T) {
	for _, id := range []string{"01LIVE:odd", "a?b#c", "a/b", "a%2Fb", "a b"} {
		t.Run(id, func(t *testing.T) {
			stop := newFakeStop(id)
			u := serve(t, dashboard.Options{WriteToken: writeToken, Stop: stop.Stop, Live: stop.Live})
			page := dashboard.RunPath(id)
			if want := "/runs/" + url.PathEscape(id); page != want {
				t.Errorf("RunPath(%q) = %q, want %q", id, page, want)
			}
			status, _, body := call(t, "GET", u+"/", writeToken, "")
			if status != 200 || !strings.Contains(string(body), `href="`+page+`"`) {
				t.Errorf("home: %d, want a link to %s:\n%.300s", status, page, body)
			}
			status, _, body = call(t, "GET", u+page, writeToken, "")
			action := regexp.MustCompile(`<form id="stop"[^>]* action="([^"]*)"`).FindSubmatch(body)
			if status != 200 || action == nil {
				t.Fatalf("GET %s: %d, want the live run's page with a stop form:\n%.300s", page, status, body)
			}
			if want := "/api" + page + "/stop"; string(action[1]) != want {
				t.Errorf("the stop form's action is %q, want %q", action[1], want)
			}
			status, _, body = call(t, "POST", u+string(action[1]), writeToken, "")
			if calls := stop.Calls(); status != 200 || len(calls) != 1 || calls[0].id != id {
				t.Errorf("POST %s: %d %s, stop calls %+v; want run %q stopped", action[1], status, body, calls, id)
			}
		})
	}
}

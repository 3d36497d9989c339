package dashboard_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/dashboard"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/pgtest"
)

const liveRun = "01LIVE00000001"

// call makes a request and returns the status, the headers and the body.
func call(t *testing.T, method, u, token, body string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// wantAPIError checks that an answer is the JSON error of status.
func wantAPIError(t *testing.T, what string, status int, h http.Header, body []byte, want int) {
	t.Helper()
	if status != want {
		t.Errorf("%s: status %d, want %d (%s)", what, status, want, body)
		return
	}
	var e struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Status != want || e.Error == "" {
		t.Errorf("%s: body %q is not the JSON error of %d (%v)", what, body, want, err)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
}

// TestAPIAuth: every endpoint with no token, a wrong one, the read token and the write token.
func TestAPIAuth(t *testing.T) {
	store := sampleStore(t)
	endpoints := []struct {
		method, path string
		write        bool
	}{
		{"GET", "/api/experiments", false},
		{"GET", "/api/experiments/" + expCheckout, false},
		{"GET", "/api/runs/01SAMPLE00030", false},
		{"GET", "/api/schedules", false},
		{"GET", "/api/live", false},
		{"POST", "/api/runs/" + liveRun + "/stop", true},
		{"GET", "/metrics", false},
		{"GET", "/badge/" + expCheckout + ".svg", false},
	}
	for _, ep := range endpoints {
		for _, tc := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"wrong token", "nope", http.StatusUnauthorized},
			{"read token with one character more", readToken + "x", http.StatusUnauthorized},
			{"read token", readToken, map[bool]int{false: http.StatusOK, true: http.StatusForbidden}[ep.write]},
			{"write token", writeToken, http.StatusOK},
		} {
			t.Run(ep.method+" "+ep.path+" "+tc.name, func(t *testing.T) {
				stop := newFakeStop(liveRun)
				u := serve(t, dashboard.Options{Store: store, ReadToken: readToken, WriteToken: writeToken, Stop: stop.Stop, Live: stop.Live})
				status, h, body := call(t, ep.method, u+ep.path, tc.token, "")
				if tc.want != http.StatusOK {
					wantAPIError(t, ep.path, status, h, body, tc.want)
					if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
						t.Errorf("401 without WWW-Authenticate")
					}
					if len(stop.Calls()) != 0 {
						t.Errorf("the run was stopped: %v", stop.Calls())
					}
					return
				}
				if status != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", status, body)
				}
				if ep.write {
					if calls := stop.Calls(); len(calls) != 1 || calls[0].id != liveRun || !strings.HasPrefix(calls[0].by, "dashboard write token from 127.0.0.1") {
						t.Errorf("stop calls %+v, want one of %s by the dashboard", calls, liveRun)
					}
				}
			})
		}
	}
}

// TestAPIErrors: unknown ids and experiments, malformed bodies, wrong methods, a dashboard
// that cannot write or stop.
func TestAPIErrors(t *testing.T) {
	store := sampleStore(t)
	stop := newFakeStop(liveRun)
	u := serve(t, dashboard.Options{Store: store, ReadToken: readToken, WriteToken: writeToken, Stop: stop.Stop, Live: stop.Live})
	stopURL := u + "/api/runs/" + liveRun + "/stop"
	for _, tc := range []struct {
		name, method, url, token, body string
		header                         []string
		want                           int
	}{
		{"unknown run", "GET", u + "/api/runs/01NOSUCHRUN", readToken, "", nil, 404},
		{"unknown experiment", "GET", u + "/api/experiments/no-such-experiment", readToken, "", nil, 404},
		{"unknown experiment on a branch", "GET", u + "/api/experiments/" + expCheckout + "?branch=nope", readToken, "", nil, 404},
		{"bad limit", "GET", u + "/api/experiments/" + expCheckout + "?limit=-3", readToken, "", nil, 400},
		{"stop an unknown run", "POST", u + "/api/runs/01NOSUCHRUN/stop", writeToken, "", nil, 404},
		{"unknown endpoint", "GET", u + "/api/nothing", readToken, "", nil, 404},
		{"unknown endpoint without a token", "GET", u + "/api/nothing", "", "", nil, 401},
		{"body not JSON", "POST", stopURL, writeToken, "{", nil, 400},
		{"body with an unknown field", "POST", stopURL, writeToken, `{"reason": "x", "force": true}`, nil, 400},
		{"body an array", "POST", stopURL, writeToken, `[]`, nil, 400},
		{"body two objects", "POST", stopURL, writeToken, `{} {}`, nil, 400},
		{"reason with a newline", "POST", stopURL, writeToken, `{"reason": "a\nb"}`, nil, 400},
		{"reason too long", "POST", stopURL, writeToken, `{"reason": "` + strings.Repeat("x", 300) + `"}`, nil, 400},
		{"body too large", "POST", stopURL, writeToken, `{"reason": "` + strings.Repeat("x", 20000) + `"}`, nil, 413},
		{"GET a stop", "GET", stopURL, writeToken, "", nil, 405},
		{"DELETE the experiments", "DELETE", u + "/api/experiments", readToken, "", nil, 405},
		{"POST a run", "POST", u + "/api/runs/01SAMPLE00030", writeToken, "", nil, 405},
		{"Basic authorization", "GET", u + "/api/experiments", "", "", []string{"Authorization", "Basic " + readToken}, 401},
		{"write token in a cookie, from another site", "POST", stopURL, "", "", []string{"Cookie", "shakedown_token=" + writeToken, "Origin", "http://evil.example"}, 403},
		{"wrong token beside a good cookie", "GET", u + "/api/experiments", "nope", "", []string{"Cookie", "shakedown_token=" + readToken}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := call(t, tc.method, tc.url, tc.token, tc.body, tc.header...)
			wantAPIError(t, tc.name, status, h, body, tc.want)
			if tc.want == 405 && h.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
		})
	}
	if calls := stop.Calls(); len(calls) != 0 {
		t.Errorf("a refused request stopped a run: %+v", calls)
	}
	// The write token in a cookie from the dashboard's own page stops, with a reason.
	status, _, body := call(t, "POST", stopURL, "", `{"reason": "the cache is on fire"}`, "Cookie", "shakedown_token="+writeToken, "Origin", u)
	var ans dashboard.StopAnswer
	if err := json.Unmarshal(body, &ans); status != 200 || err != nil || !ans.Stopped || !strings.HasSuffix(ans.By, ": the cache is on fire") {
		t.Errorf("stop from the page: %d %s", status, body)
	}
}

// TestAPIWithoutWriting: a dashboard with no write token refuses write actions (403), one
// with no Stop says it cannot (501), and with no token at all reading is open.
func TestAPIWithoutWriting(t *testing.T) {
	store := sampleStore(t)
	stop := newFakeStop(liveRun)
	readOnly := serve(t, dashboard.Options{Store: store, ReadToken: readToken, Stop: stop.Stop})
	status, h, body := call(t, "POST", readOnly+"/api/runs/"+liveRun+"/stop", readToken, "")
	wantAPIError(t, "read-only dashboard", status, h, body, 403)
	if !strings.Contains(string(body), "--write-token-file") {
		t.Errorf("the refusal does not say how to allow writing: %s", body)
	}
	noStop := serve(t, dashboard.Options{Store: store, WriteToken: writeToken})
	status, h, body = call(t, "POST", noStop+"/api/runs/"+liveRun+"/stop", writeToken, "")
	wantAPIError(t, "dashboard without Stop", status, h, body, 501)

	open := serve(t, dashboard.Options{Store: store, Stop: stop.Stop})
	if status, _, body := call(t, "GET", open+"/api/experiments", "", ""); status != 200 {
		t.Errorf("open reading: %d %s", status, body)
	}
	status, h, body = call(t, "GET", open+"/api/experiments", "guess", "")
	wantAPIError(t, "open dashboard, wrong token", status, h, body, 401)
	status, h, body = call(t, "POST", open+"/api/runs/"+liveRun+"/stop", "", "")
	wantAPIError(t, "open dashboard, stop", status, h, body, 403)
	if len(stop.Calls()) != 0 {
		t.Errorf("a run was stopped: %+v", stop.Calls())
	}
}

// TestAPIData: the API says what the history holds: verdicts, pass rates, marks, trends and
// the gate's regressions, records.
func TestAPIData(t *testing.T) {
	u := serve(t, dashboard.Options{Schedules: func() []dashboard.Schedule {
		return []dashboard.Schedule{{Name: "nightly", Experiments: "experiments/", Every: "6h"}}
	}})
	var exps []struct {
		Name        string            `json:"name"`
		Runs        int               `json:"runs"`
		LastVerdict shakedown.Verdict `json:"last_verdict"`
		PassRate    float64           `json:"pass_rate"`
		Recent      []struct {
			ID      string            `json:"id"`
			Verdict shakedown.Verdict `json:"verdict"`
		} `json:"recent"`
		Marks []struct {
			Kind string `json:"kind"`
			Run  string `json:"run"`
		} `json:"marks"`
	}
	getJSON(t, u+"/api/experiments", &exps)
	if len(exps) != 3 || exps[0].Name != expCheckout || exps[0].Runs != sampleRuns || len(exps[0].Recent) != dashboard.StripRuns {
		t.Fatalf("experiments: %+v", exps)
	}
	// Checkout's newest 30 runs are 10…39: failed 20…24, regressed 30, failed 35.
	if got, want := exps[0].PassRate, 23.0/30; got != want {
		t.Errorf("pass rate %v, want %v", got, want)
	}
	var marks []string
	for _, m := range exps[0].Marks {
		marks = append(marks, m.Kind+" "+m.Run)
	}
	slices.Sort(marks)
	// A commit every other run: 24 (failed) and 25 (passed) share one, and so do 30 and 31;
	// a commit found flaky is one mark, on its newest run.
	want := []string{"discovered 01SAMPLE00020", "discovered 01SAMPLE00030", "discovered 01SAMPLE00035", "fixed 01SAMPLE00025",
		"fixed 01SAMPLE00031", "fixed 01SAMPLE00036", "flaky 01SAMPLE00025", "flaky 01SAMPLE00031", "flaky 01SAMPLE00035"}
	if !slices.Equal(marks, want) {
		t.Errorf("marks %q, want %q", marks, want)
	}
	var exp struct {
		Runs []struct {
			ID          string   `json:"id"`
			Regressions []string `json:"regressions"`
		} `json:"runs"`
		Charts []struct {
			Key       string     `json:"key"`
			Group     string     `json:"group"`
			Values    []*float64 `json:"values"`
			Regressed []bool     `json:"regressed"`
		} `json:"charts"`
	}
	getJSON(t, u+"/api/experiments/"+url.PathEscape(expCheckout)+"?limit=40", &exp)
	if len(exp.Runs) != sampleRuns {
		t.Fatalf("%d runs, want %d", len(exp.Runs), sampleRuns)
	}
	var groups []string
	for _, c := range exp.Charts {
		groups = append(groups, c.Group+" "+c.Key)
		if len(c.Values) != sampleRuns || c.Values[0] == nil {
			t.Errorf("chart %s: %d values, first %v", c.Key, len(c.Values), c.Values[0])
		}
		if c.Key == "checkout.latency.p99 during inject" {
			if !c.Regressed[30] || slices.Index(c.Regressed, true) != 30 || *c.Values[30] != 460 {
				t.Errorf("p99 chart: run 30 not the one regressed point at 460: %v", c.Regressed)
			}
		}
	}
	wantGroups := []string{"p99 checkout.latency.p99 during inject", "errors checkout.errors during inject",
		"detect cache alert fires.time_to_detect", "recover cache alert fires.time_to_recover", "recover recovery.time_to_recover"}
	if !slices.Equal(groups, wantGroups) {
		t.Errorf("charts %q, want %q", groups, wantGroups)
	}
	var rec shakedown.Record
	getJSON(t, u+"/api/runs/01SAMPLE00030", &rec)
	if rec.ID != "01SAMPLE00030" || rec.Verdict != shakedown.VerdictRegressed || rec.Gate == nil {
		t.Errorf("record %s %s %v", rec.ID, rec.Verdict, rec.Gate)
	}
	var ss []dashboard.Schedule
	getJSON(t, u+"/api/schedules", &ss)
	if len(ss) != 1 || ss[0].Name != "nightly" {
		t.Errorf("schedules %+v", ss)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	status, h, body := call(t, "GET", u, "", "")
	if status != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s: %d %s", u, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// TestNamesAreText: an experiment whose name holds a slash, markup and quotes has its page,
// API answer and badge at its escaped name, and shows as text.
func TestNamesAreText(t *testing.T) {
	s := sampleStore(t)
	name := `team/<b>x</b> "q" & ü`
	r := sampleRun(t, name, 3, 0)
	if err := s.Record(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	u := serve(t, dashboard.Options{Store: s})
	esc := url.PathEscape(name)
	var exp struct {
		Name string `json:"name"`
	}
	getJSON(t, u+"/api/experiments/"+esc, &exp)
	if exp.Name != name {
		t.Errorf("API name %q, want %q", exp.Name, name)
	}
	for _, path := range []string{"/", "/experiments/" + esc, "/badge/" + esc + ".svg"} {
		status, _, body := call(t, "GET", u+path, "", "")
		if status != 200 {
			t.Errorf("GET %s: %d", path, status)
		}
		if strings.Contains(string(body), "<b>x</b>") {
			t.Errorf("GET %s: the name's markup is in the page", path)
		}
	}
	if _, _, body := call(t, "GET", u+"/", "", ""); !strings.Contains(string(body), `href="/experiments/`+strings.ReplaceAll(esc, "&", "&amp;")+`"`) {
		t.Errorf("the home page does not link to /experiments/%s", esc)
	}
}

// TestPostgres: over a PostgreSQL store the API answers what it answers over SQLite.
func TestPostgres(t *testing.T) {
	pg := serve(t, dashboard.Options{Store: sampleStoreAt(t, history.DSN{Driver: history.DriverPostgres, Path: pgtest.DB(t)})})
	lite := serve(t, dashboard.Options{})
	for _, path := range []string{"/api/experiments", "/api/experiments/" + expCheckout + "?limit=40", "/api/runs/01SAMPLE00030"} {
		var a, b any
		getJSON(t, pg+path, &a)
		getJSON(t, lite+path, &b)
		if diff := cmp.Diff(b, a); diff != "" {
			t.Errorf("GET %s, SQLite vs PostgreSQL (-sqlite +postgres):\n%s", path, diff)
		}
	}
	for _, path := range []string{"/", "/experiments/" + expCheckout, "/runs/01SAMPLE00030", "/metrics", "/badge/" + expCheckout + ".svg"} {
		if status, _, body := call(t, "GET", pg+path, "", ""); status != 200 {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
}

// TestPagesHoldNoUnprintable: text that would act on a reader's screen rather than show — an
// escape sequence, a control character, a bidirectional override — reaches no page, report,
// badge or error page, whichever field carries it; the badge stays well-formed XML.
func TestPagesHoldNoUnprintable(t *testing.T) {
	s := sampleStore(t)
	name := "evil\x1b[2J\u202etxt.exe\x01"
	r := sampleRun(t, name, 3, 0)
	r.Host = "host\u2066\x7f"
	r.Commit.Branch = "main\u2028x"
	if err := s.Record(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	u := serve(t, dashboard.Options{Store: s})
	esc := url.PathEscape(name)
	for _, path := range []string{"/", "/experiments/" + esc, "/runs/" + r.ID, "/badge/" + esc + ".svg",
		"/experiments/" + url.PathEscape("nope\u202e\x1b[31m"), "/runs/" + url.PathEscape("x\u202ey")} {
		_, _, body := call(t, "GET", u+path, "", "")
		if i := strings.IndexFunc(string(body), func(c rune) bool {
			return shakedown.Unprintable(c) && c != '\t' && c != '\n' && c != '\r'
		}); i >= 0 {
			t.Errorf("GET %s: an unprintable character at byte %d: %q", path, i, body[max(0, i-30):min(len(body), i+10)])
		}
		if strings.HasPrefix(path, "/badge/") {
			if err := xml.Unmarshal(body, new(struct{})); err != nil {
				t.Errorf("GET %s: the badge is not XML: %v", path, err)
			}
		}
	}
}

package dashboard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/dashboard"
	"github.com/shakedown-dev/shakedown/internal/httplimit"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// Tokens of the tests' dashboards.
const (
	readToken  = "read-7f3a9c2e41"
	writeToken = "write-b81d06fe55"
)

// serve serves a dashboard on 127.0.0.1:0 for the test, and returns its URL without the
// trailing slash.
func serve(t testing.TB, o dashboard.Options) string {
	t.Helper()
	if o.Store == nil {
		o.Store = sampleStore(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dashboard.Serve(ctx, ln, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// fakeStop is an Options.Stop that stops the runs it is told are live.
type fakeStop struct {
	mu    sync.Mutex
	live  map[string]bool
	calls []stopCall
}

type stopCall struct{ id, by string }

func newFakeStop(live ...string) *fakeStop {
	f := &fakeStop{live: map[string]bool{}}
	for _, id := range live {
		f.live[id] = true
	}
	return f
}

func (f *fakeStop) Stop(_ context.Context, id, by string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live[id] {
		return shakedown.Errorf(shakedown.KindNotFound, "stop run %s: no such live run", id)
	}
	delete(f.live, id)
	f.calls = append(f.calls, stopCall{id, by})
	return nil
}

func (f *fakeStop) Live(context.Context) ([]dashboard.LiveRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []dashboard.LiveRun
	for id := range f.live {
		out = append(out, dashboard.LiveRun{ID: id, Experiment: expCheckout})
	}
	return out, nil
}

func (f *fakeStop) Calls() []stopCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stopCall(nil), f.calls...)
}

// TestServeRefusesOpenReadingBeyondLoopback: with no token, only a loopback address serves.
func TestServeRefusesOpenReadingBeyondLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	err = dashboard.Serve(context.Background(), ln, dashboard.Options{Store: sampleStore(t)})
	if !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Fatalf("Serve on %s without tokens = %v, want an invalid error", ln.Addr(), err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the listener is still open after the refusal: %v", err)
	}
}

func TestLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8088", true}, {"127.0.0.2:1", true}, {"[::1]:8088", true},
		{"0.0.0.0:8088", false}, {"[::]:8088", false}, {"10.0.0.1:80", false}, {"example.com:80", false}, {"junk", false},
	} {
		addr, _ := net.ResolveTCPAddr("tcp", tc.addr)
		var a net.Addr = addr
		if addr == nil {
			a = fakeAddr(tc.addr)
		}
		if got := dashboard.Loopback(a); got != tc.want {
			t.Errorf("Loopback(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func mustTime(t testing.TB, s string) time.Time {
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestHostAndOrigin: a dashboard with open reading answers only to the names of this machine
// (a page of another site resolved to 127.0.0.1 reads nothing), and every request that changes
// something — log in, log out, stop — is refused from another site's page.
func TestHostAndOrigin(t *testing.T) {
	open := serve(t, dashboard.Options{})
	locked := serve(t, dashboard.Options{ReadToken: readToken, WriteToken: writeToken, Stop: newFakeStop(liveRun).Stop})
	form := []string{"Content-Type", "application/x-www-form-urlencoded"}
	for _, tc := range []struct {
		what, method, url, token, body string
		header                         []string
		want                           int
	}{
		{"open, Host another site's", "GET", open + "/api/experiments", "", "", []string{"Host", "evil.example"}, http.StatusMisdirectedRequest},
		{"open, Host another site's with a port", "GET", open + "/", "", "", []string{"Host", "evil.example:8088"}, http.StatusMisdirectedRequest},
		{"open, Host 127.0.0.1.evil.example", "GET", open + "/badge/x.svg", "", "", []string{"Host", "127.0.0.1.evil.example"}, http.StatusMisdirectedRequest},
		{"open, Host localhost", "GET", open + "/api/experiments", "", "", []string{"Host", "localhost:8088"}, 200},
		{"open, Host [::1]", "GET", open + "/api/experiments", "", "", []string{"Host", "[::1]:8088"}, 200},
		{"open, Host 127.0.0.1", "GET", open + "/api/experiments", "", "", nil, 200},
		{"locked, Host of a proxy in front", "GET", locked + "/api/experiments", readToken, "", []string{"Host", "dash.example"}, 200},
		{"logout from another site", "POST", locked + "/logout", "", "", []string{"Origin", "http://evil.example", "Cookie", "shakedown_token=" + readToken}, 403},
		{"logout, Sec-Fetch-Site cross-site", "POST", locked + "/logout", "", "", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"logout from the dashboard", "POST", locked + "/logout", "", "", []string{"Sec-Fetch-Site", "same-origin"}, 303},
		{"login from a sibling site", "POST", locked + "/login", "", "token=" + readToken, append([]string{"Sec-Fetch-Site", "same-site"}, form...), 403},
		{"login from the dashboard", "POST", locked + "/login", "", "token=" + readToken, append([]string{"Sec-Fetch-Site", "same-origin"}, form...), 303},
		{"stop from another site", "POST", locked + "/api/runs/" + liveRun + "/stop", "", "", []string{"Cookie", "shakedown_token=" + writeToken, "Sec-Fetch-Site", "cross-site"}, 403},
	} {
		status, _, body := call(t, tc.method, tc.url, tc.token, tc.body, tc.header...)
		if status != tc.want {
			t.Errorf("%s: status %d, want %d (%.120s)", tc.what, status, tc.want, body)
		}
	}
}

// TestHeaderLimit: a request whose header passes httplimit.MaxHeader is refused with 431,
// one within it is answered.
func TestHeaderLimit(t *testing.T) {
	u := serve(t, dashboard.Options{})
	testenv.HeaderLimit(t, u+"/api/experiments", httplimit.MaxHeader)
}

package dashboard_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/dashboard"
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

package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// hangBound is how long past its duration and timeout a load may take before a test calls
// it hung: far more than any busy machine needs, far less than forever.
const hangBound = 10 * time.Second

// runBounded runs g for d and fails the test when Run does not return within d, the
// request timeout and hangBound.
func runBounded(t *testing.T, g *Generator, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(d + g.timeout + hangBound):
		t.Fatalf("the load of %v with a %v timeout did not end within %v more", d, g.timeout, hangBound)
	}
}

// holdOpen keeps c open until the client closes it or the test ends.
func holdOpen(t *testing.T, c net.Conn) {
	stop := context.AfterFunc(t.Context(), func() { c.Close() })
	defer stop()
	io.Copy(io.Discard, c)
}

// answerEach answers every request read on c with text, until the client goes.
func answerEach(c net.Conn, text string) {
	r := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(r)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		if _, err := io.WriteString(c, text); err != nil {
			return
		}
	}
}

// sendPath is a way a load sends an open-model load of a plain http:// URL.
type sendPath struct {
	name    string
	opts    func(t *testing.T) Options
	netHTTP bool // through the net/http client the generator makes for itself
}

// sendPaths are the ways a load sends an open-model load of a plain http:// URL: the
// event loop (or the lean client where there is none), and net/http's client — the one
// New makes for itself (for https and redirects), bounded by the load — and the closed
// model.
var sendPaths = []sendPath{
	{name: "lean", opts: func(*testing.T) Options { return Options{} }},
	{name: "net/http", opts: func(*testing.T) Options { return Options{} }, netHTTP: true},
	{name: "closed", opts: func(*testing.T) Options { return Options{Workers: 2} }},
}

// newOn is New for the path p: on net/http's, the generator sends every request through
// the client it made for itself instead of the lean one.
func (p sendPath) newOn(spec *shakedown.LoadSpec, opts Options) (*Generator, error) {
	g, err := New(spec, opts)
	if err == nil && p.netHTTP {
		g.wire = nil
	}
	return g, err
}

// TestSwitchingProtocolsEndsTheRequest: an answer of 101 Switching Protocols is whole at
// its headers — what follows is another protocol's stream, which net/http hands over as
// the body with no deadline — so the load ends on time on every path, and through a
// redirect to such an answer.
func TestSwitchingProtocolsEndsTheRequest(t *testing.T) {
	const switched = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"
	upgrade := testenv.Serve(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, switched)
		holdOpen(t, c) // the stream never ends
	})
	redirect := testenv.Serve(t, func(c net.Conn) {
		answerEach(c, "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://"+upgrade+"/\r\nContent-Length: 0\r\n\r\n")
	})
	for _, target := range []struct{ name, url string }{{"101", "http://" + upgrade + "/"}, {"redirect to 101", "http://" + redirect + "/"}} {
		for _, p := range sendPaths {
			t.Run(target.name+"/"+p.name, func(t *testing.T) {
				g, err := p.newOn(&shakedown.LoadSpec{URL: target.url, Rate: 20, Timeout: 200 * time.Millisecond}, p.opts(t))
				if err != nil {
					t.Fatal(err)
				}
				runBounded(t, g, 200*time.Millisecond)
				rep := g.Report()
				if rep.Requests == 0 || rep.Status["101"] != rep.Requests {
					t.Errorf("%d requests, statuses %v, error kinds %v; want every one answered 101", rep.Requests, rep.Status, rep.ErrorKinds)
				}
			})
		}
	}
}

// TestRunLeavesNoConnectionOpen: once Run returns, the connections of the client a
// generator made for itself are closed — the lean client's, and net/http's that follows
// redirects or sends https — rather than idle at the target for a minute and a half.
func TestRunLeavesNoConnectionOpen(t *testing.T) {
	var open atomic.Int64
	end := testenv.Serve(t, func(c net.Conn) {
		open.Add(1)
		defer open.Add(-1)
		answerEach(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	start := testenv.Serve(t, func(c net.Conn) {
		open.Add(1)
		defer open.Add(-1)
		answerEach(c, "HTTP/1.1 302 Found\r\nLocation: http://"+end+"/\r\nContent-Length: 0\r\n\r\n")
	})
	for _, workers := range []int{0, 2} {
		g, err := New(&shakedown.LoadSpec{URL: "http://" + start + "/", Rate: 50}, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		runBounded(t, g, 200*time.Millisecond)
		if rep := g.Report(); rep.Requests == 0 || rep.Status["200"] != rep.Requests {
			t.Fatalf("%d workers: %d requests, statuses %v, error kinds %v; want every one redirected to 200", workers, rep.Requests, rep.Status, rep.ErrorKinds)
		}
		testenv.WaitFor(t, "the load's connections closed", 5*time.Second, func() bool { return open.Load() == 0 })
	}
}

// TestAchievedRateCountsOnlySends: when the target holds every request and MaxInFlight
// are in flight, the rest are not sent; the achieved rate is the sends over the time the
// load was to send, not the rate of the few that left at its start.
func TestAchievedRateCountsOnlySends(t *testing.T) {
	const d = 500 * time.Millisecond
	for _, p := range sendPaths[:2] {
		t.Run(p.name, func(t *testing.T) {
			srv := holdingServer(t)
			opts := p.opts(t)
			opts.MaxInFlight = 3
			g, err := p.newOn(&shakedown.LoadSpec{URL: srv.url, Rate: 100, Timeout: 2 * d}, opts)
			if err != nil {
				t.Fatal(err)
			}
			runBounded(t, g, d)
			rep := g.Report()
			sent := srv.arrived.Load()
			if sent != 3 || rep.ErrorKinds["not sent"] != rep.Requests-sent {
				t.Fatalf("%d requests, the server held %d, error kinds %v; want 3 held, the rest not sent", rep.Requests, sent, rep.ErrorKinds)
			}
			// The load ran (a little less than) d: it was to send all that time.
			if dur := rep.Duration.Duration(); dur < d/2 || dur > d {
				t.Errorf("sending lasted %v, want the load's %v", dur, d)
			}
			if want := float64(sent) / rep.Duration.Duration().Seconds(); math.Abs(rep.Achieved-want) > 1e-3*want {
				t.Errorf("achieved rate %.2f/s, want the %d sends over %v: %.2f/s", rep.Achieved, sent, rep.Duration.Duration(), want)
			}
		})
	}
}

// TestAnswerOutOfStepClosesTheConnection: a server that answers one request twice puts its
// connection out of step; the extra answer is not taken as the next request's, on any
// path: every request counts the answer the server gave it.
func TestAnswerOutOfStepClosesTheConnection(t *testing.T) {
	addr := testenv.Serve(t, func(c net.Conn) {
		answerEach(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
	})
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			g, err := p.newOn(&shakedown.LoadSpec{URL: "http://" + addr + "/", Rate: 100}, p.opts(t))
			if err != nil {
				t.Fatal(err)
			}
			runBounded(t, g, 200*time.Millisecond)
			if rep := g.Report(); rep.Requests == 0 || rep.Status["200"] != rep.Requests {
				t.Errorf("%d requests, statuses %v, error kinds %v; want every one answered 200", rep.Requests, rep.Status, rep.ErrorKinds)
			}
		})
	}
}

// TestHostileTargets: whatever a target does — never answer, answer a byte at a time, send
// a body without end, cut its answer short, reset, redirect in a circle or to a file — the
// load ends within its duration and timeout, every request due is counted once, as a
// success or an error of the kind the target caused, with the status of the answer's
// headers when they came whole, on every path.
func TestHostileTargets(t *testing.T) {
	reading := func(then func(c net.Conn)) func(net.Conn) {
		return func(c net.Conn) {
			if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
				then(c)
			}
		}
	}
	hold := func(c net.Conn) { holdOpen(t, c) }
	for _, c := range []struct {
		name  string
		serve func(net.Conn)
		kind  string // of every request's error; "" for success
		// the status every request counts: that of an answer whose headers came whole ("-":
		// not checked, when the target's reset may come before them or after)
		status string
	}{
		{"silent", hold, "timeout", ""},
		{"a byte at a time", reading(func(c net.Conn) {
			for _, b := range []byte("HTTP/1.1 200 OK\r\nX-Slow: " + strings.Repeat("y", 100)) {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			hold(c)
		}), "timeout", ""},
		{"endless body", reading(func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n")
			for b := make([]byte, 16<<10); ; {
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}), "timeout", "200"},
		{"body short of its length", reading(func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
			hold(c)
		}), "timeout", "200"},
		{"reset in the body", reading(func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
			c.(*net.TCPConn).SetLinger(0)
		}), "connection reset", "-"},
		{"redirect to itself", func(c net.Conn) {
			answerEach(c, "HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n")
		}, "transport", ""},
		{"redirect to a file", func(c net.Conn) {
			answerEach(c, "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n")
		}, "transport", ""},
		{"HTTP/1.0 to the close", reading(func(c net.Conn) { io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nall of it") }), "", "200"},
	} {
		addr := testenv.Serve(t, c.serve)
		for _, p := range sendPaths {
			t.Run(c.name+"/"+p.name, func(t *testing.T) {
				const rate, d = 20, 200 * time.Millisecond
				opts := p.opts(t)
				g, err := p.newOn(&shakedown.LoadSpec{URL: "http://" + addr + "/", Rate: rate, Timeout: d}, opts)
				if err != nil {
					t.Fatal(err)
				}
				runBounded(t, g, d)
				rep := g.Report()
				var kinds int64
				for _, n := range rep.ErrorKinds {
					kinds += n
				}
				lo, hi := scheduled(rate, d)
				switch {
				case kinds != rep.Errors:
					t.Errorf("%d errors, error kinds %v", rep.Errors, rep.ErrorKinds)
				case c.kind == "" && rep.Errors != 0, c.kind != "" && rep.ErrorKinds[c.kind] != rep.Requests:
					t.Errorf("%d requests, error kinds %v, want every one %q", rep.Requests, rep.ErrorKinds, c.kind)
				case opts.Workers == 0 && (rep.Requests < int64(lo) || rep.Requests > int64(hi)):
					t.Errorf("%d requests counted, want the %d–%d the schedule holds", rep.Requests, lo, hi)
				case c.status == "" && len(rep.Status) != 0, c.status != "" && c.status != "-" && rep.Status[c.status] != rep.Requests:
					t.Errorf("%d requests, statuses %v, want every one %q", rep.Requests, rep.Status, c.status)
				}
			})
		}
	}
}

// TestTinyRateSendsOnce: a rate so low that the second request would be due after
// centuries — "0.000000001/h" is a valid rate — sends the first request and no more, ramped
// or not, on every path: the times of the others saturate, rather than wrapping around to
// the past and sending without end.
func TestTinyRateSendsOnce(t *testing.T) {
	addr := testenv.Serve(t, func(c net.Conn) { answerEach(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") })
	rate, err := shakedown.ParseRate("0.000000001/h")
	if err != nil {
		t.Fatal(err)
	}
	for _, ramp := range []time.Duration{0, time.Minute} {
		for _, p := range sendPaths[:2] {
			t.Run(fmt.Sprintf("%s/ramp %v", p.name, ramp), func(t *testing.T) {
				g, err := p.newOn(&shakedown.LoadSpec{URL: "http://" + addr + "/", Rate: rate, Ramp: ramp, Timeout: time.Second}, p.opts(t))
				if err != nil {
					t.Fatal(err)
				}
				runBounded(t, g, 200*time.Millisecond)
				if rep := g.Report(); rep.Requests != 1 || rep.Errors != 0 {
					t.Errorf("%d requests, error kinds %v; want the first, answered", rep.Requests, rep.ErrorKinds)
				}
			})
		}
	}
}

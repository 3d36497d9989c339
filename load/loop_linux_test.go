//go:build linux

package load

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// runLoopLoad sends spec's load for d through the event loop and checks that the loop
// ran and closed every descriptor it opened.
func runLoopLoad(t *testing.T, spec *shakedown.LoadSpec, opts Options, d time.Duration) *Generator {
	t.Helper()
	g, err := New(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	g.rec.begin(g.now())
	if !g.runLoop(ctx, g.now()) {
		t.Fatal("the event loop did not run")
	}
	// The test's server closes its side once it reads the end of each connection.
	testenv.WaitFor(t, "the load's descriptors closed", 5*time.Second, func() bool { return openFDs(t) <= before })
	return g
}

// TestLoopReadsEveryKindOfAnswer: through the event loop as through the blocking client,
// each kind of body is read to its end and a connection is kept exactly when HTTP/1.x
// says it may be. The loop opens a second connection when a request comes due while the
// first still waits for its answer, as it must; the requests are 100 ms apart, so that
// only an answer that takes longer than that (a machine busy with every other package's
// tests under the race detector) would make a kept connection two.
func TestLoopReadsEveryKindOfAnswer(t *testing.T) {
	for _, c := range answerKinds {
		t.Run(c.name, func(t *testing.T) {
			s := newRawServer(t, c.answer)
			g := runLoopLoad(t, &shakedown.LoadSpec{Name: "kinds", URL: "http://" + s.addr + "/", Rate: 10}, Options{}, 600*time.Millisecond)
			rep := g.Report()
			if rep.Requests < 5 || rep.Status[strconv.Itoa(c.status)] != rep.Requests {
				t.Fatalf("%d requests, statuses %v, error kinds %v; want all %d", rep.Requests, rep.Status, rep.ErrorKinds, c.status)
			}
			want := rep.Requests
			if c.keep {
				want = 1
			}
			if n := s.conns.Load(); n != want {
				t.Errorf("%d requests took %d connections, want %d", rep.Requests, n, want)
			}
		})
	}
}

// TestLoopRetriesAfterIdleClose: a GET that finds its kept connection closed by the
// server before any answer is sent again on a new one, once, and succeeds.
func TestLoopRetriesAfterIdleClose(t *testing.T) {
	s := newRawServer(t, rawAnswer{text: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", close: true})
	g := runLoopLoad(t, &shakedown.LoadSpec{Name: "retry", URL: "http://" + s.addr + "/", Rate: 50}, Options{}, 300*time.Millisecond)
	rep := g.Report()
	if rep.Requests < 5 || rep.Errors != 0 || s.reqs.Load() != rep.Requests {
		t.Errorf("%d requests, %d errors %v, the server answered %d", rep.Requests, rep.Errors, rep.ErrorKinds, s.reqs.Load())
	}
}

// TestLoopErrors: a cut answer and one that is not HTTP give the blocking client's error
// kinds, and a POST is not sent again.
func TestLoopErrors(t *testing.T) {
	for _, c := range []struct{ name, answer, kind string }{
		{"cut body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "connection closed"},
		{"cut chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "connection closed"},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", "transport"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newRawServer(t, rawAnswer{text: c.answer, close: true})
			g := runLoopLoad(t, &shakedown.LoadSpec{Name: "errors", URL: "http://" + s.addr + "/", Rate: 50, Method: "POST", Body: "x"}, Options{}, 200*time.Millisecond)
			rep := g.Report()
			if rep.Requests < 5 || rep.ErrorKinds[c.kind] != rep.Requests || s.reqs.Load() != rep.Requests {
				t.Errorf("%d requests, error kinds %v, the server saw %d; want every one %q", rep.Requests, rep.ErrorKinds, s.reqs.Load(), c.kind)
			}
		})
	}
}

// TestLoopWritesLargeBodies: a request larger than the socket takes at once is written as
// the socket drains, whole, while other requests go on.
func TestLoopWritesLargeBodies(t *testing.T) {
	body := strings.Repeat("b", 8<<20)
	var whole, short atomic.Int64
	addr := testenv.Serve(t, func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(r)
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, req.Body)
			if n == int64(len(body)) {
				whole.Add(1)
			} else {
				short.Add(1)
			}
			io.WriteString(c, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
		}
	})
	g := runLoopLoad(t, &shakedown.LoadSpec{Name: "large", URL: "http://" + addr + "/", Rate: 20, Method: "PUT", Body: body, Timeout: 10 * time.Second}, Options{}, 500*time.Millisecond)
	rep := g.Report()
	if rep.Requests < 5 || rep.Status["201"] != rep.Requests || whole.Load() != rep.Requests || short.Load() != 0 {
		t.Errorf("%d requests, statuses %v, errors %v; the server read %d whole bodies and %d short", rep.Requests, rep.Status, rep.ErrorKinds, whole.Load(), short.Load())
	}
}

// TestLoopMaxInFlight: with MaxInFlight requests held by the server, the next ones wait
// for one to end and, when the load ends first, count as not sent; the server never sees
// more than MaxInFlight at once.
func TestLoopMaxInFlight(t *testing.T) {
	srv := holdingServer(t)
	const max = 3
	g := runLoopLoad(t, &shakedown.LoadSpec{Name: "bounded", URL: srv.url, Rate: 100, Timeout: 300 * time.Millisecond},
		Options{MaxInFlight: max}, 500*time.Millisecond)
	rep := g.Report()
	sent := rep.ErrorKinds["timeout"]
	if sent == 0 || srv.arrived.Load() != sent || rep.ErrorKinds["not sent"] == 0 || sent+rep.ErrorKinds["not sent"] != rep.Requests {
		t.Errorf("%d requests, error kinds %v, the server held %d; want at most %d at a time, timed out, the rest not sent",
			rep.Requests, rep.ErrorKinds, srv.arrived.Load(), max)
	}
	if sent > 2*max { // 500 ms of 300 ms timeouts: two rounds of three at most
		t.Errorf("%d requests sent with %d in flight at most over 500 ms of 300 ms timeouts", sent, max)
	}
}

// TestLoopsLeaveAPFree: loops keep their P in short waits only while one P is left to the
// rest of the program.
func TestLoopsLeaveAPFree(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	if holders.Load() != 0 {
		t.Fatalf("%d loops hold a P before the test", holders.Load())
	}
	if !takeHold() || !takeHold() {
		t.Fatal("two loops of three Ps may not hold theirs")
	}
	if takeHold() {
		t.Error("a third loop of three Ps holds its P: none is left")
	}
	holders.Add(-2)
	runtime.GOMAXPROCS(1)
	if takeHold() {
		t.Error("the loop of a one-P program holds it")
	}
}

// TestLoopEndlessAnswerTimesOut: an answer that never ends — a chunked body without end,
// a header line without end — times out at the load's timeout, and its connection is
// closed rather than kept.
func TestLoopEndlessAnswerTimesOut(t *testing.T) {
	for _, c := range []struct{ name, head, more string }{
		{"endless body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "400\r\n" + strings.Repeat("x", 0x400) + "\r\n"},
		{"endless header", "HTTP/1.1 200 OK\r\nX-Endless: ", strings.Repeat("y", 1024)},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := testenv.Serve(t, func(conn net.Conn) {
				defer conn.Close()
				if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
					return
				}
				io.WriteString(conn, c.head)
				for {
					if _, err := io.WriteString(conn, c.more); err != nil {
						return
					}
					time.Sleep(time.Millisecond)
				}
			})
			g := runLoopLoad(t, &shakedown.LoadSpec{Name: "endless", URL: "http://" + addr + "/", Rate: 20, Timeout: 200 * time.Millisecond}, Options{}, 300*time.Millisecond)
			rep := g.Report()
			if rep.Requests < 3 || rep.ErrorKinds["timeout"] != rep.Requests {
				t.Errorf("%d requests, error kinds %v; want every one timed out", rep.Requests, rep.ErrorKinds)
			}
		})
	}
}

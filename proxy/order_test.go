package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// pipelined is one request of a pipelined batch and what its answer must be.
type pipelined struct {
	method, path, extra string // extra: header lines and body after the Host line
	abort               bool   // the proxy answers it (else upstream does, naming the path)
}

func (r pipelined) raw() string {
	return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\n%s", r.method, r.path, r.extra)
}

// echoBackend answers each request with its method and path in X-Echo and the body; a
// path with /chunked answers chunked, one with /slow after a while.
func echoBackend(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(r.URL.Path, "/slow") {
			time.Sleep(30 * time.Millisecond)
		}
		w.Header().Set("X-Echo", r.Method+" "+r.URL.Path)
		if strings.Contains(r.URL.Path, "/chunked") {
			w.(http.Flusher).Flush()
		}
		fmt.Fprintf(w, "%s %s", r.URL.Path, body)
	}))
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

// httpProxy starts a proxy to upstream with the given toxics.
func httpProxy(t *testing.T, upstream string, toxics ...Toxic) *Proxy {
	t.Helper()
	p := NewProxy("web", "127.0.0.1:0", upstream, nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for _, tox := range toxics {
		if _, err := p.AddToxic(tox); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func abortToxic(percent float64, prefix string) Toxic {
	return Toxic{Type: "http_abort", Toxicity: 1, Attributes: &HTTPAbort{Status: 503, Percent: percent, Match: Match{PathPrefix: prefix}}}
}

func delayToxic(ms int64, prefix string) Toxic {
	return Toxic{Name: "delay", Type: "http_delay", Toxicity: 1, Attributes: &HTTPDelay{Delay: ms, Percent: 100, Match: Match{PathPrefix: prefix}}}
}

// sendPipelined writes reqs in one write on conn and reads an answer for each, in order;
// it reports every answer that does not pair with its request, and says how many it got.
func sendPipelined(t *testing.T, conn net.Conn, reqs []pipelined, mayAbort func(pipelined) bool) int {
	t.Helper()
	var all strings.Builder
	for _, r := range reqs {
		all.WriteString(r.raw())
	}
	if _, err := io.WriteString(conn, all.String()); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	for i, r := range reqs {
		req, _ := http.NewRequest(r.method, r.path, nil)
		resp, err := http.ReadResponse(br, req)
		for err == nil && resp.StatusCode == http.StatusContinue {
			resp, err = http.ReadResponse(br, req)
		}
		if err != nil {
			t.Errorf("answer %d (%s %s): %v", i, r.method, r.path, err)
			return i
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Errorf("answer %d (%s %s): body: %v", i, r.method, r.path, err)
			return i
		}
		aborted := resp.Header.Get("X-Shakedown-Fault") == "http_abort"
		switch {
		case aborted && !mayAbort(r):
			t.Errorf("answer %d (%s %s): the proxy's reply, for a request it does not abort", i, r.method, r.path)
		case !aborted && r.abort:
			t.Errorf("answer %d (%s %s): %d %q, want the proxy's reply", i, r.method, r.path, resp.StatusCode, resp.Header.Get("X-Echo"))
		case !aborted && resp.Header.Get("X-Echo") != r.method+" "+r.path:
			t.Errorf("answer %d (%s %s): the response to %q", i, r.method, r.path, resp.Header.Get("X-Echo"))
		case !aborted && r.method != http.MethodHead && !strings.HasPrefix(string(body), r.path+" "):
			t.Errorf("answer %d (%s %s): body %q", i, r.method, r.path, body)
		}
	}
	return len(reqs)
}

// Pipelined requests get their answers in order, the proxy's replies among the upstream
// server's responses, whatever the framing of those: HEAD, 100 Continue before the final
// response, chunked, Content-Length, a server slow to answer, requests held by a delay.
func TestHTTPAbortPipelined(t *testing.T) {
	upstream := echoBackend(t)
	body := func(s string) string { return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(s), s) }
	batch := []pipelined{
		{method: "GET", path: "/b0", extra: "\r\n"},
		{method: "GET", path: "/a1", extra: "\r\n", abort: true},
		{method: "HEAD", path: "/b2", extra: "\r\n"},
		{method: "GET", path: "/a3", extra: "\r\n", abort: true},
		{method: "GET", path: "/b4/chunked", extra: "\r\n"},
		{method: "POST", path: "/b5", extra: body("hello")},
		{method: "POST", path: "/a6", extra: body("dropped"), abort: true},
		{method: "GET", path: "/b7/slow", extra: "\r\n"},
		{method: "HEAD", path: "/a8", extra: "\r\n", abort: true},
		{method: "POST", path: "/b9", extra: "Expect: 100-continue\r\n" + body("continued")},
		{method: "POST", path: "/a10", extra: "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", abort: true},
		{method: "GET", path: "/b11/chunked/slow", extra: "\r\n"},
		{method: "GET", path: "/b12", extra: "\r\n"},
	}
	tests := []struct {
		name   string
		toxics []Toxic
	}{
		{"abort", []Toxic{abortToxic(100, "/a")}},
		{"abort after a delay", []Toxic{delayToxic(20, "/b"), abortToxic(100, "/a")}},
		{"delay after an abort", []Toxic{abortToxic(100, "/a"), delayToxic(20, "/b")}},
		{"abort with latency both ways", []Toxic{abortToxic(100, "/a"),
			{Name: "up", Type: "latency", Stream: "upstream", Toxicity: 1, Attributes: &Latency{Latency: 5}},
			{Name: "down", Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: &Latency{Latency: 5}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := httpProxy(t, upstream, tt.toxics...)
			conn, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			mayAbort := func(r pipelined) bool { return r.abort }
			sendPipelined(t, conn, batch, mayAbort)
			// The connection stays usable, for requests one at a time and pipelined.
			sendPipelined(t, conn, batch[:2], mayAbort)
			sendPipelined(t, conn, batch[1:2], mayAbort)
			sendPipelined(t, conn, batch, mayAbort)
		})
	}
}

// At random, with random paths, every answer still pairs with its request.
func TestHTTPAbortPipelinedRandom(t *testing.T) {
	upstream := echoBackend(t)
	for _, toxics := range [][]Toxic{{abortToxic(50, "/a")}, {delayToxic(1, "/a/b"), abortToxic(50, "/a")}} {
		p := httpProxy(t, upstream, toxics...)
		for c := 0; c < 5; c++ {
			conn, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			var reqs []pipelined
			for i := range 40 {
				path := fmt.Sprintf("/%c/%d", "ab"[rand.IntN(2)], i)
				if rand.IntN(4) == 0 {
					path += "/chunked"
				}
				reqs = append(reqs, pipelined{method: "GET", path: path, extra: "\r\n"})
			}
			sendPipelined(t, conn, reqs, func(r pipelined) bool { return strings.HasPrefix(r.path, "/a") })
			conn.Close()
		}
	}
}

// rawBackend answers each connection with what answer writes, after reading the first
// request head.
func rawBackend(t *testing.T, answer string) string {
	t.Helper()
	return testenv.Serve(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			io.WriteString(c, answer)
		}
	})
}

// A response that the server's close ends is not followed by a reply, which the client
// would take for part of its body; nor is one the proxy cannot frame. The connection ends
// instead: after the response the server ends, or where the framing was lost.
func TestHTTPAbortPipelinedUntracked(t *testing.T) {
	tests := []struct {
		name, answer string
	}{
		{"ended by close", "HTTP/1.1 200 OK\r\n\r\nall of it"},
		{"not HTTP", "SSH-2.0-x\r\n\r\nall of it"},
		{"switching protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nall of it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := httpProxy(t, rawBackend(t, tt.answer), abortToxic(100, "/a"))
			conn, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			io.WriteString(conn, "GET /b0 HTTP/1.1\r\nHost: x\r\n\r\nGET /a1 HTTP/1.1\r\nHost: x\r\n\r\n")
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("read: %v (got %q)", err, got)
			}
			if !strings.HasPrefix(tt.answer, string(got)) || len(got) == 0 {
				t.Errorf("client got %q, want (the start of) %q and the end of the connection", got, tt.answer)
			}
		})
	}
}

// The response framer passes every byte unchanged, and finds the same ends of responses
// however the stream is cut.
func FuzzResponseStage(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x\r\nhi\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.0 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\n\r\nto the end",
		"HTTP/1.1 101 Switching Protocols\r\n\r\nanything",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
		"SSH-2.0\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(3), uint8(0b0101))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint8, heads uint8) {
		run := func(size int) (passed []byte, ends []int) {
			o := new(pairing)
			for i := range 8 { // requests counted: bit i of heads makes the i-th a HEAD
				m := http.MethodGet
				if heads&(1<<i) != 0 {
					m = http.MethodHead
				}
				o.forward(m)
			}
			s := &responseStage{order: o}
			var out []event
			for off := 0; off < len(data); off += size {
				out = s.push(event{kind: evData, data: data[off:min(off+size, len(data))]}, out)
			}
			for _, ev := range out {
				switch ev.kind {
				case evData:
					passed = append(passed, ev.data...)
				case evAnswered:
					ends = append(ends, len(passed))
				}
			}
			return passed, ends
		}
		whole, wholeEnds := run(max(len(data), 1))
		cutUp, cutEnds := run(int(cut%16) + 1)
		if !bytes.Equal(whole, data) || !bytes.Equal(cutUp, data) {
			t.Fatalf("passed %q and %q, want %q", whole, cutUp, data)
		}
		if fmt.Sprint(wholeEnds) != fmt.Sprint(cutEnds) {
			t.Fatalf("ends of responses at %v in one piece, %v cut every %d", wholeEnds, cutEnds, int(cut%16)+1)
		}
		if len(wholeEnds) > 8 {
			t.Fatalf("%d responses ended for 8 requests", len(wholeEnds))
		}
	})
}

// A reply that ends the connection (the aborted request asked to close it) waits for the
// responses owed before it too, and the connection ends after it.
func TestHTTPAbortPipelinedClosing(t *testing.T) {
	p := httpProxy(t, echoBackend(t), abortToxic(100, "/a"))
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reqs := []pipelined{
		{method: "GET", path: "/b0/slow", extra: "\r\n"},
		{method: "GET", path: "/a1", extra: "Connection: close\r\n\r\n", abort: true},
	}
	if n := sendPipelined(t, conn, reqs, func(r pipelined) bool { return r.abort }); n != len(reqs) {
		return
	}
	if rest, err := io.ReadAll(conn); err != nil || len(rest) > 0 {
		t.Errorf("after the reply: %q, %v; want the end of the connection", rest, err)
	}
}

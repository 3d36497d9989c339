package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseHead(t *testing.T) {
	tests := []struct {
		head string
		ok   bool
		want request
	}{
		{"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", true, request{method: "GET", path: "/a"}},
		{"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\n", true, request{method: "POST", path: "/p", body: body{remaining: 5}}},
		{"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", true, request{method: "POST", path: "/p", body: body{state: bodyChunkLine}}},
		{"GET / HTTP/1.0\r\n\r\n", true, request{method: "GET", path: "/", close: true}},
		{"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", true, request{method: "GET", path: "/", close: true}},
		{"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", true, request{method: "GET", path: "/", upgrade: true}},
		{"GET http://h/x HTTP/1.1\r\n\r\n", true, request{method: "GET", path: "/x"}},
		{"SSH-2.0-OpenSSH\r\n\r\n", false, request{}},
		{"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", false, request{}},
		{"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, request{}},
	}
	for _, tt := range tests {
		got, ok := parseHead([]byte(tt.head))
		if ok != tt.ok {
			t.Errorf("parseHead(%q) ok = %v, want %v", tt.head, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		got.header = nil
		if diff := cmp.Diff(tt.want, *got, cmp.AllowUnexported(request{}, body{})); diff != "" {
			t.Errorf("parseHead(%q) (-want +got):\n%s", tt.head, diff)
		}
	}
}

// The HTTP stage passes requests it does not act on byte for byte, whatever the chunking
// of the stream, and drops exactly the aborted ones.
func TestHTTPStageBytes(t *testing.T) {
	reqs := []string{
		"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /fail/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nhello\r\n0\r\nTrailer: 1\r\n\r\n",
		"POST /fail/2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /ok/again HTTP/1.1\r\nHost: x\r\nX-Keep: 1\r\n\r\n",
	}
	stream := strings.Join(reqs, "")
	want := reqs[0] + reqs[2] + reqs[4]
	for _, size := range []int{1, 2, 3, 7, 64, len(stream)} {
		s := (&HTTPAbort{Status: 503, Percent: 100, Match: Match{PathPrefix: "/fail"}}).stage(time.Time{})
		var out []event
		for off := 0; off < len(stream); off += size {
			out = s.push(event{kind: evData, data: []byte(stream[off:min(off+size, len(stream))])}, out)
		}
		var passed bytes.Buffer
		replies := 0
		for _, ev := range out {
			switch ev.kind {
			case evData:
				passed.Write(ev.data)
			case evReply:
				replies++
				if !bytes.HasPrefix(ev.data, []byte("HTTP/1.1 503 ")) {
					t.Errorf("reply %q", ev.data)
				}
			}
		}
		if passed.String() != want || replies != 2 {
			t.Errorf("pieces of %d: passed %q with %d replies; want %q and 2", size, passed.String(), replies, want)
		}
	}
}

func TestHTTPDelayStage(t *testing.T) {
	s := (&HTTPDelay{Delay: 100, Percent: 100, Match: Match{Method: "post"}}).stage(time.Time{})
	t0 := time.Unix(1000, 0)
	out := s.push(event{kind: evData, data: []byte("GET / HTTP/1.1\r\n\r\n"), at: t0}, nil)
	out = s.push(event{kind: evData, data: []byte("POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n"), at: t0}, out)
	out = s.push(event{kind: evData, data: []byte("x"), at: t0.Add(time.Millisecond)}, out)
	got := []time.Duration{}
	for _, ev := range out {
		got = append(got, ev.at.Sub(t0))
	}
	if diff := cmp.Diff([]time.Duration{0, 100 * time.Millisecond, 100 * time.Millisecond}, got); diff != "" {
		t.Errorf("release times (-want +got):\n%s", diff)
	}
}

// Through a live proxy, with Go's keep-alive client: matching requests are answered by
// the proxy and never reach upstream; the others reach it unchanged, on the same
// connection.
func TestHTTPAbortKeepAlive(t *testing.T) {
	var seen atomic.Int64
	var conns atomic.Int64
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	}))
	backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	backend.Start()
	defer backend.Close()
	p := NewProxy("web", "127.0.0.1:0", backend.Listener.Addr().String(), nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.AddToxic(Toxic{Type: "http_abort", Toxicity: 1, Attributes: &HTTPAbort{
		Status: 418, Percent: 100, Match: Match{PathPrefix: "/fail", Headers: map[string]string{"X-Chaos": "on"}}}}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	base := "http://" + p.Addr()
	tests := []struct {
		method, path, body string
		chaos              bool
		wantStatus         int
		wantBody           string
	}{
		{"GET", "/ok", "", true, 200, "GET /ok "},
		{"POST", "/fail/x", "payload", true, 418, ""},
		{"POST", "/fail/x", "payload", false, 200, "POST /fail/x payload"},
		{"GET", "/fail", "", true, 418, ""},
		{"PUT", "/ok", strings.Repeat("z", 100000), true, 200, "PUT /ok " + strings.Repeat("z", 100000)},
		{"GET", "/fail/y", "", true, 418, ""},
		{"GET", "/last", "", false, 200, "GET /last "},
	}
	for i, tt := range tests {
		req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
		if tt.body == "" {
			req.Body = nil
		}
		if tt.chaos {
			req.Header.Set("X-Chaos", "on")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d %s %s: %v", i, tt.method, tt.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || (tt.wantBody != "" && string(body) != tt.wantBody) {
			t.Errorf("request %d %s %s: %d %.40q, want %d %.40q", i, tt.method, tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
		}
	}
	if n := seen.Load(); n != 4 {
		t.Errorf("upstream saw %d requests, want the 4 not aborted", n)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("upstream saw %d connections, want 1 (keep-alive kept)", n)
	}
}

func TestHTTPDelayKeepAlive(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	defer backend.Close()
	p := NewProxy("web", "127.0.0.1:0", backend.Listener.Addr().String(), nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.AddToxic(Toxic{Type: "http_delay", Toxicity: 1, Attributes: &HTTPDelay{Delay: 150, Percent: 100, Match: Match{PathPrefix: "/slow"}}}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	for _, path := range []string{"/fast", "/slow", "/fast", "/slow"} {
		start := time.Now()
		resp, err := client.Get("http://" + p.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if string(body) != path {
			t.Errorf("%s: body %q", path, body)
		}
		if strings.HasPrefix(path, "/slow") && d < 150*time.Millisecond {
			t.Errorf("%s answered after %v, want ≥150ms", path, d)
		}
	}
}

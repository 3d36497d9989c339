package load

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// rawServer answers each request read on a connection with the next of answers (raw
// bytes), closing the connection after an answer when close is set on it; it counts
// connections and requests.
type rawServer struct {
	addr        string
	conns, reqs atomic.Int64
	answers     []rawAnswer
}

type rawAnswer struct {
	text  string
	close bool
}

func newRawServer(t *testing.T, answers ...rawAnswer) *rawServer {
	s := &rawServer{answers: answers}
	s.addr = testenv.Serve(t, func(c net.Conn) {
		defer c.Close()
		s.conns.Add(1)
		r := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(r)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			n := s.reqs.Add(1)
			a := s.answers[(int(n)-1)%len(s.answers)]
			if _, err := io.WriteString(c, a.text); err != nil || a.close {
				return
			}
		}
	})
	return s
}

func newTestWire(t *testing.T, method, rawURL string) *wire {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := newWire(req)
	if w == nil {
		t.Fatal("no lean client for", rawURL)
	}
	t.Cleanup(w.closeIdle)
	return w
}

// answerKinds are answers of each kind of body, and whether the connection is kept.
var answerKinds = []struct {
	name   string
	answer rawAnswer
	status int
	keep   bool
}{
	{"content-length", rawAnswer{text: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"}, 200, true},
	{"chunked with trailer", rawAnswer{text: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"}, 200, true},
	{"interim 100 first", rawAnswer{text: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nno"}, 503, true},
	{"no content", rawAnswer{text: "HTTP/1.1 204 No Content\r\n\r\n"}, 204, true},
	{"connection close", rawAnswer{text: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", close: true}, 200, false},
	{"http/1.0 to the end", rawAnswer{text: "HTTP/1.0 200 OK\r\n\r\nbody to the end", close: true}, 200, false},
	{"http/1.0 keep-alive", rawAnswer{text: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"}, 200, true},
	{"long header", rawAnswer{text: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 10000) + "\r\nContent-Length: 2\r\n\r\nok"}, 200, true},
}

// TestWireReadsEveryKindOfAnswer: each kind of body is read to its end, so the next
// answer on the same connection is read right, and a connection is kept exactly when
// HTTP/1.x says it may be.
func TestWireReadsEveryKindOfAnswer(t *testing.T) {
	for _, c := range answerKinds {
		t.Run(c.name, func(t *testing.T) {
			s := newRawServer(t, c.answer)
			w := newTestWire(t, "GET", "http://"+s.addr+"/x")
			for i := range 3 {
				status, loc, err := w.do(time.Now().Add(10 * time.Second))
				if err != nil || status != c.status || loc != "" {
					t.Fatalf("request %d: status %d, location %q, error %v; want %d", i, status, loc, err, c.status)
				}
			}
			wantConns := int64(3)
			if c.keep {
				wantConns = 1
			}
			if n := s.conns.Load(); n != wantConns {
				t.Errorf("3 requests took %d connections, want %d", n, wantConns)
			}
		})
	}
}

// TestWireHeadHasNoBody: an answer to HEAD has a Content-Length but no body.
func TestWireHeadHasNoBody(t *testing.T) {
	s := newRawServer(t, rawAnswer{text: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"})
	w := newTestWire(t, "HEAD", "http://"+s.addr+"/")
	for i := range 2 {
		if status, _, err := w.do(time.Now().Add(10 * time.Second)); err != nil || status != 200 {
			t.Fatalf("request %d: status %d, error %v", i, status, err)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestWireRetriesAfterIdleClose: a server that closes each connection after answering,
// without saying so, makes the next GET fail on the reused connection before any answer;
// it is sent again on a new one, as net/http's client does.
func TestWireRetriesAfterIdleClose(t *testing.T) {
	s := newRawServer(t, rawAnswer{text: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", close: true})
	w := newTestWire(t, "GET", "http://"+s.addr+"/")
	for i := range 5 {
		if status, _, err := w.do(time.Now().Add(10 * time.Second)); err != nil || status != 200 {
			t.Fatalf("request %d: status %d, error %v", i, status, err)
		}
	}
	if n := s.reqs.Load(); n != 5 {
		t.Errorf("the server saw %d requests, want 5", n)
	}
}

// TestWireErrors: a cut answer, a malformed one and a silent server give the error kinds
// net/http's client gives, and the status of an answer whose headers came whole: none for
// one cut in its headers, as net/http gives none.
func TestWireErrors(t *testing.T) {
	for _, c := range []struct {
		name, answer, kind string
		status             int
	}{
		{"cut body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "connection closed", 200},
		{"cut chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "connection closed", 200},
		{"cut headers", "HTTP/1.1 200 OK\r\nContent-Len", "connection closed", 0},
		{"cut after an interim answer", "HTTP/1.1 100 Continue\r\n\r\n", "connection closed", 0},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", "transport", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newRawServer(t, rawAnswer{text: c.answer, close: true})
			w := newTestWire(t, "GET", "http://"+s.addr+"/")
			status, _, err := w.do(time.Now().Add(10 * time.Second))
			if k := errorKind(err, t.Context()); err == nil || k != c.kind || status != c.status {
				t.Errorf("status %d, error %v of kind %q, want status %d, kind %q", status, err, k, c.status, c.kind)
			}
		})
	}
	t.Run("silent", func(t *testing.T) {
		addr := testenv.Serve(t, func(c net.Conn) { io.Copy(io.Discard, c) })
		w := newTestWire(t, "GET", "http://"+addr+"/")
		_, _, err := w.do(time.Now().Add(100 * time.Millisecond))
		if k := errorKind(err, t.Context()); err == nil || k != "timeout" {
			t.Errorf("error %v of kind %q, want a timeout", err, k)
		}
	})
}

// TestWireRequestBytes: the lean client sends what net/http's client sends for the same
// load: method, Host (as given by a Host header), headers, body, basic auth from the URL.
func TestWireRequestBytes(t *testing.T) {
	got := make(chan *http.Request, 1)
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		select {
		case got <- r:
		default:
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword("user", "pw")
	u.Path = "/p"
	u.RawQuery = "q=1"
	g, err := New(&shakedown.LoadSpec{Name: "bytes", URL: u.String(), Rate: 1, Method: "PUT",
		Headers: map[string]string{"Host": "shop.example", "X-Test": "yes"}, Body: "data"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g.wire == nil {
		t.Fatal("a plain http load with the default client does not use the lean client")
	}
	if status, _, err := g.wire.do(time.Now().Add(10 * time.Second)); err != nil || status != 200 {
		t.Fatalf("status %d, error %v", status, err)
	}
	g.wire.closeIdle()
	r := <-got
	user, pw, _ := r.BasicAuth()
	if r.Method != "PUT" || r.Host != "shop.example" || r.URL.RequestURI() != "/p?q=1" || r.Header.Get("X-Test") != "yes" ||
		body != "data" || user != "user" || pw != "pw" || r.Header.Get("User-Agent") != "Go-http-client/1.1" {
		t.Errorf("server saw %s %s Host %q X-Test %q body %q auth %q:%q UA %q", r.Method, r.URL.RequestURI(), r.Host,
			r.Header.Get("X-Test"), body, user, pw, r.Header.Get("User-Agent"))
	}
}

// TestWireFollowsRedirects: a load whose URL redirects counts the answer at the end of
// the redirects, as with net/http's client: a GET stays a GET; a POST becomes a GET after
// 302 and stays a POST, with its body, after 307.
func TestWireFollowsRedirects(t *testing.T) {
	for _, c := range []struct {
		method, wantMethod, wantBody string
		code                         int
	}{
		{"GET", "GET", "", http.StatusMovedPermanently},
		{"POST", "GET", "", http.StatusFound},
		{"POST", "POST", "data", http.StatusTemporaryRedirect},
	} {
		t.Run(c.method+" "+http.StatusText(c.code), func(t *testing.T) {
			var bad, landed atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/start":
					http.Redirect(w, r, "/middle", c.code)
				case "/middle":
					http.Redirect(w, r, "/end", c.code)
				case "/end":
					b, _ := io.ReadAll(r.Body)
					if r.Method != c.wantMethod || string(b) != c.wantBody {
						bad.Add(1)
					}
					landed.Add(1)
					w.WriteHeader(http.StatusAccepted)
				}
			}))
			defer srv.Close()
			body := ""
			if c.method == "POST" {
				body = "data"
			}
			g := run(t, &shakedown.LoadSpec{Name: "redirect", URL: srv.URL + "/start", Rate: 100, Method: c.method, Body: body}, 300*time.Millisecond)
			rep := g.Report()
			if rep.Requests == 0 || rep.Status["202"] != rep.Requests || landed.Load() != rep.Requests || bad.Load() != 0 {
				t.Errorf("%d requests, statuses %v, %d landed, %d with the wrong method or body", rep.Requests, rep.Status, landed.Load(), bad.Load())
			}
		})
	}
}

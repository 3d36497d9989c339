package load

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// wire is the HTTP/1.1 client of a plain http:// load sent with the default client. The
// request never changes, so its bytes are made once (by net/http, as its client would send
// them); a send writes them on an idle keep-alive connection and reads the answer in the
// sending goroutine. net/http's client hands each request from the caller to a writing
// and a reading goroutine of the connection and back; measured at 2,000 requests/s, those
// hand-offs were most of the generator's CPU (bench/load). On Linux an open-model load
// goes further: one event loop sends it all, with these bytes, answers and retries (see
// loop).
//
// It does what the default client does for such a request: keep-alive connections (up to
// DefaultMaxInFlight idle), a retry on a new connection when the server had closed an idle
// one before answering an idempotent request, the answer's body read to its end (by
// Content-Length, chunked, or up to the end of the connection), interim 1xx answers
// skipped, and redirects followed (through net/http: see Generator.redirect).
type wire struct {
	addr       string // host:port to dial
	req        []byte
	head       bool // HEAD: answers have no body
	idempotent bool
	dialer     net.Dialer

	mu   sync.Mutex
	idle []*wireConn
}

// wireConn is one connection and the reader of its answers.
type wireConn struct {
	c net.Conn
	r *bufio.Reader
}

// newWire returns the client for req, or nil when the lean client cannot send it as the
// default client would (not plain http).
func newWire(req *http.Request) *wire {
	if req.URL.Scheme != "http" {
		return nil
	}
	out := req.Clone(req.Context())
	if out.GetBody != nil {
		out.Body, _ = out.GetBody()
	}
	// Set by http.Client, not by Request.Write.
	if u := out.URL.User; u != nil && out.Header.Get("Authorization") == "" {
		p, _ := u.Password()
		out.Header = out.Header.Clone()
		out.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+p)))
	}
	var b bytes.Buffer
	if err := out.Write(&b); err != nil {
		return nil
	}
	host := req.URL.Host
	if req.URL.Port() == "" {
		host = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	m := req.Method
	return &wire{
		addr:       host,
		req:        b.Bytes(),
		head:       m == http.MethodHead,
		idempotent: m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace,
		dialer:     net.Dialer{KeepAlive: 30 * time.Second},
	}
}

// do sends the request and reads its answer, by deadline. location is the Location of a
// redirect, for the caller to follow.
func (w *wire) do(deadline time.Time) (status int, location string, err error) {
	for retry := true; ; retry = false {
		wc, reused, err := w.get(deadline)
		if err != nil {
			return 0, "", err
		}
		status, location, keep, answered, err := w.roundTrip(wc, deadline)
		// More than the answer came (the server answered twice): the connection is out of
		// step, and the rest would be taken for the next request's answer (so the loop).
		if err == nil && keep && wc.r.Buffered() == 0 {
			w.put(wc)
		} else {
			wc.c.Close()
		}
		if err != nil && reused && !answered && w.idempotent && retry && !errors.Is(err, os.ErrDeadlineExceeded) {
			continue // the server had closed the idle connection: a new one (so does net/http)
		}
		return status, location, err
	}
}

func (w *wire) get(deadline time.Time) (wc *wireConn, reused bool, err error) {
	w.mu.Lock()
	if n := len(w.idle); n > 0 {
		wc = w.idle[n-1]
		w.idle[n-1] = nil
		w.idle = w.idle[:n-1]
	}
	w.mu.Unlock()
	if wc != nil {
		return wc, true, nil
	}
	d := w.dialer
	d.Deadline = deadline
	c, err := d.Dial("tcp", w.addr)
	if err != nil {
		return nil, false, err
	}
	return &wireConn{c: c, r: bufio.NewReaderSize(c, 4096)}, false, nil
}

func (w *wire) put(wc *wireConn) {
	w.mu.Lock()
	if len(w.idle) < DefaultMaxInFlight {
		w.idle = append(w.idle, wc)
		wc = nil
	}
	w.mu.Unlock()
	if wc != nil {
		wc.c.Close()
	}
}

// closeIdle closes the idle connections.
func (w *wire) closeIdle() {
	w.mu.Lock()
	idle := w.idle
	w.idle = nil
	w.mu.Unlock()
	for _, wc := range idle {
		wc.c.Close()
	}
}

// roundTrip writes the request on wc and reads the answer. keep says the connection can
// carry another request; answered that some of an answer came.
func (w *wire) roundTrip(wc *wireConn, deadline time.Time) (status int, location string, keep, answered bool, err error) {
	if err := wc.c.SetDeadline(deadline); err != nil {
		return 0, "", false, false, err
	}
	if _, err := wc.c.Write(w.req); err != nil {
		return 0, "", false, false, err
	}
	return readAnswer(wc.r, w.head)
}

package proxy

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// maxHeader bounds the bytes an HTTP stage holds while it waits for the end of a request
// head; a longer head is not HTTP it understands, and the stage steps aside.
const maxHeader = 64 << 10

// The states of the request parser of an HTTP stage.
const (
	stHead = iota // reading a request head (held until complete)
	stBody        // reading its body
	stPass        // not HTTP it understands, or upgraded: pass everything
)

// httpStage parses HTTP/1.x requests on the upstream stream and aborts or delays those
// that match. Bytes of requests it leaves alone pass unchanged.
type httpStage struct {
	match   Match
	percent float64
	abort   *HTTPAbort    // nil for a delay
	delay   time.Duration // for a delay
	hits    *atomic.Int64 // counts requests acted on, for metrics; may be nil

	// order is the connection's pairing of requests and responses. The stage that counts
	// (the last upstream, which acts on no request) marks each request it passes with an
	// evMark; the others act on no more requests once pairing is lost.
	order *pairing
	count bool

	state   int
	hold    []byte // head bytes
	body    body   // of the current request
	act     bool   // the current request is aborted or delayed
	closing bool   // the current request asked to close the connection (or aborted into a close)
	upgrade bool   // the current request switches protocols: pass after it
	last    time.Time
}

func (a *HTTPAbort) stage(time.Time) stage {
	return &httpStage{match: a.Match, percent: a.Percent, abort: a}
}

func (a *HTTPDelay) stage(time.Time) stage {
	return &httpStage{match: a.Match, percent: a.Percent, delay: ms(a.Delay)}
}

func (s *httpStage) emit(out []event, b []byte, at time.Time) []event {
	if len(b) == 0 || (s.act && s.abort != nil) {
		return out
	}
	s.last = later(at, s.last)
	return append(out, event{kind: evData, data: b, at: s.last})
}

func (s *httpStage) push(ev event, out []event) []event {
	if ev.kind != evData {
		s.last = later(ev.at, s.last)
		ev.at = s.last
		return append(out, ev)
	}
	b := ev.data
	for len(b) > 0 {
		switch s.state {
		case stPass:
			return s.emit(out, b, ev.at)
		case stHead:
			old := len(s.hold)
			s.hold = append(s.hold, b...)
			end := headEnd(s.hold, max(old-3, 0))
			if end < 0 {
				if len(s.hold) > maxHeader {
					s.pass()
					out = s.emit(out, s.hold, ev.at)
					s.hold = nil
				}
				return out
			}
			head := s.hold[:end]
			b = s.hold[end:] // the rest belongs to the body or the next request
			s.hold = nil
			var reply []byte
			out, reply = s.begin(out, head, ev.at)
			if reply != nil {
				s.last = later(ev.at, s.last)
				if s.closing {
					// Nothing more goes anywhere: the connection ends after the reply.
					s.state = stPass
					return append(out, event{kind: evReplyClose, data: reply, at: s.last})
				}
				out = append(out, event{kind: evReply, data: reply, at: s.last})
			}
			if s.state == stBody && s.body.empty() {
				s.finish()
			}
		case stBody:
			n, done, ok := s.body.next(b)
			out = s.emit(out, b[:n], ev.at)
			b = b[n:]
			switch {
			case !ok:
				s.pass()
			case done:
				s.finish()
			}
		}
	}
	return out
}

// pass steps aside: the stage passes everything from here on, and the counting stage
// can no longer pair responses with requests.
func (s *httpStage) pass() {
	s.state, s.act = stPass, false
	if s.count {
		s.order.lose()
	}
}

// finish ends the current request.
func (s *httpStage) finish() {
	s.act = false
	s.hold = nil
	if s.upgrade {
		s.pass()
		return
	}
	s.state = stHead
}

// begin parses a complete request head, decides what to do with the request and emits
// the head. It returns the reply to give the client when the request is aborted.
func (s *httpStage) begin(out []event, head []byte, at time.Time) ([]event, []byte) {
	req, ok := parseHead(head)
	if !ok {
		s.pass()
		return s.emit(out, head, at), nil
	}
	s.closing, s.upgrade = req.close, req.upgrade
	s.state, s.body = stBody, req.body
	if s.count {
		s.last = later(at, s.last)
		out = append(out, event{kind: evMark, data: []byte(req.method), at: s.last})
		return s.emit(out, head, at), nil
	}
	s.act = s.matches(req) && (s.percent >= 100 || rand.Float64()*100 < s.percent) && !s.order.isLost()
	if !s.act {
		return s.emit(out, head, at), nil
	}
	if s.hits != nil {
		s.hits.Add(1)
	}
	if s.abort == nil {
		return s.emit(out, head, at.Add(s.delay)), nil
	}
	if req.expectContinue || req.upgrade {
		// The client may never send the body it announced: end the connection after the
		// answer rather than guess where the next request starts.
		s.closing = true
	}
	return out, abortReply(s.abort, req, s.closing)
}

func abortReply(a *HTTPAbort, req *request, closing bool) []byte {
	body := a.Body
	if body == "" {
		body = fmt.Sprintf("%d %s (shakedown http_abort)\n", a.Status, http.StatusText(a.Status))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", a.Status, http.StatusText(a.Status))
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nX-Shakedown-Fault: http_abort\r\n")
	if closing {
		b.WriteString("Connection: close\r\n")
	}
	noBody := a.Status < 200 || a.Status == 204 || a.Status == 304
	if !noBody {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	if !noBody && req.method != http.MethodHead {
		b.WriteString(body)
	}
	return b.Bytes()
}

func (s *httpStage) matches(r *request) bool {
	m := s.match
	if m.Method != "" && !strings.EqualFold(m.Method, r.method) {
		return false
	}
	if m.PathPrefix != "" && !strings.HasPrefix(r.path, m.PathPrefix) {
		return false
	}
	for name, want := range m.Headers {
		vals, ok := r.header[http.CanonicalHeaderKey(name)]
		if !ok {
			return false
		}
		if want == "" || want == "*" {
			continue
		}
		found := false
		for _, v := range vals {
			if v == want {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// flush gives back a head held while the stage is removed.
func (s *httpStage) flush(now time.Time) []event {
	if len(s.hold) == 0 || s.state != stHead {
		return nil
	}
	b := s.hold
	s.hold = nil
	return []event{{kind: evData, data: b, at: later(now, s.last)}}
}

// headEnd returns the offset just past the blank line that ends a request head, or -1.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

// request is what an HTTP stage needs of a request head.
type request struct {
	method, path   string
	header         http.Header
	body           body
	close          bool
	upgrade        bool
	expectContinue bool
}

// parseHead parses an HTTP/1.x request head; ok is false when it is not one.
func parseHead(head []byte) (*request, bool) {
	lines := headLines(head)
	first := strings.TrimRight(lines[0], "\r")
	parts := strings.Split(first, " ")
	if len(parts) != 3 || parts[0] == "" || !strings.HasPrefix(parts[2], "HTTP/1.") {
		return nil, false
	}
	h, ok := parseFields(lines[1:])
	if !ok {
		return nil, false
	}
	r := &request{method: parts[0], path: parts[1], header: h}
	if u, err := url.ParseRequestURI(parts[1]); err == nil {
		r.path = u.Path
	}
	if r.body, ok = framing(h, false); !ok {
		return nil, false
	}
	conn := strings.ToLower(strings.Join(r.header.Values("Connection"), ","))
	r.close = strings.Contains(conn, "close") || (parts[2] == "HTTP/1.0" && !strings.Contains(conn, "keep-alive"))
	r.upgrade = r.method == http.MethodConnect || r.header.Get("Upgrade") != ""
	r.expectContinue = strings.EqualFold(r.header.Get("Expect"), "100-continue")
	return r, true
}

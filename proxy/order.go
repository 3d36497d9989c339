package proxy

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// How the body of an HTTP/1.x message is delimited.
const (
	bodyLength    = iota // a known number of bytes: remaining
	bodyChunkLine        // chunked: reading a chunk-size line
	bodyChunkData        // chunked: remaining bytes of chunk data and its CRLF
	bodyTrailer          // chunked: reading trailer lines up to an empty one
	bodyClose            // up to the end of the stream (responses only)
)

// body follows the body of one message, request or response, through its framing.
type body struct {
	state     int
	remaining int64
	line      []byte // the chunk-size or trailer line read so far
}

// empty says the message has no body at all.
func (d *body) empty() bool { return d.state == bodyLength && d.remaining == 0 }

// next takes the bytes of the body at the start of b. It returns how many there were,
// whether the body ends with them, and false when its framing is broken.
func (d *body) next(b []byte) (n int, done, ok bool) {
	switch d.state {
	case bodyClose:
		return len(b), false, true
	case bodyLength, bodyChunkData:
		n = int(min(int64(len(b)), d.remaining))
		d.remaining -= int64(n)
		switch {
		case d.remaining > 0:
			return n, false, true
		case d.state == bodyLength:
			return n, true, true
		}
		d.state = bodyChunkLine
		return n, false, true
	}
	i := bytes.IndexByte(b, '\n')
	n = len(b)
	if i >= 0 {
		n = i + 1
	}
	d.line = append(d.line, b[:n]...)
	if len(d.line) > 4096 {
		return n, false, false
	}
	if i < 0 {
		return n, false, true
	}
	line := strings.TrimSpace(string(d.line))
	d.line = d.line[:0]
	if d.state == bodyTrailer {
		return n, line == "", true
	}
	if j := strings.IndexByte(line, ';'); j >= 0 {
		line = strings.TrimSpace(line[:j])
	}
	size, err := strconv.ParseInt(line, 16, 64)
	switch {
	case err != nil || size < 0 || size > math.MaxInt64-2:
		return n, false, false
	case size == 0:
		d.state = bodyTrailer
	default:
		d.state, d.remaining = bodyChunkData, size+2
	}
	return n, false, true
}

// framing reads from a message's header how its body is delimited; ok is false when the
// header leaves it unclear. A request without a length has no body; a response without
// one runs to the end of the stream.
func framing(h http.Header, response bool) (d body, ok bool) {
	if te := h.Values("Transfer-Encoding"); len(te) > 0 {
		if strings.EqualFold(strings.TrimSpace(te[len(te)-1]), "chunked") {
			return body{state: bodyChunkLine}, true
		}
		return body{state: bodyClose}, response
	}
	if cl := h.Values("Content-Length"); len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n < 0 || len(cl) > 1 {
			return body{}, false
		}
		return body{state: bodyLength, remaining: n}, true
	}
	if response {
		return body{state: bodyClose}, true
	}
	return body{}, true
}

// parseFields parses the header lines of a message head; ok is false when one is not a
// header field.
func parseFields(lines []string) (http.Header, bool) {
	h := http.Header{}
	for _, l := range lines {
		l = strings.TrimRight(l, "\r")
		i := strings.IndexByte(l, ':')
		if i <= 0 {
			return nil, false
		}
		h.Add(strings.TrimSpace(l[:i]), strings.TrimSpace(l[i+1:]))
	}
	return h, true
}

// headLines splits a message head into its lines, the blank line that ends it left out.
func headLines(head []byte) []string {
	return strings.Split(strings.TrimRight(string(head), "\r\n"), "\n")
}

// response is what the response framer needs of a response head.
type response struct {
	status int
	header http.Header
}

// parseResponseHead parses an HTTP/1.x status line and header; ok is false when it is not
// one.
func parseResponseHead(head []byte) (*response, bool) {
	lines := headLines(head)
	first := strings.TrimRight(lines[0], "\r")
	proto, rest, _ := strings.Cut(first, " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || len(code) != 3 || err != nil || status < 100 {
		return nil, false
	}
	h, ok := parseFields(lines[1:])
	if !ok {
		return nil, false
	}
	return &response{status: status, header: h}, true
}

// pairing keeps the answers a client gets in the order of its requests, on a connection
// whose proxy has an http toxic. The last stage upstream counts the requests that go
// upstream (evMark); the last stage downstream frames the responses and tells each
// final one written (evAnswered). A reply the proxy gives itself goes out at once when no
// response is owed, as without pipelining; otherwise it waits behind the responses owed
// before it, and the downstream link writes it after the last of them.
//
// When the responses cannot be paired with their requests any more (lost: a stream that
// is not HTTP the framer understands, a tunnel after an upgrade, a response to no
// request), the http stages step aside and pass every later request upstream; a reply
// that cannot be placed ends the connection instead, once the responses tracked before it
// are written.
type pairing struct {
	mu        sync.Mutex
	methods   []string // of the requests gone upstream whose final response is not framed yet, oldest first
	forwarded int64    // requests counted going upstream
	answered  int64    // responses to them written to the client
	waiting   []waitingReply
	lost      bool
}

// waitingReply is a reply of the proxy's that waits for the response to the after-th
// request counted.
type waitingReply struct {
	after int64
	data  []byte
	close bool // the connection ends after it
}

// isLost reports whether responses cannot be paired with requests any more; a nil pairing
// (a stage tried on its own) never is.
func (o *pairing) isLost() bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lost
}

// lose gives up pairing; it says whether a reply waits, which then cannot be placed.
func (o *pairing) lose() (stranded bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lost = true
	return len(o.waiting) > 0
}

// forward counts a request going upstream, just before its first byte is written.
func (o *pairing) forward(method string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.methods = append(o.methods, method)
	o.forwarded++
}

// request gives the method of the request a response answers, the oldest whose final
// response is not framed yet; a final response takes it off. tracked is false for a
// response to a request sent before the counting began; ok is false for a response to no
// request counted.
func (o *pairing) request(final bool) (method string, tracked, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.methods) == 0 {
		return "", false, o.forwarded == 0 // before any request was counted, a response answers one sent before the counting began
	}
	method = o.methods[0]
	if final {
		o.methods = o.methods[1:]
	}
	return method, true, true
}

// reply gives the client a reply of the proxy's, written to w now if no response is owed
// before it, else later by answer. done and err are exec's: the link ends when the reply
// closes the connection, or waits to (then the downstream link closes it).
func (o *pairing) reply(w io.Writer, data []byte, close bool) (done bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case len(o.waiting) == 0 && o.answered == o.forwarded:
		if _, err := w.Write(data); err != nil {
			return true, err
		}
		if close {
			return true, errEnded
		}
		return false, nil
	case o.lost:
		return true, errEnded // no telling where it would go
	}
	o.waiting = append(o.waiting, waitingReply{after: o.forwarded, data: data, close: close})
	return close, nil
}

// answer counts a final response written to the client, and writes to w the replies that
// waited for it. done and err are exec's.
func (o *pairing) answer(w io.Writer) (done bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.answered++
	for len(o.waiting) > 0 && o.waiting[0].after <= o.answered {
		r := o.waiting[0]
		o.waiting = o.waiting[1:]
		if _, err := w.Write(r.data); err != nil {
			return true, err
		}
		if r.close {
			return true, errEnded
		}
	}
	return false, nil
}

// The states of the response framer.
const (
	rsHead = iota // reading a response head
	rsBody        // reading its body
	rsPass        // pairing lost: pass everything
)

// responseStage frames the responses on the downstream stream of a connection with a
// pairing, as the last of its stages: it passes every byte at once and unchanged, and
// follows each final response written with an evAnswered.
type responseStage struct {
	order   *pairing
	state   int
	head    []byte // the response head read so far
	body    body
	final   bool // the response being read answers its request (not 1xx)
	tracked bool // its request was counted
	last    time.Time
}

func (s *responseStage) push(ev event, out []event) []event {
	s.last = later(ev.at, s.last)
	at := s.last
	if ev.kind != evData {
		ev.at = at
		return append(out, ev)
	}
	b := ev.data
	for len(b) > 0 {
		switch s.state {
		case rsPass:
			return append(out, event{kind: evData, data: b, at: at})
		case rsHead:
			old := len(s.head)
			s.head = append(s.head, b...)
			end := headEnd(s.head, max(old-3, 0))
			if end < 0 {
				out = append(out, event{kind: evData, data: b, at: at})
				if len(s.head) > maxHeader {
					out = s.lose(out, at)
				}
				return out
			}
			n := end - old
			s.head = s.head[:end]
			out = append(out, event{kind: evData, data: b[:n], at: at})
			b = b[n:]
			out = s.begin(out, at)
		case rsBody:
			n, done, ok := s.body.next(b)
			out = append(out, event{kind: evData, data: b[:n], at: at})
			b = b[n:]
			switch {
			case !ok:
				out = s.lose(out, at)
			case done:
				out = s.end(out, at)
			}
		}
	}
	return out
}

// begin reads a complete response head and how its body is framed.
func (s *responseStage) begin(out []event, at time.Time) []event {
	r, ok := parseResponseHead(s.head)
	s.head = s.head[:0]
	if !ok {
		return s.lose(out, at)
	}
	s.final = r.status >= 200 || r.status == http.StatusSwitchingProtocols
	method, tracked, ok := s.order.request(s.final)
	if !ok {
		return s.lose(out, at)
	}
	if r.status == http.StatusSwitchingProtocols || (method == http.MethodConnect && r.status/100 == 2) {
		return s.lose(out, at) // a tunnel follows: nothing goes after this response
	}
	s.tracked = tracked
	switch {
	case !s.final, method == http.MethodHead, r.status == http.StatusNoContent, r.status == http.StatusNotModified:
		s.body = body{}
	default:
		if s.body, ok = framing(r.header, true); !ok {
			return s.lose(out, at)
		}
	}
	s.state = rsBody
	if s.body.empty() {
		out = s.end(out, at)
	}
	return out
}

// end ends the current response.
func (s *responseStage) end(out []event, at time.Time) []event {
	s.state = rsHead
	if s.final && s.tracked {
		out = append(out, event{kind: evAnswered, at: at})
	}
	return out
}

// lose stops framing; a reply still waiting ends the connection, after what was framed.
func (s *responseStage) lose(out []event, at time.Time) []event {
	s.state, s.head = rsPass, nil
	if s.order.lose() {
		out = append(out, event{kind: evClose, at: at})
	}
	return out
}

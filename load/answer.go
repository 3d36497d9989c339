package load

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// errMalformed is an answer that is not HTTP/1.x.
var errMalformed = errors.New("malformed HTTP response")

// maxLine is how much of a line an answer keeps: a longer one is cut there and the rest
// skipped (the lines read here — status, headers, chunk sizes — are short).
const maxLine = 4096

// What an answer reads next.
const (
	readStatus    = iota // the status line
	readHeader           // a header line, or the empty line that ends them
	readBody             // left bytes of a body with a Content-Length
	readChunkSize        // a chunk's size line
	readChunk            // left bytes of a chunk
	readChunkEnd         // the empty line after a chunk
	readTrailer          // a trailer line, or the empty line that ends the body
	readToEnd            // a body that runs to the end of the connection
	readDone             // nothing: the answer is whole
)

// answer reads one HTTP/1.x answer to the end of its body from its bytes as they come, in
// pieces of any size: the blocking client (readAnswer) and the event loop (loop_linux.go)
// read with it alike. Interim 1xx answers are skipped, the body is read by Content-Length,
// chunked, or up to the end of the connection, and only what a load needs is kept: the
// status, a redirect's Location, and whether the connection can carry another request.
type answer struct {
	head bool // it answers a HEAD request: no body

	state    int
	line     []byte // the current line so far, when it came in more than one piece
	cut      bool   // the current line was longer than maxLine
	status   int
	location string
	keep     bool  // the connection can carry another request
	http10   bool  // the answer is HTTP/1.0: keep-alive only when it says so
	answered bool  // some of an answer came
	length   int64 // Content-Length, or -1
	chunked  bool
	left     int64 // bytes of a body or chunk still to skip
}

func newAnswer(head bool) answer { return answer{head: head} }

func (a *answer) done() bool { return a.state == readDone }

// feed reads from b, which follows what was fed before, and returns how many of its bytes
// belong to the answer: all of them until it is whole (done), and none after.
func (a *answer) feed(b []byte) (n int, err error) {
	if len(b) > 0 {
		a.answered = true
	}
	for n < len(b) && a.state != readDone {
		switch a.state {
		case readBody, readChunk:
			skip := min(a.left, int64(len(b)-n))
			n += int(skip)
			if a.left -= skip; a.left == 0 {
				if a.state == readBody {
					a.state = readDone
				} else {
					a.state = readChunkEnd
				}
			}
		case readToEnd:
			n = len(b)
		default:
			line, used, whole := a.takeLine(b[n:])
			n += used
			if !whole {
				continue
			}
			if err := a.onLine(bytes.TrimRight(line, "\r\n")); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// takeLine takes a line from b: whole when it ends in b, its bytes in line (b's own, or
// the pieces put together), and how many of b's bytes it used.
func (a *answer) takeLine(b []byte) (line []byte, used int, whole bool) {
	i := bytes.IndexByte(b, '\n')
	end := len(b)
	if i >= 0 {
		end = i + 1
	}
	if i >= 0 && len(a.line) == 0 && !a.cut && end <= maxLine {
		return b[:end], end, true // the usual case: the line came in one piece
	}
	if room := maxLine - len(a.line); room > 0 {
		a.line = append(a.line, b[:min(room, end)]...)
	}
	a.cut = a.cut || len(a.line) == maxLine
	if i < 0 {
		return nil, end, false
	}
	line = a.line
	a.line, a.cut = a.line[:0], false
	return line, end, true
}

// onLine reads one line, without its line end.
func (a *answer) onLine(line []byte) error {
	switch a.state {
	case readStatus:
		// HTTP/1.x NNN reason
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return errMalformed
		}
		status, err := strconv.Atoi(string(line[9:12]))
		if err != nil || status < 100 || (len(line) > 12 && line[12] != ' ') {
			return errMalformed
		}
		a.status, a.location, a.length, a.chunked = status, "", -1, false
		a.http10 = line[7] == '0'
		a.keep = line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
		a.state = readHeader
	case readHeader:
		if len(line) == 0 {
			a.endHeaders()
			return nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return errMalformed
		}
		v = bytes.TrimSpace(v)
		switch {
		case equalFold(k, "content-length"):
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 {
				return errMalformed
			}
			a.length = n
		case equalFold(k, "transfer-encoding"):
			a.chunked = equalFold(v, "chunked")
		case equalFold(k, "connection"):
			if equalFold(v, "close") {
				a.keep = false
			} else if equalFold(v, "keep-alive") && a.http10 {
				a.keep = true
			}
		case equalFold(k, "location"):
			a.location = string(v)
		}
	case readChunkSize:
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 {
			return errMalformed
		}
		if a.left, a.state = n, readChunk; n == 0 {
			a.state = readTrailer
		}
	case readChunkEnd:
		if len(line) != 0 {
			return errMalformed
		}
		a.state = readChunkSize
	case readTrailer:
		if len(line) == 0 {
			a.state = readDone
		}
	}
	return nil
}

// endHeaders decides, at the end of the headers, what comes next.
func (a *answer) endHeaders() {
	status := a.status
	switch {
	case status >= 100 && status < 200 && status != http.StatusSwitchingProtocols:
		a.state = readStatus // an interim answer: the final one follows
		return
	case !redirect(status):
		a.location = ""
	}
	switch {
	case a.head || status == http.StatusNoContent || status == http.StatusNotModified || status == http.StatusSwitchingProtocols:
		if status == http.StatusSwitchingProtocols {
			a.keep = false
		}
		a.state = readDone
	case a.chunked:
		a.state = readChunkSize
	case a.length > 0:
		a.state, a.left = readBody, a.length
	case a.length == 0:
		a.state = readDone
	default: // the body runs to the end of the connection
		a.keep = false
		a.state = readToEnd
	}
}

// end is the end of the connection: an answer whose body runs to it is whole; any other
// not yet whole is cut short (io.EOF when nothing of it came).
func (a *answer) end() error {
	switch {
	case a.state == readToEnd:
		a.state = readDone
		return nil
	case a.state == readDone:
		return nil
	case !a.answered:
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

// result returns what the answer says, with err its failure: status is 0 unless its
// headers came whole (as net/http's client gives none), location and keep only for a whole
// answer.
func (a *answer) result(err error) (status int, location string, keep, answered bool, _ error) {
	if err != nil {
		if a.state > readHeader {
			status = a.status
		}
		return status, "", false, a.answered, err
	}
	return a.status, a.location, a.keep, true, nil
}

func redirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// readAnswer reads one answer from r, to the end of its body; head says it answers a HEAD
// request. keep says the connection can carry another request, answered that some of an
// answer came.
func readAnswer(r *bufio.Reader, head bool) (status int, location string, keep, answered bool, err error) {
	a := newAnswer(head)
	for !a.done() {
		if r.Buffered() == 0 {
			if _, err := r.Peek(1); err != nil {
				if err == io.EOF {
					err = a.end()
				}
				if a.done() {
					break
				}
				return a.result(err)
			}
		}
		b, _ := r.Peek(r.Buffered())
		n, err := a.feed(b)
		r.Discard(n)
		if err != nil {
			return a.result(err)
		}
	}
	return a.result(nil)
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

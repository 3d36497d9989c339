package load

import (
	"bufio"
	"bytes"
	"testing"
)

var answerSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nto the end",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nokHTTP/1.1",
	"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
}

// FuzzReadAnswer: any bytes from a server give an answer or an error, never a panic or a
// hang; an answer read whole has a status of three digits, and a Location only when it
// is a redirect.
func FuzzReadAnswer(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, head bool) {
		status, location, _, _, err := readAnswer(bufio.NewReaderSize(bytes.NewReader(b), 4096), head)
		if err != nil {
			return
		}
		if status < 100 || status > 999 {
			t.Errorf("status %d read without error", status)
		}
		if location != "" && !redirect(status) {
			t.Errorf("location %q given with status %d", location, status)
		}
	})
}

// FuzzAnswerInPieces: an answer read in pieces of any sizes, as the event loop reads it,
// says what the same bytes read at once say, and takes the same bytes.
func FuzzAnswerInPieces(f *testing.F) {
	for _, s := range answerSeeds {
		f.Add([]byte(s), []byte{1, 7, 3, 200}, false)
	}
	f.Fuzz(func(t *testing.T, b, cuts []byte, head bool) {
		whole := newAnswer(head)
		wn, werr := whole.feed(b)
		if werr == nil {
			werr = whole.end()
		}
		pieces := newAnswer(head)
		var pn int
		var perr error
		rest := b
		for i := 0; len(rest) > 0 && perr == nil && !pieces.done(); i++ {
			k := len(rest)
			if len(cuts) > 0 {
				k = min(k, int(cuts[i%len(cuts)])+1)
			}
			var n int
			n, perr = pieces.feed(rest[:k])
			pn += n
			if n < k && perr == nil && !pieces.done() {
				t.Fatalf("piece %d: took %d of %d bytes, neither whole nor failed", i, n, k)
			}
			rest = rest[k:]
		}
		if perr == nil {
			perr = pieces.end()
		}
		ws, wl, wk, wa, we := whole.result(werr)
		ps, pl, pk, pa, pe := pieces.result(perr)
		if ws != ps || wl != pl || wk != pk || wa != pa || (we == nil) != (pe == nil) || (we == nil && wn != pn) {
			t.Errorf("at once: %d %q keep=%v answered=%v took %d, %v\nin pieces: %d %q keep=%v answered=%v took %d, %v",
				ws, wl, wk, wa, wn, we, ps, pl, pk, pa, pn, pe)
		}
	})
}

// TestAnswerTakesOnlyItsBytes: the bytes after a whole answer are the next answer's.
func TestAnswerTakesOnlyItsBytes(t *testing.T) {
	two := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	r := bufio.NewReader(bytes.NewReader([]byte(two)))
	for _, want := range []int{200, 404} {
		status, _, keep, _, err := readAnswer(r, false)
		if err != nil || status != want || !keep {
			t.Fatalf("status %d keep %v error %v, want %d kept", status, keep, err, want)
		}
	}
}

package endpoint

import (
	"fmt"
	"io"
	"net/http"
)

// MaxAnswer is the most of one answer's body that shakedown reads from anything it asks over
// HTTP (an http probe's endpoint, Prometheus, Alertmanager): an answer it can judge fits
// many times over, and one that never ends — or answers gigabytes — is an error within
// bounded memory rather than a wait until the timeout or the runner's memory.
const MaxAnswer = 16 << 20

// MaxAnswerHeader bounds the header of one answer (net/http's own default is 10 MiB).
const MaxAnswerHeader = 1 << 20

// ErrTooLarge is the error of reading an answer past MaxAnswer.
var ErrTooLarge = fmt.Errorf("answer larger than %d MiB", MaxAnswer>>20)

// Transport returns a new transport as http.DefaultTransport is, with the header of its
// answers bounded by MaxAnswerHeader. Wrap it with Capped to bound their bodies too.
func Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = MaxAnswerHeader
	return tr
}

// Capped returns a round tripper whose answers' bodies fail with ErrTooLarge past MaxAnswer
// bytes, so that whoever reads one whole (the Prometheus client does, however long it is)
// reads a bounded amount.
func Capped(next http.RoundTripper) http.RoundTripper { return capped{next} }

type capped struct{ next http.RoundTripper }

func (c capped) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: MaxAnswer}
	}
	return resp, err
}

type cappedBody struct {
	io.ReadCloser
	left int64 // bytes that may still be read
}

func (b *cappedBody) Read(p []byte) (int, error) {
	// One byte past the limit is read, so that a body of exactly MaxAnswer bytes ends in EOF.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return n, ErrTooLarge
	}
	return n, err
}

// ReadAnswer reads body to its end and returns its first keep bytes; the rest is read and
// dropped, so that an answer is judged only once it has ended (a body that never ends is
// an error: ErrTooLarge, or the request's timeout) and its connection can be used again.
func ReadAnswer(body io.Reader, keep int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, int64(keep)))
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	return b, err
}

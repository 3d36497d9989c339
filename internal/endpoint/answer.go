package endpoint

import (
	"errors"
	"io"
	"net/http"

	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// MaxAnswer is the most of one answer's body that shakedown reads from anything it asks over
// HTTP (an http probe's endpoint, Prometheus, Alertmanager): an answer it can judge fits
// many times over, and one that never ends — or answers gigabytes — is an error within
// bounded memory rather than a wait until the timeout or the runner's memory.
const MaxAnswer = 16 << 20

// MaxAnswerHeader bounds the header of one answer (net/http's own default is 10 MiB).
const MaxAnswerHeader = 1 << 20

// ErrTooLarge is what the error of reading an answer past its bound wraps: past MaxAnswer
// through Capped, past the bound given to Bounded or ReadAll. The error itself says the
// bound: "answer longer than 1 MiB".
var ErrTooLarge = errors.New("answer too long")

type tooLongError struct{ max int64 }

func (e *tooLongError) Error() string        { return "answer longer than " + userfile.Size(e.max) }
func (e *tooLongError) Is(target error) bool { return target == ErrTooLarge }

// Bounded returns a reader of r that fails, once r has given more than max bytes, with an
// error that says max and wraps ErrTooLarge: an answer is never cut silently, to fail
// later as a puzzling decode error or to be judged on its beginning alone.
func Bounded(r io.Reader, max int64) io.Reader { return &bounded{r: r, left: max, max: max} }

// ReadAll reads r to its end, as io.ReadAll does, when it holds at most max bytes; a
// longer answer is an error (see Bounded), returned with its first max bytes.
func ReadAll(r io.Reader, max int64) ([]byte, error) { return io.ReadAll(Bounded(r, max)) }

type bounded struct {
	r         io.Reader
	left, max int64 // bytes that may still be read; the bound
}

func (b *bounded) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &tooLongError{b.max}
	}
	// One byte past the bound is read, so that an answer of exactly max bytes ends in EOF.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return n - 1, &tooLongError{b.max} // the byte past the bound is not the answer's
	}
	return n, err
}

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
		resp.Body = cappedBody{Reader: Bounded(resp.Body, MaxAnswer), Closer: resp.Body}
	}
	return resp, err
}

type cappedBody struct {
	io.Reader
	io.Closer
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

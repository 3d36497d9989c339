package monitor

import (
	"fmt"
	"io"
	"net/http"
)

// maxAnswer is the most of one answer read from Prometheus or Alertmanager: an instant query
// the probe can judge holds one number, and an alert list of some ten thousand alerts fits.
const maxAnswer = 16 << 20

// capped is an http.RoundTripper whose answers' bodies fail past maxAnswer bytes, so that an
// endpoint that never stops answering (or answers gigabytes) is an error, not the runner's
// memory. The Prometheus client reads a body whole, however long it is; this bounds it.
type capped struct{ next http.RoundTripper }

func (c capped) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxAnswer}
	}
	return resp, err
}

type cappedBody struct {
	io.ReadCloser
	left int64 // bytes that may still be read
}

func (b *cappedBody) Read(p []byte) (int, error) {
	// One byte past the limit is read, so that a body of exactly maxAnswer bytes ends in EOF.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return n, fmt.Errorf("answer larger than %d MiB", maxAnswer>>20)
	}
	return n, err
}

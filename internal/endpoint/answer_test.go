package endpoint

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCappedBody: a body of exactly MaxAnswer bytes is read whole; one byte more is
// ErrTooLarge.
func TestCappedBody(t *testing.T) {
	for _, tc := range []struct {
		size    int
		wantErr error
	}{{0, nil}, {MaxAnswer, nil}, {MaxAnswer + 1, ErrTooLarge}} {
		b := Bounded(strings.NewReader(strings.Repeat("x", tc.size)), MaxAnswer)
		got, err := io.ReadAll(b)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("body of %d bytes: error %v, want %v", tc.size, err, tc.wantErr)
		}
		if tc.wantErr == nil && len(got) != tc.size {
			t.Errorf("body of %d bytes: read %d", tc.size, len(got))
		}
	}
}

// TestReadAnswer: an answer is read to its end and its first bytes kept; one past
// MaxAnswer is ErrTooLarge.
func TestReadAnswer(t *testing.T) {
	for _, tc := range []struct {
		size, keep int
		wantErr    error
	}{{0, 10, nil}, {5, 10, nil}, {100, 10, nil}, {MaxAnswer, 1 << 20, nil}, {MaxAnswer + 1, 1 << 20, ErrTooLarge}} {
		body := Bounded(strings.NewReader(strings.Repeat("x", tc.size)), MaxAnswer)
		got, err := ReadAnswer(body, tc.keep)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("answer of %d bytes: error %v, want %v", tc.size, err, tc.wantErr)
		}
		if want := min(tc.size, tc.keep); len(got) != want {
			t.Errorf("answer of %d bytes, keeping %d: kept %d, want %d", tc.size, tc.keep, len(got), want)
		}
	}
}

// TestReadAllFromServer: a server's answer of max bytes is read whole; one byte longer is
// an error wrapping ErrTooLarge, returned with the first max bytes.
func TestReadAllFromServer(t *testing.T) {
	const max = 1 << 10
	for _, size := range []int{0, max, max + 1, 10 * max} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, strings.Repeat("x", size))
		}))
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadAll(resp.Body, max)
		resp.Body.Close()
		srv.Close()
		if tooLong := size > max; errors.Is(err, ErrTooLarge) != tooLong || (!tooLong && err != nil) {
			t.Errorf("answer of %d bytes, at most %d: error %v", size, max, err)
		}
		if want := min(size, max); len(got) != want {
			t.Errorf("answer of %d bytes, at most %d: read %d, want %d", size, max, len(got), want)
		}
	}
}

package endpoint

import (
	"errors"
	"io"
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
		b := &cappedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", tc.size))), left: MaxAnswer}
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
		body := &cappedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", tc.size))), left: MaxAnswer}
		got, err := ReadAnswer(body, tc.keep)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("answer of %d bytes: error %v, want %v", tc.size, err, tc.wantErr)
		}
		if want := min(tc.size, tc.keep); len(got) != want {
			t.Errorf("answer of %d bytes, keeping %d: kept %d, want %d", tc.size, tc.keep, len(got), want)
		}
	}
}

package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// TestCallRefusesTooLongAnswer: an API answer longer than maxAnswer is an error that says
// so — not a decode error of the answer's cut beginning — and an error answer that long
// still says its status.
func TestCallRefusesTooLongAnswer(t *testing.T) {
	for _, c := range []struct {
		name     string
		status   int
		wantKind shakedown.Kind
		tooLong  bool
	}{
		{"success", http.StatusOK, shakedown.KindUnavailable, true},
		{"error", http.StatusNotFound, shakedown.KindNotFound, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				io.WriteString(w, `{"name":"`+strings.Repeat("x", maxAnswer)+`"}`)
			}))
			defer srv.Close()
			var out struct{ Name string }
			err := call(t.Context(), "GET", srv.URL+"/proxies/p", nil, &out)
			if !shakedown.IsKind(err, c.wantKind) || errors.Is(err, endpoint.ErrTooLarge) != c.tooLong {
				t.Errorf("answer of %d with %d bytes: error %v, want kind %v, too long %v", c.status, maxAnswer+11, err, c.wantKind, c.tooLong)
			}
		})
	}
}

package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// backend starts a test server with the given handler and returns its host:port.
func backend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// hang answers nothing until the request is given up, as a paused replica does.
func hang(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

func answer(delay time.Duration, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(code)
		w.Write([]byte(r.URL.Path))
	}
}

func get(t *testing.T, b *Balancer, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	b.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// TestBalancerRoutesAroundAHungBackend: whichever backend a request starts on, hung ones
// do not keep it from the one that answers, even when that one is slower than the per-try
// deadline.
func TestBalancerRoutesAroundAHungBackend(t *testing.T) {
	b := &Balancer{
		Backends:   []string{backend(t, hang), backend(t, answer(120*time.Millisecond, 200)), backend(t, hang)},
		TryTimeout: 30 * time.Millisecond,
	}
	for n := range 6 {
		if code, body := get(t, b, "/checkout"); code != 200 || body != "/checkout" {
			t.Fatalf("request %d: %d %q, want 200 from the slow but healthy backend", n, code, body)
		}
	}
}

func TestBalancerAnswers502WhenEveryBackendFails(t *testing.T) {
	b := &Balancer{
		Backends:   []string{backend(t, answer(0, 500)), backend(t, answer(0, 503))},
		TryTimeout: time.Second,
	}
	if code, _ := get(t, b, "/checkout"); code != http.StatusBadGateway {
		t.Fatalf("every backend failing: %d, want 502", code)
	}
}

// TestBalancerHealthCheckTakesAHungBackendOut: after two failed checks the hung backend gets
// no more requests, and /healthz says the balancer can still serve.
func TestBalancerHealthCheckTakesAHungBackendOut(t *testing.T) {
	hits := make(chan struct{}, 100)
	hung := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			hits <- struct{}{}
		}
		hang(w, r)
	})
	b := &Balancer{Backends: []string{hung, backend(t, answer(0, 200))}, CheckEvery: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go b.Run(ctx)
	testenv.WaitFor(t, "the hung backend taken out", 5*time.Second, func() bool {
		b.mu.RLock()
		defer b.mu.RUnlock()
		return len(b.up) == 2 && !b.up[0] && b.up[1]
	})
	for len(hits) > 0 {
		<-hits
	}
	for n := range 4 {
		if code, _ := get(t, b, "/checkout"); code != 200 {
			t.Fatalf("request %d: %d, want 200", n, code)
		}
	}
	if len(hits) != 0 {
		t.Fatalf("%d requests reached the backend taken out", len(hits))
	}
	if code, _ := get(t, b, "/healthz"); code != 200 {
		t.Fatalf("/healthz with one backend up: %d, want 200", code)
	}
}

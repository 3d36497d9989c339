package monitor

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// endless answers every request with a 200 and a body that never ends.
func endless(t *testing.T) string {
	t.Helper()
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = ' '
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestEndlessAnswers: a Prometheus or Alertmanager whose answer never ends is an endpoint
// that cannot be asked, found out within bounded memory, not one that fills the runner's.
func TestEndlessAnswers(t *testing.T) {
	url := endless(t)
	max := 1.0
	prom, err := NewPrometheus(&PrometheusParams{URL: url, Query: "up", Max: &max}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	promAlert, err := NewAlert(&shakedown.AlertSpec{Name: "A", Prometheus: url})
	if err != nil {
		t.Fatal(err)
	}
	amAlert, err := NewAlert(&shakedown.AlertSpec{Name: "A", Alertmanager: url})
	if err != nil {
		t.Fatal(err)
	}
	for name, ask := range map[string]func() error{
		"prometheus probe": func() error { _, err := prom.Probe(t.Context()); return err },
		"prometheus alert": func() error { _, err := promAlert.Firing(t.Context()); return err },
		"alertmanager":     func() error { _, err := amAlert.Firing(t.Context()); return err },
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := ask()
		runtime.ReadMemStats(&after)
		if !shakedown.IsKind(err, shakedown.KindUnavailable) {
			t.Errorf("%s: %v, want kind unavailable", name, err)
		}
		// Growing a buffer to the limit allocates a few times it (more under -race); without
		// the limit, this allocated gigabytes.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*endpoint.MaxAnswer {
			t.Errorf("%s: allocated %d MiB reading an endless answer, want at most %d", name, alloc>>20, 16*endpoint.MaxAnswer>>20)
		}
	}
}

package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// gauge is a metrics endpoint exposing shakedown_test_value, whose value the test sets.
type gauge struct {
	bits atomic.Uint64
	srv  *httptest.Server
}

func newGauge(t *testing.T, v float64) *gauge {
	g := &gauge{}
	g.set(v)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE shakedown_test_value gauge\nshakedown_test_value %s\n",
			strconv.FormatFloat(g.get(), 'g', -1, 64))
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gauge) set(v float64) { g.bits.Store(math.Float64bits(v)) }
func (g *gauge) get() float64  { return math.Float64frombits(g.bits.Load()) }

// freeAddr returns a 127.0.0.1 address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testenv.Ports(t, 1)[0])
}

// startServer starts bin with args (the listen address appended by listen(addr)) and waits
// until GET /-/ready answers 200. The process is killed in the test's cleanup. A port taken
// between choosing and binding makes it try another.
func startServer(t *testing.T, bin string, listen func(addr string) []string, args ...string) string {
	t.Helper()
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		addr := freeAddr(t)
		var out bytes.Buffer
		cmd := exec.Command(bin, append(args, listen(addr)...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
			}
		})
		base := "http://" + addr
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				lastOut = out.String()
				deadline = time.Time{} // try another port
				continue
			default:
			}
			resp, err := http.Get(base + "/-/ready")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return base
				}
			}
			time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
		}
		if !deadline.IsZero() {
			t.Fatalf("%s not ready within 30s", bin)
		}
	}
	t.Fatalf("%s exited three times:\n%s", bin, lastOut)
	return ""
}

// startPrometheus starts the Debian prometheus scraping target every second, with an alert
// TestHigh (shakedown_test_value > 1, for 0s, severity=page) evaluated every second.
func startPrometheus(t *testing.T, target string) string {
	bin := testenv.NeedCommand(t, "prometheus")
	dir := t.TempDir()
	rules := `groups:
- name: shakedown-test
  rules:
  - alert: TestHigh
    expr: shakedown_test_value > 1
    for: 0s
    labels: {severity: page}
`
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
- job_name: app
  static_configs:
  - targets: [%q]
`, filepath.Join(dir, "rules.yml"), target)
	write(t, filepath.Join(dir, "rules.yml"), rules)
	write(t, filepath.Join(dir, "prometheus.yml"), config)
	return startServer(t, bin, func(addr string) []string { return []string{"--web.listen-address=" + addr} },
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"))
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond every 100ms until it is true or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, within, cond)
}

func TestPrometheusProbeAgainstPrometheus(t *testing.T) {
	g := newGauge(t, 0.5)
	prom := startPrometheus(t, g.srv.Listener.Addr().String())

	probe := func(query string, min, max *float64) (string, error) {
		p, err := NewPrometheus(&PrometheusParams{URL: prom, Query: query, Min: min, Max: max}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return p.Probe(t.Context())
	}
	eventually(t, 30*time.Second, "first scrape", func() bool {
		obs, err := probe("shakedown_test_value", ptr(0), nil)
		return err == nil && obs == "0.5"
	})

	tests := []struct {
		name     string
		query    string
		min, max *float64
		kind     *shakedown.Kind // nil: holds
		observed string
	}{
		{"within min", "shakedown_test_value", ptr(0.4), nil, nil, "0.5"},
		{"within both", "shakedown_test_value", ptr(0), ptr(1), nil, "0.5"},
		{"above max", "shakedown_test_value", nil, ptr(0.4), kind(shakedown.KindFailed), "0.5"},
		{"below min", "shakedown_test_value * 2", ptr(1.5), nil, kind(shakedown.KindFailed), "1"},
		{"scalar", "scalar(shakedown_test_value)", nil, ptr(1), nil, "0.5"},
		{"no series", `shakedown_test_value{job="nope"}`, ptr(0), nil, kind(shakedown.KindFailed), "no series"},
		{"two series", `label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")`,
			ptr(0), nil, kind(shakedown.KindFailed), "2 series"},
		{"bad query", "sum(", ptr(0), nil, kind(shakedown.KindInvalid), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := probe(tt.query, tt.min, tt.max)
			if obs != tt.observed {
				t.Errorf("observed %q, want %q", obs, tt.observed)
			}
			switch {
			case tt.kind == nil && err != nil:
				t.Errorf("probe %q: %v, want it to hold", tt.query, err)
			case tt.kind != nil && !shakedown.IsKind(err, *tt.kind):
				t.Errorf("probe %q: %v, want an error of kind %v", tt.query, err, *tt.kind)
			}
		})
	}
}

func kind(k shakedown.Kind) *shakedown.Kind { return &k }

func TestAlertFromPrometheus(t *testing.T) {
	g := newGauge(t, 0.5)
	prom := startPrometheus(t, g.srv.Listener.Addr().String())
	alert, err := NewAlert(&shakedown.AlertSpec{Prometheus: prom, Name: "TestHigh", Labels: map[string]string{"severity": "page"}})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewAlert(&shakedown.AlertSpec{Prometheus: prom, Name: "TestHigh", Labels: map[string]string{"severity": "ticket"}})
	firing := func(a *Alert) bool {
		f, err := a.Firing(t.Context())
		if err != nil {
			t.Fatalf("%v: %v", a, err)
		}
		return f
	}
	// Wait until the low value has been scraped and evaluated: the rule's query sees it.
	p, _ := NewPrometheus(&PrometheusParams{URL: prom, Query: "shakedown_test_value", Max: ptr(1)}, 5*time.Second)
	eventually(t, 30*time.Second, "first scrape", func() bool { _, err := p.Probe(t.Context()); return err == nil })
	if firing(alert) {
		t.Fatalf("%v fires before the metric is high", alert)
	}

	g.set(2)
	start := time.Now()
	eventually(t, 30*time.Second, "alert firing after the metric went high", func() bool { return firing(alert) })
	t.Logf("fired %v after the flip", time.Since(start).Round(100*time.Millisecond))
	if firing(other) {
		t.Errorf("%v fires although its labels differ", other)
	}

	g.set(0.5)
	start = time.Now()
	eventually(t, 30*time.Second, "alert resolved after the metric went low", func() bool { return !firing(alert) })
	t.Logf("resolved %v after the flip back", time.Since(start).Round(100*time.Millisecond))
}

func TestAlertFromAlertmanager(t *testing.T) {
	bin := testenv.NeedCommand(t, "prometheus-alertmanager")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "alertmanager.yml"), "route:\n  receiver: none\nreceivers:\n- name: none\n")
	am := startServer(t, bin, func(addr string) []string { return []string{"--web.listen-address=" + addr} },
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"),
		"--cluster.listen-address=")

	post := func(ends time.Time) {
		t.Helper()
		body, _ := json.Marshal([]map[string]any{{
			"labels":   map[string]string{"alertname": "TestAM", "severity": "page"},
			"startsAt": time.Now().Add(-time.Minute).Format(time.RFC3339),
			"endsAt":   ends.Format(time.RFC3339),
		}})
		resp, err := http.Post(am+"/api/v2/alerts", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("post alert: %s", resp.Status)
		}
	}
	alert, err := NewAlert(&shakedown.AlertSpec{Alertmanager: am, Name: "TestAM", Labels: map[string]string{"severity": "page"}})
	if err != nil {
		t.Fatal(err)
	}
	firing := func() bool {
		f, err := alert.Firing(context.Background())
		if err != nil {
			t.Fatalf("%v: %v", alert, err)
		}
		return f
	}
	if firing() {
		t.Fatalf("%v fires before any alert was posted", alert)
	}
	post(time.Now().Add(time.Hour))
	eventually(t, 30*time.Second, "alert active after it was posted", firing)
	post(time.Now().Add(-time.Second))
	eventually(t, 30*time.Second, "alert gone after it was resolved", func() bool { return !firing() })
}

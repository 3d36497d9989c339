package dashboard_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shakedown-dev/shakedown/dashboard"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// TestMetrics: /metrics parses as Prometheus's text format (its own parser, and promtool's
// lint where Debian's prometheus package is installed) and says what the history holds.
func TestMetrics(t *testing.T) {
	stop := newFakeStop(liveRun)
	u := serve(t, dashboard.Options{Live: stop.Live, Schedules: func() []dashboard.Schedule {
		return []dashboard.Schedule{{Name: "nightly", Every: "24h", Next: mustTime(t, "2026-12-04T02:00:00Z")}}
	}})
	status, h, body := call(t, "GET", u+"/metrics", "", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s %s", status, h.Get("Content-Type"), body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		f := fams[name]
		if f == nil {
			return 0, false
		}
	next:
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			}
		}
		return 0, false
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"shakedown_runs_total", map[string]string{"experiment": expCheckout, "verdict": "failed"}, 6},
		{"shakedown_runs_total", map[string]string{"experiment": expCheckout, "verdict": "regressed"}, 1},
		{"shakedown_runs_total", map[string]string{"experiment": expCheckout, "verdict": "passed"}, 33},
		{"shakedown_runs_total", map[string]string{"experiment": expPayments, "verdict": "aborted"}, 1},
		{"shakedown_last_verdict", map[string]string{"experiment": expCheckout, "verdict": "passed"}, 1},
		{"shakedown_last_verdict", map[string]string{"experiment": expCheckout, "verdict": "failed"}, 0},
		{"shakedown_last_run_timestamp_seconds", map[string]string{"experiment": expSearch}, float64(mustTime(t, "2026-11-02T15:02:00Z").Unix() + 110)},
		{"shakedown_last_run_figure", map[string]string{"experiment": expCheckout, "figure": "recovery.time_to_recover"}, 2000 + 50*float64(39%9)},
		{"shakedown_schedule_next_run_timestamp_seconds", map[string]string{"schedule": "nightly"}, float64(mustTime(t, "2026-12-04T02:00:00Z").Unix())},
		{"shakedown_live_runs", nil, 1},
		{"shakedown_history_up", nil, 1},
	} {
		got, ok := value(tc.name, tc.labels)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (found: %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}

	promtool := testenv.NeedCommand(t, "promtool") // Debian's prometheus package
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

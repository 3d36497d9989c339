package monitor

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

func ptr(v float64) *float64 { return &v }

func TestPrometheusParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    PrometheusParams
		ok   bool
	}{
		{"min", PrometheusParams{URL: "http://127.0.0.1:9090", Query: "up", Min: ptr(1)}, true},
		{"max", PrometheusParams{URL: "http://127.0.0.1:9090", Query: "up", Max: ptr(1)}, true},
		{"both", PrometheusParams{URL: "https://p:9090", Query: "up", Min: ptr(0), Max: ptr(1)}, true},
		{"no bound", PrometheusParams{URL: "http://127.0.0.1:9090", Query: "up"}, false},
		{"min above max", PrometheusParams{URL: "http://127.0.0.1:9090", Query: "up", Min: ptr(2), Max: ptr(1)}, false},
		{"no query", PrometheusParams{URL: "http://127.0.0.1:9090", Max: ptr(1)}, false},
		{"no url", PrometheusParams{Query: "up", Max: ptr(1)}, false},
		{"not http", PrometheusParams{URL: "127.0.0.1:9090", Query: "up", Max: ptr(1)}, false},
		{"port out of range", PrometheusParams{URL: "http://127.0.0.1:99999", Query: "up", Max: ptr(1)}, false},
		{"port 0", PrometheusParams{URL: "http://127.0.0.1:0", Query: "up", Max: ptr(1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tt.p, err, tt.ok)
			}
			if err != nil && !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Errorf("Validate error %v is not of kind invalid", err)
			}
		})
	}
}

func TestRegister(t *testing.T) {
	r := shakedown.NewRegistry()
	Register(r)
	pt, ok := r.Probe("prometheus")
	if !ok {
		t.Fatal("no prometheus probe registered")
	}
	params := pt.Params().(*PrometheusParams)
	params.URL, params.Query, params.Max = "http://127.0.0.1:9", "up", ptr(1)
	if _, err := pt.New(shakedown.Env{}, params, 0); err != nil {
		t.Errorf("New: %v", err)
	}
}

func TestNewAlertRefuses(t *testing.T) {
	tests := []struct {
		name string
		spec shakedown.AlertSpec
	}{
		{"no name", shakedown.AlertSpec{Prometheus: "http://127.0.0.1:9090"}},
		{"no source", shakedown.AlertSpec{Name: "A"}},
		{"two sources", shakedown.AlertSpec{Name: "A", Prometheus: "http://127.0.0.1:9090", Alertmanager: "http://127.0.0.1:9093"}},
		{"bad url", shakedown.AlertSpec{Name: "A", Alertmanager: "localhost:9093"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewAlert(&tt.spec); !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Errorf("NewAlert(%+v) = %v, want an invalid error", tt.spec, err)
			}
		})
	}
}

// deadURL returns the URL of a port on which nothing listens (see freeAddr).
func deadURL(t *testing.T) string {
	t.Helper()
	return "http://" + freeAddr(t)
}

func TestUnreachableIsUnavailable(t *testing.T) {
	u := deadURL(t)
	p, err := NewPrometheus(&PrometheusParams{URL: u, Query: "up", Min: ptr(1)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Probe(t.Context()); !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Errorf("probe of %s: %v, want unavailable", u, err)
	}
	for _, spec := range []shakedown.AlertSpec{{Name: "A", Prometheus: u}, {Name: "A", Alertmanager: u}} {
		a, err := NewAlert(&spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Firing(t.Context()); !shakedown.IsKind(err, shakedown.KindUnavailable) {
			t.Errorf("%v: Firing = %v, want unavailable", a, err)
		}
	}
}

func TestNotPrometheusIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	p, _ := NewPrometheus(&PrometheusParams{URL: srv.URL, Query: "up", Min: ptr(1)}, 0)
	if _, err := p.Probe(t.Context()); !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Errorf("probe of a server that is not Prometheus: %v, want unavailable", err)
	}
	a, _ := NewAlert(&shakedown.AlertSpec{Name: "A", Alertmanager: srv.URL})
	if _, err := a.Firing(t.Context()); !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Errorf("alerts of a server that is not Alertmanager: %v, want unavailable", err)
	}
}

// TestAlertmanagerMatching checks state and label matching on canned answers; the test
// against a real Alertmanager is in prometheus_test.go.
func TestAlertmanagerMatching(t *testing.T) {
	const body = `[
	 {"labels":{"alertname":"Slow","severity":"page","svc":"cache"},"status":{"state":"active","silencedBy":[],"inhibitedBy":[]}},
	 {"labels":{"alertname":"Quiet","severity":"page"},"status":{"state":"suppressed","silencedBy":["x"],"inhibitedBy":[]}}
	]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	defer srv.Close()
	tests := []struct {
		name   string
		alert  string
		labels map[string]string
		want   bool
	}{
		{"by name", "Slow", nil, true},
		{"by name and label", "Slow", map[string]string{"svc": "cache"}, true},
		{"other label value", "Slow", map[string]string{"svc": "db"}, false},
		{"label it lacks", "Slow", map[string]string{"zone": "a"}, false},
		{"silenced", "Quiet", nil, false},
		{"absent", "Nope", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAlert(&shakedown.AlertSpec{Name: tt.alert, Labels: tt.labels, Alertmanager: srv.URL + "/"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Firing(context.Background())
			if err != nil || got != tt.want {
				t.Errorf("%v: Firing = %v, %v; want %v", a, got, err, tt.want)
			}
		})
	}
}

func FuzzDecodeAlertmanager(f *testing.F) {
	f.Add([]byte(`[{"labels":{"alertname":"A"},"status":{"state":"active"}}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"error":"x"}`))
	f.Add([]byte(`[{"labels":null,"status":{}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		alerts, err := decodeAlertmanager(b)
		if err != nil && alerts != nil {
			t.Fatalf("decode %q: alerts and an error", b)
		}
		a := &Alert{spec: shakedown.AlertSpec{Name: "A", Labels: map[string]string{"x": "y"}}}
		for _, al := range alerts {
			a.matches(al.Labels) // must not panic on nil labels
		}
	})
}

// TestURLPasswordHidden: a monitoring URL's password shows as xxxxx in plans and errors.
func TestURLPasswordHidden(t *testing.T) {
	u := strings.Replace(deadURL(t), "http://", "http://admin:Passw0rdInURL@", 1)
	pp := &PrometheusParams{URL: u, Query: "up", Min: ptr(1)}
	p, err := NewPrometheus(pp, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, perr := p.Probe(t.Context())
	shown := []string{pp.String(), fmt.Sprint(perr),
		(&PrometheusParams{URL: "ftp://admin:Passw0rdInURL@h/", Query: "up", Min: ptr(1)}).Validate().Error()}
	for _, spec := range []shakedown.AlertSpec{{Name: "A", Prometheus: u}, {Name: "A", Alertmanager: u}} {
		a, err := NewAlert(&spec)
		if err != nil {
			t.Fatal(err)
		}
		_, ferr := a.Firing(t.Context())
		shown = append(shown, a.String(), fmt.Sprint(ferr))
	}
	for _, s := range shown {
		if strings.Contains(s, "Passw0rdInURL") || !strings.Contains(s, "admin:xxxxx@") {
			t.Errorf("%q: want the URL shown with its password as xxxxx", s)
		}
	}
}

// TestPrometheusHostileAnswers: a Prometheus answer that is not one finite number within the
// bounds — NaN, ±Inf, many series, another type, an error inside a 200 — never holds.
func TestPrometheusHostileAnswers(t *testing.T) {
	vector := func(v string) string {
		return `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"` + v + `"]}]}}`
	}
	many := `{"status":"success","data":{"resultType":"vector","result":[` +
		strings.TrimSuffix(strings.Repeat(`{"metric":{"i":"x"},"value":[1,"1"]},`, 1000), ",") + `]}}`
	tests := []struct {
		name   string
		answer string
		min    *float64
		max    *float64
	}{
		{"NaN", vector("NaN"), ptr(0), nil},
		{"+Inf above a min", vector("+Inf"), ptr(0.99), nil},
		{"-Inf below a max", vector("-Inf"), nil, ptr(0.01)},
		{"+Inf as a scalar", `{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}`, ptr(0), nil},
		{"many series", many, ptr(0), nil},
		{"a matrix", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, ptr(0), nil},
		{"a string", `{"status":"success","data":{"resultType":"string","result":[1,"1"]}}`, ptr(0), nil},
		{"an unknown type", `{"status":"success","data":{"resultType":"histogram","result":1}}`, ptr(0), nil},
		{"an error in a 200", `{"status":"error","errorType":"execution","error":"query timed out"}`, ptr(0), nil},
		{"no data", `{"status":"success"}`, ptr(0), nil},
		{"not JSON", `<html>`, ptr(0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.answer)
			}))
			defer srv.Close()
			p, err := NewPrometheus(&PrometheusParams{URL: srv.URL, Query: "up", Min: tt.min, Max: tt.max}, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			obs, err := p.Probe(t.Context())
			if err == nil {
				t.Errorf("answer %.80s: held (observed %q), want an error", tt.answer, obs)
			}
		})
	}
}

// TestPrometheusAnswerHeaderBounded: an answer whose header passes endpoint.MaxAnswerHeader
// is refused, as an http probe's is, rather than read whole.
func TestPrometheusAnswerHeaderBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Filler", strings.Repeat("a", endpoint.MaxAnswerHeader+1))
		io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"1"]}]}}`)
	}))
	defer srv.Close()
	p, err := NewPrometheus(&PrometheusParams{URL: srv.URL, Query: "up", Min: ptr(0)}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if obs, err := p.Probe(t.Context()); err == nil {
		t.Errorf("an answer with a %d-byte header held (observed %q), want an error", endpoint.MaxAnswerHeader+1, obs)
	}
}

// TestPrometheusWithoutTimeoutIsBounded: a probe made with no timeout still gives up on a
// server that accepts its query and never answers, after DefaultQueryTimeout.
func TestPrometheusWithoutTimeoutIsBounded(t *testing.T) {
	silent := testenv.Serve(t, func(c net.Conn) {
		stop := context.AfterFunc(t.Context(), func() { c.Close() })
		defer stop()
		io.Copy(io.Discard, c)
	})
	p, err := NewPrometheus(&PrometheusParams{URL: "http://" + silent, Query: "up", Min: ptr(1)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := p.Probe(context.Background()); done <- err }()
	select {
	case err := <-done:
		if !shakedown.IsKind(err, shakedown.KindUnavailable) {
			t.Errorf("probe of a silent server: %v, want unavailable", err)
		}
	case <-time.After(DefaultQueryTimeout + time.Minute):
		t.Fatalf("probe of a silent server made with no timeout still waits after %v", DefaultQueryTimeout+time.Minute)
	}
}

package load

import (
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

func TestOffset(t *testing.T) {
	tests := []struct {
		name string
		rate float64
		ramp time.Duration
		i    int64
		want time.Duration
	}{
		{"first at once", 10, 0, 0, 0},
		{"constant", 10, 0, 10, time.Second},
		{"constant fraction", 4, 0, 3, 750 * time.Millisecond},
		{"ramp first at once", 100, 4 * time.Second, 0, 0},
		{"ramp quarter", 100, 4 * time.Second, 50, 2 * time.Second}, // N(t)=12.5t²
		{"ramp end", 100, 4 * time.Second, 200, 4 * time.Second},
		{"after ramp", 100, 4 * time.Second, 300, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := offset(tt.rate, tt.ramp, tt.i)
			if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("offset(%v, %v, %d) = %v, want %v", tt.rate, tt.ramp, tt.i, got, tt.want)
			}
		})
	}
}

func TestOffsetRampIsLinear(t *testing.T) {
	// During a ramp the rate, measured as sends per tenth of the ramp, rises linearly.
	const rate, n = 1000.0, 10
	ramp := 10 * time.Second
	counts := make([]int, n+2)
	for i := int64(0); ; i++ {
		o := offset(rate, ramp, i)
		if o >= ramp+2*time.Second {
			break
		}
		counts[int(o/time.Second)]++
	}
	for s := 0; s < n; s++ {
		want := rate * (float64(2*s+1) / 2) / float64(n) // mean rate over second s
		if math.Abs(float64(counts[s])-want) > 1 {
			t.Errorf("second %d of ramp: %d sends, want %.0f±1", s, counts[s], want)
		}
	}
	for s := n; s < n+2; s++ {
		if counts[s] != rate {
			t.Errorf("second %d after ramp: %d sends, want %v", s, counts[s], rate)
		}
	}
}

// fakeTransport answers every request after delay, with status(i) for the i-th request.
type fakeTransport struct {
	delay  atomic.Int64 // nanoseconds
	n      atomic.Int64
	status func(i int64) int
}

func (f *fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	i := f.n.Add(1)
	select {
	case <-time.After(time.Duration(f.delay.Load())):
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	code := 200
	if f.status != nil {
		code = f.status(i)
	}
	return &http.Response{StatusCode: code, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

func fakeGenerator(t *testing.T, spec *shakedown.LoadSpec, ft *fakeTransport) *Generator {
	t.Helper()
	if spec.URL == "" {
		spec.URL = "http://fake.invalid/x"
	}
	if spec.Name == "" {
		spec.Name = "fake"
	}
	g, err := New(spec, Options{Client: &http.Client{Transport: ft}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func TestScheduleKeptAndLatencyExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		ft.delay.Store(int64(50 * time.Millisecond))
		g := fakeGenerator(t, &shakedown.LoadSpec{Rate: 100}, ft)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second-time.Millisecond)
		defer cancel()
		if err := g.Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		rec := g.Record()
		st := rec.PerPhase[shakedown.PhaseBaseline]
		if st == nil {
			t.Fatalf("no baseline phase in %v", rec.PerPhase)
		}
		want := &shakedown.LoadStats{Count: 1000, P50: 50, P90: 50, P95: 50, P99: 50, Max: 50, Mean: 50,
			Throughput: 1000 / (10 - 0.001)}
		if d := cmp.Diff(want, st, cmp.Comparer(approx), cmp.Comparer(approxMs)); d != "" {
			t.Errorf("baseline stats (-want +got):\n%s", d)
		}
		if len(rec.Timeline) != 10 {
			t.Fatalf("timeline has %d rows, want 10", len(rec.Timeline))
		}
		for i, r := range rec.Timeline {
			// Timeline rows keep two significant digits.
			if r.Count != 100 || !within(float64(r.P50), 50, 0.01) || !within(float64(r.P99), 50, 0.01) {
				t.Errorf("timeline row %d = %+v, want 100 requests at 50ms", i, r)
			}
		}
	})
}

// approx compares floats to within 0.1 %, the precision of the phase histograms.
func approx(a, b float64) bool { return within(a, b, 1e-3) }

func approxMs(a, b shakedown.Millis) bool { return approx(float64(a), float64(b)) }

// within reports whether a and b differ by at most the fraction rel of the larger.
func within(a, b, rel float64) bool {
	return a == b || math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

func TestRampShape(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		g := fakeGenerator(t, &shakedown.LoadSpec{Rate: 100, Ramp: 4 * time.Second}, ft)
		ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second-time.Millisecond)
		defer cancel()
		g.Run(ctx)
		var got []int64
		for _, r := range g.Record().Timeline {
			got = append(got, r.Count)
		}
		// N(t) = 12.5·t² during the 4 s ramp, then 100 a second.
		want := []int64{13, 37, 63, 87, 100, 100}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("sends per second (-want +got):\n%s", d)
		}
	})
}

func TestPhaseAttribution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		ft.delay.Store(int64(10 * time.Millisecond))
		g := fakeGenerator(t, &shakedown.LoadSpec{Rate: 100}, ft)
		ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second-time.Millisecond)
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.Run(ctx)
		}()
		// Switch between sends (they are due every 10 ms on the 10 ms mark).
		time.Sleep(2*time.Second - 5*time.Millisecond)
		g.SetPhase(shakedown.PhaseInject)
		ft.delay.Store(int64(100 * time.Millisecond))
		time.Sleep(2 * time.Second)
		g.SetPhase(shakedown.PhaseRecovery)
		ft.delay.Store(int64(20 * time.Millisecond))
		<-done

		type pv struct {
			Count int
			P50   float64
		}
		got := map[shakedown.Phase]pv{}
		for _, p := range []shakedown.Phase{shakedown.PhaseBaseline, shakedown.PhaseInject, shakedown.PhaseRecovery} {
			v, n := g.PhaseValue(p, "latency.p50")
			got[p] = pv{n, v}
		}
		// A request belongs to the phase it was scheduled in, although it may be answered
		// in the next one; its latency is that of the moment it was sent.
		want := map[shakedown.Phase]pv{
			shakedown.PhaseBaseline: {200, 0.010},
			shakedown.PhaseInject:   {200, 0.100},
			shakedown.PhaseRecovery: {200, 0.020},
		}
		if d := cmp.Diff(want, got, cmp.Comparer(approx)); d != "" {
			t.Errorf("per phase (-want +got):\n%s", d)
		}
		if v, _ := g.PhaseValue(shakedown.PhaseInject, "throughput"); !approx(v, 100) {
			t.Errorf("inject throughput = %v, want 100", v)
		}
		if s := g.PhaseSamples(shakedown.PhaseInject, "throughput"); len(s) != 2 || !approx(s[0], 100) || !approx(s[1], 100) {
			t.Errorf("inject per-second throughput = %v, want [100 100]", s)
		}
		if s := g.PhaseSamples(shakedown.PhaseInject, "latency.p99"); len(s) != 200 || s[0] != 0.1 {
			t.Errorf("inject latencies: %d samples, first %v; want 200 of 0.1", len(s), s[:min(len(s), 1)])
		}
	})
}

// runInBackground runs g until the function it returns is called, which waits for Run
// to return.
func runInBackground(t *testing.T, g *Generator) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Run(ctx)
	}()
	return func() { cancel(); <-done }
}

func TestValueWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{status: func(i int64) int {
			if i%10 == 0 {
				return 500
			}
			return 200
		}}
		ft.delay.Store(int64(10 * time.Millisecond))
		g := fakeGenerator(t, &shakedown.LoadSpec{Rate: 100}, ft)
		defer runInBackground(t, g)()

		time.Sleep(3*time.Second + 5*time.Millisecond)
		ft.delay.Store(int64(100 * time.Millisecond))
		if v, n := g.Value("latency.p50", time.Second, 0); !approx(v, 0.010) || n < 90 {
			t.Errorf("p50 over the last second before the change = %v (n=%d), want 0.010", v, n)
		}
		time.Sleep(1500 * time.Millisecond)
		if v, n := g.Value("latency.p50", time.Second, 0); !approx(v, 0.100) || n < 90 {
			t.Errorf("p50 over the last second after the change = %v (n=%d), want 0.100", v, n)
		}
		if v, _ := g.Value("latency.p50", 0, 0); !approx(v, 0.010) {
			t.Errorf("p50 of the phase so far = %v, want 0.010 (most of it was fast)", v)
		}
		// Every tenth request fails, so any n in a row hold n/10 errors, give or take one.
		if v, n := g.Value("errors", 2*time.Second, 0); math.Abs(v-0.1) > 1/float64(n)+1e-9 || n < 150 {
			t.Errorf("errors over 2s = %v (n=%d), want 0.1", v, n)
		}
		if v, _ := g.Value("throughput", time.Second, 0); math.Abs(v-90) > 2 {
			t.Errorf("throughput over 1s = %v, want 90 (100/s with 10%% errors)", v)
		}
		if v, n := g.Value("no.such.metric", time.Second, 0); v != 0 || n != 0 {
			t.Errorf("unknown metric = %v, %d; want 0, 0", v, n)
		}
	})
}

// A window is never shorter than asked for, wherever it ends: a check every 100 ms judges
// the last 100 ms of requests (about ten at 100/s), not the few that came since the last
// boundary of the buckets behind it, which made a third of errors read as 100%.
func TestValueWindowIsNeverShort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{status: func(i int64) int {
			if i%3 == 0 {
				return 500
			}
			return 200
		}}
		ft.delay.Store(int64(time.Millisecond))
		g := fakeGenerator(t, &shakedown.LoadSpec{Rate: 100}, ft)
		defer runInBackground(t, g)()

		time.Sleep(time.Second)
		for _, after := range []time.Duration{0, time.Microsecond, 3 * time.Millisecond, 50 * time.Millisecond, 99 * time.Millisecond} {
			time.Sleep(after)
			for _, window := range []time.Duration{100 * time.Millisecond, 255 * time.Millisecond, time.Second} {
				want := int(window / (10 * time.Millisecond)) // requests answered in the window
				v, n := g.Value("errors", window, 0)
				if n < want-1 || n > want+2 {
					t.Errorf("%v after a boundary, a %v window holds %d requests, want %d to %d", after, window, n, want-1, want+2)
				}
				if math.Abs(v-1.0/3) > 1/float64(max(n, 1))+1e-9 {
					t.Errorf("%v after a boundary, errors over %v = %v (n=%d), want a third", after, window, v, n)
				}
				if tp, _ := g.Value("throughput", window, 0); math.Abs(tp-200.0/3) > 1.5/window.Seconds() {
					t.Errorf("%v after a boundary, throughput over %v = %v, want %v", after, window, tp, 200.0/3)
				}
			}
			time.Sleep(100*time.Millisecond - after)
		}
	})
}

// A window reaches no further back than its phase: a phase that begins mid-bucket is
// judged on its own requests from the first sample on, however long the window.
func TestValueWindowStartsWithItsPhase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var failing atomic.Bool
		ft := &fakeTransport{status: func(int64) int {
			if failing.Load() {
				return 500
			}
			return 200
		}}
		ft.delay.Store(int64(time.Millisecond))
		g := fakeGenerator(t, &shakedown.LoadSpec{Rate: 100}, ft)
		defer runInBackground(t, g)()

		time.Sleep(time.Second + 5500*time.Microsecond) // mid-bucket, between two requests
		g.SetPhase(shakedown.PhaseInject)
		failing.Store(true)
		time.Sleep(60 * time.Millisecond)
		for _, window := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
			if v, n := g.Value("errors", window, 0); v != 1 || n == 0 || n > 7 {
				t.Errorf("errors over %v, 60ms into inject = %v (n=%d), want 1 over inject's 5 or 6", window, v, n)
			}
		}
		if tp, _ := g.Value("throughput", time.Second, 0); tp != 0 {
			t.Errorf("throughput over 1s, 60ms into inject = %v, want 0 (every answer failed)", tp)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		spec shakedown.LoadSpec
		opts Options
	}{
		{"no url", shakedown.LoadSpec{Rate: 1}, Options{}},
		{"ftp", shakedown.LoadSpec{URL: "ftp://x/", Rate: 1}, Options{}},
		{"zero rate", shakedown.LoadSpec{URL: "http://x/"}, Options{}},
		{"negative rate", shakedown.LoadSpec{URL: "http://x/", Rate: -1}, Options{}},
		{"rate beyond one a nanosecond", shakedown.LoadSpec{URL: "http://x/", Rate: 1e300}, Options{}},
		{"infinite rate", shakedown.LoadSpec{URL: "http://x/", Rate: shakedown.Rate(math.Inf(1))}, Options{}},
		{"negative ramp", shakedown.LoadSpec{URL: "http://x/", Rate: 1, Ramp: -1}, Options{}},
		{"negative workers", shakedown.LoadSpec{URL: "http://x/"}, Options{Workers: -1}},
		{"port out of range", shakedown.LoadSpec{URL: "http://127.0.0.1:99999/", Rate: 1}, Options{}},
		{"no host", shakedown.LoadSpec{URL: "http://:80/", Rate: 1}, Options{}},
		{"header name with a space", shakedown.LoadSpec{URL: "http://x/", Rate: 1, Headers: map[string]string{"Bad Header": "x"}}, Options{}},
		{"header value with a line break", shakedown.LoadSpec{URL: "http://x/", Rate: 1, Headers: map[string]string{"X-A": "a\r\nInjected: yes"}}, Options{}},
		{"too many workers", shakedown.LoadSpec{URL: "http://x/"}, Options{Workers: MaxWorkers + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&tt.spec, tt.opts)
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Errorf("New(%+v) = %v, want an invalid error", tt.spec, err)
			}
		})
	}
}

func TestStalledTransportTimesOutOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		ft.delay.Store(int64(time.Hour)) // never answers
		g := fakeGenerator(t, &shakedown.LoadSpec{Rate: 100, Timeout: 500 * time.Millisecond}, ft)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		g.Run(ctx)
		st := g.Record().PerPhase[shakedown.PhaseBaseline]
		want := &shakedown.LoadStats{Count: 300, Errors: 300, P50: 500, P90: 500, P95: 500, P99: 500, Max: 500, Mean: 500}
		if d := cmp.Diff(want, st, cmp.Comparer(approx), cmp.Comparer(approxMs)); d != "" {
			t.Errorf("stalled target (-want +got):\n%s", d)
		}
		if k := g.Report().ErrorKinds; k["timeout"] != 300 {
			t.Errorf("error kinds %v, want 300 timeouts", k)
		}
	})
}

func TestSaturatedSendsAreLateAndSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ft := &fakeTransport{}
		ft.delay.Store(int64(200 * time.Millisecond))
		// 10 requests in flight of 200 ms each carry 50/s: at 100/s, sends fall behind.
		g, err := New(&shakedown.LoadSpec{Name: "f", URL: "http://fake.invalid/", Rate: 100},
			Options{Client: &http.Client{Transport: ft}, MaxInFlight: 10})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
		defer cancel()
		g.Run(ctx)
		rec := g.Record()
		st := rec.PerPhase[shakedown.PhaseBaseline]
		if st.Count != 400 {
			t.Errorf("%d requests, want all 400 scheduled ones", st.Count)
		}
		if st.Late < 300 {
			t.Errorf("%d late sends, want most of 400", st.Late)
		}
		// Latency counts from the schedule, so it grows with the backlog...
		if p0, p1 := rec.Timeline[0].P50, rec.Timeline[1].P50; p1 <= p0 || st.Max.Duration() < 1500*time.Millisecond {
			t.Errorf("p50 of seconds 0 and 1: %v, %v; max %v; want growing latencies past 1.5s", p0, p1, st.Max)
		}
		// ...and what the end found still waiting to be sent counts as not sent.
		if k := g.Report().ErrorKinds; k["not sent"] == 0 || k["not sent"] != st.Errors {
			t.Errorf("error kinds %v, want only not sent", k)
		}
	})
}

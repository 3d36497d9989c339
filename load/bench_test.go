package load

import (
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// clock is a settable clock for benchmarks.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// filled returns a recorder that has recorded rate requests a second for d, answered after
// 1–20 ms, one in fifty failing, with the clock at the end.
func filled(rate int, d time.Duration) (*recorder, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := newRecorder(c.now)
	r.begin(c.t)
	start := c.t
	n := int(d.Seconds() * float64(rate))
	for i := range n {
		sched := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		c.t = sched
		f := r.schedule(sched)
		o := outcome{sched: sched, done: sched.Add(time.Duration(1+i%20) * time.Millisecond), status: 200}
		if i%50 == 0 {
			o.status, o.errKind = 503, "status 503"
		}
		r.add(f, o)
	}
	c.t = start.Add(d)
	return r, c
}

// BenchmarkRecord is the cost of measuring one request: scheduling it and recording its
// outcome (phase histogram, reservoir, ring bucket, timeline row).
func BenchmarkRecord(b *testing.B) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := newRecorder(c.now)
	r.begin(c.t)
	start := c.t
	i := 0
	for b.Loop() {
		sched := start.Add(time.Duration(i) * 500 * time.Microsecond) // 2000/s
		f := r.schedule(sched)
		r.add(f, outcome{sched: sched, done: sched.Add(time.Duration(1+i%20) * time.Millisecond), status: 200})
		i++
	}
}

// BenchmarkRecordParallel records from many goroutines at once, as the workers do.
func BenchmarkRecordParallel(b *testing.B) {
	r := newRecorder(time.Now)
	r.begin(time.Now())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sched := time.Now()
			f := r.schedule(sched)
			r.add(f, outcome{sched: sched, done: time.Now(), status: 200})
		}
	})
}

// BenchmarkValue is a stop condition's or check's sample at 2000 requests a second.
func BenchmarkValue(b *testing.B) {
	r, _ := filled(2000, 20*time.Second)
	for _, bc := range []struct {
		metric string
		window time.Duration
	}{
		{"latency.p99", time.Second},
		{"latency.p99", 10 * time.Second},
		{"errors", time.Second},
		{"latency.p99", 0},
	} {
		b.Run(bc.metric+"/"+bc.window.String(), func(b *testing.B) {
			for b.Loop() {
				if _, n := r.value(bc.metric, bc.window, 0); n == 0 {
					b.Fatal("no samples")
				}
			}
		})
	}
}

// BenchmarkRecordOf is the record of a 20 s load with its timeline.
func BenchmarkRecordOf(b *testing.B) {
	r, c := filled(2000, 20*time.Second)
	g := &Generator{spec: &shakedown.LoadSpec{Name: "b", URL: "http://x/", Rate: 2000}, rec: r, now: c.now}
	for b.Loop() {
		g.Record()
	}
}

// BenchmarkRequest is the cost of making one send's request.
func BenchmarkRequest(b *testing.B) {
	g, err := New(&shakedown.LoadSpec{Name: "b", URL: "http://127.0.0.1:8080/api/items?x=1", Rate: 2000,
		Method: "POST", Headers: map[string]string{"X-Test": "yes"}, Body: `{"a":1}`}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	for b.Loop() {
		if _, err := g.request(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

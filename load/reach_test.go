package load

import (
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// TestValueReachesBackForEnoughRequests: a window that holds fewer requests than asked for
// reaches back over the phase's latest until it holds them, never into the phase before,
// and takes the phase so far when the ring holds fewer.
func TestValueReachesBackForEnoughRequests(t *testing.T) {
	r, _ := filled(50, 4*time.Second) // 200 requests, one in fifty failing
	if _, n := r.value("errors", time.Second, 0); n < 49 || n > 51 {
		t.Errorf("the last second: %d requests, want about 50", n)
	}
	if v, n := r.value("errors", time.Second, 100); n < 100 || n > 101 || v != 2/float64(n) {
		t.Errorf("the last second, 100 wanted: %d requests, %g errors, want 100 or 101 and two of them", n, v)
	}
	if _, n := r.value("latency.p99", time.Second, 100); n < 100 || n > 101 {
		t.Errorf("the last second's p99, 100 wanted: %d requests, want 100 or 101", n)
	}
	if _, n := r.value("errors", time.Second, 1000); n != 200 {
		t.Errorf("1000 wanted of a phase of 200: %d requests, want the phase's 200", n)
	}

	// Two phases: 2 s of baseline, then 1 s of inject at 50/s.
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r = newRecorder(c.now)
	r.begin(c.t)
	start := c.t
	for i := range 150 {
		sched := start.Add(time.Duration(i) * 20 * time.Millisecond)
		c.t = sched
		if i == 100 {
			r.setPhase(shakedown.PhaseInject)
		}
		r.add(r.schedule(sched), outcome{sched: sched, done: sched.Add(time.Millisecond), status: 200})
	}
	c.t = start.Add(3 * time.Second)
	if _, n := r.value("latency.p99", time.Second, 100); n != 50 {
		t.Errorf("100 wanted a second into the inject phase: %d requests, want its 50 alone", n)
	}
}

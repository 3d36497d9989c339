package load

import (
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// recordBacklog records the requests due from 0 to stop at rate per second as not sent,
// either one by one (schedule then add, as each was before) or through unsent.
func recordBacklog(rate float64, ramp, stop time.Duration, aggregate bool) *recorder {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newRecorder(func() time.Time { return t0.Add(stop) })
	r.begin(t0)
	sched := func(k int64) time.Time { return t0.Add(offset(rate, ramp, k)) }
	end := dueBefore(rate, ramp, 0, stop)
	if aggregate {
		r.unsent(0, end, sched, t0.Add(stop))
	} else {
		for k := int64(0); k < end; k++ {
			at := sched(k)
			r.add(r.schedule(at), outcome{sched: at, done: t0.Add(stop), late: true, errKind: "not sent"})
		}
	}
	r.end(t0.Add(stop))
	r.finish()
	return r
}

// TestUnsentAsOneByOne: below a request a millisecond, recording a backlog in aggregate
// gives the record, the timeline and the samples that recording it request by request
// gives.
func TestUnsentAsOneByOne(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		ramp time.Duration
	}{{50, 0}, {999, 0}, {300, 2 * time.Second}} {
		one := recordBacklog(tc.rate, tc.ramp, 3500*time.Millisecond, false)
		agg := recordBacklog(tc.rate, tc.ramp, 3500*time.Millisecond, true)
		ps, pa := one.phases[one.order[0]], agg.phases[agg.order[0]]
		if diff := cmp.Diff(loadStats(ps, time.Second), loadStats(pa, time.Second)); diff != "" {
			t.Errorf("rate %v: phase stats (-one by one +aggregate):\n%s", tc.rate, diff)
		}
		if diff := cmp.Diff(ps.raw, pa.raw); diff != "" || len(ps.raw) == 0 {
			t.Errorf("rate %v: samples (-one by one +aggregate):\n%s", tc.rate, diff)
		}
		if diff := cmp.Diff(ps.second, pa.second, cmp.AllowUnexported(secCount{})); diff != "" {
			t.Errorf("rate %v: seconds (-one by one +aggregate):\n%s", tc.rate, diff)
		}
		if diff := cmp.Diff(one.timeline(), agg.timeline()); diff != "" {
			t.Errorf("rate %v: timeline (-one by one +aggregate):\n%s", tc.rate, diff)
		}
		ko, _ := one.totals()
		ka, _ := agg.totals()
		if diff := cmp.Diff(ko, ka); diff != "" {
			t.Errorf("rate %v: error kinds (-one by one +aggregate):\n%s", tc.rate, diff)
		}
	}
}

// TestUnsentBillions: a backlog of a billion requests is counted whole, in little time and
// memory.
func TestUnsentBillions(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := recordBacklog(1e9, 0, time.Second, true)
	runtime.ReadMemStats(&after)
	p := r.phases[r.order[0]]
	if p.count != 1e9 || p.errs != 1e9 || p.kinds["not sent"] != 1e9 {
		t.Errorf("counted %d requests, %d errors, %d not sent; want 1e9 each", p.count, p.errs, p.kinds["not sent"])
	}
	if len(p.raw) != MaxPhaseSamples {
		t.Errorf("%d samples, want %d", len(p.raw), MaxPhaseSamples)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("recording allocated %d MiB, want at most 64", alloc>>20)
	}
	if p50 := loadStats(p, time.Second).P50; p50 < 490 || p50 > 510 {
		t.Errorf("p50 %v ms, want about 500 (half the backlog's span)", p50)
	}
}

// TestDueBefore: the index of the first request due at or after a time.
func TestDueBefore(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		ramp time.Duration
		from int64
		at   time.Duration
		want int64
	}{
		{10, 0, 0, time.Second, 10},
		{10, 0, 0, time.Second + 1, 11},
		{10, 0, 12, time.Second, 12},
		{1e9, 0, 0, time.Second, 1e9},
		{4, 0, 0, 0, 0},
	} {
		if got := dueBefore(tc.rate, tc.ramp, tc.from, tc.at); got != tc.want {
			t.Errorf("dueBefore(%v, %v, %d, %v) = %d, want %d", tc.rate, tc.ramp, tc.from, tc.at, got, tc.want)
		}
	}
}

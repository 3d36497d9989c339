package engine_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// BenchmarkRunToFirstInject measures the engine's own delay from the start of Run to the
// first Inject, beyond the baseline (goal ≤ 50 ms): resolving, building, starting monitors,
// opening the journal, and the phase change.
func BenchmarkRunToFirstInject(b *testing.B) {
	for _, bc := range []struct {
		name     string
		baseline time.Duration
		probe    bool
	}{
		{"baseline=0", 0, false},
		{"baseline=20ms,probe", 20 * time.Millisecond, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				tr := &trace{}
				e := exp(fake("f", &fakeParams{Trace: tr}, 0))
				e.Baseline, e.Recovery = bc.baseline, 0
				if bc.probe {
					c := flagCheck("healthy", &atomic.Bool{})
					c.Every = 5 * time.Millisecond
					e.SteadyState = []*shakedown.Check{c}
				}
				start := time.Now()
				rec := Run(b, e, tr)
				at, ok := tr.at("inject f")
				if !ok {
					b.Fatalf("not injected: %s", rec.Reason)
				}
				total += at.Sub(start) - bc.baseline
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-overhead-to-inject")
		})
	}
}

// BenchmarkFaultEndToRevert measures how late a fault's revert starts after its duration
// has passed (goal ≤ 10 ms).
func BenchmarkFaultEndToRevert(b *testing.B) {
	const hold = 2 * time.Millisecond
	var total time.Duration
	for b.Loop() {
		tr := &trace{}
		e := exp(fake("f", &fakeParams{Trace: tr}, hold))
		e.Baseline, e.Recovery = 0, 0
		Run(b, e, tr)
		in, _ := tr.at("inject f")
		out, ok := tr.at("revert f")
		if !ok {
			b.Fatal("not reverted")
		}
		total += out.Sub(in) - hold
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-late-revert")
}

// BenchmarkStopToReverted measures the time from a stop condition's breach to every fault
// reverted (goal ≤ 1 s): at most one sampling interval to see it, then the reverts. Two
// faults are injected, so two reverts run.
func BenchmarkStopToReverted(b *testing.B) {
	for _, every := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		b.Run("every="+every.String(), func(b *testing.B) {
			var fromBreach, fromSeen time.Duration
			for b.Loop() {
				tr := &trace{}
				var storm atomic.Bool
				e := exp(
					fake("f", &fakeParams{Trace: tr, Flag2: &storm, After: every / 3}, time.Hour),
					fake("g", &fakeParams{Trace: tr}, time.Hour),
				)
				e.Baseline, e.Recovery = 0, 0
				stop := flagCheck("storm", &storm)
				stop.Every = every
				e.StopIf = []*shakedown.Check{stop}
				var mu sync.Mutex
				var seen time.Time
				o := opts(tr, nil)
				o.Events = func(ev shakedown.Event) {
					if ev.Kind == shakedown.EventStop {
						mu.Lock()
						seen = time.Now()
						mu.Unlock()
					}
				}
				rec := runWith(b, e, o)
				if rec.Verdict != shakedown.VerdictAborted {
					b.Fatalf("verdict %s: %s", rec.Verdict, rec.Reason)
				}
				breach, _ := tr.at("flag2 f")
				lastRevert := tr.events[len(tr.events)-1]
				for _, ev := range tr.events {
					if ev.What == "revert f" || ev.What == "revert g" {
						lastRevert = ev
					}
				}
				fromBreach += lastRevert.At.Sub(breach)
				mu.Lock()
				fromSeen += lastRevert.At.Sub(seen)
				mu.Unlock()
			}
			b.ReportMetric(float64(fromBreach.Microseconds())/float64(b.N)/1000, "ms-breach-to-reverted")
			b.ReportMetric(float64(fromSeen.Microseconds())/float64(b.N)/1000, "ms-seen-to-reverted")
		})
	}
}

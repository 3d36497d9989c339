package report

import (
	"fmt"
	"math"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// longRecord is a run of the given length as the engine would record it: two loads at 50/s
// with a timeline row per second, a fault window in the middle, a latency check and an error
// check with a numeric bound sampled every second, a probe sampled every second, an
// expectation that fired and the steady state back after the revert.
func longRecord(length time.Duration) *shakedown.Record {
	r := base("01JXA6Q8W3M4N5P6R7S8T9LONG")
	baseline, inject, revert := length/5, length/2, 300*time.Millisecond
	recovery := length - baseline - inject - revert
	r.EndedAt = at(length)
	r.Phases = phases(baseline, inject, revert, recovery)
	injectAt, revertAt := baseline+12*time.Millisecond, baseline+inject+250*time.Millisecond
	r.Faults = r.Faults[:1]
	r.Faults[0].InjectedAt, r.Faults[0].RevertedAt = atp(injectAt), atp(revertAt)
	r.Expectations[0].FiredAt = atp(baseline + 23*time.Second)
	r.Expectations[0].ResolvedAt = atp(baseline + inject + 15*time.Second)
	r.Recovery.TimeToRecover = ms(2100 * time.Millisecond)
	faulty := func(d time.Duration) bool { return d >= injectAt && d < revertAt }

	var loads []shakedown.LoadRecord
	for li, name := range []string{"checkout", "search"} {
		l := shakedown.LoadRecord{Name: name, URL: "http://127.0.0.1:8080/" + name, Rate: 50, PerPhase: r.Loads[0].PerPhase}
		for s := time.Duration(0); s < length; s += time.Second {
			p50, p99, errs := 40.0+float64(li)*5+3*math.Sin(float64(s/time.Second)), 117.0+float64(s/time.Second%7), int64(0)
			if faulty(s) {
				p50, p99, errs = p50+200, p99+214.5, int64(s/time.Second%3)
			}
			l.Timeline = append(l.Timeline, shakedown.TimelineRow{T: at(s), Count: 50, Errors: errs,
				P50: shakedown.Millis(math.Round(p50*1000) / 1000), P99: shakedown.Millis(p99)})
		}
		loads = append(loads, l)
	}
	r.Loads = loads

	max400, max1 := 0.4, 0.01
	perSecond := func(metric string, from, to time.Duration, value func(time.Duration) float64, bound float64) []shakedown.Sample {
		var out []shakedown.Sample
		for s := from; s < to; s += time.Second {
			v := value(s)
			out = append(out, shakedown.Sample{At: at(s + 500*time.Millisecond), Held: v <= bound, Value: &v,
				Observed: fmt.Sprintf("%s %g", metric, v)})
		}
		return out
	}
	p99 := func(s time.Duration) float64 {
		if faulty(s) {
			return 0.331
		}
		return 0.118
	}
	errRate := func(s time.Duration) float64 {
		if faulty(s) {
			return 0.02
		}
		return 0
	}
	metricCheck := func(name, metric string, value func(time.Duration) float64, bound float64) shakedown.CheckRecord {
		c := shakedown.CheckRecord{Name: name, Kind: "metric", Role: "steady_state", Metric: metric, Held: true,
			PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{}}
		for _, p := range r.Phases {
			from, to := p.Start.Sub(t0), p.End.Sub(t0)
			b := bound
			c.PerPhase[p.Name] = &shakedown.CheckPhaseRecord{Held: true, Observed: "fine", Threshold: "max",
				Max: &b, Samples: perSecond(metric, from, to, value, bound)}
		}
		return c
	}
	probe := shakedown.CheckRecord{Name: "healthz answers", Kind: "http", Role: "steady_state", Held: true,
		PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{}}
	for _, p := range r.Phases {
		var s []shakedown.Sample
		for d := p.Start.Sub(t0); d < p.End.Sub(t0); d += time.Second {
			s = append(s, shakedown.Sample{At: at(d + 250*time.Millisecond), Held: !faulty(d) || d%(5*time.Second) != 0, Observed: "ok: 200"})
		}
		probe.PerPhase[p.Name] = &shakedown.CheckPhaseRecord{Held: true, Observed: "200", Threshold: "status 200", Samples: s}
	}
	r.Checks = []shakedown.CheckRecord{
		metricCheck("checkout p99 under 400ms", "checkout.latency.p99", p99, max400),
		metricCheck("checkout errors under 1%", "checkout.errors", errRate, max1),
		metricCheck("search p99 under 400ms", "search.latency.p99", p99, max400),
		probe,
	}
	return r
}

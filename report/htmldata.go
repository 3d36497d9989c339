package report

import (
	"math"
	"slices"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// chartData is the run data the HTML report's script draws, compact: times are seconds since
// the run's start (to the millisecond), and series are columns (one array per field), so a
// ten-minute run with two loads stays small.
type chartData struct {
	Runs []chartRun `json:"runs"`
}

// chartRun is one run's charts: the spans and moments drawn on every chart of the run, each
// load's timeline and each check's samples. End is the run's length in seconds.
type chartRun struct {
	End    float64      `json:"end"`
	Phases []chartSpan  `json:"phases"`
	Faults []chartSpan  `json:"faults"`
	Marks  []chartMark  `json:"marks"`
	Loads  []chartLoad  `json:"loads"`
	Checks []chartCheck `json:"checks"`
}

// chartSpan is a phase, or a fault's window: From to To. A fault not reverted has Open set
// and runs to the end of the run.
type chartSpan struct {
	Name string  `json:"name"`
	From float64 `json:"from"`
	To   float64 `json:"to"`
	Open bool    `json:"open,omitempty"`
}

// chartMark is a moment: an expectation's alert firing ("detect"), a fault's revert
// ("revert") or the steady state back ("back").
type chartMark struct {
	Kind  string  `json:"kind"`
	Label string  `json:"label"`
	T     float64 `json:"t"`
}

// chartLoad is a load's timeline in columns, one entry per second of the record's timeline;
// latencies in milliseconds.
type chartLoad struct {
	Name   string    `json:"name"`
	T      []float64 `json:"t"`
	Count  []int64   `json:"count"`
	Errors []int64   `json:"errors"`
	P50    []float64 `json:"p50"`
	P99    []float64 `json:"p99"`

	url  string // for the page, not the script
	rate float64
}

// chartCheck is a check's samples in columns, in time order, with its bounds. For a metric
// check, Load and Metric say which load's chart it belongs on ("checkout", "latency.p99")
// and Unit how its values read; values and bounds are in the metric's base unit.
type chartCheck struct {
	Name   string       `json:"name"`
	Role   string       `json:"role"`
	Load   string       `json:"load,omitempty"`
	Metric string       `json:"metric,omitempty"`
	Unit   string       `json:"unit,omitempty"`
	T      []float64    `json:"t"`
	Held   []int        `json:"held"` // 1 held, 0 breached
	Value  []*float64   `json:"value"`
	Text   []string     `json:"text"` // what was observed, for a sample without a value ("" with one)
	Bounds []chartBound `json:"bounds"`
}

// chartBound is a check's bound over one phase.
type chartBound struct {
	From float64  `json:"from"`
	To   float64  `json:"to"`
	Max  *float64 `json:"max,omitempty"`
	Min  *float64 `json:"min,omitempty"`
}

// newChartRun turns a record into the data of its charts. Times before the run's start or
// unknown are left out; a record without a start is drawn from its earliest known time.
func newChartRun(r *shakedown.Record) chartRun {
	c := chartRun{Phases: []chartSpan{}, Faults: []chartSpan{}, Marks: []chartMark{}, Loads: []chartLoad{}, Checks: []chartCheck{}}
	t0 := chartOrigin(r)
	if t0.IsZero() {
		return c
	}
	// Times count in the record's milliseconds (it writes them truncated), so that the page
	// of a run and the page of its record read back from JSON are the same.
	t0 = t0.Truncate(time.Millisecond)
	rel := func(t time.Time) float64 { return secs(t.Truncate(time.Millisecond).Sub(t0)) }
	end := r.EndedAt.Time
	for _, p := range r.Phases {
		if p.End.After(end) {
			end = p.End.Time
		}
	}
	for _, l := range r.Loads {
		if n := len(l.Timeline); n > 0 && l.Timeline[n-1].T.Add(time.Second).After(end) {
			end = l.Timeline[n-1].T.Add(time.Second)
		}
	}
	c.End = max(0, rel(end))

	var revertEnd time.Time
	for _, p := range r.Phases {
		if p.Start.IsZero() {
			continue
		}
		to := p.End.Time
		if to.IsZero() {
			to = end
		}
		c.Phases = append(c.Phases, chartSpan{Name: oneLine(string(p.Name)), From: rel(p.Start.Time), To: rel(to)})
		if p.Name == shakedown.PhaseRevert && !p.End.IsZero() {
			revertEnd = p.End.Time
		}
	}
	for _, f := range r.Faults {
		if f.InjectedAt == nil || f.InjectedAt.IsZero() {
			continue
		}
		s := chartSpan{Name: oneLine(f.Name), From: rel(f.InjectedAt.Time), To: c.End}
		if f.RevertedAt != nil && !f.RevertedAt.IsZero() {
			s.To = rel(f.RevertedAt.Time)
			c.Marks = append(c.Marks, chartMark{Kind: "revert", Label: "reverted " + oneLine(f.Name), T: s.To})
		} else {
			s.Open = true
		}
		c.Faults = append(c.Faults, s)
	}
	for _, e := range r.Expectations {
		if e.FiredAt != nil && !e.FiredAt.IsZero() {
			c.Marks = append(c.Marks, chartMark{Kind: "detect", Label: "detected: " + oneLine(e.Name), T: rel(e.FiredAt.Time)})
		}
	}
	if ttr := r.Recovery.TimeToRecover; ttr != nil && !revertEnd.IsZero() {
		c.Marks = append(c.Marks, chartMark{Kind: "back", Label: "steady state back", T: rel(revertEnd.Add(ttr.Duration()))})
	}
	slices.SortStableFunc(c.Marks, func(a, b chartMark) int { return cmpFloat(a.T, b.T) })

	for _, l := range r.Loads {
		if len(l.Timeline) == 0 {
			continue
		}
		cl := chartLoad{Name: oneLine(l.Name), url: oneLine(l.URL), rate: l.Rate}
		for _, row := range l.Timeline {
			if row.T.IsZero() {
				continue
			}
			cl.T = append(cl.T, rel(row.T.Time))
			cl.Count = append(cl.Count, row.Count)
			cl.Errors = append(cl.Errors, row.Errors)
			cl.P50 = append(cl.P50, finite(float64(row.P50)))
			cl.P99 = append(cl.P99, finite(float64(row.P99)))
		}
		if len(cl.T) > 0 {
			c.Loads = append(c.Loads, cl)
		}
	}
	for i := range r.Checks {
		if ck, ok := newChartCheck(r, &r.Checks[i], rel); ok {
			c.Checks = append(c.Checks, ck)
		}
	}
	return c
}

// newChartCheck gathers a check's samples over its phases, in time order, and its bounds
// per phase. A check without samples is not drawn.
func newChartCheck(r *shakedown.Record, c *shakedown.CheckRecord, rel func(time.Time) float64) (chartCheck, bool) {
	ck := chartCheck{Name: oneLine(c.Name), Role: c.Role, Bounds: []chartBound{}}
	if m, err := shakedown.ParseMetric(c.Metric); err == nil {
		ck.Load, ck.Metric, ck.Unit = oneLine(m.Load), m.Name, string(m.Unit())
	}
	var all []shakedown.Sample
	for _, p := range phaseOrder(c.PerPhase) {
		pr := c.PerPhase[p]
		if pr == nil {
			continue
		}
		all = append(all, pr.Samples...)
		if pr.Max == nil && pr.Min == nil || ck.Metric == "" {
			continue
		}
		for _, ph := range r.Phases {
			if ph.Name == p && !ph.Start.IsZero() && !ph.End.IsZero() {
				ck.Bounds = append(ck.Bounds, chartBound{From: rel(ph.Start.Time), To: rel(ph.End.Time),
					Max: finitePtr(pr.Max), Min: finitePtr(pr.Min)})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b shakedown.Sample) int { return a.At.Compare(b.At.Time) })
	for _, s := range all {
		if s.At.IsZero() {
			continue
		}
		held := 0
		if s.Held {
			held = 1
		}
		ck.T = append(ck.T, rel(s.At.Time))
		ck.Held = append(ck.Held, held)
		ck.Value = append(ck.Value, finitePtr(s.Value))
		text := ""
		if s.Value == nil { // a value says it in fewer bytes
			text = oneLine(s.Observed)
		}
		ck.Text = append(ck.Text, text)
	}
	return ck, len(ck.T) > 0
}

// chartOrigin is the time charts count from: the run's start, else the earliest time the
// record holds.
func chartOrigin(r *shakedown.Record) time.Time {
	if !r.StartedAt.IsZero() {
		return r.StartedAt.Time
	}
	var t0 time.Time
	early := func(t time.Time) {
		if !t.IsZero() && (t0.IsZero() || t.Before(t0)) {
			t0 = t
		}
	}
	for _, p := range r.Phases {
		early(p.Start.Time)
	}
	for _, l := range r.Loads {
		if len(l.Timeline) > 0 {
			early(l.Timeline[0].T.Time)
		}
	}
	return t0
}

// secs is d in seconds, to the millisecond.
func secs(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func finitePtr(v *float64) *float64 {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return nil
	}
	return v
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

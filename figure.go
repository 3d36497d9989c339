package shakedown

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Figure is one number a run record holds, named so that the same figure of two runs of an
// experiment can be compared (by the regression gate, by `compare`, in the history).
type Figure struct {
	// Name says what was measured: "checkout.latency.p50", "checkout.latency.p99",
	// "checkout.errors", "checkout.throughput" (per load), "<check>.observed" (per check),
	// "<expectation>.time_to_detect", "<expectation>.time_to_recover" (per expectation),
	// "recovery.time_to_recover" (the run's).
	Name  string
	Phase Phase  // the phase it was measured in ("" for figures of the whole run)
	Unit  string // "ms", "ratio" (0..1), "rps", "" (a plain number)
	Value float64
	Worse int // +1: higher is worse (latency, errors, times); -1: lower is worse (throughput)
}

// The units of figures.
const (
	FigureMs    = "ms"    // milliseconds
	FigureRatio = "ratio" // a share, 0..1
	FigureRPS   = "rps"   // per second
	FigureNone  = ""      // a plain number
)

// Key names the figure within its run: Name + " during " + Phase, or Name alone for a figure
// of the whole run.
func (f Figure) Key() string {
	if f.Phase == "" {
		return f.Name
	}
	return f.Name + " during " + string(f.Phase)
}

// Figures returns every figure the record holds, in a stable order: loads by name, each in
// phase order (baseline, inject, revert, recovery, then any other phase by name) with
// latency.p50, latency.p99, errors and throughput; then checks by name, each in phase order;
// then expectations by name, time_to_detect before time_to_recover; then the run's
// recovery.time_to_recover.
//
// What each figure is:
//   - A load in a phase where it sent no request has no figures there. Its p50 and p99 are in
//     milliseconds; its errors are errors/count; its throughput is the phase's rate (lower is
//     worse).
//   - A check's "observed" figure in a phase is the value it judged over the whole phase: the
//     quantity its Observed text begins with ("150ms over 500 requests" gives 150 ms). When
//     that text holds no number, it is the median of its samples' values (the unit read from
//     the metric each sample names); a check with neither (a probe: "4 of 5 samples held") has
//     no figure. Its Worse follows its threshold: -1 when it has a min and no max, or no bound
//     and measures throughput; +1 otherwise.
//   - Expectation and recovery times are in milliseconds, absent when the record has none
//     (an alert that never fired has no time to detect).
//
// Values that are not finite are left out. Names are not deduplicated: an expectation named
// "recovery" gives a "recovery.time_to_recover" beside the run's own.
func Figures(r *Record) []Figure {
	if r == nil {
		return nil
	}
	var fs []Figure
	add := func(name string, p Phase, unit string, v float64, worse int) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		fs = append(fs, Figure{Name: name, Phase: p, Unit: unit, Value: v, Worse: worse})
	}
	loads := slices.Clone(r.Loads)
	sort.SliceStable(loads, func(i, j int) bool { return loads[i].Name < loads[j].Name })
	for _, l := range loads {
		for _, p := range phaseOrder(l.PerPhase) {
			s := l.PerPhase[p]
			if s == nil || s.Count <= 0 {
				continue
			}
			add(l.Name+".latency.p50", p, FigureMs, float64(s.P50), +1)
			add(l.Name+".latency.p99", p, FigureMs, float64(s.P99), +1)
			add(l.Name+".errors", p, FigureRatio, float64(s.Errors)/float64(s.Count), +1)
			add(l.Name+".throughput", p, FigureRPS, s.Throughput, -1)
		}
	}
	checks := slices.Clone(r.Checks)
	sort.SliceStable(checks, func(i, j int) bool { return checks[i].Name < checks[j].Name })
	for _, c := range checks {
		for _, p := range phaseOrder(c.PerPhase) {
			cp := c.PerPhase[p]
			if cp == nil {
				continue
			}
			v, unit, ok := checkValue(cp)
			if !ok {
				continue
			}
			add(c.Name+".observed", p, unit, v, checkWorse(cp.Threshold, unit))
		}
	}
	exps := slices.Clone(r.Expectations)
	sort.SliceStable(exps, func(i, j int) bool { return exps[i].Name < exps[j].Name })
	for _, e := range exps {
		if e.TimeToDetect != nil {
			add(e.Name+".time_to_detect", "", FigureMs, float64(*e.TimeToDetect), +1)
		}
		if e.TimeToRecover != nil {
			add(e.Name+".time_to_recover", "", FigureMs, float64(*e.TimeToRecover), +1)
		}
	}
	if t := r.Recovery.TimeToRecover; t != nil {
		add("recovery.time_to_recover", "", FigureMs, float64(*t), +1)
	}
	return fs
}

// phaseOrder returns the phases of m in run order, then any other phase by name.
func phaseOrder[V any](m map[Phase]V) []Phase {
	var known, other []Phase
	for _, p := range Phases {
		if _, ok := m[p]; ok {
			known = append(known, p)
		}
	}
	for p := range m {
		if !slices.Contains(Phases, p) {
			other = append(other, p)
		}
	}
	slices.Sort(other)
	return append(known, other...)
}

// checkValue returns a check's figure in one phase: the quantity its Observed text begins
// with, else the median of its samples' values.
func checkValue(cp *CheckPhaseRecord) (float64, string, bool) {
	head, _, _ := strings.Cut(cp.Observed, " over ")
	if q, err := parseQuantity(strings.ToLower(strings.TrimSpace(head))); err == nil {
		v, unit := figureValue(q.Unit, q.Value)
		return v, unit, true
	}
	var vs []float64
	var u Unit
	for _, s := range cp.Samples {
		if s.Value == nil || math.IsNaN(*s.Value) || math.IsInf(*s.Value, 0) {
			continue
		}
		vs = append(vs, *s.Value)
		if name, _, ok := strings.Cut(s.Observed, " "); ok {
			if m, err := ParseMetric(name); err == nil {
				u = m.Unit()
			}
		}
	}
	if len(vs) == 0 {
		return 0, "", false
	}
	slices.Sort(vs)
	med := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	v, unit := figureValue(u, med)
	return v, unit, true
}

// figureValue converts a value in a metric unit's base (seconds, fraction, per second) to a
// figure's unit.
func figureValue(u Unit, v float64) (float64, string) {
	switch u {
	case UnitDuration:
		return v * 1000, FigureMs
	case UnitFraction:
		return v, FigureRatio
	case UnitRate:
		return v, FigureRPS
	}
	return v, FigureNone
}

// checkWorse says which way a check's figure gets worse, from its threshold text ("max 200ms",
// "min 50/s", "max 2x baseline (200ms), for 10s").
func checkWorse(threshold, unit string) int {
	hasMax, hasMin := false, false
	for _, part := range strings.Split(threshold, ", ") {
		hasMax = hasMax || strings.HasPrefix(part, "max ")
		hasMin = hasMin || strings.HasPrefix(part, "min ")
	}
	if hasMin && !hasMax || !hasMin && !hasMax && unit == FigureRPS {
		return -1
	}
	return +1
}

// FormatFigure writes a figure's value in its unit, as reports show it: "241ms", "9.3ms",
// "2.5%", "48/s", "3" (one decimal below 100, none above).
func FormatFigure(v float64, unit string) string {
	switch unit {
	case FigureMs:
		return figureNum(v) + "ms"
	case FigureRatio:
		return figureNum(v*100) + "%"
	case FigureRPS:
		return figureNum(v) + "/s"
	}
	return figureNum(v)
}

func figureNum(v float64) string {
	if math.Abs(v) >= 100 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

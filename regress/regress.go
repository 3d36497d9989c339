// Package regress judges a run's figures against the same figures of its reference runs (the
// last passing runs of the same experiment on a branch) and says which regressed. It is pure
// and deterministic: the same figures and options give the same judgement; it reads no store.
//
// # The rule
//
// A figure regresses when it is worse than its reference runs both significantly and
// materially.
//
// Significantly: from the n reference values of the figure (n ≥ the minimum, below), take
// their median m and their scale s = 1.4826 · MAD (the median absolute deviation from m,
// scaled to estimate a normal standard deviation). Median and MAD ignore any one reference
// run, however far off it is (they break down only when half the runs are off): one slow CI
// day neither blinds the gate nor makes it trigger-happy, as a mean and standard deviation
// would. Latency and throughput vary by a share of themselves and are skewed (a slow run is
// slower by more than a fast run is faster), so figures in ms and rps are judged on a log
// scale when every value is above zero; others (error ratios, a time that may be 0) as they
// are. The scale is at least half the unit's noise floor and at least 1 % of |m| (on the log
// scale: 0.01), so that references that happen to be identical do not claim infinite
// precision. The new value y is a prediction from the references, whose error has the scale
//
//	se = s · √(1 + π/(2n))
//
// (the run's own spread plus that of a median of n values), and
//
//	p = P(T(ν) > w·(y − m)/se),   ν = max(1, 0.37·n)
//
// is the one-sided p-value that a run like the references would be at least this much worse
// (w is +1 when higher is worse, −1 when lower is). ν is not n−1: the MAD has 37 % of the
// efficiency of a standard deviation, so it is as uncertain as one from 0.37·n values, and
// Student's t with those degrees of freedom keeps the false alarms at the level asked (see
// TestFalsePositiveRate: about 1 % of runs drawn from the references' own distribution,
// normal or log-normal, with 5, 10 or 20 references). The figure is significantly worse when
// p < Alpha (default 0.01) and it is worse than the second worst reference: runs on a shared
// machine are now and then slowed as a whole (another job took the CPU); one such reference
// is ignored, as the median and MAD ignore it, but two show that runs like them happen, and a
// run no worse than them is not a regression. With 10 references a value must be about 4.3
// scales worse to be significant; with 5, about 9.
//
// Materially: the change w·(y − m) exceeds both the relative tolerance times |m| (default
// 20 %) and the absolute noise floor of the figure's unit (defaults: 5 ms, 0.01 of a ratio —
// one percentage point of errors —, 1 rps, 0 for a plain number). The tolerance is what a
// person would not act on; the floor is what the measurement cannot resolve on a shared CI
// runner (timer and scheduling jitter are a few milliseconds; with a few hundred requests a
// phase, one error moves the ratio by a fraction of a percent; a paced load's throughput
// moves by a request a second when a phase starts or ends between two sends).
//
// A significant change that is not material is noise that happens to be consistent (a p99
// that moved from 12.0 to 12.6 ms); a material change that is not significant is a figure
// that varies that much from run to run anyway. Neither regresses.
//
// Too little history: with fewer than MinRuns (default 5) reference runs the run is not
// judged at all ("not enough history (3 of 5)"), and a figure that fewer than MinRuns of the
// references hold (an alert that fired in only some of them) is not judged either. At most
// MaxRuns (default 10) references are used, the newest first.
//
// Too few requests: a latency quantile rests on the requests of its phase, and a p99 of 200
// requests is the second slowest of them, which one scheduling hiccup of a shared runner
// moves by more than any tolerance. Gate judges a quantile (a load's p50 or p99, a check's
// value of a quantile metric) only over as many requests as the stats package asks of it for
// a baseline comparison — 20 for p50, 1000 for p99 — and leaves it out of the references
// otherwise; it is shown, marked "too few requests to judge (400 of 1000)". Run the load at a
// rate that gives the phases you gate on their requests.
//
// Times to detect and to recover are measured at the samples of the checks and alerts, so
// they move in steps of a check's interval: when that interval is more than a fifth of the
// time, one step is material. Raise the tolerance in the experiment's gate: block, or ignore
// the figure, rather than reading such a step as a regression.
package regress

import (
	"cmp"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/words"
)

// Defaults of Options.
const (
	DefaultMinRuns   = 5
	DefaultMaxRuns   = 10
	DefaultTolerance = 0.20
	DefaultAlpha     = 0.01
)

// DefaultFloors returns the default absolute noise floor of each figure unit.
func DefaultFloors() map[string]float64 {
	return map[string]float64{shakedown.FigureMs: 5, shakedown.FigureRatio: 0.01, shakedown.FigureRPS: 1, shakedown.FigureNone: 0}
}

// Options tune Judge. Start from Defaults: a zero field means zero (no tolerance, no floor),
// except MinRuns, MaxRuns and Alpha, which take their defaults when zero.
type Options struct {
	MinRuns   int                // fewer reference runs never regress
	MaxRuns   int                // the newest this many reference runs are used
	Tolerance float64            // relative: 0.2 is 20 % worse than the references' median
	Floors    map[string]float64 // absolute noise floor per figure unit; a unit not listed has none
	Ignore    []string           // figures not judged: path.Match patterns of a name or a key
	Alpha     float64            // significance level of the one-sided test
}

// Defaults returns the default options.
func Defaults() Options {
	return Options{MinRuns: DefaultMinRuns, MaxRuns: DefaultMaxRuns, Tolerance: DefaultTolerance,
		Floors: DefaultFloors(), Alpha: DefaultAlpha}
}

// With returns o overridden by an experiment's gate: block; nil changes nothing.
func (o Options) With(g *shakedown.GateSpec) Options {
	if g == nil {
		return o
	}
	if g.MinRuns > 0 {
		o.MinRuns = g.MinRuns
	}
	if g.MaxRuns > 0 {
		o.MaxRuns = g.MaxRuns
	}
	if g.Tolerance != nil {
		o.Tolerance = *g.Tolerance
	}
	if len(g.Floors) > 0 {
		fl := make(map[string]float64, len(o.Floors)+len(g.Floors))
		for u, v := range o.Floors {
			fl[u] = v
		}
		for u, v := range g.Floors {
			fl[u] = v
		}
		o.Floors = fl
	}
	o.Ignore = append(slices.Clip(o.Ignore), g.Ignore...)
	return o
}

func (o Options) normal() Options {
	if o.MinRuns <= 0 {
		o.MinRuns = DefaultMinRuns
	}
	if o.MaxRuns <= 0 {
		o.MaxRuns = DefaultMaxRuns
	}
	o.MaxRuns = max(o.MaxRuns, o.MinRuns)
	if o.Alpha <= 0 || o.Alpha >= 1 {
		o.Alpha = DefaultAlpha
	}
	return o
}

// Result is the judgement of one figure.
type Result struct {
	shakedown.Figure         // the run's
	N                int     // reference values of the figure
	Median           float64 // of the reference values
	Scale            float64 // robust spread of the reference values, floored (see the package comment)
	Change           float64 // Value − Median
	Worsening        float64 // the change in the worse direction: Change·Figure.Worse
	Relative         float64 // Worsening / |Median|; ±Inf when the median is 0 and the value is not
	P                float64 // one-sided p-value of a change at least this much worse
	Significant      bool    // P < Alpha
	Material         bool    // Worsening beyond both the tolerance and the unit's floor
	Regressed        bool    // Significant and Material
	Note             string  // why the figure was not judged, when it was not
	// Missing says the run does not hold the figure that enough reference runs hold (Value
	// is 0, and not the run's): it is not judged, and Note says so.
	Missing bool
}

// Judged says whether the figure had enough references to be judged.
func (r Result) Judged() bool { return r.Note == "" }

// Judgement is the outcome of Judge.
type Judgement struct {
	Runs    int      // reference runs used
	Options Options  // as used, defaults filled in
	Enough  bool     // Runs ≥ Options.MinRuns
	Figures []Result // one per figure of the run, in its order; ignored figures left out
}

// Note says why the run was not judged ("not enough history (3 of 5)"), or "" when it was.
func (j Judgement) Note() string {
	if j.Enough {
		return ""
	}
	return fmt.Sprintf("not enough history (%d of %d)", j.Runs, j.Options.MinRuns)
}

// Regressed says whether any figure regressed.
func (j Judgement) Regressed() bool { return len(j.Regressions()) > 0 }

// Regressions returns the figures that regressed, the most worse (relatively) first.
func (j Judgement) Regressions() []Result {
	var out []Result
	for _, r := range j.Figures {
		if r.Regressed {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b Result) int { return cmp.Compare(b.Relative, a.Relative) })
	return out
}

// Judge judges the figures of a run against those of its reference runs, newest first (only
// the first Options.MaxRuns are used). See the package comment for the rule.
func Judge(run []shakedown.Figure, refs [][]shakedown.Figure, o Options) Judgement {
	o = o.normal()
	if len(refs) > o.MaxRuns {
		refs = refs[:o.MaxRuns]
	}
	j := Judgement{Runs: len(refs), Options: o, Enough: len(refs) >= o.MinRuns}
	if !j.Enough {
		return j
	}
	byKey := map[string][]float64{}
	for _, fs := range refs {
		seen := map[string]bool{}
		for _, f := range fs {
			k := f.Key()
			if seen[k] || !finite(f.Value) {
				continue // a duplicate key counts once per run
			}
			seen[k] = true
			byKey[k] = append(byKey[k], f.Value)
		}
	}
	seen := map[string]bool{}
	for _, f := range run {
		k := f.Key()
		if seen[k] || ignored(f, o.Ignore) || !finite(f.Value) {
			continue
		}
		seen[k] = true
		j.Figures = append(j.Figures, judge(f, byKey[k], o))
	}
	// A figure enough references hold that the run does not (a load that sent nothing in a
	// phase, a check whose value could not be read) cannot be judged; it is listed so, after
	// the run's own, so that nothing passes the gate for want of data without saying so.
	for _, fs := range refs {
		for _, f := range fs {
			k := f.Key()
			if seen[k] || ignored(f, o.Ignore) || len(byKey[k]) < o.MinRuns {
				continue
			}
			seen[k] = true
			m, _ := medianMAD(byKey[k])
			f.Value = 0
			j.Figures = append(j.Figures, Result{Figure: f, N: len(byKey[k]), Median: m, Missing: true,
				Note: fmt.Sprintf("missing from this run (%d of %d reference runs hold it)", len(byKey[k]), len(refs))})
		}
	}
	return j
}

// judge judges one figure against its reference values.
func judge(f shakedown.Figure, ref []float64, o Options) Result {
	r := Result{Figure: f, N: len(ref)}
	if len(ref) < o.MinRuns {
		r.Note = fmt.Sprintf("not enough history for this figure (%d of %d)", len(ref), o.MinRuns)
		return r
	}
	floor := o.Floors[f.Unit]
	m, _ := medianMAD(ref)
	r.Median = m
	r.Change = f.Value - m
	w := 1.0
	if f.Worse < 0 {
		w = -1
	}
	r.Worsening = w * r.Change
	r.Relative = relative(r.Worsening, m)
	// The test, on a log scale where the unit's values are sizes that vary by a share of
	// themselves (latency, throughput) and every value is above zero.
	xs, y := ref, f.Value
	logScale := (f.Unit == shakedown.FigureMs || f.Unit == shakedown.FigureRPS) && y > 0 && slices.Min(ref) > 0
	if logScale {
		xs = make([]float64, len(ref))
		for i, v := range ref {
			xs[i] = math.Log(v)
		}
		y = math.Log(y)
	}
	c, mad := medianMAD(xs)
	var s float64
	if logScale {
		s = max(1.4826*mad, floor/(2*m), 0.01)
		r.Scale = s * m
	} else {
		s = max(1.4826*mad, floor/2, 0.01*math.Abs(m))
		r.Scale = s
	}
	n := float64(len(ref))
	se := s * math.Sqrt(1+math.Pi/(2*n))
	d := w * (y - c)
	var t float64
	switch {
	case se > 0:
		t = d / se
	case d > 0:
		t = math.Inf(1)
	case d < 0:
		t = math.Inf(-1)
	}
	r.P = studentUpper(t, df(len(ref)))
	// Runs on a shared machine are now and then slowed as a whole (another job took the
	// CPU). One such reference is ignored, as the median and MAD ignore it; two show that
	// runs like them happen, and a run no worse than the second worst is not significant.
	r.Significant = r.P < o.Alpha && w*(f.Value-secondWorst(ref, w)) > 0
	r.Material = r.Worsening > o.Tolerance*math.Abs(m) && r.Worsening > floor
	r.Regressed = r.Significant && r.Material
	return r
}

// secondWorst returns the second worst of the values (w is +1 when higher is worse), or the
// best possible when there are fewer than two.
func secondWorst(x []float64, w float64) float64 {
	if len(x) < 2 {
		return math.Inf(-int(w))
	}
	d := make([]float64, len(x))
	for i, v := range x {
		d[i] = w * v
	}
	slices.Sort(d)
	return w * d[len(d)-2]
}

// df is the degrees of freedom of the t distribution for a MAD-based scale from n values.
// The MAD estimates a normal standard deviation with 37 % of the efficiency of the sample
// standard deviation, so it carries the information of about 0.37·n values: the t
// distribution with that many degrees of freedom matches the MAD's sampling spread (checked
// by TestFalsePositiveRate).
func df(n int) float64 { return max(1, 0.37*float64(n)) }

// ignored says whether a pattern of ignore matches the figure's name or key.
func ignored(f shakedown.Figure, ignore []string) bool {
	for _, p := range ignore {
		if ok, _ := path.Match(p, f.Name); ok {
			return true
		}
		if ok, _ := path.Match(p, f.Key()); ok {
			return true
		}
	}
	return false
}

// medianMAD returns the median of x and the median absolute deviation from it. x is not
// changed.
func medianMAD(x []float64) (med, mad float64) {
	s := slices.Clone(x)
	med = median(s)
	for i, v := range x {
		s[i] = math.Abs(v - med)
	}
	return med, median(s)
}

// median sorts x and returns its median.
func median(x []float64) float64 {
	slices.Sort(x)
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Line says what regressed in one line, as the verdict line gives it: "checkout.latency.p99
// during inject 241ms vs 92ms (median of 10 runs on main, p<0.01)". branch names where the
// references come from; "" leaves it out.
func (r Result) Line(runs int, branch string, alpha float64) string {
	on := ""
	if branch != "" {
		on = " on " + branch
	}
	return fmt.Sprintf("%s %s vs %s (median of %d run%s%s, %s)", r.Key(), Format(r.Value, r.Unit),
		Format(r.Median, r.Unit), runs, words.Plural(runs), on, PText(r.P, alpha))
}

// PText writes a p-value for people: "p<0.01" below alpha, else "p=0.23".
func PText(p, alpha float64) string {
	if p < alpha {
		return "p<" + strconv.FormatFloat(alpha, 'g', -1, 64)
	}
	return "p=" + strconv.FormatFloat(p, 'f', 2, 64)
}

// Format writes a figure's value in its unit: "241ms", "2.5%", "48/s", "3".
func Format(v float64, unit string) string { return shakedown.FormatFigure(v, unit) }

// relative is change as a share of base's size; a change from 0 is infinite (its sign kept),
// no change from 0 is none.
func relative(change, base float64) float64 {
	switch {
	case base != 0:
		return change / math.Abs(base)
	case change > 0:
		return math.Inf(1)
	case change < 0:
		return math.Inf(-1)
	}
	return 0
}

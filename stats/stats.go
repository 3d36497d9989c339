// Package stats tells whether a difference between a baseline and an observed sample is
// real or could be chance, so that a baseline-relative check neither fails on noise nor
// passes on no evidence. Its functions are pure and deterministic: the same samples and
// seed give the same answer.
//
// # The rule
//
// Compare estimates a statistic (a latency quantile, or a mean) of the baseline and of the
// observed samples and a 95 % bootstrap percentile confidence interval of their difference
// (observed − baseline) and of their ratio (observed / baseline), from 1000 resamples with a
// fixed seed. The difference is significant when its interval does not contain zero. A
// tolerance ("max: 2x baseline", "max: baseline + 50ms") is judged surely held or surely
// broken only when the whole interval lies on one side of it (Result.Judge).
//
// Too few samples to judge: a quantile q needs at least 10 samples beyond it on each side,
// that is ⌈10/(1−q)⌉ samples — 20 for p50, 100 for p90, 200 for p95, 1000 for p99 and for
// the maximum — and a mean (per-second errors and throughput, or latency.mean) needs at
// least 10 samples, in the baseline and in the observed phase alike. Below that, Compare
// says Enough=false with a note, and a check resting on it must not count as passed.
//
// Quantiles are nearest-rank (the smallest sample with at least the share q at or below
// it). Their bootstrap is exact and cheap whatever the sample size: the k-th order statistic
// of a resample of n sorted values x is x[⌈n·B⌉] with B ~ Beta(k, n−k+1), so one resample
// costs two Gamma draws instead of n. The mean's bootstrap resamples values; above
// MaxMeanSamples values a side is first reduced to a seeded uniform random subsample of
// that many, which keeps Compare under a few tens of milliseconds on 100 000 samples.
// Values that are not finite numbers are left out.
package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/shakedown-dev/shakedown"
)

// Statistic is what Compare compares.
type Statistic int

// The statistics.
const (
	Mean Statistic = iota
	P50
	P90
	P95
	P99
	Max
)

func (s Statistic) String() string {
	switch s {
	case Mean:
		return "mean"
	case P50:
		return "p50"
	case P90:
		return "p90"
	case P95:
		return "p95"
	case P99:
		return "p99"
	case Max:
		return "max"
	}
	return fmt.Sprintf("statistic(%d)", int(s))
}

// quantile returns the share the statistic is a quantile of, or 0 for the mean.
func (s Statistic) quantile() float64 {
	switch s {
	case P50:
		return 0.50
	case P90:
		return 0.90
	case P95:
		return 0.95
	case P99:
		return 0.99
	case Max:
		return 1
	}
	return 0
}

// ForMetric returns the statistic that compares samples of a load metric (a name of
// shakedown.MetricNames): the quantile for latency quantiles and the maximum, the mean for
// latency.mean and for the per-second values of errors and throughput.
func ForMetric(metric string) Statistic {
	switch metric {
	case "latency.p50":
		return P50
	case "latency.p90":
		return P90
	case "latency.p95":
		return P95
	case "latency.p99":
		return P99
	case "latency.max":
		return Max
	}
	return Mean
}

// MinSamples is how many samples each side needs before Compare judges s.
func MinSamples(s Statistic) int {
	q := s.quantile()
	switch {
	case q == 0:
		return 10
	case q >= 0.99:
		return 1000
	}
	return int(math.Ceil(10/(1-q) - 1e-9))
}

// Defaults of Options.
const (
	DefaultConfidence = 0.95
	DefaultResamples  = 1000
	DefaultSeed       = 1
	// MaxMeanSamples bounds the values a side brings to the mean's bootstrap.
	MaxMeanSamples = 4000
)

// Options tune Compare. The zero value uses the defaults.
type Options struct {
	Confidence float64 // two-sided confidence of the intervals; DefaultConfidence when 0
	Resamples  int     // bootstrap resamples; DefaultResamples when 0
	Seed       uint64  // DefaultSeed when 0
}

// Result is the outcome of Compare.
type Result struct {
	Statistic    Statistic
	Baseline     float64 // the statistic of the baseline sample
	Observed     float64 // the statistic of the observed sample
	NBaseline    int
	NObserved    int
	Low, High    float64 // confidence interval of Observed − Baseline
	RatioLow     float64 // confidence interval of Observed / Baseline; +Inf where the baseline's is 0
	RatioHigh    float64
	ObservedLow  float64 // confidence interval of Observed alone
	ObservedHigh float64
	Enough       bool   // both sides have MinSamples
	Significant  bool   // Enough, and the difference's interval excludes zero
	Note         string // why there is no judgement, or what the difference is
}

// Compare compares statistic s of observed with that of baseline; see the package comment
// for the rule.
func Compare(baseline, observed []float64, s Statistic, opts Options) Result {
	if opts.Confidence <= 0 || opts.Confidence >= 1 {
		opts.Confidence = DefaultConfidence
	}
	if opts.Resamples <= 0 {
		opts.Resamples = DefaultResamples
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	b, o := finite(baseline), finite(observed)
	if s.quantile() > 0 {
		slices.Sort(b)
		slices.Sort(o)
	}
	r := Result{Statistic: s, NBaseline: len(b), NObserved: len(o)}
	pct := opts.Confidence * 100
	if len(b) > 0 {
		r.Baseline = point(b, s)
	}
	if len(o) > 0 {
		r.Observed = point(o, s)
	}
	need := MinSamples(s)
	if len(b) < need || len(o) < need {
		r.Note = fmt.Sprintf("too few samples to judge: %s needs at least %d on each side, baseline has %d, observed %d",
			s, need, len(b), len(o))
		r.Low, r.High = math.NaN(), math.NaN()
		r.RatioLow, r.RatioHigh = math.NaN(), math.NaN()
		r.ObservedLow, r.ObservedHigh = math.NaN(), math.NaN()
		return r
	}
	r.Enough = true

	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	var bs, os []float64
	if q := s.quantile(); q > 0 {
		bs, os = quantileBoot(b, q, opts.Resamples, rng), quantileBoot(o, q, opts.Resamples, rng)
	} else {
		bs = meanBoot(subsample(b, MaxMeanSamples, rng), opts.Resamples, rng)
		os = meanBoot(subsample(o, MaxMeanSamples, rng), opts.Resamples, rng)
	}
	diff := make([]float64, len(bs))
	ratio := make([]float64, len(bs))
	for i := range bs {
		diff[i] = os[i] - bs[i]
		ratio[i] = ratioOf(os[i], bs[i])
	}
	alpha := (1 - opts.Confidence) / 2
	r.Low, r.High = interval(diff, alpha)
	r.RatioLow, r.RatioHigh = interval(ratio, alpha)
	r.ObservedLow, r.ObservedHigh = interval(os, alpha)
	r.Significant = r.Low > 0 || r.High < 0
	switch {
	case r.Significant && r.Low > 0:
		r.Note = fmt.Sprintf("%s rose by %.4g (%.0f%% interval %.4g to %.4g)", s, r.Observed-r.Baseline, pct, r.Low, r.High)
	case r.Significant:
		r.Note = fmt.Sprintf("%s fell by %.4g (%.0f%% interval %.4g to %.4g)", s, r.Baseline-r.Observed, pct, -r.High, -r.Low)
	default:
		r.Note = fmt.Sprintf("no significant change in %s (%.0f%% interval of the difference %.4g to %.4g)", s, pct, r.Low, r.High)
	}
	return r
}

// Judgement says whether a tolerance held and whether the samples make that sure.
type Judgement struct {
	Held bool // the point estimates are within the tolerance
	Sure bool // the whole confidence interval is on the same side of the tolerance
}

// Judge judges r against a tolerance: an upper bound (max:) when upper, else a lower bound
// (min:). An absolute tolerance is judged by the observed statistic's interval, a factor
// ("2x baseline") by the ratio's, an offset ("baseline + 50ms") by the difference's. A
// comparison without Enough samples is never sure.
func (r Result) Judge(t shakedown.Tolerance, upper bool) Judgement {
	var point, lo, hi float64
	switch t.Relation {
	case shakedown.Factor:
		lo, hi = r.RatioLow, r.RatioHigh
		point = ratioOf(r.Observed, r.Baseline)
	case shakedown.Offset:
		lo, hi = r.Low, r.High
		point = r.Observed - r.Baseline
	default:
		lo, hi = r.ObservedLow, r.ObservedHigh
		point = r.Observed
	}
	var j Judgement
	if upper {
		j.Held = point <= t.Value
		j.Sure = r.Enough && ((j.Held && hi <= t.Value) || (!j.Held && lo > t.Value))
	} else {
		j.Held = point >= t.Value
		j.Sure = r.Enough && ((j.Held && lo >= t.Value) || (!j.Held && hi < t.Value))
	}
	return j
}

// ratioOf is o / b, where 0 / 0 is 1 and anything else over 0 is +Inf.
func ratioOf(o, b float64) float64 {
	switch {
	case b != 0:
		return o / b
	case o == 0:
		return 1
	}
	return math.Inf(1)
}

// finite returns the finite values of x in a new slice.
func finite(x []float64) []float64 {
	out := make([]float64, 0, len(x))
	for _, v := range x {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}

// point returns statistic s of x, which is sorted for a quantile.
func point(x []float64, s Statistic) float64 {
	if q := s.quantile(); q > 0 {
		return x[rank(len(x), q)-1]
	}
	return mean(x)
}

// rank is the 1-based nearest rank of quantile q in n values.
func rank(n int, q float64) int {
	k := int(math.Ceil(q*float64(n) - 1e-9))
	return min(max(k, 1), n)
}

func mean(x []float64) float64 {
	var sum float64
	for _, v := range x {
		sum += v
	}
	return sum / float64(len(x))
}

// quantileBoot returns b bootstrap replicates of the q-quantile of sorted x.
func quantileBoot(x []float64, q float64, b int, rng *rand.Rand) []float64 {
	n := len(x)
	k := rank(n, q)
	out := make([]float64, b)
	for i := range out {
		u := betaDraw(rng, float64(k), float64(n-k+1))
		j := int(math.Ceil(u * float64(n)))
		out[i] = x[min(max(j, 1), n)-1]
	}
	return out
}

// meanBoot returns b bootstrap replicates of the mean of x.
func meanBoot(x []float64, b int, rng *rand.Rand) []float64 {
	n := len(x)
	nn := uint64(n)
	out := make([]float64, b)
	for i := range out {
		var sum float64
		// Two indices from each 64-bit draw, by multiply-shift: the bias is below n/2³²,
		// far under the bootstrap's own noise, and it halves the cost of the hot loop.
		j := 0
		for ; j+1 < n; j += 2 {
			r := rng.Uint64()
			sum += x[(r&0xffffffff*nn)>>32] + x[(r>>32*nn)>>32]
		}
		if j < n {
			sum += x[(rng.Uint64()>>32*nn)>>32]
		}
		out[i] = sum / float64(n)
	}
	return out
}

// subsample returns a uniform random subsample of m of x's values (all of them when there
// are no more than m).
func subsample(x []float64, m int, rng *rand.Rand) []float64 {
	if len(x) <= m {
		return x
	}
	c := slices.Clone(x)
	for i := range m { // partial Fisher–Yates
		j := i + rng.IntN(len(c)-i)
		c[i], c[j] = c[j], c[i]
	}
	return c[:m]
}

// interval returns the alpha and 1−alpha percentiles of x (sorting it).
func interval(x []float64, alpha float64) (lo, hi float64) {
	slices.Sort(x)
	n := len(x)
	return x[rank(n, alpha)-1], x[rank(n, 1-alpha)-1]
}

// betaDraw draws from Beta(a, b), for a, b ≥ 1.
func betaDraw(rng *rand.Rand, a, b float64) float64 {
	x := gammaDraw(rng, a)
	y := gammaDraw(rng, b)
	return x / (x + y)
}

// gammaDraw draws from Gamma(a, 1) for a ≥ 1 (Marsaglia and Tsang, 2000).
func gammaDraw(rng *rand.Rand, a float64) float64 {
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

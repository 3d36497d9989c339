package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/shakedown-dev/shakedown"
)

// lognormal returns n latencies (seconds) with median med and shape sigma, seeded.
func lognormal(n int, med, sigma float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	x := make([]float64, n)
	for i := range x {
		x[i] = med * math.Exp(sigma*rng.NormFloat64())
	}
	return x
}

func TestCompareKnownDistributions(t *testing.T) {
	tests := []struct {
		name        string
		base, obs   []float64
		stat        Statistic
		significant bool
		rose        bool
	}{
		{"same p50", lognormal(5000, 0.1, 0.5, 1), lognormal(5000, 0.1, 0.5, 2), P50, false, false},
		{"same p99", lognormal(5000, 0.1, 0.5, 3), lognormal(5000, 0.1, 0.5, 4), P99, false, false},
		{"same mean", lognormal(5000, 0.1, 0.5, 5), lognormal(5000, 0.1, 0.5, 6), Mean, false, false},
		{"p50 up 10%", lognormal(5000, 0.1, 0.5, 7), lognormal(5000, 0.11, 0.5, 8), P50, true, true},
		{"p99 up 50%", lognormal(5000, 0.1, 0.5, 9), lognormal(5000, 0.15, 0.5, 10), P99, true, true},
		{"mean down 20%", lognormal(5000, 0.1, 0.5, 11), lognormal(5000, 0.08, 0.5, 12), Mean, true, false},
		{"max up", lognormal(2000, 0.1, 0.2, 13), lognormal(2000, 0.3, 0.2, 14), Max, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compare(tt.base, tt.obs, tt.stat, Options{})
			if !r.Enough || r.Significant != tt.significant {
				t.Fatalf("Compare: enough=%v significant=%v (%s), want significant=%v", r.Enough, r.Significant, r.Note, tt.significant)
			}
			if tt.significant && (r.Low > 0) != tt.rose {
				t.Errorf("interval %v..%v: rose=%v, want %v", r.Low, r.High, r.Low > 0, tt.rose)
			}
			d := r.Observed - r.Baseline
			if r.Low > d || d > r.High || r.ObservedLow > r.Observed || r.Observed > r.ObservedHigh {
				t.Errorf("point estimates outside their intervals: %+v", r)
			}
		})
	}
}

// TestFalsePositiveRate checks the interval's coverage: comparing samples of one
// distribution must find a significant difference in about 5 % of trials.
func TestFalsePositiveRate(t *testing.T) {
	for _, s := range []Statistic{P50, P90, Mean} {
		t.Run(s.String(), func(t *testing.T) {
			const trials = 200
			hits := 0
			for i := range uint64(trials) {
				r := Compare(lognormal(400, 0.1, 0.5, 2*i+100), lognormal(400, 0.1, 0.5, 2*i+101), s, Options{Seed: i + 1, Resamples: 500})
				if r.Significant {
					hits++
				}
			}
			if rate := float64(hits) / trials; rate < 0.01 || rate > 0.10 {
				t.Errorf("%s: %d of %d same-distribution comparisons significant, want about 5%%", s, hits, trials)
			}
		})
	}
}

func TestTooFewSamples(t *testing.T) {
	tests := []struct {
		stat    Statistic
		n, need int
	}{
		{P50, 19, 20}, {P90, 99, 100}, {P95, 199, 200}, {P99, 999, 1000}, {Max, 999, 1000}, {Mean, 9, 10},
	}
	for _, tt := range tests {
		t.Run(tt.stat.String(), func(t *testing.T) {
			if got := MinSamples(tt.stat); got != tt.need {
				t.Errorf("MinSamples(%s) = %d, want %d", tt.stat, got, tt.need)
			}
			few := lognormal(tt.n, 0.1, 0.5, 1)
			many := lognormal(tt.need, 1, 0.5, 2) // ten times slower: a real difference
			for _, pair := range [][2][]float64{{few, many}, {many, few}} {
				r := Compare(pair[0], pair[1], tt.stat, Options{})
				if r.Enough || r.Significant || r.Note == "" {
					t.Errorf("Compare with %d and %d samples: enough=%v significant=%v note=%q; want too few to judge",
						len(pair[0]), len(pair[1]), r.Enough, r.Significant, r.Note)
				}
				if j := r.Judge(shakedown.Tolerance{Relation: shakedown.Factor, Value: 2}, true); j.Sure {
					t.Errorf("judgement on too few samples is sure: %+v", j)
				}
			}
			if r := Compare(few[:0], many, tt.stat, Options{}); r.Enough {
				t.Errorf("Compare with an empty baseline has enough samples")
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	b, o := lognormal(3000, 0.1, 0.5, 1), lognormal(3000, 0.12, 0.5, 2)
	for _, s := range []Statistic{P50, P99, Mean} {
		r1 := Compare(b, o, s, Options{})
		r2 := Compare(slices.Clone(b), slices.Clone(o), s, Options{})
		if d := cmp.Diff(r1, r2); d != "" {
			t.Errorf("%s: two runs differ:\n%s", s, d)
		}
		if r3 := Compare(b, o, s, Options{Seed: 99}); r3.Low == r1.Low && r3.High == r1.High {
			t.Errorf("%s: another seed gives the very same interval %v..%v", s, r1.Low, r1.High)
		}
	}
}

func TestAllZeroErrors(t *testing.T) {
	zeros := make([]float64, 30)
	r := Compare(zeros, zeros, Mean, Options{})
	want := Result{Statistic: Mean, NBaseline: 30, NObserved: 30, RatioLow: 1, RatioHigh: 1, Enough: true}
	if d := cmp.Diff(want, r, cmpopts.IgnoreFields(Result{}, "Note")); d != "" {
		t.Errorf("Compare of zeros (-want +got):\n%s", d)
	}
	some := slices.Clone(zeros)
	for i := range 10 {
		some[i] = 0.5
	}
	r = Compare(zeros, some, Mean, Options{})
	if !r.Significant || !math.IsInf(r.RatioHigh, 1) {
		t.Errorf("errors from none to a third of seconds: significant=%v ratio %v..%v", r.Significant, r.RatioLow, r.RatioHigh)
	}
}

func TestNonFiniteLeftOut(t *testing.T) {
	b := append(lognormal(100, 0.1, 0.5, 1), math.NaN(), math.Inf(1))
	r := Compare(b, lognormal(100, 0.1, 0.5, 2), P50, Options{})
	if r.NBaseline != 100 || math.IsNaN(r.Baseline) || math.IsInf(r.Baseline, 0) {
		t.Errorf("baseline: n=%d value=%v, want 100 finite values", r.NBaseline, r.Baseline)
	}
}

func TestJudge(t *testing.T) {
	base := lognormal(5000, 0.100, 0.3, 1)
	tests := []struct {
		name  string
		obs   []float64
		tol   string
		upper bool
		want  Judgement
	}{
		{"3x over 2x", lognormal(5000, 0.300, 0.3, 2), "2x baseline", true, Judgement{Held: false, Sure: true}},
		{"1.05x under 2x", lognormal(5000, 0.105, 0.3, 3), "2x baseline", true, Judgement{Held: true, Sure: true}},
		{"+80ms over +50ms", lognormal(5000, 0.180, 0.3, 4), "baseline + 50ms", true, Judgement{Held: false, Sure: true}},
		{"+5ms under +50ms", lognormal(5000, 0.105, 0.3, 5), "baseline + 50ms", true, Judgement{Held: true, Sure: true}},
		{"absolute under 400ms", lognormal(5000, 0.105, 0.3, 6), "400ms", true, Judgement{Held: true, Sure: true}},
		{"absolute min above 50ms", lognormal(5000, 0.105, 0.3, 7), "50ms", false, Judgement{Held: true, Sure: true}},
		{"absolute min below 200ms", lognormal(5000, 0.105, 0.3, 8), "200ms", false, Judgement{Held: false, Sure: true}},
		{"right at 1x", base, "1x baseline", true, Judgement{Held: true, Sure: false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tol, err := shakedown.ParseTolerance(tt.tol)
			if err != nil {
				t.Fatal(err)
			}
			r := Compare(base, tt.obs, P50, Options{})
			if got := r.Judge(tol, tt.upper); got != tt.want {
				t.Errorf("Judge(%s, upper=%v) = %+v, want %+v (%s)", tt.tol, tt.upper, got, tt.want, r.Note)
			}
		})
	}
}

// TestQuantileBootMatchesResampling checks the order-statistic shortcut against a plain
// bootstrap that resamples values.
func TestQuantileBootMatchesResampling(t *testing.T) {
	x := lognormal(200, 0.1, 0.5, 1)
	slices.Sort(x)
	for _, q := range []float64{0.5, 0.9, 1} {
		const b = 20000
		rng := rand.New(rand.NewPCG(1, 2))
		fast := quantileBoot(x, q, b, rng)
		slow := make([]float64, b)
		buf := make([]float64, len(x))
		for i := range slow {
			for j := range buf {
				buf[j] = x[rng.IntN(len(x))]
			}
			slices.Sort(buf)
			slow[i] = buf[rank(len(buf), q)-1]
		}
		for _, p := range []float64{0.025, 0.5, 0.975} {
			f, s := fast[:], slow[:]
			slices.Sort(f)
			slices.Sort(s)
			fv, sv := f[rank(b, p)-1], s[rank(b, p)-1]
			// Both estimate the same percentile of the same discrete distribution; allow
			// the next order statistic either way.
			i := slices.Index(x, sv)
			lo, hi := x[max(i-1, 0)], x[min(i+1, len(x)-1)]
			if fv < lo || fv > hi {
				t.Errorf("q=%v: %.3f point of replicates %v by order statistics, %v by resampling", q, p, fv, sv)
			}
		}
	}
}

func TestForMetric(t *testing.T) {
	want := map[string]Statistic{"latency.p50": P50, "latency.p90": P90, "latency.p95": P95,
		"latency.p99": P99, "latency.max": Max, "latency.mean": Mean, "errors": Mean, "throughput": Mean}
	for _, m := range shakedown.MetricNames() {
		if got := ForMetric(m); got != want[m] {
			t.Errorf("ForMetric(%q) = %s, want %s", m, got, want[m])
		}
	}
}

func BenchmarkCompare(b *testing.B) {
	base, obs := lognormal(100_000, 0.1, 0.5, 1), lognormal(100_000, 0.11, 0.5, 2)
	for _, s := range []Statistic{P99, P50, Mean} {
		b.Run(s.String()+"/100k", func(b *testing.B) {
			for b.Loop() {
				Compare(base, obs, s, Options{})
			}
		})
	}
	perSecond := lognormal(600, 0.01, 0.5, 3)
	b.Run("mean/600", func(b *testing.B) {
		for b.Loop() {
			Compare(perSecond, perSecond, Mean, Options{})
		}
	})
}

package regress

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shakedown-dev/shakedown"
)

func p99(v float64) shakedown.Figure {
	return shakedown.Figure{Name: "checkout.latency.p99", Phase: shakedown.PhaseInject, Unit: "ms", Value: v, Worse: 1}
}

func rps(v float64) shakedown.Figure {
	return shakedown.Figure{Name: "checkout.throughput", Phase: shakedown.PhaseInject, Unit: "rps", Value: v, Worse: -1}
}

func errs(v float64) shakedown.Figure {
	return shakedown.Figure{Name: "checkout.errors", Phase: shakedown.PhaseInject, Unit: "ratio", Value: v, Worse: 1}
}

// refs makes one reference run per value, each holding the figure mk(value).
func refs(mk func(float64) shakedown.Figure, vs ...float64) [][]shakedown.Figure {
	out := make([][]shakedown.Figure, len(vs))
	for i, v := range vs {
		out[i] = []shakedown.Figure{mk(v)}
	}
	return out
}

func judgeOne(t *testing.T, f shakedown.Figure, rs [][]shakedown.Figure, o Options) Result {
	t.Helper()
	j := Judge([]shakedown.Figure{f}, rs, o)
	if len(j.Figures) != 1 {
		t.Fatalf("Judge(%v) judged %d figures, want 1", f.Key(), len(j.Figures))
	}
	return j.Figures[0]
}

func TestStudentUpper(t *testing.T) {
	for _, tc := range []struct{ t, df, want float64 }{
		{0, 9, 0.5},
		{2.821, 9, 0.01},
		{1.833, 9, 0.05},
		{-1.833, 9, 0.95},
		{1, 1, 0.25}, // Cauchy
		{3.747, 4, 0.01},
		{2.326, 1e6, 0.01}, // the normal's
		{math.Inf(1), 3, 0},
		{math.NaN(), 3, 1},
	} {
		if got := studentUpper(tc.t, tc.df); math.Abs(got-tc.want) > 5e-4 {
			t.Errorf("studentUpper(%g, %g) = %.5f, want %.5f", tc.t, tc.df, got, tc.want)
		}
	}
}

func TestNotEnoughHistory(t *testing.T) {
	j := Judge([]shakedown.Figure{p99(500)}, refs(p99, 90, 92, 91), Defaults())
	if j.Enough || j.Runs != 3 || j.Regressed() || len(j.Figures) != 0 {
		t.Fatalf("3 references: Enough %v, Runs %d, Regressed %v, %d figures; want not judged", j.Enough, j.Runs, j.Regressed(), len(j.Figures))
	}
	if got, want := j.Note(), "not enough history (3 of 5)"; got != want {
		t.Errorf("Note() = %q, want %q", got, want)
	}
	// Five are enough by default; a gate: block may ask for more.
	if j := Judge([]shakedown.Figure{p99(500)}, refs(p99, 90, 92, 91, 90, 93), Defaults()); !j.Enough || !j.Regressed() {
		t.Errorf("5 references, 500ms vs 91ms: Enough %v, Regressed %v; want both", j.Enough, j.Regressed())
	}
	o := Defaults().With(&shakedown.GateSpec{MinRuns: 8})
	if j := Judge([]shakedown.Figure{p99(500)}, refs(p99, 90, 92, 91, 90, 93), o); j.Enough || j.Note() != "not enough history (5 of 8)" {
		t.Errorf("min_runs 8 with 5 references: Enough %v, Note %q", j.Enough, j.Note())
	}
}

func TestIdenticalReferences(t *testing.T) {
	rs := refs(p99, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100)
	for _, tc := range []struct {
		v         float64
		regressed bool
	}{
		{100, false},
		{101, false}, // significant, but not material
		{119, false}, // within the 20 % tolerance
		{130, true},
		{200, true},
		{50, false}, // better
	} {
		r := judgeOne(t, p99(tc.v), rs, Defaults())
		if r.Regressed != tc.regressed {
			t.Errorf("%gms vs 10 × 100ms: regressed %v (p %g, material %v), want %v", tc.v, r.Regressed, r.P, r.Material, tc.regressed)
		}
		if r.Scale <= 0 || math.IsNaN(r.P) {
			t.Errorf("%gms vs 10 × 100ms: scale %g, p %g; want a positive scale and a p-value", tc.v, r.Scale, r.P)
		}
	}
}

func TestOneOutlierCannotSway(t *testing.T) {
	base := []float64{98, 101, 100, 103, 99, 97, 102, 100, 101}
	high := refs(p99, append(base, 1000)...) // one very slow reference run
	low := refs(p99, append(base, 1)...)     // one very fast one
	for _, tc := range []struct {
		name      string
		rs        [][]shakedown.Figure
		v         float64
		regressed bool
	}{
		{"a slow reference does not hide a doubling", high, 200, true},
		{"a slow reference does not hide 30% worse", high, 130, true},
		{"a fast reference does not make noise a regression", low, 104, false},
		{"a fast reference does not make noise a regression", low, 110, false},
		{"a slow reference, a usual run", high, 101, false},
	} {
		r := judgeOne(t, p99(tc.v), tc.rs, Defaults())
		if r.Regressed != tc.regressed {
			t.Errorf("%s: %gms: regressed %v (median %g, scale %g, p %g, material %v), want %v",
				tc.name, tc.v, r.Regressed, r.Median, r.Scale, r.P, r.Material, tc.regressed)
		}
	}
	// A mean and standard deviation would not have caught it: the outlier's spread is ~280ms.
	if r := judgeOne(t, p99(200), high, Defaults()); r.Median != 100.5 || r.Scale > 5 {
		t.Errorf("median %g, scale %g; want 100.5 and the spread of the nine", r.Median, r.Scale)
	}
}

// TestTwoSlowReferences: two slow references of ten show that slow runs happen (a shared
// machine); a run like them is not a regression, while one much slower still is.
func TestTwoSlowReferences(t *testing.T) {
	rs := refs(p99, 98, 101, 100, 103, 99, 97, 102, 100, 150, 160)
	if r := judgeOne(t, p99(150), rs, Defaults()); r.Regressed {
		t.Errorf("150ms beside two slow references of 150 and 160ms: regressed (scale %g, p %g)", r.Scale, r.P)
	}
	if r := judgeOne(t, p99(200), rs, Defaults()); !r.Regressed {
		t.Errorf("200ms beside two slow references of 150 and 160ms: not regressed (scale %g, p %g)", r.Scale, r.P)
	}
	one := refs(p99, 98, 101, 100, 103, 99, 97, 102, 100, 101, 160)
	if r := judgeOne(t, p99(155), one, Defaults()); !r.Regressed {
		t.Errorf("155ms beside one slow reference of 160ms: not regressed (scale %g, p %g)", r.Scale, r.P)
	}
}

func TestLowerIsWorse(t *testing.T) {
	rs := refs(rps, 50, 49.8, 50.1, 50, 49.9, 50, 50.2)
	if r := judgeOne(t, rps(30), rs, Defaults()); !r.Regressed || r.Worsening != 20 {
		t.Errorf("throughput 30 vs 50: regressed %v, worsening %g; want regressed by 20", r.Regressed, r.Worsening)
	}
	if r := judgeOne(t, rps(80), rs, Defaults()); r.Regressed || r.P < 0.5 {
		t.Errorf("throughput 80 vs 50: regressed %v, p %g; want better", r.Regressed, r.P)
	}
}

func TestFloors(t *testing.T) {
	zero := refs(errs, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	if r := judgeOne(t, errs(0.005), zero, Defaults()); r.Regressed {
		t.Errorf("errors 0.5%% vs 0: regressed (p %g); the 1%% floor should hold it", r.P)
	}
	if r := judgeOne(t, errs(0.05), zero, Defaults()); !r.Regressed || !math.IsInf(r.Relative, 1) {
		t.Errorf("errors 5%% vs 0: regressed %v, relative %g; want regressed, +Inf", r.Regressed, r.Relative)
	}
	// A 3ms move on a 10ms p99 is 30 %, but below the 5ms floor; an experiment may lower it.
	small := refs(p99, 10, 10, 10.1, 9.9, 10, 10, 10, 10.1, 9.9, 10)
	if r := judgeOne(t, p99(14), small, Defaults()); r.Regressed {
		t.Errorf("14ms vs 10ms with the 5ms floor: regressed")
	}
	o := Defaults().With(&shakedown.GateSpec{Floors: map[string]float64{"ms": 1}})
	if r := judgeOne(t, p99(14), small, o); !r.Regressed {
		t.Errorf("14ms vs 10ms with a 1ms floor: not regressed (p %g, material %v)", r.P, r.Material)
	}
	if o.Floors["ratio"] != 0.01 {
		t.Errorf("overriding the ms floor changed the ratio floor to %g", o.Floors["ratio"])
	}
	tol := 0.5
	if r := judgeOne(t, p99(14), small, Defaults().With(&shakedown.GateSpec{Tolerance: &tol, Floors: map[string]float64{"ms": 1}})); r.Regressed {
		t.Errorf("14ms vs 10ms with a 50%% tolerance: regressed")
	}
}

// TestNoisyFigureNotSignificant: a figure that varies 40 % from run to run is not flagged for
// a 30 % move, though the move is beyond the tolerance.
func TestNoisyFigureNotSignificant(t *testing.T) {
	rs := refs(p99, 100, 140, 70, 120, 90, 60, 130, 110, 80, 100)
	r := judgeOne(t, p99(130), rs, Defaults())
	if !r.Material || r.Significant || r.Regressed {
		t.Errorf("130 vs noisy refs: material %v, significant %v (p %g), regressed %v; want material only", r.Material, r.Significant, r.P, r.Regressed)
	}
}

// TestFalsePositiveRate: with no tolerance and no floor, runs drawn from the references'
// own distribution are significantly worse about Alpha of the time, not more.
func TestFalsePositiveRate(t *testing.T) {
	o := Defaults()
	o.Tolerance, o.Floors = 0, nil
	for _, tc := range []struct {
		name string
		draw func(*rand.Rand) float64
	}{
		{"normal", func(r *rand.Rand) float64 { return 100 + 10*r.NormFloat64() }},
		{"lognormal", func(r *rand.Rand) float64 { return 100 * math.Exp(0.3*r.NormFloat64()) }},
	} {
		for _, n := range []int{5, 10, 20} {
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			const trials = 4000
			sig := 0
			for range trials {
				vs := make([]float64, n)
				for i := range vs {
					vs[i] = tc.draw(rng)
				}
				if judgeOne(t, p99(tc.draw(rng)), refs(p99, vs...), o).Significant {
					sig++
				}
			}
			if rate := float64(sig) / trials; rate > 0.025 {
				t.Errorf("%s, %d references: %.2f%% of same-distribution runs significant, want about 1%%", tc.name, n, 100*rate)
			}
		}
	}
}

// TestPower: a run twice the references' p99 is caught when the p99 varies by 7 % from run
// to run.
func TestPower(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	caught := 0
	const trials = 1000
	for range trials {
		vs := make([]float64, 10)
		for i := range vs {
			vs[i] = 92 * math.Exp(0.07*rng.NormFloat64())
		}
		if judgeOne(t, p99(184*math.Exp(0.07*rng.NormFloat64())), refs(p99, vs...), Defaults()).Regressed {
			caught++
		}
	}
	if caught < trials*99/100 {
		t.Errorf("doubled p99 caught %d of %d times, want at least 99%%", caught, trials)
	}
}

func TestJudgeSelection(t *testing.T) {
	run := []shakedown.Figure{p99(300), rps(50), errs(0.5),
		{Name: "paged.time_to_detect", Unit: "ms", Value: 9000, Worse: 1}}
	var rs [][]shakedown.Figure
	for i := range 12 {
		fs := []shakedown.Figure{p99(100), rps(50), errs(0)}
		if i < 3 {
			fs = append(fs, shakedown.Figure{Name: "paged.time_to_detect", Unit: "ms", Value: 3000, Worse: 1})
		}
		rs = append(rs, fs)
	}
	o := Defaults().With(&shakedown.GateSpec{Ignore: []string{"*.errors during inject"}})
	j := Judge(run, rs, o)
	if j.Runs != 10 {
		t.Errorf("Runs = %d, want MaxRuns 10 of 12", j.Runs)
	}
	var keys []string
	for _, r := range j.Figures {
		keys = append(keys, r.Key())
	}
	want := []string{"checkout.latency.p99 during inject", "checkout.throughput during inject", "paged.time_to_detect"}
	if len(keys) != len(want) {
		t.Fatalf("judged %q, want %q", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("judged %q, want %q", keys, want)
		}
	}
	if r := j.Figures[2]; r.Judged() || r.Regressed || r.N != 3 {
		t.Errorf("a figure 3 of 10 references hold: judged %v, regressed %v, N %d; want not judged", r.Judged(), r.Regressed, r.N)
	}
	reg := j.Regressions()
	if len(reg) != 1 || reg[0].Key() != "checkout.latency.p99 during inject" {
		t.Errorf("Regressions() = %v, want the p99", reg)
	}
}

func TestRegressionsWorstFirst(t *testing.T) {
	p50 := func(v float64) shakedown.Figure {
		return shakedown.Figure{Name: "checkout.latency.p50", Phase: shakedown.PhaseInject, Unit: "ms", Value: v, Worse: 1}
	}
	var rs [][]shakedown.Figure
	for range 10 {
		rs = append(rs, []shakedown.Figure{p50(50), p99(100)})
	}
	j := Judge([]shakedown.Figure{p50(75), p99(300)}, rs, Defaults())
	reg := j.Regressions()
	if len(reg) != 2 || reg[0].Name != "checkout.latency.p99" {
		t.Fatalf("Regressions() = %v, want p99 (3x) before p50 (1.5x)", reg)
	}
}

func TestLine(t *testing.T) {
	rs := refs(p99, 92, 91, 93, 92, 90, 94, 92, 92, 91, 93)
	r := judgeOne(t, p99(241), rs, Defaults())
	want := "checkout.latency.p99 during inject 241ms vs 92ms (median of 10 runs on main, p<0.01)"
	if got := r.Line(10, "main", DefaultAlpha); got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{0.025, "ratio", "2.5%"}, {48.04, "rps", "48/s"}, {9.26, "ms", "9.3ms"}, {3, "", "3"}, {1234.5, "ms", "1235ms"},
	} {
		if got := Format(tc.v, tc.unit); got != tc.want {
			t.Errorf("Format(%g, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
	if got := PText(0.234, 0.01); got != "p=0.23" {
		t.Errorf("PText(0.234) = %q", got)
	}
}

func TestDeterministic(t *testing.T) {
	rs := refs(p99, 92, 91, 300, 92, 90, 94, 92, 92, 91, 93)
	a := Judge([]shakedown.Figure{p99(150)}, rs, Defaults())
	for range 20 {
		b := Judge([]shakedown.Figure{p99(150)}, rs, Defaults())
		if a.Figures[0] != b.Figures[0] {
			t.Fatalf("Judge differs between calls: %+v, %+v", a.Figures[0], b.Figures[0])
		}
	}
	if rs[2][0].Value != 300 {
		t.Errorf("Judge changed its input")
	}
}

func TestDiff(t *testing.T) {
	run := []shakedown.Figure{p99(241), rps(48), errs(0.02), {Name: "only.here", Value: 1}}
	other := []shakedown.Figure{errs(0), p99(92), {Name: "only.there", Value: 7}, rps(50)}
	got := Diff(run, other)
	if len(got) != 5 {
		t.Fatalf("Diff gave %d figures, want 5 (3 paired, 1 only in each run): %+v", len(got), got)
	}
	if c := got[3]; c.Name != "only.here" || !c.OtherMissing || c.Missing || c.Value != 1 || c.Change != 0 {
		t.Errorf("a figure only the run holds: %+v", c)
	}
	if c := got[4]; c.Name != "only.there" || !c.Missing || c.OtherMissing || c.Other != 7 || c.Change != 0 {
		t.Errorf("a figure only the other run holds: %+v", c)
	}
	if c := got[0]; c.Key() != "checkout.latency.p99 during inject" || c.Other != 92 || c.Change != 149 || math.Abs(c.Relative-149.0/92) > 1e-12 {
		t.Errorf("p99: %+v", c)
	}
	if c := got[2]; c.Name != "checkout.errors" || !math.IsInf(c.Relative, 1) {
		t.Errorf("errors from 0: %+v", c)
	}
}

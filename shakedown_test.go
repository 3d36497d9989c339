package shakedown_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "2m", want: 2 * time.Minute},
		{in: "1m30s", want: 90 * time.Second},
		{in: "0", want: 0},
		{in: "PT1M", want: time.Minute},
		{in: "PT1M30S", want: 90 * time.Second},
		{in: "PT0.5S", want: 500 * time.Millisecond},
		{in: "P1DT2H", want: 26 * time.Hour},
		{in: "pt2s", want: 2 * time.Second},
		{in: "", bad: true},
		{in: "P", bad: true},
		{in: "PT", bad: true},
		{in: "P1Y", bad: true},
		{in: "-1s", bad: true},
		{in: "soon", bad: true},
		{in: "10", bad: true},
	} {
		got, err := shakedown.ParseDuration(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("ParseDuration(%q) error = %v, want error %v", tc.in, err, tc.bad)
			continue
		}
		if !tc.bad && got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseSelection(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want shakedown.Selection
		bad  bool
	}{
		{in: "", want: shakedown.Selection{Mode: shakedown.SelectAll}},
		{in: "all", want: shakedown.Selection{Mode: shakedown.SelectAll}},
		{in: "count(1)", want: shakedown.Selection{Mode: shakedown.SelectCount, Count: 1}},
		{in: "count( 3 )", want: shakedown.Selection{Mode: shakedown.SelectCount, Count: 3}},
		{in: "percent(10)", want: shakedown.Selection{Mode: shakedown.SelectPercent, Percent: 10}},
		{in: "percent(12.5%)", want: shakedown.Selection{Mode: shakedown.SelectPercent, Percent: 12.5}},
		{in: "count(0)", bad: true},
		{in: "count(1.5)", bad: true},
		{in: "percent(0)", bad: true},
		{in: "percent(101)", bad: true},
		{in: "some", bad: true},
		{in: "count(-1)", bad: true},
	} {
		got, err := shakedown.ParseSelection(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("ParseSelection(%q) error = %v, want error %v", tc.in, err, tc.bad)
			continue
		}
		if !tc.bad && got != tc.want {
			t.Errorf("ParseSelection(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestSelectSizeAndSeed(t *testing.T) {
	all := make([]int, 20)
	for i := range all {
		all[i] = i
	}
	for _, tc := range []struct {
		sel  string
		want int
	}{{"all", 20}, {"count(3)", 3}, {"count(50)", 20}, {"percent(10)", 2}, {"percent(1)", 1}, {"percent(12)", 3}} {
		s, _ := shakedown.ParseSelection(tc.sel)
		got := shakedown.Select(s, all, 42)
		if len(got) != tc.want {
			t.Errorf("%s of 20: selected %d, want %d", tc.sel, len(got), tc.want)
		}
		if again := shakedown.Select(s, all, 42); !cmp.Equal(got, again) {
			t.Errorf("%s with the same seed picked %v then %v", tc.sel, got, again)
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Errorf("%s: %v is not in the original order", tc.sel, got)
			}
		}
	}
	s, _ := shakedown.ParseSelection("count(5)")
	differ := false
	for seed := int64(1); seed < 10 && !differ; seed++ {
		differ = !cmp.Equal(shakedown.Select(s, all, 0), shakedown.Select(s, all, seed))
	}
	if !differ {
		t.Errorf("count(5) of 20 picked the same instances for ten seeds")
	}
	if got := shakedown.Select(s, []int{}, 1); len(got) != 0 {
		t.Errorf("selection from nothing = %v", got)
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		bad  bool
	}{
		{in: "50/s", want: 50}, {in: "3000/m", want: 50}, {in: "7200/h", want: 2}, {in: "12.5", want: 12.5},
		{in: "0", bad: true}, {in: "-5/s", bad: true}, {in: "5/d", bad: true}, {in: "fast", bad: true}, {in: "NaN", bad: true},
	} {
		got, err := shakedown.ParseRate(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("ParseRate(%q) error = %v, want error %v", tc.in, err, tc.bad)
			continue
		}
		if !tc.bad && math.Abs(got.PerSecond()-tc.want) > 1e-9 {
			t.Errorf("ParseRate(%q) = %v, want %v/s", tc.in, got, tc.want)
		}
	}
}

func TestParseTolerance(t *testing.T) {
	for _, tc := range []struct {
		in                   string
		rel                  shakedown.Relation
		value                float64
		unit                 shakedown.Unit
		bound200ms           float64 // Bound with a baseline of 0.2
		fitsLatency, fitsErr bool
	}{
		{"400ms", shakedown.Absolute, 0.4, shakedown.UnitDuration, 0.4, true, false},
		{"1%", shakedown.Absolute, 0.01, shakedown.UnitFraction, 0.01, false, true},
		{"0.01", shakedown.Absolute, 0.01, shakedown.UnitNone, 0.01, false, true},
		{"50/s", shakedown.Absolute, 50, shakedown.UnitRate, 50, false, false},
		{"2x baseline", shakedown.Factor, 2, shakedown.UnitNone, 0.4, true, true},
		{"1.5 x baseline", shakedown.Factor, 1.5, shakedown.UnitNone, 0.3, true, true},
		{"baseline + 50ms", shakedown.Offset, 0.05, shakedown.UnitDuration, 0.25, true, false},
		{"baseline - 10%", shakedown.Offset, -0.1, shakedown.UnitFraction, 0.1, false, true},
	} {
		got, err := shakedown.ParseTolerance(tc.in)
		if err != nil {
			t.Errorf("ParseTolerance(%q): %v", tc.in, err)
			continue
		}
		if got.Relation != tc.rel || math.Abs(got.Value-tc.value) > 1e-12 || got.Unit != tc.unit {
			t.Errorf("ParseTolerance(%q) = %+v, want relation %q value %v unit %q", tc.in, got, tc.rel, tc.value, tc.unit)
		}
		if b := got.Bound(0.2); math.Abs(b-tc.bound200ms) > 1e-12 {
			t.Errorf("%q.Bound(0.2) = %v, want %v", tc.in, b, tc.bound200ms)
		}
		if got.Fits(shakedown.UnitDuration) != tc.fitsLatency || got.Fits(shakedown.UnitFraction) != tc.fitsErr {
			t.Errorf("%q fits latency %v errors %v, want %v %v", tc.in, got.Fits(shakedown.UnitDuration),
				got.Fits(shakedown.UnitFraction), tc.fitsLatency, tc.fitsErr)
		}
	}
	for _, bad := range []string{"", "fast", "x baseline", "baseline * 2", "baseline +", "%", "-2x baseline",
		"NaN%", "Inf%", "nan", "+Inf", "Infinity", "NaNx baseline", "Infx baseline", "baseline + NaN%",
		"baseline - Inf%", "1_0%", "0x1p-2", "0x10", "-5%", "150%", "baseline + 101%", "1_000ms", "NaNms", "NaN/s"} {
		if _, err := shakedown.ParseTolerance(bad); err == nil {
			t.Errorf("ParseTolerance(%q) accepted", bad)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"12", 12, true},
		{"-0.5", -0.5, true},
		{"+3", 3, true},
		{".5", 0.5, true},
		{"5.", 5, true},
		{"1e3", 1000, true},
		{"1E3", 1000, true},
		{"15e-1", 1.5, true},
		{"1.5e+3", 1500, true},
		{"1e308", 1e308, true},
		{"", 0, false},
		{"NaN", 0, false},
		{"nan", 0, false},
		{"Inf", 0, false},
		{"+Inf", 0, false},
		{"-inf", 0, false},
		{"Infinity", 0, false},
		{"1_0", 0, false},
		{"1_000.5", 0, false},
		{"0x10", 0, false},
		{"0x1p-2", 0, false},
		{"1e400", 0, false},
		{"-1e400", 0, false},
		{"1e", 0, false},
		{"e3", 0, false},
		{".", 0, false},
		{"+-1", 0, false},
		{"1.2.3", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
	} {
		got, err := shakedown.ParseNumber(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, shakedown.ErrNumber) {
			t.Errorf("ParseNumber(%q) = %v, %v; want ErrNumber", tc.in, got, err)
		}
	}
}

func TestParseInteger(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"42", 42, true},
		{"-7", -7, true},
		{"+7", 7, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"9223372036854775808", 0, false},
		{"0x10", 0, false},
		{"0o17", 0, false},
		{"1_000", 0, false},
		{"1e3", 0, false},
		{"1.0", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"--1", 0, false},
	} {
		got, err := shakedown.ParseInteger(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseInteger(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, shakedown.ErrNumber) {
			t.Errorf("ParseInteger(%q) = %v, %v; want ErrNumber", tc.in, got, err)
		}
	}
}

func TestToleranceInRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		unit shakedown.Unit
		ok   bool
	}{
		{"1%", shakedown.UnitFraction, true},
		{"100%", shakedown.UnitFraction, true},
		{"0", shakedown.UnitFraction, true},
		{"1", shakedown.UnitFraction, true},
		{"1.5", shakedown.UnitFraction, false},
		{"-0.1", shakedown.UnitFraction, false},
		{"1e3", shakedown.UnitFraction, false},
		{"baseline + 100%", shakedown.UnitFraction, true},
		{"baseline - 0.5", shakedown.UnitFraction, true},
		{"baseline + 2", shakedown.UnitFraction, false},
		{"baseline - 1.5", shakedown.UnitFraction, false},
		{"3x baseline", shakedown.UnitFraction, true},
		{"-3", shakedown.UnitNone, true},
		{"400ms", shakedown.UnitDuration, true},
	} {
		tol, err := shakedown.ParseTolerance(tc.in)
		if err != nil {
			t.Fatalf("ParseTolerance(%q): %v", tc.in, err)
		}
		if err := tol.InRange(tc.unit); (err == nil) != tc.ok {
			t.Errorf("%q.InRange(%q) = %v, want ok %v", tc.in, tc.unit, err, tc.ok)
		}
	}
}

func TestFaultWindow(t *testing.T) {
	const h, most = time.Hour, shakedown.MaxSchedule
	for _, tc := range []struct {
		after, delay, duration time.Duration
		start, end             time.Duration
		ok                     bool
	}{
		{0, 0, 0, 0, 0, true},
		{2 * h, h, 3 * h, 3 * h, 6 * h, true},
		{0, most, 0, most, most, true},
		{0, most - h, h, most - h, most, true},
		{0, most - h, 2 * h, most - h, most + 1, false},
		{h, most, 0, most + 1, most + 1, false},
		{0, 2000000 * h, 0, most + 1, most + 1, false},
		{most + 1, 2000000 * h, time.Second, most + 1, most + 1, false},
		{0, 1100000 * h, 1500000 * h, most + 1, most + 1, false},
		{0, 1<<63 - 1, 1<<63 - 1, most + 1, most + 1, false},
	} {
		start, end, ok := shakedown.FaultWindow(tc.after, tc.delay, tc.duration)
		if start != tc.start || end != tc.end || ok != tc.ok {
			t.Errorf("FaultWindow(%v, %v, %v) = %v, %v, %v; want %v, %v, %v", tc.after, tc.delay, tc.duration, start, end, ok, tc.start, tc.end, tc.ok)
		}
	}
}

func TestNofM(t *testing.T) {
	var w shakedown.NofM
	if err := w.UnmarshalText([]byte("3 of 5")); err != nil || w != (shakedown.NofM{N: 3, M: 5}) {
		t.Errorf("3 of 5 = %+v, %v", w, err)
	}
	if err := w.UnmarshalText([]byte("2/4")); err != nil || w != (shakedown.NofM{N: 2, M: 4}) {
		t.Errorf("2/4 = %+v, %v", w, err)
	}
	for _, bad := range []string{"5 of 3", "0 of 3", "three of five", ""} {
		if err := new(shakedown.NofM).UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("window %q accepted", bad)
		}
	}
}

func TestParseMetric(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want shakedown.Metric
		unit shakedown.Unit
	}{
		{"checkout.latency.p99", shakedown.Metric{Load: "checkout", Name: "latency.p99"}, shakedown.UnitDuration},
		{"checkout.errors", shakedown.Metric{Load: "checkout", Name: "errors"}, shakedown.UnitFraction},
		{"api-v2.throughput", shakedown.Metric{Load: "api-v2", Name: "throughput"}, shakedown.UnitRate},
	} {
		got, err := shakedown.ParseMetric(tc.in)
		if err != nil || got != tc.want || got.Unit() != tc.unit {
			t.Errorf("ParseMetric(%q) = %+v (%q), %v; want %+v (%q)", tc.in, got, got.Unit(), err, tc.want, tc.unit)
		}
	}
	for _, bad := range []string{"checkout", "checkout.latency.p42", ".errors", "checkout.latency"} {
		if _, err := shakedown.ParseMetric(bad); err == nil {
			t.Errorf("ParseMetric(%q) accepted", bad)
		}
	}
}

// TestExitCodes is the exit-code table of the README, and the suite's order of severity.
func TestExitCodes(t *testing.T) {
	want := map[shakedown.Verdict]int{
		shakedown.VerdictPassed: 0, shakedown.VerdictFailed: 1, shakedown.VerdictInvalid: 2, shakedown.VerdictAborted: 3,
		shakedown.VerdictNotRestored: 4, shakedown.VerdictError: 5, shakedown.VerdictNotSteady: 6,
		shakedown.VerdictRegressed: 7,
	}
	if len(want) != len(shakedown.Verdicts) {
		t.Errorf("the table has %d verdicts, Verdicts %d", len(want), len(shakedown.Verdicts))
	}
	for v, code := range want {
		if v.ExitCode() != code {
			t.Errorf("%s exits %d, want %d", v, v.ExitCode(), code)
		}
	}
	// 2 > 4 > 5 > 3 > 1 > 7 > 6 > 0, read from the right.
	order := []shakedown.Verdict{shakedown.VerdictPassed, shakedown.VerdictNotSteady, shakedown.VerdictRegressed,
		shakedown.VerdictFailed, shakedown.VerdictAborted, shakedown.VerdictError, shakedown.VerdictNotRestored,
		shakedown.VerdictInvalid}
	for i := 1; i < len(order); i++ {
		if got := shakedown.Worst(order[:i+1]...); got != order[i] {
			t.Errorf("Worst(%v) = %s, want %s", order[:i+1], got, order[i])
		}
		if got := shakedown.Worst(order[i], order[i-1]); got != order[i] {
			t.Errorf("Worst(%s, %s) = %s", order[i], order[i-1], got)
		}
	}
	if got := shakedown.Worst(); got != shakedown.VerdictPassed {
		t.Errorf("Worst() = %s, want passed", got)
	}
	for kind, code := range map[shakedown.Kind]int{
		shakedown.KindInternal: 5, shakedown.KindInvalid: 2, shakedown.KindNotFound: 5, shakedown.KindPermission: 5,
		shakedown.KindUnavailable: 5, shakedown.KindConflict: 5, shakedown.KindFailed: 1, shakedown.KindAborted: 3,
		shakedown.KindNotRestored: 4, shakedown.KindNotSteady: 6, shakedown.KindRegressed: 7,
	} {
		if kind.ExitCode() != code {
			t.Errorf("kind %s exits %d, want %d", kind, kind.ExitCode(), code)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	base := errors.New("connection refused")
	err := fmt.Errorf("probe: %w", shakedown.Wrap(shakedown.KindUnavailable, "query http://127.0.0.1:9090", base))
	if !shakedown.IsKind(err, shakedown.KindUnavailable) || shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("IsKind on %v", err)
	}
	if shakedown.KindOf(err) != shakedown.KindUnavailable || !errors.Is(err, base) {
		t.Errorf("KindOf(%v) = %s", err, shakedown.KindOf(err))
	}
	if got := err.Error(); got != "probe: query http://127.0.0.1:9090: connection refused" {
		t.Errorf("Error() = %q", got)
	}
	if shakedown.KindOf(errors.New("plain")) != shakedown.KindInternal {
		t.Errorf("a plain error is not internal")
	}
	if shakedown.KindOf(fmt.Errorf("x: %w", context.Canceled)) != shakedown.KindAborted {
		t.Errorf("cancellation is not aborted")
	}
	if shakedown.Wrap(shakedown.KindInvalid, "op", nil) != nil {
		t.Errorf("Wrap(nil) is not nil")
	}
	if shakedown.KindNotFound.HTTPStatus() != 404 || shakedown.KindInvalid.HTTPStatus() != 400 {
		t.Errorf("HTTP status mapping")
	}
}

func TestRecordTimeAndMillis(t *testing.T) {
	at := shakedown.At(time.Date(2026, 11, 27, 12, 3, 4, 123456789, time.FixedZone("x", 3600)))
	b, _ := at.MarshalJSON()
	if string(b) != `"2026-11-27T11:03:04.123Z"` {
		t.Errorf("time = %s", b)
	}
	var back shakedown.Time
	if err := back.UnmarshalJSON(b); err != nil || !back.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("round trip = %v, %v", back, err)
	}
	if m := shakedown.Ms(1500 * time.Microsecond); m != 1.5 {
		t.Errorf("Ms(1.5ms) = %v", m)
	}
	if ttl := shakedown.TTL(time.Minute); ttl != time.Minute+shakedown.DefaultTTLMargin {
		t.Errorf("TTL = %v", ttl)
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"250ms", "PT1M30S", "P1DT2H", "0", "-1s", "PT0.5S", "P99999999999999D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := shakedown.ParseDuration(s)
		if err == nil && d < 0 {
			t.Errorf("ParseDuration(%q) = %v, a negative duration", s, d)
		}
	})
}

func FuzzParseTolerance(f *testing.F) {
	for _, s := range []string{"400ms", "1%", "2x baseline", "baseline + 50ms", "50/s", "0.01",
		"NaN%", "Inf%", "+Inf", "Infinity", "NaNx baseline", "baseline - Inf%", "1_0%", "0x1p-2", "1e3", "150%", "-5%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tol, err := shakedown.ParseTolerance(s)
		if err != nil {
			return
		}
		if math.IsNaN(tol.Value) || math.IsInf(tol.Value, 0) || math.IsNaN(tol.Bound(1)) {
			t.Errorf("ParseTolerance(%q) = %+v, not finite", s, tol)
		}
		if tol.Unit == shakedown.UnitFraction && (tol.Value < -1 || tol.Value > 1) {
			t.Errorf("ParseTolerance(%q) = %+v, a percentage out of [0, 100]", s, tol)
		}
		again, err := shakedown.ParseTolerance(tol.Text)
		if err != nil || again != tol {
			t.Errorf("ParseTolerance(%q) does not round-trip: %+v vs %+v (%v)", s, tol, again, err)
		}
	})
}

func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"12", "-0.5", "1e3", "15e-1", "NaN", "Inf", "Infinity", "1_0", "0x10", "0x1p-2", "1e400", ".5", "5."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := shakedown.ParseNumber(s)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("ParseNumber(%q) = %v", s, v)
		}
		if strings.ContainsAny(s, "_xXpPnNiI \t") {
			t.Errorf("ParseNumber(%q) = %v, want an error", s, v)
		}
	})
}

func FuzzParseSelectionAndRate(f *testing.F) {
	for _, s := range []string{"count(3)", "percent(10)", "all", "50/s", "3000/m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if sel, err := shakedown.ParseSelection(s); err == nil {
			if n := sel.Size(7); n < 0 || n > 7 {
				t.Errorf("%q selects %d of 7", s, n)
			}
			again, err := shakedown.ParseSelection(sel.String())
			if err != nil || again != sel {
				t.Errorf("selection %q does not round-trip: %+v vs %+v", s, sel, again)
			}
		}
		if r, err := shakedown.ParseRate(s); err == nil && !(r.PerSecond() > 0) {
			t.Errorf("ParseRate(%q) = %v", s, r)
		}
	})
}

func TestRefAs(t *testing.T) {
	type handle struct{ n int }
	if h, ok := shakedown.RefAs[handle](shakedown.Instance{Ref: handle{1}}); !ok || h.n != 1 {
		t.Errorf("value Ref: %v, %v", h, ok)
	}
	if h, ok := shakedown.RefAs[handle](shakedown.Instance{Ref: &handle{2}}); !ok || h.n != 2 {
		t.Errorf("pointer Ref: %v, %v", h, ok)
	}
	if _, ok := shakedown.RefAs[handle](shakedown.Instance{Ref: (*handle)(nil)}); ok {
		t.Errorf("nil pointer Ref taken")
	}
	if _, ok := shakedown.RefAs[handle](shakedown.Instance{Ref: "other"}); ok {
		t.Errorf("Ref of another type taken")
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]uint64{"1500": 1500, "64kb": 64000, "64K": 64000, "1mb": 1e6, "2kib": 2048,
		"1mib": 1 << 20, "1.5gib": 3 << 29, " 2 TB ": 2e12, "1ti": 1 << 40, "0": 0} {
		if got, err := shakedown.ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1pb", "1 k b", "9e99", "1e30kb"} {
		if got, err := shakedown.ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, got)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"1500", "64kb", "1.5gib", "", "x", "9e99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := shakedown.ParseBytes(s); err == nil && n > 1<<62 {
			t.Errorf("ParseBytes(%q) = %d, above the bound", s, n)
		}
	})
}

func TestParamsAs(t *testing.T) {
	type P struct{ N int }
	if p, err := shakedown.ParamsAs[P](&P{N: 1}, "x probe"); err != nil || p.N != 1 {
		t.Errorf("ParamsAs(*P) = %v, %v", p, err)
	}
	if p, err := shakedown.ParamsAs[P](P{N: 2}, "x probe"); err != nil || p.N != 2 {
		t.Errorf("ParamsAs(P) = %v, %v", p, err)
	}
	for _, in := range []any{(*P)(nil), nil, "P"} {
		_, err := shakedown.ParamsAs[P](in, "x probe")
		if !shakedown.IsKind(err, shakedown.KindInternal) || !strings.HasPrefix(err.Error(), "x probe: parameters are ") {
			t.Errorf("ParamsAs(%#v): %v, want an internal error naming x probe", in, err)
		}
	}
}

func TestKindOfStatusReadsHTTPStatusBackwards(t *testing.T) {
	for _, k := range []shakedown.Kind{shakedown.KindInvalid, shakedown.KindNotFound, shakedown.KindPermission,
		shakedown.KindConflict, shakedown.KindUnavailable, shakedown.KindInternal} {
		if got := shakedown.KindOfStatus(k.HTTPStatus()); got != k {
			t.Errorf("KindOfStatus(%d) = %v, want %v", k.HTTPStatus(), got, k)
		}
	}
	for status, want := range map[int]shakedown.Kind{401: shakedown.KindPermission, 304: shakedown.KindConflict, 502: shakedown.KindInternal} {
		if got := shakedown.KindOfStatus(status); got != want {
			t.Errorf("KindOfStatus(%d) = %v, want %v", status, got, want)
		}
	}
}

func FuzzParseSSHConnection(f *testing.F) {
	f.Add("10.200.0.1 47880 10.200.0.10 22")
	f.Add("::ffff:10.0.0.1 5 fe80::1 22")
	f.Add("a b c d")
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := shakedown.ParseSSHConnection(s)
		if !ok {
			return
		}
		if !c.Local.IsValid() || !c.Peer.IsValid() || c.Local.Addr().Is4In6() || c.Peer.Addr().Is4In6() {
			t.Fatalf("%q parsed as %+v", s, c)
		}
		again, ok := shakedown.ParseSSHConnection(fmt.Sprintf("%s %d %s %d", c.Peer.Addr(), c.Peer.Port(), c.Local.Addr(), c.Local.Port()))
		if !ok || again != c {
			t.Fatalf("%q: %+v does not read back (%+v, %v)", s, c, again, ok)
		}
	})
}

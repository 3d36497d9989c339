//go:build linux

package main

import (
	"math"
	"testing"
)

// A ratio is taken within each run and the median of them judged; a run whose figures
// are not both above zero (a negative added latency) has none, and with none at all the
// median is NaN, not a verdict.
func TestPairedRatio(t *testing.T) {
	for _, c := range []struct {
		a, b   []float64
		median float64
		each   string
	}{
		{[]float64{2, 6, 3}, []float64{1, 2, 3}, 2, "2.00 3.00 1.00"},
		{[]float64{-0.8, 0.5, 0.4}, []float64{-0.6, 1, 0.2}, 2, "— 0.50 2.00"},
		{[]float64{0.3, -0.1}, []float64{-0.2, 0.4}, math.NaN(), "— —"},
	} {
		median, each := pairedRatio(c.a, c.b)
		if each != c.each || median != c.median && !(math.IsNaN(median) && math.IsNaN(c.median)) {
			t.Errorf("pairedRatio(%v, %v) = %v, %q; want %v, %q", c.a, c.b, median, each, c.median, c.each)
		}
	}
}

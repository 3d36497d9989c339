package load

import (
	"math"
	"time"
)

// never is the offset of a request due later than a time.Duration reaches (292 years): a
// rate low enough ("0.000000001/h") makes the second request so; its offset saturates here
// rather than wrapping around to the past.
const never = time.Duration(math.MaxInt64)

// offset returns when the i-th request (from 0) is due, counted from the start of the load,
// for an open model at rate requests per second that rises linearly from zero over ramp;
// never when that is beyond what a time.Duration holds.
//
// The number of requests due by time t is N(t) = rate·t²/(2·ramp) during the ramp and
// rate·ramp/2 + rate·(t−ramp) after it; offset is its inverse, so the i-th request is due at
// the moment N reaches i. The first request is due at once.
func offset(rate float64, ramp time.Duration, i int64) time.Duration {
	n := float64(i)
	r := ramp.Seconds()
	var s float64
	switch inRamp := rate * r / 2; {
	case n < inRamp:
		s = math.Sqrt(2 * r * n / rate)
	default:
		s = r + (n-inRamp)/rate
	}
	if ns := s * float64(time.Second); ns < float64(never) { // false for NaN too
		return time.Duration(ns)
	}
	return never
}

// dueBefore returns the index of the first request, from index from on, that is due at or
// after t (an offset from the start of the load): requests from..dueBefore-1 are due
// before t. It looks offsets up by doubling then halving, so that a backlog of billions of
// requests costs a few dozen of them.
func dueBefore(rate float64, ramp time.Duration, from int64, t time.Duration) int64 {
	if offset(rate, ramp, from) >= t {
		return from
	}
	lo, step := from, int64(1) // offset(lo) < t
	hi := lo + step
	for offset(rate, ramp, hi) < t {
		lo = hi
		if step < 1<<61 {
			step *= 2
		}
		hi = lo + step
	}
	for hi-lo > 1 { // offset(lo) < t <= offset(hi)
		mid := lo + (hi-lo)/2
		if offset(rate, ramp, mid) < t {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

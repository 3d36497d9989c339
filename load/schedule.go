package load

import (
	"math"
	"time"
)

// offset returns when the i-th request (from 0) is due, counted from the start of the load,
// for an open model at rate requests per second that rises linearly from zero over ramp.
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
	return time.Duration(s * float64(time.Second))
}

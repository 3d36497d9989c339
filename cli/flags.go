package cli

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// The numeric flags of every command read their value as files do (shakedown.ParseInteger,
// ParseNumber, ParseDuration: decimal only, no NaN, infinities, underscores or hexadecimal)
// and refuse, as a usage error (exit 2), a value outside the range the flag means something in.
// (pflag's own Int, Float64 and Duration flags take 0x10, NaN and -1s.)

// intFlag is a whole-number flag within [lo, hi].
type intFlag[T int | int64] struct {
	v      *T
	lo, hi int64 // within T's range
}

func (f intFlag[T]) Set(s string) error {
	n, err := shakedown.ParseInteger(s)
	switch {
	case err != nil:
		return fmt.Errorf("want a whole number in decimal digits")
	case n < f.lo || n > f.hi:
		return fmt.Errorf("want a whole number from %d to %d", f.lo, f.hi)
	}
	*f.v = T(n)
	return nil
}

func (f intFlag[T]) String() string { return strconv.FormatInt(int64(*f.v), 10) }
func (f intFlag[T]) Type() string   { return "int" }

// numberFlag is a decimal-number flag within [lo, hi].
type numberFlag struct {
	v      *float64
	lo, hi float64
}

func (f numberFlag) Set(s string) error {
	n, err := shakedown.ParseNumber(s)
	if err != nil || n < f.lo || n > f.hi {
		return fmt.Errorf("want a number from %g to %g", f.lo, f.hi)
	}
	*f.v = n
	return nil
}

func (f numberFlag) String() string { return strconv.FormatFloat(*f.v, 'f', -1, 64) }
func (f numberFlag) Type() string   { return "number" }

// durationFlag is a duration flag, Go style or ISO-8601, never negative; zero only when
// zero means something for the flag (no limit, the default).
type durationFlag struct {
	v    *time.Duration
	zero bool
}

func (f durationFlag) Set(s string) error {
	d, err := shakedown.ParseDuration(s)
	switch {
	case err != nil:
		return err
	case d == 0 && !f.zero:
		return fmt.Errorf("want a duration above zero")
	}
	*f.v = d
	return nil
}

// String is the value as help shows it; zero is "0", the form the flag library leaves out
// of "(default …)" for a flag whose zero means no limit.
func (f durationFlag) String() string {
	if *f.v == 0 {
		return "0"
	}
	return f.v.String()
}
func (f durationFlag) Type() string { return "duration" }

// maxInt is the largest count a flag takes.
const maxInt = math.MaxInt32

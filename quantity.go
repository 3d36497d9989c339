package shakedown

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrNumber is what the errors of ParseNumber and ParseInteger wrap.
var ErrNumber = errors.New("not a decimal number")

// ParseNumber parses a finite decimal number: an optional sign, digits with an optional
// decimal point, and an optional exponent ("12", "-0.5", ".5", "1.5e3", "1E-3"). It refuses
// what strconv.ParseFloat takes beyond that — NaN, Inf, Infinity, hexadecimal floats,
// underscores between digits — and a number too large for a float64. Every number a user
// writes (in a file, a flag, a quantity such as 400ms or 2x baseline) is read by it.
func ParseNumber(s string) (float64, error) {
	if !isDecimal(s) {
		return 0, fmt.Errorf("%q: %w", s, ErrNumber)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q: %w (too large)", s, ErrNumber)
	}
	return f, nil
}

// ParseInteger parses a whole decimal number within int64: an optional sign and digits
// ("42", "-7"), no exponent, no underscores, no base prefix (0x, 0o, 0b).
func ParseInteger(s string) (int64, error) {
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("%q: %w", s, ErrNumber)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w (too large)", s, ErrNumber)
	}
	return n, nil
}

// isDecimal reports whether s is [+-] digits [. digits] [e [+-] digits], with at least one
// digit before or after the point.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	n := digits()
	if i < len(s) && s[i] == '.' {
		i++
		n += digits()
	}
	if n == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// Rate is a number of events per second, written "50/s", "3000/m", "10/ms" is refused, or a
// plain number per second.
type Rate float64

// PerSecond returns the rate in events per second.
func (r Rate) PerSecond() float64 { return float64(r) }

func (r Rate) String() string { return strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s" }

// MarshalText writes the rate per second.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads "N/s", "N/m", "N/h" or "N".
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseRate parses "50/s", "3000/m", "10/h" or a plain number per second. The rate must be
// above zero.
func ParseRate(s string) (Rate, error) {
	t := strings.TrimSpace(s)
	num, per := t, time.Second
	if i := strings.IndexByte(t, '/'); i >= 0 {
		num = strings.TrimSpace(t[:i])
		switch strings.TrimSpace(t[i+1:]) {
		case "s", "sec", "1s":
			per = time.Second
		case "m", "min", "1m":
			per = time.Minute
		case "h", "1h":
			per = time.Hour
		default:
			return 0, fmt.Errorf("invalid rate %q (want e.g. 50/s or 3000/m)", s)
		}
	}
	f, err := ParseNumber(num)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q (want e.g. 50/s or 3000/m)", s)
	}
	if !(f > 0) || f > 1e9 {
		return 0, fmt.Errorf("rate %q must be above zero", s)
	}
	return Rate(f * float64(time.Second) / float64(per)), nil
}

// Unit is what a metric measures, and so which tolerances fit it.
type Unit string

// The units of metrics.
const (
	UnitNone     Unit = ""         // a plain number
	UnitDuration Unit = "duration" // values in seconds, written 400ms, 1.5s
	UnitFraction Unit = "fraction" // values in [0,1], written 1% or 0.01
	UnitRate     Unit = "rate"     // values per second, written 50/s
)

// Relation says how a Tolerance relates to the baseline.
type Relation string

// The relations a tolerance can have to the baseline.
const (
	Absolute Relation = ""       // max: 400ms
	Factor   Relation = "factor" // max: 2x baseline
	Offset   Relation = "offset" // max: baseline + 50ms
)

// Tolerance is one bound of a metric check: an absolute value ("400ms", "1%", "50/s", "3"),
// a factor of the baseline ("2x baseline"), or an offset from it ("baseline + 50ms").
type Tolerance struct {
	Relation Relation
	Value    float64 // absolute value or offset in the unit's base (seconds, fraction, per second); factor
	Unit     Unit    // the unit the text was written in; UnitNone for a bare number or a factor
	Text     string  // as written
}

func (t Tolerance) String() string { return t.Text }

// MarshalText writes the tolerance as it was written.
func (t Tolerance) MarshalText() ([]byte, error) { return []byte(t.Text), nil }

// UnmarshalText parses a tolerance.
func (t *Tolerance) UnmarshalText(b []byte) error {
	v, err := ParseTolerance(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Bound returns the bound the tolerance sets given the baseline value of the metric.
func (t Tolerance) Bound(baseline float64) float64 {
	switch t.Relation {
	case Factor:
		return t.Value * baseline
	case Offset:
		return baseline + t.Value
	default:
		return t.Value
	}
}

// ParseTolerance parses "400ms", "1.5s", "1%", "0.01", "50/s", "2x baseline",
// "baseline + 50ms" or "baseline - 10%".
func ParseTolerance(s string) (Tolerance, error) {
	text := strings.TrimSpace(s)
	t := strings.ToLower(text)
	switch {
	case strings.HasSuffix(t, "baseline") && strings.Contains(t, "x"):
		f := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.TrimSuffix(t, "baseline")), "x"))
		v, err := ParseNumber(f)
		if err != nil || v < 0 {
			return Tolerance{}, fmt.Errorf("invalid tolerance %q (want e.g. 2x baseline)", s)
		}
		return Tolerance{Relation: Factor, Value: v, Text: text}, nil
	case strings.HasPrefix(t, "baseline"):
		rest := strings.TrimSpace(strings.TrimPrefix(t, "baseline"))
		if rest == "" {
			return Tolerance{Relation: Factor, Value: 1, Text: text}, nil
		}
		sign := 1.0
		switch rest[0] {
		case '+':
		case '-':
			sign = -1
		default:
			return Tolerance{}, fmt.Errorf("invalid tolerance %q (want e.g. baseline + 50ms)", s)
		}
		q, err := parseQuantity(strings.TrimSpace(rest[1:]))
		if err != nil {
			return Tolerance{}, fmt.Errorf("invalid tolerance %q: %v", s, err)
		}
		q.Relation, q.Value, q.Text = Offset, sign*q.Value, text
		return q, nil
	}
	q, err := parseQuantity(t)
	if err != nil {
		return Tolerance{}, fmt.Errorf("invalid tolerance %q: %v", s, err)
	}
	q.Text = text
	return q, nil
}

func parseQuantity(t string) (Tolerance, error) {
	switch {
	case t == "":
		return Tolerance{}, fmt.Errorf("empty value")
	case strings.HasSuffix(t, "%"):
		v, err := ParseNumber(strings.TrimSpace(strings.TrimSuffix(t, "%")))
		if err != nil {
			return Tolerance{}, fmt.Errorf("want a decimal number before %%")
		}
		if v < 0 || v > 100 {
			return Tolerance{}, fmt.Errorf("a percentage lies from 0%% to 100%%")
		}
		return Tolerance{Value: v / 100, Unit: UnitFraction}, nil
	case strings.Contains(t, "/"):
		r, err := ParseRate(t)
		if err != nil {
			return Tolerance{}, err
		}
		return Tolerance{Value: float64(r), Unit: UnitRate}, nil
	}
	if v, err := ParseNumber(t); err == nil {
		return Tolerance{Value: v, Unit: UnitNone}, nil
	}
	d, err := ParseDuration(t)
	if err != nil {
		return Tolerance{}, fmt.Errorf("want a duration (400ms), a percentage (1%%), a rate (50/s) or a number")
	}
	return Tolerance{Value: d.Seconds(), Unit: UnitDuration}, nil
}

// Fits reports whether a tolerance written in unit u can bound a metric measured in m. A bare
// number fits a fraction (0.01) and a plain number. (A factor of the baseline fits any
// metric: see Tolerance.Fits.)
func (u Unit) Fits(m Unit) bool {
	switch u {
	case m:
		return true
	case UnitNone:
		return m == UnitFraction || m == UnitNone
	}
	return false
}

// Fits reports whether the tolerance can bound a metric measured in m: a factor of the
// baseline fits any metric; an absolute value or an offset must be written in a unit that fits.
func (t Tolerance) Fits(m Unit) bool {
	if t.Relation == Factor {
		return true
	}
	return t.Unit.Fits(m)
}

// InRange says, when it is not, why the tolerance cannot bound a metric measured in m
// whatever the baseline: a fraction (the errors of a load) lies in [0, 1], so an absolute bound
// must too, and an offset from the baseline can move it by at most 1 (100%) either way. The
// tolerance must fit m (Fits).
func (t Tolerance) InRange(m Unit) error {
	if m != UnitFraction || t.Relation == Factor {
		return nil
	}
	lo := 0.0
	if t.Relation == Offset {
		lo = -1
	}
	if t.Value < lo || t.Value > 1 {
		if t.Relation == Offset {
			return fmt.Errorf("%s moves a fraction by more than 100%%", t.Text)
		}
		return fmt.Errorf("%s is not a fraction: write 0%% to 100%% or 0 to 1", t.Text)
	}
	return nil
}

// NofM is a flake-resistant window: a check breaks when at least N of its last M samples
// breach. The zero value means 1 of 1.
type NofM struct {
	N, M int
}

func (w NofM) String() string {
	if w.M == 0 {
		return "1 of 1"
	}
	return fmt.Sprintf("%d of %d", w.N, w.M)
}

// MarshalText writes "N of M".
func (w NofM) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText reads "N of M" (or "N/M").
func (w *NofM) UnmarshalText(b []byte) error {
	s := strings.ReplaceAll(strings.TrimSpace(string(b)), "/", " of ")
	var n, m int
	if _, err := fmt.Sscanf(s, "%d of %d", &n, &m); err != nil || n < 1 || m < n || m > 10000 {
		return fmt.Errorf("invalid window %q (want N of M with 1 ≤ N ≤ M)", string(b))
	}
	w.N, w.M = n, m
	return nil
}

// NumberAndUnit splits a quantity such as "1.5 GiB" or "512kbit" into its leading decimal
// number and the unit after it, lower-cased, for parsers of units the caller knows.
func NumberAndUnit(s string) (float64, string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(t, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	f, err := ParseNumber(num)
	return f, unit, err
}

// byteUnits are the multipliers of a byte count's unit: k, m, g, t are powers of 1000, ki, mi,
// gi, ti powers of 1024; a trailing b is optional.
var byteUnits = map[string]float64{"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30, "ti": 1 << 40, "tib": 1 << 40}

// ParseBytes parses a byte count: 1500, 64kb, 64k, 1mb, 2kib, 1mib, 1.5gib (k = 1000,
// ki = 1024), case-insensitive.
func ParseBytes(s string) (uint64, error) {
	f, unit, err := NumberAndUnit(s)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want e.g. 1500, 64kb or 1mib", s)
	}
	m, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	if f*m > 1<<62 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return uint64(f * m), nil
}

package shakedown

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// Duration is a time.Duration written in files as Go does ("250ms", "1m30s") or as ISO-8601
// ("PT1M30S"). A bare 0 is also accepted.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the Go form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads either form.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

var isoDuration = regexp.MustCompile(`^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// ParseDuration parses a Go duration ("1m30s") or an ISO-8601 duration of days, hours,
// minutes and seconds ("PT1M30S", "P1DT2H"). Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if s == "0" {
		return 0, nil
	}
	if s[0] == 'P' || s[0] == 'p' {
		m := isoDuration.FindStringSubmatch(strings.ToUpper(s))
		if m == nil || s == "P" || strings.HasSuffix(strings.ToUpper(s), "T") {
			return 0, fmt.Errorf("invalid ISO-8601 duration %q (want e.g. PT1M30S)", s)
		}
		var total float64
		for i, unit := range []float64{24 * 3600, 3600, 60, 1} {
			if m[i+1] == "" {
				continue
			}
			f, err := ParseNumber(m[i+1])
			if err != nil {
				return 0, fmt.Errorf("invalid ISO-8601 duration %q", s)
			}
			total += f * unit
		}
		if total*float64(time.Second) > math.MaxInt64 {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return time.Duration(total * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 250ms, 2m or PT2M)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}

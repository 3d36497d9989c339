package shakedown

import (
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

// SelectMode says how a Selection narrows a target's instances.
type SelectMode string

// The selection modes.
const (
	SelectAll     SelectMode = "all"
	SelectCount   SelectMode = "count"
	SelectPercent SelectMode = "percent"
)

// Selection narrows the instances a target resolves to: all of them, count(N) of them, or
// percent(P) of them (rounded up, at least one), picked at random with the run's seed.
type Selection struct {
	Mode    SelectMode
	Count   int
	Percent float64
}

func (s Selection) String() string {
	switch s.Mode {
	case SelectCount:
		return fmt.Sprintf("count(%d)", s.Count)
	case SelectPercent:
		return fmt.Sprintf("percent(%s)", strconv.FormatFloat(s.Percent, 'f', -1, 64))
	default:
		return "all"
	}
}

// MarshalText writes the selection as it is written in files.
func (s Selection) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the selection.
func (s *Selection) UnmarshalText(b []byte) error {
	v, err := ParseSelection(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

var selectionRE = regexp.MustCompile(`^(count|percent)\(\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*\)$`)

// ParseSelection parses "all", "count(N)" with N ≥ 1, or "percent(P)" with 0 < P ≤ 100. The
// empty string means all.
func ParseSelection(text string) (Selection, error) {
	t := strings.TrimSpace(text)
	if t == "" || t == "all" {
		return Selection{Mode: SelectAll}, nil
	}
	m := selectionRE.FindStringSubmatch(t)
	if m == nil {
		return Selection{}, fmt.Errorf("invalid selection %q (want all, count(N) or percent(P))", text)
	}
	switch m[1] {
	case "count":
		n, err := strconv.Atoi(m[2])
		if err != nil || n < 1 {
			return Selection{}, fmt.Errorf("invalid selection %q: count must be a whole number ≥ 1", text)
		}
		return Selection{Mode: SelectCount, Count: n}, nil
	default:
		p, err := ParseNumber(m[2])
		if err != nil || p <= 0 || p > 100 {
			return Selection{}, fmt.Errorf("invalid selection %q: percent must lie in (0, 100]", text)
		}
		return Selection{Mode: SelectPercent, Percent: p}, nil
	}
}

// Size returns how many of n instances the selection takes.
func (s Selection) Size(n int) int {
	switch s.Mode {
	case SelectCount:
		return min(s.Count, n)
	case SelectPercent:
		if n == 0 {
			return 0
		}
		return max(1, min(n, int(math.Ceil(float64(n)*s.Percent/100-1e-9))))
	default:
		return n
	}
}

// Select picks the instances the selection takes from all, at random with seed for count and
// percent, keeping their original order. The same seed and instances give the same pick.
func Select[T any](s Selection, all []T, seed int64) []T {
	k := s.Size(len(all))
	if k == len(all) {
		return append([]T(nil), all...)
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x5ea1ec7))
	idx := r.Perm(len(all))[:k]
	picked := make([]bool, len(all))
	for _, i := range idx {
		picked[i] = true
	}
	out := make([]T, 0, k)
	for i, v := range all {
		if picked[i] {
			out = append(out, v)
		}
	}
	return out
}

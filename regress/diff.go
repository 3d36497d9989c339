package regress

import (
	"github.com/shakedown-dev/shakedown"
)

// Change is one figure of a run beside the same figure of another run.
type Change struct {
	shakedown.Figure         // the run's (its Value 0 when Missing)
	Other            float64 // the other run's value (0 when OtherMissing)
	Change           float64 // Value − Other (0 when either is missing)
	Relative         float64 // Change / |Other|; ±Inf when Other is 0 and Value is not
	// Missing: the run does not hold the figure, only the other does; OtherMissing: only the
	// run holds it. Neither has a change.
	Missing, OtherMissing bool
}

// Diff pairs the figures of run with those of other, in run's order; then come, in other's
// order, those only other holds (Missing). A figure only run holds is there too
// (OtherMissing): a figure one run lacks is as telling as one that changed.
func Diff(run, other []shakedown.Figure) []Change {
	byKey := make(map[string]float64, len(other))
	for _, f := range other {
		if _, dup := byKey[f.Key()]; !dup {
			byKey[f.Key()] = f.Value
		}
	}
	seen := map[string]bool{}
	var out []Change
	for _, f := range run {
		if seen[f.Key()] {
			continue
		}
		seen[f.Key()] = true
		o, ok := byKey[f.Key()]
		if !ok {
			out = append(out, Change{Figure: f, OtherMissing: true})
			continue
		}
		c := Change{Figure: f, Other: o, Change: f.Value - o}
		c.Relative = relative(c.Change, o)
		out = append(out, c)
	}
	for _, f := range other {
		if seen[f.Key()] {
			continue
		}
		seen[f.Key()] = true
		g := f
		g.Value = 0
		out = append(out, Change{Figure: g, Other: f.Value, Missing: true})
	}
	return out
}

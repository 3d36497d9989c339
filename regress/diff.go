package regress

import (
	"github.com/shakedown-dev/shakedown"
)

// Change is one figure of a run beside the same figure of another run.
type Change struct {
	shakedown.Figure         // the run's
	Other            float64 // the other run's value
	Change           float64 // Value − Other
	Relative         float64 // Change / |Other|; ±Inf when Other is 0 and Value is not
}

// Diff pairs the figures of run with those of other, in run's order; a figure only one of
// them holds is left out.
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
		o, ok := byKey[f.Key()]
		if !ok || seen[f.Key()] {
			continue
		}
		seen[f.Key()] = true
		c := Change{Figure: f, Other: o, Change: f.Value - o}
		c.Relative = relative(c.Change, o)
		out = append(out, c)
	}
	return out
}

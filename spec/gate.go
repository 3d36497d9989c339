package spec

import (
	"path"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/shakedown-dev/shakedown"
)

// gateUnits are the keys of gate.floors: the units of figures, with "number" for a plain one.
var gateUnits = map[string]string{"ms": shakedown.FigureMs, "ratio": shakedown.FigureRatio,
	"rps": shakedown.FigureRPS, "number": shakedown.FigureNone}

// gate decodes the gate: block, the regression gate's settings for this experiment:
//
//	gate:
//	  min_runs: 5          # fewer reference runs never regress
//	  max_runs: 10         # the newest this many are the reference
//	  tolerance: 20%       # or 0.2: how much worse than the references is material
//	  floors: {ms: 5, ratio: 0.01, rps: 1, number: 0}
//	  ignore: ["*.throughput", "checkout.latency.p50 during revert"]
func (d *decoder) gate(n ast.Node, p string) *shakedown.GateSpec {
	es, ok := d.mapping(n, p)
	if !ok {
		return nil
	}
	g := &shakedown.GateSpec{Pos: d.pos(n)}
	fs := d.fields(es, "min_runs", "max_runs", "tolerance", "floors", "ignore")
	for _, k := range []struct {
		key string
		dst *int
	}{{"min_runs", &g.MinRuns}, {"max_runs", &g.MaxRuns}} {
		e, ok := fs[k.key]
		if !ok || isNull(d.resolve(e.val, e.path)) {
			continue
		}
		if v, ok := d.integer(e.val, e.path); ok {
			if v < 1 || v > 1000 {
				d.addf(e.val, e.path, "%s must be a whole number from 1 to 1000, not %d", k.key, v)
				continue
			}
			*k.dst = int(v)
		}
	}
	if g.MinRuns > 0 && g.MaxRuns > 0 && g.MaxRuns < g.MinRuns {
		e := fs["max_runs"]
		d.addf(e.val, e.path, "max_runs %d is below min_runs %d: the gate could never judge", g.MaxRuns, g.MinRuns)
	}
	if e, ok := fs["tolerance"]; ok && !isNull(d.resolve(e.val, e.path)) {
		if v, ok := d.share(e.val, e.path); ok {
			g.Tolerance = &v
		}
	}
	if e, ok := fs["floors"]; ok {
		g.Floors = d.gateFloors(e.val, e.path)
	}
	if e, ok := fs["ignore"]; ok {
		items, _ := d.seq(e.val, e.path)
		for i, it := range items {
			ip := index(e.path, i)
			s, ok := d.scalarText(it, ip, "figure name or pattern")
			if !ok {
				continue
			}
			if _, err := path.Match(s, ""); err != nil || strings.TrimSpace(s) == "" {
				d.addf(it, ip, "%q is not a figure name or pattern (e.g. checkout.latency.p99, *.throughput, \"*.errors during inject\")", s)
				continue
			}
			g.Ignore = append(g.Ignore, s)
		}
	}
	return g
}

// share reads a non-negative share written as a percentage ("20%") or a number (0.2).
func (d *decoder) share(n ast.Node, p string) (float64, bool) {
	r := d.resolve(n, p)
	if _, isStr := r.(*ast.StringNode); !isStr {
		v, ok := d.number(r, p)
		if ok && v < 0 {
			d.addf(r, p, "tolerance must not be negative, not %g", v)
			return 0, false
		}
		return v, ok
	}
	t, ok := d.str(r, p)
	if !ok {
		return 0, false
	}
	num, pct := strings.CutSuffix(strings.TrimSpace(t), "%")
	v, err := shakedown.ParseNumber(strings.TrimSpace(num))
	if err != nil {
		d.addf(r, p, "want a percentage (20%%) or a number (0.2), not %q", t)
		return 0, false
	}
	if pct {
		v /= 100
	}
	if v < 0 {
		d.addf(r, p, "tolerance must not be negative, not %s", t)
		return 0, false
	}
	return v, true
}

// gateFloors decodes gate.floors: a noise floor, in the unit's own terms, per figure unit.
func (d *decoder) gateFloors(n ast.Node, p string) map[string]float64 {
	es, ok := d.mapping(n, p)
	if !ok {
		return nil
	}
	fs := d.fields(es, "ms", "ratio", "rps", "number")
	out := map[string]float64{}
	for _, e := range es {
		if _, known := fs[e.key]; !known || isNull(d.resolve(e.val, e.path)) {
			continue
		}
		v, ok := d.number(e.val, e.path)
		if !ok {
			continue
		}
		if v < 0 || e.key == "ratio" && v > 1 {
			d.addf(e.val, e.path, "floor must lie in %s, not %g", map[bool]string{true: "[0, 1]", false: "[0, ∞)"}[e.key == "ratio"], v)
			continue
		}
		out[gateUnits[e.key]] = v
	}
	return out
}

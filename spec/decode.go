package spec

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/shakedown-dev/shakedown"
)

var (
	experimentName = shakedown.ExperimentName
	// Target and fault names end up in the names of what adapters create; load names end
	// up in metric names, where a dot would be ambiguous.
	targetName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
	faultName  = targetName
	loadName   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`)
	httpMethod = regexp.MustCompile(`^[A-Za-z]+$`)
)

var topFields = []string{"version", "name", "description", "labels", "targets", "load",
	"steady_state", "phases", "faults", "stop_if", "expect", "blast_radius", "lock", "gate"}

// file1 decodes the experiment in src. The experiment is only meaningful when no problem
// was recorded.
func (d *decoder) file1(src []byte) *shakedown.Experiment {
	x := &shakedown.Experiment{Baseline: shakedown.DefaultBaseline, Recovery: shakedown.DefaultRecovery}
	root := d.parse(src)
	if root == nil {
		return x
	}
	es, ok := d.mapping(root, "")
	if !ok {
		return x
	}
	if len(es) == 0 {
		d.addf(root, "", "the file holds no experiment")
		return x
	}
	fs := d.fields(es, topFields...)
	d.required(fs, root, "", "version", "name", "faults")

	if e, ok := fs["version"]; ok {
		if v, ok := d.integer(e.val, e.path); ok {
			if v != 1 {
				d.addf(e.val, e.path, "unknown version %d (want 1)", v)
			}
			x.Version = int(v)
		}
	}
	if e, ok := fs["name"]; ok {
		if s, ok := d.str(e.val, e.path); ok && !isNull(d.resolve(e.val, e.path)) {
			if !experimentName.MatchString(s) {
				d.addf(e.val, e.path, "name %q must be lower case letters, digits, '.', '_' and '-', starting with a letter or digit", s)
			}
			x.Name = s
		}
	}
	if e, ok := fs["description"]; ok {
		x.Description, _ = d.str(e.val, e.path)
	}
	if e, ok := fs["labels"]; ok {
		x.Labels = d.stringMap(e.val, e.path)
	}
	kinds := map[string]string{} // target name → kind ("" when unknown)
	if e, ok := fs["targets"]; ok {
		x.Targets = d.targets(e.val, e.path, kinds)
	}
	d.kinds = kinds
	loads := map[string]bool{}
	if e, ok := fs["load"]; ok {
		x.Loads = d.loads(e.val, e.path, loads)
	}
	if e, ok := fs["phases"]; ok {
		d.phases(e.val, e.path, x)
	}
	if e, ok := fs["steady_state"]; ok {
		x.SteadyState = d.checks(e.val, e.path, loads, x)
	}
	if e, ok := fs["faults"]; ok {
		x.Faults = d.faults(e, kinds)
	}
	if e, ok := fs["stop_if"]; ok {
		x.StopIf = d.checks(e.val, e.path, loads, nil)
	}
	if e, ok := fs["expect"]; ok {
		x.Expect = d.expectations(e.val, e.path)
	}
	if e, ok := fs["blast_radius"]; ok {
		d.blastRadius(e.val, e.path, &x.BlastRadius)
	}
	if e, ok := fs["lock"]; ok {
		x.Lock = d.lock(e.val, e.path)
	}
	if e, ok := fs["gate"]; ok {
		x.Gate = d.gate(e.val, e.path)
	}
	return x
}

// lockName is what a lock may be called: it names a shared environment ("staging",
// "eu-west/staging") in the history store's locks table.
// (Made on first use: a {0,127} repetition is costly to compile, see journal.)
var lockName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._:/-]{0,127}$`)
})

// lock reads the name of the lock a run takes before it injects anything.
func (d *decoder) lock(n ast.Node, path string) string {
	s, ok := d.str(n, path)
	if !ok || isNull(d.resolve(n, path)) {
		return ""
	}
	if !lockName().MatchString(s) {
		d.addf(n, path, "lock %q must be 1 to 128 letters, digits, '.', '_', ':', '/' and '-', starting with a letter, digit or '_'", s)
	}
	return s
}

func (d *decoder) phases(n ast.Node, path string, x *shakedown.Experiment) {
	es, ok := d.mapping(n, path)
	if !ok {
		return
	}
	fs := d.fields(es, "baseline", "recovery")
	for _, p := range []struct {
		key string
		dst *time.Duration
	}{{"baseline", &x.Baseline}, {"recovery", &x.Recovery}} {
		e, ok := fs[p.key]
		if !ok || isNull(d.resolve(e.val, e.path)) {
			continue
		}
		// Zero is allowed: a baseline of 0 injects at once (nothing is measured first), a
		// recovery of 0 does not judge recovery.
		if v, ok := d.duration(e.val, e.path); ok && v > shakedown.MaxSchedule {
			d.addf(e.val, e.path, "%s %s is longer than %s, the longest a phase may last", p.key, shakedown.FormatDuration(v), shakedown.FormatDuration(shakedown.MaxSchedule))
		} else if ok {
			*p.dst = v
		}
	}
}

func (d *decoder) blastRadius(n ast.Node, path string, b *shakedown.BlastRadius) {
	es, ok := d.mapping(n, path)
	if !ok {
		return
	}
	fs := d.fields(es, "max_targets", "max_percent")
	if e, ok := fs["max_targets"]; ok {
		if v, ok := d.integer(e.val, e.path); ok {
			if v < 1 || v > 1<<31 {
				d.addf(e.val, e.path, "max_targets must be a whole number ≥ 1, not %d", v)
			}
			b.MaxTargets = int(v)
		}
	}
	if e, ok := fs["max_percent"]; ok {
		if v, ok := d.number(e.val, e.path); ok {
			if !(v > 0 && v <= 100) {
				d.addf(e.val, e.path, "max_percent must lie in (0, 100], not %g", v)
			}
			b.MaxPercent = v
		}
	}
}

// targets decodes the targets section and fills kinds with each declared name's kind.
func (d *decoder) targets(n ast.Node, path string, kinds map[string]string) []*shakedown.TargetSpec {
	es, ok := d.mapping(n, path)
	if !ok {
		return nil
	}
	var out []*shakedown.TargetSpec
	for _, e := range es {
		kinds[e.key] = ""
		if !targetName.MatchString(e.key) {
			d.addf(e.kn, e.path, "target name %q must be letters, digits, '.', '_' and '-'", e.key)
		}
		t := &shakedown.TargetSpec{Name: e.key, Pos: d.pos(e.kn)}
		out = append(out, t)
		body, ok := d.mapping(e.val, e.path)
		if !ok {
			continue
		}
		var kindEntry *entry
		for _, f := range body {
			if f.key == "share" {
				t.Share, _ = d.boolean(f.val, f.path)
				continue
			}
			if f.key == "select" {
				s, ok := d.str(f.val, f.path)
				if !ok {
					continue
				}
				sel, err := shakedown.ParseSelection(s)
				if err != nil {
					d.addf(f.val, f.path, "%v", err)
					continue
				}
				t.Select = sel
				continue
			}
			k, known := d.reg.Target(f.key)
			if !known {
				d.addf(f.kn, f.path, "unknown target kind %q%s", f.key, hint(f.key, d.targetNames(), "want "+d.targetKinds()))
				continue
			}
			if kindEntry != nil {
				d.addf(f.kn, f.path, "a target has one kind; this one is already %s (line %d)", kindEntry.key, d.pos(kindEntry.kn).Line)
				continue
			}
			kindEntry = &f
			t.Kind = k.Name
			kinds[e.key] = k.Name
			t.Params = d.params(k.Params, f.val, f.kn, f.path, "target kind "+k.Name)
		}
		if kindEntry == nil && !slices.ContainsFunc(body, func(f entry) bool { return f.key != "select" && f.key != "share" }) {
			d.addf(e.kn, e.path, "target %s needs a kind: one of %s", e.key, d.targetKinds())
		}
	}
	return out
}

func (d *decoder) targetKinds() string { return orNone(d.targetNames()) }

func (d *decoder) targetNames() []string {
	var names []string
	for _, k := range d.reg.Targets() {
		names = append(names, k.Name)
	}
	return names
}

func (d *decoder) probeTypes() string { return orNone(d.probeNames()) }

func (d *decoder) probeNames() []string {
	var names []string
	for _, p := range d.reg.Probes() {
		names = append(names, p.Name)
	}
	return names
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none is registered"
	}
	return strings.Join(names, ", ")
}

func (d *decoder) loads(n ast.Node, path string, names map[string]bool) []*shakedown.LoadSpec {
	es, ok := d.mapping(n, path)
	if !ok {
		return nil
	}
	var out []*shakedown.LoadSpec
	for _, e := range es {
		names[e.key] = true
		if !loadName.MatchString(e.key) {
			d.addf(e.kn, e.path, "load name %q must be letters, digits, '_' and '-'", e.key)
		}
		l := &shakedown.LoadSpec{Name: e.key, Pos: d.pos(e.kn)}
		out = append(out, l)
		body, ok := d.mapping(e.val, e.path)
		if !ok {
			continue
		}
		fs := d.fields(body, "url", "method", "headers", "body", "rate", "ramp", "timeout")
		d.required(fs, e.val, e.path, "url", "rate")
		if f, ok := fs["url"]; ok && !isNull(d.resolve(f.val, f.path)) {
			l.URL, _ = d.httpURL(f.val, f.path)
		}
		if f, ok := fs["method"]; ok {
			if s, ok := d.str(f.val, f.path); ok && s != "" {
				if !httpMethod.MatchString(s) {
					d.addf(f.val, f.path, "invalid HTTP method %q", s)
				}
				l.Method = strings.ToUpper(s)
			}
		}
		if f, ok := fs["headers"]; ok {
			l.Headers = d.headers(f.val, f.path)
		}
		if f, ok := fs["body"]; ok {
			l.Body, _ = d.str(f.val, f.path)
		}
		if f, ok := fs["rate"]; ok && !isNull(d.resolve(f.val, f.path)) {
			if s, ok := d.scalarText(f.val, f.path, "rate such as 50/s"); ok {
				r, err := shakedown.ParseRate(s)
				if err != nil {
					d.addf(f.val, f.path, "%v", err)
				}
				l.Rate = r
			}
		}
		if f, ok := fs["ramp"]; ok {
			l.Ramp, _ = d.duration(f.val, f.path)
		}
		if f, ok := fs["timeout"]; ok {
			l.Timeout, _ = d.duration(f.val, f.path)
		}
	}
	return out
}

// scalarText is str for values that must be scalars.
func (d *decoder) scalarText(n ast.Node, path, want string) (string, bool) {
	r := d.resolve(n, path)
	switch r.(type) {
	case nil:
		return "", false
	case *ast.MappingNode, *ast.SequenceNode, *ast.BoolNode:
		d.addf(r, path, "want a %s, not %s", want, kindName(r))
		return "", false
	}
	return d.str(r, path)
}

// named is the first occurrence of a name in a list, for duplicate reports.
type named struct{ line int }

// itemName reads the required, unique name of list item i.
func (d *decoder) itemName(fs map[string]entry, item ast.Node, path string, seen map[string]named) string {
	e, ok := fs["name"]
	if !ok || isNull(d.resolve(e.val, e.path)) {
		d.required(fs, item, path, "name")
		return ""
	}
	s, ok := d.str(e.val, e.path)
	if !ok {
		return ""
	}
	if strings.TrimSpace(s) == "" {
		d.addf(e.val, e.path, "name must not be empty")
		return s
	}
	if first, dup := seen[s]; dup {
		d.addf(e.val, e.path, "duplicate name %q (first at line %d)", s, first.line)
		return s
	}
	seen[s] = named{line: d.pos(e.val).Line}
	return s
}

// positiveDuration reads the duration of field k, which must be above zero when given. given
// is false when the field is absent or null.
func (d *decoder) positiveDuration(fs map[string]entry, k string) (v time.Duration, given bool) {
	e, ok := fs[k]
	if !ok || isNull(d.resolve(e.val, e.path)) {
		return 0, false
	}
	v, ok = d.duration(e.val, e.path)
	if ok && v <= 0 {
		d.addf(e.val, e.path, "%s must be longer than zero", k)
	}
	return v, true
}

// fieldsOrProbe sorts the entries of a check or an expectation into its known fields and
// the keys naming probe types, reporting any other key with what it wants. The item must have
// either key (metric, alert) or exactly one probe: what names the item ("a check"), key and
// what key stands for ("a metric") go into the messages.
func (d *decoder) fieldsOrProbe(es []entry, known []string, want string, it ast.Node, ip, item, key, keyNoun string) (map[string]entry, []entry) {
	fs := map[string]entry{}
	var probes []entry
	bad := false
	for _, e := range es {
		switch {
		case slices.Contains(known, e.key):
			fs[e.key] = e
		case d.isProbe(e.key):
			probes = append(probes, e)
		default:
			bad = true
			d.addf(e.kn, e.path, "unknown field %q%s", e.key, hint(e.key, append(slices.Clone(known), d.probeNames()...), "want "+want))
		}
	}
	_, has := fs[key]
	switch {
	case has && len(probes) > 0:
		d.addf(probes[0].kn, probes[0].path, "%s is either %s or a probe, not both", item, keyNoun)
	case !has && len(probes) == 0 && !bad:
		d.addf(it, ip, "%s needs %s: or a probe (%s)", item, key, d.probeTypes())
	case len(probes) > 1:
		d.addf(probes[1].kn, probes[1].path, "%s has one probe; this one already has %s (line %d)", item, probes[0].key, d.pos(probes[0].kn).Line)
	}
	return fs, probes
}

var checkFields = []string{"name", "metric", "min", "max", "every", "timeout", "for", "window", "phases"}

// checks reads a list of checks. For the steady state, steady is the experiment, whose
// phases are read: a steady-state check must be sampled again after the recovery opens
// (see sampledInRecovery).
func (d *decoder) checks(n ast.Node, path string, loads map[string]bool, steady *shakedown.Experiment) []*shakedown.Check {
	items, ok := d.seq(n, path)
	if !ok {
		return nil
	}
	seen := map[string]named{}
	var out []*shakedown.Check
	for i, it := range items {
		ip := index(path, i)
		c := &shakedown.Check{Every: shakedown.DefaultEvery, Pos: d.pos(it)}
		out = append(out, c)
		es, ok := d.mapping(it, ip)
		if !ok {
			continue
		}
		fs, probes := d.fieldsOrProbe(es, checkFields,
			"metric, a probe type ("+d.probeTypes()+") or one of "+strings.Join(checkFields, ", "),
			it, ip, "a check", "metric", "a metric")
		c.Name = d.itemName(fs, it, ip, seen)
		metric, isMetric := fs["metric"]
		if isMetric {
			d.metricCheck(c, fs, metric, it, ip, loads)
		} else {
			for _, k := range []string{"min", "max"} {
				if e, ok := fs[k]; ok {
					d.addf(e.kn, e.path, "%s applies to metric checks only (a probe sets its own bounds)", k)
				}
			}
			if len(probes) > 0 {
				c.Probe = d.probe(probes[0])
			}
		}
		everyOK := true // false when every is given and wrong: it has its problem already
		if v, given := d.positiveDuration(fs, "every"); given {
			everyOK = v > 0
			if everyOK {
				c.Every = v
			}
		}
		if e, ok := fs["timeout"]; ok && c.Metric != "" && !isNull(d.resolve(e.val, e.path)) {
			d.addf(e.kn, e.path, "timeout applies to probe checks only")
		} else {
			c.Timeout, _ = d.positiveDuration(fs, "timeout")
		}
		if e, ok := fs["for"]; ok {
			c.For, _ = d.duration(e.val, e.path)
		}
		if e, ok := fs["window"]; ok && !isNull(d.resolve(e.val, e.path)) {
			if s, ok := d.scalarText(e.val, e.path, `window such as "3 of 5"`); ok {
				if err := c.Window.UnmarshalText([]byte(s)); err != nil {
					d.addf(e.val, e.path, "%v", err)
				}
			}
		}
		if e, ok := fs["phases"]; ok {
			c.Phases = d.phaseList(e.val, e.path)
		}
		if steady != nil && everyOK {
			d.sampledInRecovery(c, steady.Recovery, fs, it, ip)
		}
	}
	return out
}

// sampledInRecovery refuses a steady-state check judged in the recovery whose interval
// is not shorter than the recovery. A check is sampled as a phase opens and then every
// interval; the steady state has come back when every such check holds on a sample. One
// not sampled again before the recovery ends is judged on the moment of the revert alone
// (a metric check not even that: no request has been answered in the phase yet), and the
// run would end not restored for want of a sample, whatever the system did. (The baseline
// has no such rule: a metric check is also judged on the whole phase at its end, and a
// probe's one sample as the baseline opens is a judgment.) A recovery of zero is not
// judged.
func (d *decoder) sampledInRecovery(c *shakedown.Check, recovery time.Duration, fs map[string]entry, item ast.Node, path string) {
	if recovery <= 0 || c.Every < recovery || !c.AppliesTo(shakedown.PhaseRecovery) {
		return
	}
	node, where, whose := item, path, "the default interval"
	if e, ok := fs["every"]; ok && !isNull(d.resolve(e.val, e.path)) {
		node, where, whose = e.val, e.path, "every"
	}
	d.addf(node, where, "%s (%s) is not shorter than phases.recovery (%s): the check would be sampled as the recovery opens and never again in it, and the run would end not restored for want of a sample; sample it more often, or give the recovery more time",
		whose, shakedown.FormatDuration(c.Every), shakedown.FormatDuration(recovery))
}

func (d *decoder) isProbe(key string) bool {
	_, ok := d.reg.Probe(key)
	return ok
}

func (d *decoder) probe(e entry) *shakedown.ProbeSpec {
	pt, _ := d.reg.Probe(e.key)
	params := d.params(pt.Params, e.val, e.kn, e.path, "probe "+pt.Name)
	if o, ok := params.(interface{ OnTarget() string }); ok && o.OnTarget() != "" {
		d.probeOn(e, o.OnTarget())
	}
	return &shakedown.ProbeSpec{Type: pt.Name, Params: params}
}

// probeOn reports a probe's on: that names no declared target, or one whose instances do
// not run commands.
func (d *decoder) probeOn(e entry, target string) {
	es, _ := d.mapping(e.val, e.path)
	at := entry{kn: e.kn, val: e.val, path: child(e.path, "on")}
	for _, f := range es {
		if f.key == "on" {
			at = f
		}
	}
	kind, declared := d.kinds[target]
	if !declared {
		d.declaredTarget(at, target, d.kinds)
		return
	}
	if k, ok := d.reg.Target(kind); ok && !k.RunsCommands {
		d.addf(at.val, at.path, "target %s is a %s target, whose instances do not run commands; on: takes a hosts target", target, kind)
	}
}

// metricNames lists every metric of the declared loads.
func metricNames(loads map[string]bool) []string {
	var names []string
	for _, l := range slices.Sorted(maps.Keys(loads)) {
		for _, n := range shakedown.MetricNames() {
			names = append(names, l+"."+n)
		}
	}
	return names
}

func (d *decoder) metricCheck(c *shakedown.Check, fs map[string]entry, metric entry, item ast.Node, path string, loads map[string]bool) {
	var m shakedown.Metric
	mok := false
	if s, ok := d.str(metric.val, metric.path); ok {
		var err error
		switch m, err = shakedown.ParseMetric(s); {
		case s == "":
			d.addf(metric.kn, metric.path, "metric is required")
		case err != nil:
			if hint := suggest(s, metricNames(loads)); hint != "" {
				d.addf(metric.val, metric.path, "unknown metric %q%s", s, hint)
			} else {
				d.addf(metric.val, metric.path, "%v", err)
			}
		case !loads[m.Load]:
			d.addf(metric.val, metric.path, "metric %s names no declared load %q%s", s, m.Load, suggest(m.Load, slices.Sorted(maps.Keys(loads))))
		default:
			c.Metric = s
			mok = true
		}
	}
	_, hasMin := fs["min"]
	_, hasMax := fs["max"]
	if !hasMin && !hasMax {
		d.addf(item, path, "a metric check needs min:, max: or both")
	}
	for _, k := range []string{"min", "max"} {
		e, ok := fs[k]
		if !ok {
			continue
		}
		s, ok := d.scalarText(e.val, e.path, "tolerance such as 400ms, 1% or 2x baseline")
		if !ok {
			continue
		}
		if s == "" {
			d.addf(e.val, e.path, "%s needs a value", k)
			continue
		}
		t, err := shakedown.ParseTolerance(s)
		if err != nil {
			d.addf(e.val, e.path, "%v", err)
			continue
		}
		if mok && t.Relation != shakedown.Factor && !t.Unit.Fits(m.Unit()) {
			d.addf(e.val, e.path, "%s is %s; metric %s is measured as %s", s, unitName(t.Unit), c.Metric, unitName(m.Unit()))
			continue
		}
		if mok {
			if err := t.InRange(m.Unit()); err != nil {
				d.addf(e.val, e.path, "%v (metric %s)", err, c.Metric)
				continue
			}
		}
		if k == "min" {
			c.Min = &t
		} else {
			c.Max = &t
		}
	}
	if c.Min != nil && c.Max != nil && c.Min.Relation == c.Max.Relation && c.Min.Value > c.Max.Value {
		d.addf(fs["min"].val, fs["min"].path, "min %s is above max %s", c.Min.Text, c.Max.Text)
	}
}

func unitName(u shakedown.Unit) string {
	switch u {
	case shakedown.UnitDuration:
		return "a duration"
	case shakedown.UnitFraction:
		return "a fraction (1% or 0.01)"
	case shakedown.UnitRate:
		return "a rate (50/s)"
	default:
		return "a plain number"
	}
}

func (d *decoder) phaseList(n ast.Node, path string) []shakedown.Phase {
	items, ok := d.seq(n, path)
	if !ok {
		return nil
	}
	var out []shakedown.Phase
	for i, it := range items {
		ip := index(path, i)
		s, ok := d.scalarText(it, ip, "phase name")
		if !ok {
			continue
		}
		p := shakedown.Phase(s)
		switch {
		case !slices.Contains(shakedown.Phases, p):
			d.addf(it, ip, "unknown phase %q (want baseline, inject, revert or recovery)", s)
		case slices.Contains(out, p):
			d.addf(it, ip, "phase %s is listed twice", s)
		default:
			out = append(out, p)
		}
	}
	return out
}

// faultRef is an after: entry, kept to look for cycles once every fault is known.
type faultRef struct {
	name string
	node ast.Node
	path string
}

func (d *decoder) faults(sec entry, kinds map[string]string) []*shakedown.FaultSpec {
	items, ok := d.seq(sec.val, sec.path)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		d.addf(sec.kn, sec.path, "an experiment needs at least one fault")
		return nil
	}
	seen := map[string]named{}
	var out []*shakedown.FaultSpec
	afters := make([][]faultRef, len(items))
	timing := make([]faultTiming, len(items))
	for i, it := range items {
		ip := index(sec.path, i)
		f := &shakedown.FaultSpec{Pos: d.pos(it)}
		out = append(out, f)
		es, ok := d.mapping(it, ip)
		if !ok {
			continue
		}
		fs := d.fields(es, "name", "type", "target", "with", "duration", "after", "delay")
		f.Name = d.itemName(fs, it, ip, seen)
		if f.Name != "" && !faultName.MatchString(f.Name) {
			d.addf(fs["name"].val, fs["name"].path, "fault name %q must be letters, digits, '.', '_' and '-'", f.Name)
		}
		var ft *shakedown.FaultType
		if e, ok := fs["type"]; !ok || isNull(d.resolve(e.val, e.path)) {
			d.required(fs, it, ip, "type")
		} else if s, ok := d.str(e.val, e.path); ok {
			if ft, ok = d.reg.Fault(s); ok {
				f.Type = ft.Name
			} else {
				var names []string
				for _, t := range d.reg.Faults() {
					names = append(names, t.Name)
				}
				d.addf(e.val, e.path, "unknown fault type %q%s", s, hint(s, names, "want "+orNone(names)))
			}
		}
		d.faultTarget(f, ft, fs, it, ip, kinds)
		if ft != nil {
			var with ast.Node
			at := it
			if e, ok := fs["with"]; ok {
				with, at = e.val, e.kn
			}
			f.Params = d.params(ft.Params, with, at, child(ip, "with"), "fault type "+ft.Name)
		}
		e, hasDur := fs["duration"]
		if hasDur && isNull(d.resolve(e.val, e.path)) {
			hasDur = false
		}
		switch {
		case hasDur:
			timing[i].duration = e
			if v, ok := d.duration(e.val, e.path); ok {
				if v <= 0 && (ft == nil || !ft.OneShot) {
					d.addf(e.val, e.path, "duration must be longer than zero")
				}
				f.Duration = v
			}
		case ft != nil && !ft.OneShot:
			d.addf(it, child(ip, "duration"), "duration is required: %s lasts until it is reverted", ft.Name)
		}
		if e, ok := fs["delay"]; ok {
			f.Delay, _ = d.duration(e.val, e.path)
			timing[i].delay = e
		}
		if e, ok := fs["after"]; ok {
			refs, _ := d.seq(e.val, e.path)
			for j, r := range refs {
				rp := index(e.path, j)
				s, ok := d.scalarText(r, rp, "fault name")
				if !ok {
					continue
				}
				if slices.Contains(f.After, s) {
					d.addf(r, rp, "fault %q is listed twice", s)
					continue
				}
				f.After = append(f.After, s)
				afters[i] = append(afters[i], faultRef{name: s, node: r, path: rp})
			}
		}
	}
	if !d.checkAfter(out, afters, seen) {
		d.schedule(out, timing)
	}
	return out
}

// faultTiming is where a fault's delay and duration are written, for schedule's problems.
type faultTiming struct{ delay, duration entry }

// schedule reports each fault that starts or ends past shakedown.MaxSchedule from the inject
// phase's start, its delay and the faults it comes after counted, at the delay or duration
// that takes it past. A fault after one past the bound already is not reported again. The
// faults form no cycle.
func (d *decoder) schedule(faults []*shakedown.FaultSpec, at []faultTiming) {
	idx := map[string]int{}
	for i, f := range faults {
		if _, dup := idx[f.Name]; !dup && f.Name != "" {
			idx[f.Name] = i
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(faults))
	start := make([]time.Duration, len(faults))
	var visit func(i int) time.Duration
	visit = func(i int) time.Duration {
		if state[i] != unseen {
			return start[i]
		}
		state[i] = visiting
		f := faults[i]
		var after time.Duration
		for _, name := range f.After {
			if j, ok := idx[name]; ok {
				after = max(after, visit(j))
			}
		}
		s, _, ok := shakedown.FaultWindow(after, f.Delay, f.Duration)
		start[i], state[i] = s, done
		switch span := shakedown.FormatDuration(shakedown.MaxSchedule); {
		case ok || after > shakedown.MaxSchedule:
		case s > shakedown.MaxSchedule:
			e, chain := at[i].delay, ""
			if after > 0 {
				chain = " (after the faults it comes after, which start at " + shakedown.FormatDuration(after) + ")"
			}
			d.addf(e.val, e.path, "delay %s starts fault %s%s more than %s after the inject phase starts, the longest a fault schedule may span",
				shakedown.FormatDuration(f.Delay), f.Name, chain, span)
		default:
			e := at[i].duration
			d.addf(e.val, e.path, "duration %s ends fault %s more than %s after the inject phase starts (it starts at %s), the longest a fault schedule may span",
				shakedown.FormatDuration(f.Duration), f.Name, span, shakedown.FormatDuration(s))
		}
		return s
	}
	for i := range faults {
		visit(i)
	}
}

func (d *decoder) faultTarget(f *shakedown.FaultSpec, ft *shakedown.FaultType, fs map[string]entry, item ast.Node, path string, kinds map[string]string) {
	e, ok := fs["target"]
	if ok && isNull(d.resolve(e.val, e.path)) {
		ok = false
	}
	switch {
	case ft == nil && ok:
		// The type is unknown (reported already); the target can still be looked up.
		if s, ok := d.str(e.val, e.path); ok {
			d.declaredTarget(e, s, kinds)
		}
		return
	case ft == nil:
		return
	case !ok && len(ft.Targets) > 0:
		d.addf(item, child(path, "target"), "target is required: %s acts on a %s target", ft.Name, strings.Join(ft.Targets, " or "))
		return
	case !ok:
		return
	case len(ft.Targets) == 0:
		d.addf(e.kn, e.path, "fault type %s takes no target", ft.Name)
		return
	}
	s, ok := d.str(e.val, e.path)
	if !ok {
		return
	}
	f.Target = s
	kind, declared := kinds[s]
	switch {
	case !declared:
		d.declaredTarget(e, s, kinds)
	case kind != "" && !slices.Contains(ft.Targets, kind):
		d.addf(e.val, e.path, "target %s is a %s target; %s acts on %s", s, kind, ft.Name, strings.Join(ft.Targets, " or "))
	}
}

// declaredTarget reports a fault's target s when no target of that name is declared.
func (d *decoder) declaredTarget(e entry, s string, kinds map[string]string) {
	if _, ok := kinds[s]; ok {
		return
	}
	names := slices.Sorted(maps.Keys(kinds))
	d.addf(e.val, e.path, "target %q is not declared under targets%s", s, hint(s, names, "declared: "+orNoneDeclared(names)))
}

func orNoneDeclared(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// checkAfter reports after: entries that name no fault or the fault itself, and every cycle
// of the fault graph, at the entry that closes it. It says whether there is a cycle.
func (d *decoder) checkAfter(faults []*shakedown.FaultSpec, afters [][]faultRef, seen map[string]named) (cycle bool) {
	idx := map[string]int{}
	for i, f := range faults {
		if _, dup := idx[f.Name]; !dup && f.Name != "" {
			idx[f.Name] = i
		}
	}
	edges := make([][]int, len(faults))
	refs := make([][]faultRef, len(faults))
	for i, rs := range afters {
		for _, r := range rs {
			j, ok := idx[r.name]
			switch {
			case r.name == faults[i].Name:
				d.addf(r.node, r.path, "a fault cannot come after itself")
			case !ok:
				d.addf(r.node, r.path, "no fault is called %q%s", r.name, suggest(r.name, slices.Sorted(maps.Keys(idx))))
			default:
				edges[i] = append(edges[i], j)
				refs[i] = append(refs[i], r)
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(faults))
	var stack []int
	var visit func(i int)
	visit = func(i int) {
		color[i] = grey
		stack = append(stack, i)
		for k, j := range edges[i] {
			switch color[j] {
			case white:
				visit(j)
			case grey:
				at := slices.Index(stack, j)
				var names []string
				for _, s := range stack[at:] {
					names = append(names, faults[s].Name)
				}
				names = append(names, faults[j].Name)
				r := refs[i][k]
				d.addf(r.node, r.path, "after: forms a cycle: %s", strings.Join(names, " → "))
				cycle = true
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
	}
	for i := range faults {
		if color[i] == white {
			visit(i)
		}
	}
	return cycle
}

var (
	alertExpectFields = []string{"name", "alert", "fires_within", "resolves_within"}
	probeExpectFields = []string{"name", "recovers_within"}
)

func (d *decoder) expectations(n ast.Node, path string) []*shakedown.Expectation {
	items, ok := d.seq(n, path)
	if !ok {
		return nil
	}
	seen := map[string]named{}
	var out []*shakedown.Expectation
	for i, it := range items {
		ip := index(path, i)
		x := &shakedown.Expectation{Pos: d.pos(it)}
		out = append(out, x)
		es, ok := d.mapping(it, ip)
		if !ok {
			continue
		}
		fs, probes := d.fieldsOrProbe(es, append(slices.Clone(alertExpectFields), probeExpectFields...),
			"alert, a probe type ("+d.probeTypes()+"), fires_within, resolves_within or recovers_within",
			it, ip, "an expectation", "alert", "an alert")
		x.Name = d.itemName(fs, it, ip, seen)
		alert, isAlert := fs["alert"]
		var fires, resolves, recovers bool
		x.FiresWithin, fires = d.positiveDuration(fs, "fires_within")
		x.ResolvesWithin, resolves = d.positiveDuration(fs, "resolves_within")
		x.RecoversWithin, recovers = d.positiveDuration(fs, "recovers_within")
		switch {
		case isAlert && len(probes) > 0:
			// reported above; its timings cannot be judged
		case isAlert:
			x.Alert = d.alert(alert)
			if !fires && !resolves {
				d.addf(it, ip, "an alert expectation needs fires_within:, resolves_within: or both")
			}
			if recovers {
				d.addf(fs["recovers_within"].kn, fs["recovers_within"].path, "recovers_within applies to probe expectations; an alert has fires_within and resolves_within")
			}
		case len(probes) > 0:
			x.Probe = d.probe(probes[0])
			if !recovers {
				d.addf(it, child(ip, "recovers_within"), "recovers_within is required with a probe")
			}
			for _, k := range []string{"fires_within", "resolves_within"} {
				if e, ok := fs[k]; ok {
					d.addf(e.kn, e.path, "%s applies to alert expectations; a probe has recovers_within", k)
				}
			}
		}
	}
	return out
}

func (d *decoder) alert(e entry) *shakedown.AlertSpec {
	a := &shakedown.AlertSpec{}
	es, ok := d.mapping(e.val, e.path)
	if !ok {
		return a
	}
	fs := d.fields(es, "prometheus", "alertmanager", "name", "labels")
	d.required(fs, e.val, e.path, "name")
	if f, ok := fs["name"]; ok {
		var ok bool
		if a.Name, ok = d.str(f.val, f.path); ok && strings.TrimSpace(a.Name) == "" && !isNull(d.resolve(f.val, f.path)) {
			d.addf(f.val, f.path, "name must not be empty")
		}
	}
	if f, ok := fs["labels"]; ok {
		a.Labels = d.stringMap(f.val, f.path)
	}
	p, hasP := fs["prometheus"]
	m, hasM := fs["alertmanager"]
	switch {
	case hasP && hasM:
		d.addf(m.kn, m.path, "an alert is read from prometheus or alertmanager, not both")
	case !hasP && !hasM:
		d.addf(e.kn, e.path, "an alert needs prometheus: or alertmanager: (a URL)")
	}
	if hasP {
		a.Prometheus, _ = d.httpURL(p.val, p.path)
	}
	if hasM {
		a.Alertmanager, _ = d.httpURL(m.val, m.path)
	}
	return a
}

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// target is one target, resolved and selected, or with the reason it could not be.
type target struct {
	spec     *shakedown.TargetSpec
	matched  []shakedown.Instance
	selected []shakedown.Instance
	err      error // why the target cannot be used; nil when it can
}

func (t *target) record() shakedown.TargetRecord {
	r := shakedown.TargetRecord{
		Name:      t.spec.Name,
		Kind:      t.spec.Kind,
		Selection: t.spec.Select.String(),
		Matched:   instanceNames(t.matched),
		Selected:  instanceNames(t.selected),
	}
	if w, ok := t.spec.Params.(interface{ Warnings() []string }); ok {
		r.Warnings = w.Warnings()
	}
	if t.err != nil {
		r.Error = t.err.Error()
	}
	return r
}

// selectedByName returns the instances each target selected, by target name.
func (s *setup) selectedByName() map[string][]shakedown.Instance {
	m := make(map[string][]shakedown.Instance, len(s.all))
	for _, t := range s.all {
		if t.err == nil {
			m[t.spec.Name] = t.selected
		}
	}
	return m
}

// node is one fault of the graph.
type node struct {
	spec     *shakedown.FaultSpec
	typ      *shakedown.FaultType
	fault    shakedown.Fault
	selected []shakedown.Instance
	deps     []*node
	start    time.Duration // planned offset from the inject phase's start
	end      time.Duration
	idx      int           // index in the record's faults
	injected chan struct{} // closed by the fault's goroutine once it is injected
}

// setup is what an experiment resolves to before anything is injected.
type setup struct {
	all   []*target // every target tried, in file order, each with its outcome
	nodes []*node
	// closers are what the run made that needs closing (instances, faults, probes, alert
	// sources, loads), closed last made first when the run ends, even when setup failed half way.
	closers []shakedown.Closer
}

// length is the planned length of the fault graph: where its last fault ends.
func (s *setup) length() time.Duration {
	var end time.Duration
	for _, n := range s.nodes {
		end = max(end, n.end)
	}
	return end
}

func (s *setup) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i].Close()
	}
	s.closers = nil
}

func (s *setup) keep(v any) {
	if c, ok := v.(shakedown.Closer); ok && c != nil {
		s.closers = append(s.closers, c)
	}
}

// build lays out the fault graph, resolves and selects every target, enforces the
// blast-radius caps and builds every fault. It injects nothing. It goes through every target
// and every fault whose target could be used, so that its error (shakedown.Join) names each
// one that could not, with its reason; s.all has every target, each with its outcome. The
// caller closes s, also when err is not nil.
func build(ctx context.Context, env shakedown.Env, exp *shakedown.Experiment, opts Options) (s *setup, err error) {
	s = &setup{}
	reg := opts.Registry
	if reg == nil {
		return s, shakedown.Errorf(shakedown.KindInternal, "no registry")
	}
	if err := s.layout(exp, reg); err != nil {
		return s, err
	}
	caps := blastCaps{targets: minCap(exp.BlastRadius.MaxTargets, opts.MaxTargets), percent: minCapF(exp.BlastRadius.MaxPercent, opts.MaxPercent)}
	var problems []error
	byName := map[string]*target{}
	for _, ts := range exp.Targets {
		t := &target{spec: ts}
		t.err = s.resolve(ctx, env, reg, t, caps)
		s.all = append(s.all, t)
		byName[ts.Name] = t
		if t.err != nil {
			problems = append(problems, t.err)
			if ctx.Err() != nil {
				// Interrupted: the targets left are not tried, and the interruption is
				// what the run ends with.
				return s, shakedown.Join(problems...)
			}
		}
	}
	for _, n := range s.nodes {
		var sel []shakedown.Instance
		if n.spec.Target != "" {
			t := byName[n.spec.Target]
			switch {
			case t == nil:
				problems = append(problems, shakedown.Errorf(shakedown.KindInvalid, "fault %s: undeclared target %q", n.spec.Name, n.spec.Target))
				continue
			case t.err != nil:
				continue // its target's problem is reported already
			}
			sel = t.selected
		}
		n.selected = sel
		f, err := n.typ.New(env, n.spec, sel)
		switch {
		case err != nil:
			problems = append(problems, shakedown.Wrap(shakedown.KindOf(err), "build fault "+n.spec.Name, err))
			continue
		case f == nil:
			problems = append(problems, shakedown.Errorf(shakedown.KindInternal, "build fault %s: type %s built nothing", n.spec.Name, n.typ.Name))
			continue
		}
		n.fault = f
		s.keep(f)
	}
	return s, shakedown.Join(problems...)
}

// blastCaps are the blast-radius caps a target's selection is held to; 0 is no cap.
type blastCaps struct {
	targets int
	percent float64
}

// resolve resolves t's instances, selects among them, holds the selection to the caps and
// connects to what was selected, filling t; the error says why t cannot be used.
func (s *setup) resolve(ctx context.Context, env shakedown.Env, reg *shakedown.Registry, t *target, caps blastCaps) error {
	ts := t.spec
	kind, ok := reg.Target(ts.Kind)
	if !ok {
		return shakedown.Errorf(shakedown.KindInvalid, "target %s: unknown kind %q", ts.Name, ts.Kind)
	}
	all, err := kind.Resolve(ctx, env, ts.Params)
	for _, in := range all {
		s.keep(in.Ref)
	}
	if err != nil {
		return shakedown.Wrap(shakedown.KindOf(err), "resolve target "+ts.Name, err)
	}
	if len(all) == 0 {
		return shakedown.Errorf(shakedown.KindNotFound, "target %s resolved to nothing (%s)", ts.Name, describeParams(ts))
	}
	t.matched, t.selected = all, shakedown.Select(ts.Select, all, env.Seed)
	if caps.targets > 0 && len(t.selected) > caps.targets {
		return shakedown.Errorf(shakedown.KindPermission,
			"target %s selects %d instances, above the blast-radius cap of %d", ts.Name, len(t.selected), caps.targets)
	}
	if pct := 100 * float64(len(t.selected)) / float64(len(all)); caps.percent > 0 && pct > caps.percent+1e-9 {
		return shakedown.Errorf(shakedown.KindPermission,
			"target %s selects %d of %d instances (%s%%), above the blast-radius cap of %s%%",
			ts.Name, len(t.selected), len(all), ftoa(pct), ftoa(caps.percent))
	}
	if kind.Connect != nil {
		if err := kind.Connect(ctx, env, t.selected); err != nil {
			return shakedown.Wrap(shakedown.KindOf(err), "connect target "+ts.Name, err)
		}
	}
	return nil
}

// layout makes the graph's nodes in file order, checks the after: references, refuses
// cycles and computes each fault's planned start and end.
func (s *setup) layout(exp *shakedown.Experiment, reg *shakedown.Registry) error {
	byName := map[string]*node{}
	for i, fs := range exp.Faults {
		typ, ok := reg.Fault(fs.Type)
		if !ok {
			return shakedown.Errorf(shakedown.KindInvalid, "fault %s: unknown type %q", fs.Name, fs.Type)
		}
		if byName[fs.Name] != nil {
			return shakedown.Errorf(shakedown.KindInvalid, "fault %s: declared twice", fs.Name)
		}
		n := &node{spec: fs, typ: typ, idx: i, injected: make(chan struct{})}
		byName[fs.Name] = n
		s.nodes = append(s.nodes, n)
	}
	for _, n := range s.nodes {
		for _, a := range n.spec.After {
			d := byName[a]
			if d == nil {
				return shakedown.Errorf(shakedown.KindInvalid, "fault %s: after undeclared fault %q", n.spec.Name, a)
			}
			n.deps = append(n.deps, d)
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := map[*node]int{}
	var visit func(n *node, path []string) error
	visit = func(n *node, path []string) error {
		switch state[n] {
		case done:
			return nil
		case visiting:
			return shakedown.Errorf(shakedown.KindInvalid, "faults form a cycle: %s", strings.Join(append(path, n.spec.Name), " → "))
		}
		state[n] = visiting
		var start time.Duration
		for _, d := range n.deps {
			if err := visit(d, append(path, n.spec.Name)); err != nil {
				return err
			}
			start = max(start, d.start)
		}
		var ok bool
		if n.start, n.end, ok = shakedown.FaultWindow(start, n.spec.Delay, n.spec.Duration); !ok {
			return shakedown.Errorf(shakedown.KindInvalid, "fault %s would end more than %s after the inject phase starts, past the longest a schedule may span",
				n.spec.Name, shakedown.MaxSchedule)
		}
		state[n] = done
		return nil
	}
	for _, n := range s.nodes {
		if err := visit(n, nil); err != nil {
			return err
		}
	}
	return nil
}

func instanceNames(ins []shakedown.Instance) []string {
	out := make([]string, 0, len(ins))
	for _, in := range ins {
		if in.Name != "" {
			out = append(out, in.Name)
		} else {
			out = append(out, in.ID)
		}
	}
	return out
}

func minCap(a, b int) int {
	switch {
	case a <= 0:
		return max(b, 0)
	case b <= 0:
		return a
	}
	return min(a, b)
}

func minCapF(a, b float64) float64 {
	switch {
	case !(a > 0):
		return math.Max(b, 0)
	case !(b > 0):
		return a
	}
	return math.Min(a, b)
}

func ftoa(f float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
}

// describeParams says what a target looked for, for people: "process name=shop-web". Its
// secrets (a URL's password, say) show as xxxxx.
func describeParams(ts *shakedown.TargetSpec) string {
	b, err := json.Marshal(shakedown.RedactParams("", ts.Params))
	if err != nil || string(b) == "null" || string(b) == "{}" {
		return ts.Kind
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return ts.Kind + " " + string(b)
	}
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v == nil || v == "" || v == float64(0) || v == false {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{ts.Kind}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// claims lists what the run's faults will touch: one claim per fault and selected instance.
func (s *setup) claims(exp *shakedown.Experiment) []Claim {
	share := sharedTargets(exp)
	var out []Claim
	for _, n := range s.nodes {
		for _, in := range n.selected {
			out = append(out, Claim{Instance: in, Target: n.spec.Target, Fault: n.spec.Name, Type: n.spec.Type,
				Share: share[n.spec.Target], Stacks: n.typ.Stacks})
		}
	}
	return out
}

// sharedTargets lists the targets of exp that let other runs hold their instances at once.
func sharedTargets(exp *shakedown.Experiment) map[string]bool {
	share := map[string]bool{}
	for _, t := range exp.Targets {
		if t.Share {
			share[t.Name] = true
		}
	}
	return share
}

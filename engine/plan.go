package engine

import (
	"context"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// PlanResult is what a run of an experiment would touch, and when.
type PlanResult struct {
	Seed     int64
	Held     []string // the instances another live run holds now: a run would stop there
	Targets  []shakedown.TargetRecord
	Faults   []PlannedFault
	Baseline time.Duration
	Recovery time.Duration
}

// PlannedFault is one fault of the plan. Start and End are offsets from the inject phase's
// start, assuming every inject takes no time; a one-shot fault with no duration ends where it
// starts.
type PlannedFault struct {
	Name, Type, Target string
	Selected           []string
	After              []string
	Start, End         time.Duration
	OneShot            bool
	Lines              []string // what the fault says it will do (shakedown.Planner), if it can say
}

// Plan resolves targets with env.DryRun set, applies selection with the seed and the
// blast-radius caps, builds each fault to collect what it would do, and lays out the fault
// graph's timeline. It injects nothing. Its errors carry the kinds a run would end with, every
// target that cannot be used named in them (shakedown.Unjoin gives each); with an error it
// still returns what it could plan, when it got as far as the fault graph: every target, each
// with its outcome (TargetRecord.Error says why one cannot be used).
func Plan(ctx context.Context, exp *shakedown.Experiment, opts Options) (*PlanResult, error) {
	seed := opts.Seed
	if seed == 0 {
		seed = randomSeed()
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	env := shakedown.Env{RunID: NewID(now()), Experiment: exp.Name, StateDir: opts.StateDir, Seed: seed, DryRun: true, Shared: sharedTargets(exp)}
	s, err := build(ctx, env, exp, opts)
	defer s.close()
	// Even when a run could not go on (a target resolves to nothing, say), the plan says
	// what it knows: every target with its outcome, and the fault graph's timeline.
	p := &PlanResult{Seed: seed, Baseline: exp.Baseline, Recovery: exp.Recovery}
	for _, t := range s.all {
		p.Targets = append(p.Targets, t.record())
	}
	for _, n := range s.nodes {
		pf := PlannedFault{
			Name: n.spec.Name, Type: n.spec.Type, Target: n.spec.Target,
			Selected: instanceNames(n.selected), After: n.spec.After,
			Start: n.start, End: n.end, OneShot: n.typ.OneShot,
		}
		if pl, ok := n.fault.(shakedown.Planner); ok {
			pf.Lines = pl.Plan()
		}
		p.Faults = append(p.Faults, pf)
	}
	if err == nil && opts.Held != nil {
		held, herr := opts.Held(s.claims(exp))
		p.Held = held
		switch {
		case herr != nil:
			err = herr
		case len(held) > 0:
			err = shakedown.Errorf(shakedown.KindConflict, "%s", held[0])
		}
	}
	return p, err
}

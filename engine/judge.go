package engine

import (
	"fmt"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Closing a phase judges every check over it in three steps, so that what holds the
// runner's lock is one short section:
//
//	measure (no lock)          judge (pure)              commit (runner's lock)
//	load aggregate, comparer → phaseJudge.judge()      → checkJudgement applied to
//	per check                  record shape, bounds,     the check's phase record and
//	                           significance, verdict     the run's outcome
//
// Measuring asks the load for the phase's aggregate and samples and runs the comparer's
// statistics: the costly part, done without the lock. Judging and committing share one
// locked section because late samples of the phase (a probe the fault held past the phase's
// end) still change its state: a break recorded between a snapshot and its commit would be
// lost. Judging itself takes no lock and touches nothing: it is a function of its input.

// measurement is what the load says about a check over a phase, asked without the lock.
type measurement struct {
	value    float64
	requests int         // 0: the load sent no request in the phase
	cmp      *Comparison // the comparer's judgement of the difference from the baseline, if asked
}

// measure asks ck's load for its aggregate over phase p and, when compare is set, the
// comparer whether it differs from the baseline. A probe check has nothing to measure.
func (r *runner) measure(ck *check, p shakedown.Phase, compare bool) measurement {
	var m measurement
	if ck.load == nil {
		return m
	}
	m.value, m.requests = ck.load.PhaseValue(p, ck.metric.Name)
	if compare {
		c := r.opts.Compare(ck.metric.Name, ck.load.PhaseSamples(shakedown.PhaseBaseline, ck.metric.Name), ck.load.PhaseSamples(p, ck.metric.Name))
		m.cmp = &c
	}
	return m
}

// phaseJudge is an immutable snapshot of one check over one closing phase: what the check
// demands, what its samples saw, and what its load measured. judge turns it into a
// checkJudgement.
type phaseJudge struct {
	phase          shakedown.Phase
	name           string // the check's
	metric         string // the check's metric, as written; "" for a probe
	role           string
	unit           shakedown.Unit
	load           bool // a metric check: judged on its load's aggregate too
	flakeResistant bool
	bySignificance bool   // a breach during inject is decided by the comparer
	tooFew         string // why baseline-relative bounds cannot be judged; "" when they can
	recovery       time.Duration
	threshold      string
	hasMax, hasMin bool     // the check sets an upper, a lower bound
	max, min       *float64 // the bounds, where they can be known in this phase

	m measurement

	// The phase's state from its samples.
	n, bad    int // samples taken and breached
	last      string
	broken    bool
	detail    string
	recovered bool
	note      string // the phase record's note so far
}

// checkJudgement is what closing a phase decides for one check: the phase record's fields,
// the phase's state, and what changes the run's verdict.
type checkJudgement struct {
	threshold   string
	max, min    *float64
	significant *bool
	observed    string
	note        string
	held        bool

	broken bool   // the phase's state after the judgement
	detail string // what the break, or the failure to come back, looked like

	// broke is set when the phase's aggregate broke the check: the detail of the break,
	// which the run acts on as on a sample breaking it.
	broke  string
	failed []string // failures to add to the run's, after broke's
}

// judge decides the check over the phase. It reads nothing but j.
func (j *phaseJudge) judge() checkJudgement {
	out := checkJudgement{threshold: j.threshold, max: j.max, min: j.min, note: j.note,
		broken: j.broken, detail: j.detail}
	if c := j.m.cmp; c != nil {
		if c.Enough {
			sig := c.Significant
			out.significant = &sig
		}
		if c.Note != "" {
			out.note = c.Note
		}
	}
	out.observed, out.note = j.observed(out.note)
	j.aggregate(&out)
	j.significance(&out)
	j.verdict(&out)
	return out
}

// observed says in words what the phase saw, and the note that goes with it.
func (j *phaseJudge) observed(note string) (string, string) {
	switch {
	case j.load && j.m.requests > 0:
		return fmt.Sprintf("%s over %d requests", formatValue(j.unit, j.m.value), j.m.requests), note
	case j.load:
		if j.phase != shakedown.PhaseRevert && note == "" {
			note = "not judged: the load sent no request in this phase"
		}
		return "no requests", note
	}
	s := fmt.Sprintf("%d of %d samples held", j.n-j.bad, j.n)
	if j.last != "" {
		s += "; last " + j.last
	}
	return s, note
}

// breach compares the phase's aggregate with the bounds, as check.breach compares a sample:
// judged is false when a bound the check sets cannot be known in this phase.
func (j *phaseJudge) breach() (breached, judged bool) {
	breached = outside(j.m.value, j.max, j.min)
	judged = (!j.hasMax || j.max != nil) && (!j.hasMin || j.min != nil)
	return breached, judged
}

// aggregate breaks a steady-state check without flake resistance whose aggregate over the
// baseline or the inject phase breaches its bounds: such a check must also hold over the
// phase as a whole.
func (j *phaseJudge) aggregate(out *checkJudgement) {
	if j.m.requests == 0 || j.role != roleSteady || j.flakeResistant || out.broken ||
		j.phase != shakedown.PhaseBaseline && j.phase != shakedown.PhaseInject {
		return
	}
	if breached, judged := j.breach(); judged && breached {
		out.detail = fmt.Sprintf("%s %s over the %s phase (%s)", j.metric, formatValue(j.unit, j.m.value), j.phase, j.threshold)
		out.broken, out.broke = true, out.detail
	}
}

// significance judges a baseline-relative check on evidence: it breaks in the inject phase
// only when its bound was breached and the difference from the baseline is significant, and
// it cannot pass on too few samples to tell.
func (j *phaseJudge) significance(out *checkJudgement) {
	c := j.m.cmp
	if j.phase != shakedown.PhaseInject || !j.bySignificance || c == nil {
		return
	}
	switch {
	case !c.Enough:
		out.broken, out.detail = true, "too few samples to judge: "+c.Note
		out.failed = append(out.failed, fmt.Sprintf("check %q: %s", j.name, out.detail))
	case out.broken && !c.Significant:
		out.broken = false
		out.note = "bound breached, but the difference from the baseline is not significant: " + c.Note
	case out.broken:
		out.failed = append(out.failed, fmt.Sprintf("check %q broke during inject: %s; %s", j.name, out.detail, c.Note))
	}
}

// verdict says whether the check held over the phase.
func (j *phaseJudge) verdict(out *checkJudgement) {
	switch {
	case j.role == roleStop:
		out.held = !out.broken
	case j.phase == shakedown.PhaseRevert:
		out.held, out.note = true, "not judged during the revert"
	case j.phase == shakedown.PhaseRecovery:
		j.recoveryVerdict(out)
	case j.tooFew != "" && j.phase != shakedown.PhaseBaseline:
		out.held, out.note = false, j.tooFew
		out.detail = j.tooFew
	default:
		out.held = !out.broken
	}
}

// recoveryVerdict says whether a steady-state check came back in the recovery phase.
func (j *phaseJudge) recoveryVerdict(out *checkJudgement) {
	switch {
	case j.tooFew != "":
		out.held, out.note = false, j.tooFew
	case j.recovery <= 0:
		out.held, out.note = true, "not judged: no recovery window"
	default:
		out.held = j.recovered
		if !j.recovered {
			out.detail = "not back within " + shortDur(j.recovery) + " of the revert; last " + orDash(j.last)
		}
	}
}

package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// The roles a check plays.
const (
	roleSteady = "steady_state"
	roleStop   = "stop_if"
)

// check is one steady-state check or stop condition with its live state.
type check struct {
	c       *shakedown.Check
	role    string
	kind    string // "metric" or the probe's type
	every   time.Duration
	timeout time.Duration // bounds one probe sample
	compare bool          // a Comparer judges this baseline-relative check
	prober  shakedown.Prober
	metric  shakedown.Metric
	load    Load
	unit    shakedown.Unit
	kick    chan struct{} // asks the sampler for a sample now (a phase started)

	// Guarded by runner.mu.
	win      []bool    // the last M judged samples, true when breached
	since    time.Time // when the window's breach condition started to hold; zero when it does not
	judged   bool      // a judged sample since the window was reset
	holding  bool      // the window's breach condition does not hold
	base     float64   // the baseline value, for baseline-relative tolerances
	haveBase bool
	tooFew   string        // why the baseline-relative tolerances cannot be judged
	fired    bool          // a stop condition that fired
	probing  chan struct{} // closed when the probe sample in flight has been observed; nil when none is
	phases   map[shakedown.Phase]*checkPhase
	order    []shakedown.Phase
}

// checkPhase is a check's state in one phase.
type checkPhase struct {
	rec       *shakedown.CheckPhaseRecord
	n, bad    int // samples taken and breached, including those not stored
	broken    bool
	detail    string // what the first break looked like
	last      string
	recovered bool // recovery: holding when the steady state came back
}

func (r *runner) newCheck(c *shakedown.Check, role string, loads map[string]Load) (*check, error) {
	every := c.Every
	if every <= 0 {
		every = shakedown.DefaultEvery
	}
	ck := &check{c: c, role: role, every: every, kick: make(chan struct{}, 1), phases: map[shakedown.Phase]*checkPhase{}}
	switch {
	case c.Probe != nil:
		pt, ok := r.reg.Probe(c.Probe.Type)
		if !ok {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "check %s: unknown probe type %q", c.Name, c.Probe.Type)
		}
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = shakedown.ProbeTimeout(every)
		}
		ck.timeout = timeout
		p, err := pt.New(r.env, c.Probe.Params, timeout)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindOf(err), "check "+c.Name, err)
		}
		r.s.keep(p)
		ck.prober, ck.kind = p, c.Probe.Type
	case c.Metric != "":
		m, err := shakedown.ParseMetric(c.Metric)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "check "+c.Name, err)
		}
		l := loads[m.Load]
		if l == nil {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "check %s: metric %s names no declared load", c.Name, c.Metric)
		}
		ck.metric, ck.load, ck.unit, ck.kind = m, l, m.Unit(), "metric"
		ck.compare = r.opts.Compare != nil
	default:
		return nil, shakedown.Errorf(shakedown.KindInvalid, "check %s: neither a metric nor a probe", c.Name)
	}
	return ck, nil
}

func (ck *check) relative() bool {
	return ck.c.Max != nil && ck.c.Max.Relation != shakedown.Absolute ||
		ck.c.Min != nil && ck.c.Min.Relation != shakedown.Absolute
}

// judgedBySignificance says whether a breach of the check during inject is decided when the
// phase ends, by comparing its samples with the baseline's, rather than at once.
func (ck *check) judgedBySignificance() bool {
	return ck.role == roleSteady && ck.relative() && ck.compare
}

// flakeResistant says whether the check tolerates transient breaches; such a check is judged
// on its samples only, not on a phase's aggregate value.
func (ck *check) flakeResistant() bool { return ck.c.For > 0 || ck.c.Window.M > 1 }

func (ck *check) phase(p shakedown.Phase) *checkPhase {
	ps := ck.phases[p]
	if ps == nil {
		ps = &checkPhase{rec: &shakedown.CheckPhaseRecord{Held: true, Samples: []shakedown.Sample{}}}
		ck.phases[p] = ps
		ck.order = append(ck.order, p)
	}
	return ps
}

func (ck *check) resetWindow() {
	ck.win = ck.win[:0]
	ck.since = time.Time{}
	ck.judged, ck.holding = false, false
}

// push adds a judged sample to the window and reports whether the check is broken: at least
// N of the last M samples breached, for at least For.
func (ck *check) push(breached bool, at time.Time) bool {
	n, m := ck.c.Window.N, ck.c.Window.M
	if m <= 0 {
		n, m = 1, 1
	}
	ck.win = append(ck.win, breached)
	if len(ck.win) > m {
		ck.win = append(ck.win[:0], ck.win[len(ck.win)-m:]...)
	}
	bad := 0
	for _, b := range ck.win {
		if b {
			bad++
		}
	}
	cond := bad >= n
	switch {
	case !cond:
		ck.since = time.Time{}
	case ck.since.IsZero():
		ck.since = at
	}
	ck.judged, ck.holding = true, !cond
	return cond && at.Sub(ck.since) >= ck.c.For
}

// bound returns the value a tolerance sets, if it can be known now.
func (ck *check) bound(t *shakedown.Tolerance, phase shakedown.Phase) (float64, bool) {
	if t.Relation == shakedown.Absolute {
		return t.Value, true
	}
	if phase == shakedown.PhaseBaseline || !ck.haveBase {
		return 0, false
	}
	return t.Bound(ck.base), true
}

// breach compares a metric value with the check's bounds. judged is false when a bound
// cannot be known (a baseline-relative one during the baseline, or without a baseline).
func (ck *check) breach(v float64, phase shakedown.Phase) (breached, judged bool) {
	judged = true
	for _, b := range []struct {
		t     *shakedown.Tolerance
		above bool
	}{{ck.c.Max, true}, {ck.c.Min, false}} {
		if b.t == nil {
			continue
		}
		bound, ok := ck.bound(b.t, phase)
		switch {
		case !ok:
			judged = false
		case b.above && v > bound, !b.above && v < bound:
			breached = true
		}
	}
	return breached, judged
}

// bounds returns the check's upper and lower bounds in phase p, where it has them and they
// can be known now.
func (ck *check) bounds(p shakedown.Phase) (hi, lo *float64) {
	at := func(t *shakedown.Tolerance) *float64 {
		if t == nil || ck.load == nil {
			return nil
		}
		if v, ok := ck.bound(t, p); ok {
			return &v
		}
		return nil
	}
	return at(ck.c.Max), at(ck.c.Min)
}

// threshold says in words what the check demands.
func (ck *check) threshold() string {
	var parts []string
	if ck.prober != nil {
		parts = append(parts, ck.kind+" probe holds")
	}
	tol := func(word string, t *shakedown.Tolerance) {
		s := word + " " + t.Text
		if t.Relation != shakedown.Absolute && ck.haveBase {
			s += " (" + formatValue(ck.unit, t.Bound(ck.base)) + ")"
		}
		parts = append(parts, s)
	}
	if ck.c.Max != nil {
		tol("max", ck.c.Max)
	}
	if ck.c.Min != nil {
		tol("min", ck.c.Min)
	}
	if ck.c.Window.M > 1 {
		parts = append(parts, "breaks on "+ck.c.Window.String()+" samples")
	}
	if ck.c.For > 0 {
		parts = append(parts, "for "+shortDur(ck.c.For))
	}
	return strings.Join(parts, ", ")
}

// sampleLoop samples the check every interval, and at once when a phase starts, in the
// phases it applies to, until ctx ends.
func (r *runner) sampleLoop(ctx context.Context, ck *check) error {
	t := time.NewTicker(ck.every)
	defer t.Stop()
	for {
		r.mu.Lock()
		phase, epoch := r.phase, r.epoch
		r.mu.Unlock()
		if phase != "" && ck.c.AppliesTo(phase) {
			r.sample(ctx, ck, phase, epoch)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-ck.kick:
			t.Reset(ck.every)
		}
	}
}

// sample takes one sample. A probe is bounded by the check's timeout; a sample that overruns
// the interval delays the next one.
func (r *runner) sample(ctx context.Context, ck *check, phase shakedown.Phase, epoch int) {
	at := r.now()
	if ck.prober != nil {
		done := make(chan struct{})
		r.mu.Lock()
		ck.probing = done
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			ck.probing = nil
			r.mu.Unlock()
			close(done)
		}()
		pctx, cancel := context.WithTimeout(ctx, ck.timeout)
		obs, err := ck.prober.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return // the run is ending; a probe cut short says nothing about the system
		}
		if phase == shakedown.PhaseBaseline && shakedown.IsKind(err, shakedown.KindUnavailable) {
			// Monitoring that cannot be reached (a Prometheus that does not answer) is the
			// environment failing, not the system being unsteady: nothing is injected, and the
			// run says which endpoint it could not reach.
			r.fail(shakedown.Wrap(shakedown.KindUnavailable, "check "+ck.c.Name, err))
			return
		}
		switch {
		case err != nil && obs != "":
			obs = "failed: " + obs + ": " + err.Error()
		case err != nil:
			obs = "failed: " + err.Error()
		case obs == "":
			obs = "ok"
		default:
			obs = "ok: " + obs
		}
		r.observe(ck, phase, epoch, at, nil, obs, err != nil)
		return
	}
	// Early in a phase, judge only the requests of this phase: a window reaching back into
	// the previous phase would carry its values over (a recovery "back" on inject's
	// requests, say).
	r.mu.Lock()
	window := ck.every
	if at.Sub(r.phaseAt) < window {
		window = 0 // the current phase so far
	}
	r.mu.Unlock()
	v, n := ck.load.Value(ck.metric.Name, window)
	if n == 0 {
		return // no requests completed in the interval: nothing to judge
	}
	r.observe(ck, phase, epoch, at, &v, "", false)
}

// observe records one sample, judges the check's window and acts on a break: a stop
// condition aborts the run; a steady-state check breaking in the baseline makes the run not
// steady, in the inject phase failed.
func (r *runner) observe(ck *check, phase shakedown.Phase, epoch int, at time.Time, value *float64, observed string, breached bool) {
	var stop string
	var back bool
	r.mu.Lock()
	judged := true
	if value != nil {
		breached, judged = ck.breach(*value, phase)
		observed = ck.c.Metric + " " + formatValue(ck.unit, *value)
	}
	ps := ck.phase(phase)
	ps.n++
	if breached {
		ps.bad++
	}
	ps.last = observed
	if len(ps.rec.Samples) < maxStoredSamples {
		ps.rec.Samples = append(ps.rec.Samples, shakedown.Sample{At: shakedown.At(at), Held: !breached, Value: value, Observed: observed})
	}
	detail := observed
	if value != nil {
		detail += " (" + ck.threshold() + ")"
		if !judged {
			detail += ", not judged: no baseline value"
		}
	}
	live := judged && (epoch == r.epoch || ck.role == roleStop)
	if !live && breached && value == nil && ck.role == roleSteady && !ck.flakeResistant() &&
		(phase == shakedown.PhaseInject || r.phase == shakedown.PhaseInject) {
		// A probe that began or failed in the inject phase but came back after a phase change
		// (the fault held its answer past the phase's end, or from before its start) is
		// evidence about the inject phase: it breaks it, as a sample within it would.
		if ips := ck.phase(shakedown.PhaseInject); !ips.broken {
			ips.broken, ips.detail = true, detail
			r.brokeLocked(ck, shakedown.PhaseInject, detail)
		}
	}
	if live {
		broken := ck.push(breached, at)
		if broken && !ps.broken && phase != shakedown.PhaseRevert {
			ps.broken, ps.detail = true, detail
			switch {
			case ck.role == roleStop && !ck.fired:
				ck.fired = true
				stop = detail
			case ck.role == roleSteady:
				r.brokeLocked(ck, phase, detail)
			}
		}
		if phase == shakedown.PhaseRecovery && epoch == r.epoch {
			back = r.updateRecoveredLocked(at)
		}
	}
	r.mu.Unlock()
	if back {
		r.emit(shakedown.Event{Kind: shakedown.EventLog, Phase: phase, Detail: "steady state is back"})
	}
	r.emit(shakedown.Event{Kind: shakedown.EventCheck, Phase: phase, Name: ck.c.Name, Held: !breached, Detail: detail})
	if stop != "" {
		r.emit(shakedown.Event{Kind: shakedown.EventStop, Phase: phase, Name: ck.c.Name, Detail: stop})
		r.abort(fmt.Sprintf("stop condition %q fired: %s", ck.c.Name, stop))
	}
	if live {
		r.poke()
	}
}

// brokeLocked acts on steady-state check ck breaking in phase p: in the baseline the run is
// not steady; in the inject phase it failed, unless the check's significance is judged when
// the phase ends. A break in other phases changes no verdict here.
func (r *runner) brokeLocked(ck *check, p shakedown.Phase, detail string) {
	switch {
	case p == shakedown.PhaseBaseline:
		if r.out.notSteady == "" {
			r.out.notSteady = fmt.Sprintf("baseline did not hold: check %q: %s", ck.c.Name, detail)
		}
	case p == shakedown.PhaseInject && !ck.judgedBySignificance():
		r.out.failed = append(r.out.failed, fmt.Sprintf("check %q broke during inject: %s", ck.c.Name, detail))
	}
}

// countsForRecovery says whether a check must hold again for the steady state to be back.
func (ck *check) countsForRecovery() bool {
	return ck.role == roleSteady && ck.c.AppliesTo(shakedown.PhaseRecovery) && ck.tooFew == ""
}

// updateRecoveredLocked notes the moment every steady-state check holds again after the
// revert. It reports whether that moment is now.
func (r *runner) updateRecoveredLocked(at time.Time) bool {
	if !r.recoveredAt.IsZero() {
		return false
	}
	for _, ck := range r.checks {
		if ck.countsForRecovery() && (!ck.judged || !ck.holding) {
			return false
		}
	}
	r.recoveredAt = at
	for _, ck := range r.checks {
		if ck.countsForRecovery() {
			ck.phase(shakedown.PhaseRecovery).recovered = true
		}
	}
	return true
}

func (r *runner) hasRecoveryChecks() bool {
	for _, ck := range r.checks {
		if ck.countsForRecovery() {
			return true
		}
	}
	return false
}

// notHoldingLocked names the steady-state checks that do not hold now.
func (r *runner) notHoldingLocked() string {
	var out []string
	for _, ck := range r.checks {
		if !ck.countsForRecovery() || ck.judged && ck.holding {
			continue
		}
		last := "no sample"
		if ps := ck.phases[shakedown.PhaseRecovery]; ps != nil && ps.last != "" {
			last = ps.last
		}
		out = append(out, fmt.Sprintf("check %q: %s", ck.c.Name, last))
	}
	return strings.Join(out, "; ")
}

func (r *runner) baselineBroken() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.notSteady != ""
}

// baselineSampled says whether every steady-state probe has been sampled in the baseline.
func (r *runner) baselineSampled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ck := range r.checks {
		if ck.role != roleSteady || ck.prober == nil || !ck.c.AppliesTo(shakedown.PhaseBaseline) {
			continue
		}
		if ps := ck.phases[shakedown.PhaseBaseline]; ps == nil || ps.n == 0 {
			return false
		}
	}
	return true
}

// computeBaselines fixes the baseline values of baseline-relative checks: it measures them
// all, then fixes them in one locked section.
func (r *runner) computeBaselines() {
	var checks []*check
	var ms []measurement
	for _, ck := range r.checks {
		if ck.load == nil || !ck.relative() {
			continue
		}
		checks = append(checks, ck)
		ms = append(ms, r.measure(ck, shakedown.PhaseBaseline, false))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ck := range checks {
		if n := ms[i].requests; n >= MinBaselineSamples {
			ck.base, ck.haveBase = ms[i].value, true
		} else {
			ck.tooFew = fmt.Sprintf("too few samples to judge: the baseline had %d requests, %d needed", n, MinBaselineSamples)
			if ck.role == roleSteady && (ck.c.AppliesTo(shakedown.PhaseInject) || ck.c.AppliesTo(shakedown.PhaseRecovery)) {
				r.out.failed = append(r.out.failed, fmt.Sprintf("check %q: %s", ck.c.Name, ck.tooFew))
			}
		}
	}
}

// closePhase sums up every check over phase p: the phase's aggregate value, the significance
// of a baseline-relative difference, and whether the check held. It measures without the
// lock, then judges and commits in one locked section (see phaseJudge). Only the first call
// for a phase does anything.
func (r *runner) closePhase(p shakedown.Phase) {
	checks, compare, ok := r.startClosing(p)
	if !ok {
		return
	}
	ms := make([]measurement, len(checks))
	for i, ck := range checks {
		ms[i] = r.measure(ck, p, compare[i])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ck := range checks {
		r.commitLocked(ck, p, r.snapshotLocked(ck, p, ms[i]).judge())
	}
}

// startClosing marks phase p closed and returns the checks that apply to it and whether
// each is compared with the baseline. ok is false when p was closed already.
func (r *runner) startClosing(p shakedown.Phase) (checks []*check, compare []bool, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed[p] {
		return nil, nil, false
	}
	r.closed[p] = true
	for _, ck := range r.checks {
		if ck.c.AppliesTo(p) {
			checks = append(checks, ck)
			compare = append(compare, r.comparable(ck, p))
		}
	}
	return checks, compare, true
}

// snapshotLocked takes what judging ck over phase p needs.
func (r *runner) snapshotLocked(ck *check, p shakedown.Phase, m measurement) *phaseJudge {
	ps := ck.phase(p)
	hi, lo := ck.bounds(p)
	return &phaseJudge{phase: p, name: ck.c.Name, metric: ck.c.Metric, role: ck.role, unit: ck.unit,
		load: ck.load != nil, flakeResistant: ck.flakeResistant(), bySignificance: ck.judgedBySignificance(),
		tooFew: ck.tooFew, recovery: r.exp.Recovery, threshold: ck.threshold(),
		hasMax: ck.c.Max != nil, hasMin: ck.c.Min != nil, max: hi, min: lo, m: m,
		n: ps.n, bad: ps.bad, last: ps.last, broken: ps.broken, detail: ps.detail, recovered: ps.recovered,
		note: ps.rec.Note}
}

// commitLocked applies the judgement of ck over phase p to its phase record and the run.
func (r *runner) commitLocked(ck *check, p shakedown.Phase, j checkJudgement) {
	ps := ck.phase(p)
	rec := ps.rec
	rec.Threshold, rec.Max, rec.Min, rec.Significant = j.threshold, j.max, j.min, j.significant
	rec.Observed, rec.Note, rec.Held = j.observed, j.note, j.held
	ps.broken, ps.detail = j.broken, j.detail
	if j.broke != "" {
		r.brokeLocked(ck, p, j.broke)
	}
	r.out.failed = append(r.out.failed, j.failed...)
}

// finishChecks writes each check's record.
func (r *runner) finishChecks() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ck := range r.checks {
		cr := shakedown.CheckRecord{Name: ck.c.Name, Kind: ck.kind, Role: ck.role, Metric: ck.c.Metric, Held: true,
			PerPhase: map[shakedown.Phase]*shakedown.CheckPhaseRecord{}}
		for _, p := range ck.order {
			ps := ck.phases[p]
			cr.PerPhase[p] = ps.rec
			if !ps.rec.Held && cr.Held {
				cr.Held = false
				cr.Detail = fmt.Sprintf("%s: %s", p, orDash(ps.detail))
			}
		}
		r.rec.Checks = append(r.rec.Checks, cr)
	}
}

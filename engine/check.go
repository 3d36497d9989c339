package engine

import (
	"context"
	"fmt"
	"math"
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

	// Guarded by the runner's state lock: touched by functions that take a *runState.
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
	known := func(t *shakedown.Tolerance) *float64 {
		if t == nil {
			return nil
		}
		b, ok := ck.bound(t, phase)
		if !ok {
			judged = false
			return nil
		}
		return &b
	}
	breached = outside(v, known(ck.c.Max), known(ck.c.Min))
	return breached, judged
}

// outside says whether v is above hi or below lo, each where it is known (not nil).
func outside(v float64, hi, lo *float64) bool {
	return hi != nil && v > *hi || lo != nil && v < *lo
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
		var phase shakedown.Phase
		var epoch int
		r.state.with(func(s *runState) { phase, epoch = s.phase, s.epoch })
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
		r.state.with(func(*runState) { ck.probing = done })
		defer func() {
			r.state.with(func(*runState) { ck.probing = nil })
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
		r.observe(ck, checkSample{phase: phase, epoch: epoch, at: at, observed: obs, breached: err != nil})
		return
	}
	// Early in a phase, judge only the requests of this phase: a window reaching back into
	// the previous phase would carry its values over (a recovery "back" on inject's
	// requests, say).
	window := ck.every
	var need int
	r.state.with(func(s *runState) {
		if at.Sub(s.phaseAt) < window {
			window = 0 // the current phase so far
		}
		need = ck.minRequests(phase) // a bound relative to the baseline is fixed under the lock
	})
	v, n := ck.load.Value(ck.metric.Name, window, need)
	if n == 0 {
		return // no requests completed in the interval: nothing to judge
	}
	r.observe(ck, checkSample{phase: phase, epoch: epoch, at: at, value: &v, requests: n, need: need})
}

// minRequests is how many requests a sample of the check's metric must rest on to mean
// what it says in phase p: a percentile q of fewer than 100/(100−q) requests is their
// slowest (a p99 of 50 requests is their maximum), and with fewer than 1/max requests one
// error breaks an error-fraction bound. A sample of fewer looks back further, as far as
// the phase's start. Call it under the runner's state lock, which guards the baseline a
// relative bound rests on.
func (ck *check) minRequests(p shakedown.Phase) int {
	need := 1
	if q := ck.metric.Quantile(); q > 0 && q < 100 {
		need = int(math.Ceil(100 / (100 - q)))
	}
	if ck.metric.Name == "errors" && ck.c.Max != nil {
		if b, ok := ck.bound(ck.c.Max, p); ok && b > 0 && b < 1 {
			need = int(math.Ceil(1 / b))
		}
	}
	return min(need, maxRequestsNeeded)
}

// maxRequestsNeeded bounds minRequests: an error bound of a thousandth needs no more.
const maxRequestsNeeded = 1000

// observe records one sample, judges the check's window and acts on a break: a stop
// condition aborts the run; a steady-state check breaking in the baseline makes the run not
// steady, in the inject phase failed.
func (r *runner) observe(ck *check, smp checkSample) {
	var o observation
	r.state.with(func(s *runState) { o = s.observeCheck(r.checks, ck, smp) })
	if o.back {
		r.emit(shakedown.Event{Kind: shakedown.EventLog, Phase: smp.phase, Detail: "steady state is back"})
	}
	r.emit(shakedown.Event{Kind: shakedown.EventCheck, Phase: smp.phase, Name: ck.c.Name, Held: !o.breached, Detail: o.detail})
	if o.stop != "" {
		r.emit(shakedown.Event{Kind: shakedown.EventStop, Phase: smp.phase, Name: ck.c.Name, Detail: o.stop})
		r.abort(fmt.Sprintf("stop condition %q fired: %s", ck.c.Name, o.stop))
	}
	if o.live {
		r.poke()
	}
}

// checkSample is one sample of a check: a metric's value, or what a probe observed and whether
// it failed.
type checkSample struct {
	phase    shakedown.Phase // the phase it was taken in
	epoch    int             // and that phase's epoch
	at       time.Time
	value    *float64 // a metric's value; nil for a probe
	observed string   // what a probe saw
	breached bool     // a probe that failed
	// A metric's value rests on requests of the phase's latest; it needs need of them
	// (minRequests).
	requests, need int
}

// observation is what recording a sample decided, for observe to act on once the lock is
// released.
type observation struct {
	breached bool
	detail   string // the sample, and for a metric what the check demands
	live     bool   // judged in the window of the current phase
	stop     string // set when a stop condition fired: what it saw
	back     bool   // the steady state came back with this sample
}

// observeCheck records smp in ck's phase and judges ck's window with it.
func (s *runState) observeCheck(checks []*check, ck *check, smp checkSample) observation {
	o := observation{breached: smp.breached}
	judged := true
	if smp.value != nil {
		o.breached, judged = ck.breach(*smp.value, smp.phase)
		smp.observed = ck.c.Metric + " " + formatValue(ck.unit, *smp.value)
		if smp.requests < smp.need {
			smp.observed += fmt.Sprintf(" (%d of the %d requests it needs so far in the phase)", smp.requests, smp.need)
		}
	}
	ps := ck.phase(smp.phase)
	ps.add(smp.at, smp.value, smp.observed, o.breached)
	o.detail = smp.observed
	if smp.value != nil {
		o.detail += " (" + ck.threshold() + ")"
		if !judged {
			o.detail += ", not judged: no baseline value"
		}
	}
	o.live = judged && (smp.epoch == s.epoch || ck.role == roleStop)
	if !o.live {
		s.lateProbe(ck, smp, o)
		return o
	}
	o.stop = s.judgeWindow(ck, ps, smp.phase, smp.at, o.breached, o.detail)
	if smp.phase == shakedown.PhaseRecovery && smp.epoch == s.epoch {
		o.back = s.updateRecovered(checks, smp.at)
	}
	return o
}

// lateProbe acts on a probe sample that is not live: one that began or failed in the inject
// phase but came back after a phase change (the fault held its answer past the phase's end,
// or from before its start) is evidence about the inject phase: it breaks it, as a sample
// within it would.
func (s *runState) lateProbe(ck *check, smp checkSample, o observation) {
	if !o.breached || smp.value != nil || ck.role != roleSteady || ck.flakeResistant() ||
		smp.phase != shakedown.PhaseInject && s.phase != shakedown.PhaseInject {
		return
	}
	if ips := ck.phase(shakedown.PhaseInject); !ips.broken {
		ips.broken, ips.detail = true, o.detail
		s.broke(ck, shakedown.PhaseInject, o.detail)
	}
}

// add counts a sample in the phase and stores it, up to maxStoredSamples.
func (ps *checkPhase) add(at time.Time, value *float64, observed string, breached bool) {
	ps.n++
	if breached {
		ps.bad++
	}
	ps.last = observed
	if len(ps.rec.Samples) < maxStoredSamples {
		ps.rec.Samples = append(ps.rec.Samples, shakedown.Sample{At: shakedown.At(at), Held: !breached, Value: value, Observed: observed})
	}
}

// judgeWindow pushes a live sample into ck's window and acts on the check breaking in
// phase p. It returns what a stop condition that fired saw, or "".
func (s *runState) judgeWindow(ck *check, ps *checkPhase, p shakedown.Phase, at time.Time, breached bool, detail string) (stop string) {
	broken := ck.push(breached, at)
	if !broken || ps.broken || p == shakedown.PhaseRevert {
		return ""
	}
	ps.broken, ps.detail = true, detail
	switch {
	case ck.role == roleStop && !ck.fired:
		ck.fired = true
		return detail
	case ck.role == roleSteady:
		s.broke(ck, p, detail)
	}
	return ""
}

// broke acts on steady-state check ck breaking in phase p: in the baseline the run is not
// steady; in the inject phase it failed, unless the check's significance is judged when the
// phase ends. A break in other phases changes no verdict here.
func (s *runState) broke(ck *check, p shakedown.Phase, detail string) {
	switch {
	case p == shakedown.PhaseBaseline:
		if s.out.notSteady == "" {
			s.out.notSteady = fmt.Sprintf("baseline did not hold: check %q: %s", ck.c.Name, detail)
		}
	case p == shakedown.PhaseInject && !ck.judgedBySignificance():
		s.out.failed = append(s.out.failed, fmt.Sprintf("check %q broke during inject: %s", ck.c.Name, detail))
	}
}

// countsForRecovery says whether a check must hold again for the steady state to be back.
// Its baseline value is fixed under the state's lock, before the inject phase.
func (ck *check) countsForRecovery() bool {
	return ck.role == roleSteady && ck.c.AppliesTo(shakedown.PhaseRecovery) && ck.tooFew == ""
}

// updateRecovered notes the moment every steady-state check holds again after the revert.
// It reports whether that moment is now.
func (s *runState) updateRecovered(checks []*check, at time.Time) bool {
	if !s.recoveredAt.IsZero() {
		return false
	}
	for _, ck := range checks {
		if ck.countsForRecovery() && (!ck.judged || !ck.holding) {
			return false
		}
	}
	s.recoveredAt = at
	for _, ck := range checks {
		if ck.countsForRecovery() {
			ck.phase(shakedown.PhaseRecovery).recovered = true
		}
	}
	return true
}

func (r *runner) hasRecoveryChecks() (yes bool) {
	r.state.with(func(*runState) {
		for _, ck := range r.checks {
			yes = yes || ck.countsForRecovery()
		}
	})
	return yes
}

// notHolding names the steady-state checks that do not hold now.
func (s *runState) notHolding(checks []*check) string {
	var out []string
	for _, ck := range checks {
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

func (r *runner) baselineBroken() (yes bool) {
	r.state.with(func(s *runState) { yes = s.out.notSteady != "" })
	return yes
}

// baselineSampled says whether every steady-state probe has been sampled in the baseline.
func (r *runner) baselineSampled() (yes bool) {
	r.state.with(func(*runState) {
		for _, ck := range r.checks {
			if ck.role != roleSteady || ck.prober == nil || !ck.c.AppliesTo(shakedown.PhaseBaseline) {
				continue
			}
			if ps := ck.phases[shakedown.PhaseBaseline]; ps == nil || ps.n == 0 {
				return
			}
		}
		yes = true
	})
	return yes
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
	r.state.with(func(s *runState) {
		for i, ck := range checks {
			s.fixBaseline(ck, ms[i])
		}
	})
}

// fixBaseline fixes ck's baseline value from its measurement over the baseline, or says why
// it cannot: too few requests, which fails a check that would need it.
func (s *runState) fixBaseline(ck *check, m measurement) {
	if m.requests >= MinBaselineSamples {
		ck.base, ck.haveBase = m.value, true
		return
	}
	ck.tooFew = fmt.Sprintf("too few samples to judge: the baseline had %d requests, %d needed", m.requests, MinBaselineSamples)
	if ck.role == roleSteady && (ck.c.AppliesTo(shakedown.PhaseInject) || ck.c.AppliesTo(shakedown.PhaseRecovery)) {
		s.out.failed = append(s.out.failed, fmt.Sprintf("check %q: %s", ck.c.Name, ck.tooFew))
	}
}

// closePhase sums up every check over phase p: the phase's aggregate value, the significance
// of a baseline-relative difference, and whether the check held. It measures without the
// lock, then judges and commits in one locked section (see phaseJudge). Only the first call
// for a phase does anything.
func (r *runner) closePhase(p shakedown.Phase) {
	var checks []*check
	var compare []bool
	first := false
	r.state.with(func(s *runState) { checks, compare, first = s.startClosing(r.checks, p) })
	if !first {
		return
	}
	ms := make([]measurement, len(checks))
	for i, ck := range checks {
		ms[i] = r.measure(ck, p, compare[i])
	}
	r.state.with(func(s *runState) {
		for i, ck := range checks {
			j := s.snapshot(ck, p, ms[i], r.exp.Recovery)
			s.commit(ck, p, j.judge())
		}
	})
}

// startClosing marks phase p closed and returns the checks that apply to it and whether
// each is compared with the baseline. first is false when p was closed already.
func (s *runState) startClosing(all []*check, p shakedown.Phase) (checks []*check, compare []bool, first bool) {
	if s.closed[p] {
		return nil, nil, false
	}
	s.closed[p] = true
	for _, ck := range all {
		if ck.c.AppliesTo(p) {
			checks = append(checks, ck)
			compare = append(compare, ck.compare && ck.haveBase && (p == shakedown.PhaseInject || p == shakedown.PhaseRecovery))
		}
	}
	return checks, compare, true
}

// snapshot takes what judging ck over phase p needs; recovery is the experiment's recovery
// window.
func (s *runState) snapshot(ck *check, p shakedown.Phase, m measurement, recovery time.Duration) *phaseJudge {
	ps := ck.phase(p)
	hi, lo := ck.bounds(p)
	return &phaseJudge{phase: p, name: ck.c.Name, metric: ck.c.Metric, role: ck.role, unit: ck.unit,
		load: ck.load != nil, flakeResistant: ck.flakeResistant(), bySignificance: ck.judgedBySignificance(),
		tooFew: ck.tooFew, recovery: recovery, threshold: ck.threshold(),
		hasMax: ck.c.Max != nil, hasMin: ck.c.Min != nil, max: hi, min: lo, m: m,
		n: ps.n, bad: ps.bad, last: ps.last, broken: ps.broken, detail: ps.detail, recovered: ps.recovered,
		note: ps.rec.Note}
}

// commit applies the judgement of ck over phase p to its phase record and the run.
func (s *runState) commit(ck *check, p shakedown.Phase, j checkJudgement) {
	ps := ck.phase(p)
	rec := ps.rec
	rec.Threshold, rec.Max, rec.Min, rec.Significant = j.threshold, j.max, j.min, j.significant
	rec.Observed, rec.Note, rec.Held = j.observed, j.note, j.held
	ps.broken, ps.detail = j.broken, j.detail
	if j.broke != "" {
		s.broke(ck, p, j.broke)
	}
	s.out.failed = append(s.out.failed, j.failed...)
}

// finishChecks writes each check's record.
func (r *runner) finishChecks() {
	r.state.with(func(*runState) {
		for _, ck := range r.checks {
			r.rec.Checks = append(r.rec.Checks, ck.record())
		}
	})
}

// record is the check's record, from its phases' records. The caller holds the state's lock.
func (ck *check) record() shakedown.CheckRecord {
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
	return cr
}

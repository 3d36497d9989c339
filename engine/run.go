package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/words"
)

var (
	errTimeout  = errors.New("run timed out")
	errStopped  = errors.New("stop condition fired")
	errFinished = errors.New("run finished")
	// errRevertFailed stops the fault graph after a revert failed; the failure itself is
	// already in the outcome.
	errRevertFailed = errors.New("revert failed")
)

// Stopped is the cause to cancel a run's context with for an emergency stop (`shakedown
// stop`, a dashboard's stop button): the run reverts everything at once, as for any
// cancellation, and ends aborted with "stopped by " + By as its reason.
type Stopped struct {
	By string // who: "root on host (shakedown stop, pid 123)"
}

func (s *Stopped) Error() string { return "stopped by " + s.By }

// Is makes a run stopped so a cancelled one, as a signal's cause is.
func (s *Stopped) Is(target error) bool { return target == context.Canceled }

// runner is one run of one experiment. The goroutine that calls Run owns it; samplers,
// pollers, loads and fault goroutines report to it through state, whose lock guards what
// they share. Everything else is set up before they start and read-only while they run,
// or belongs to the goroutine that calls Run.
type runner struct {
	exp  *shakedown.Experiment
	opts Options
	reg  *shakedown.Registry
	now  func() time.Time
	env  shakedown.Env
	rec  *shakedown.Record

	parent    context.Context
	ctx       context.Context // cancelled by a stop condition, a failure, the timeout or the parent
	cancel    context.CancelCauseFunc
	stopTimer context.CancelFunc

	s       *setup
	loads   []*loadRun
	checks  []*check
	expects []*expect

	jch     chan journalOpen // the journal being opened; nil once received
	journal Journal
	release func(leftInjected bool) // of the run's claim on its target instances, if any

	mon       errgroup.Group // loads, samplers and pollers
	closing   sync.WaitGroup // phases being closed once their requests complete
	monCancel context.CancelFunc

	wake   chan struct{} // poked when a sample may change what the main loop waits for
	emitMu sync.Mutex

	state shared // what the run's goroutines share; reached only through state.with
}

// shared holds the state the run's goroutines share with the lock that guards it. The state
// is reached only through with, so that every access shows that it holds the lock.
type shared struct {
	mu sync.Mutex
	s  runState
}

// with calls f with the shared state, holding the lock. f must not keep s, block, emit an
// event or call anything that takes the lock again.
func (g *shared) with(f func(s *runState)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(&g.s)
}

// runState is what the run's goroutines share. The same lock guards the record's phases and
// faults and the mutable state of checks and expectations (check.win, expect.firedAt, …):
// the functions that touch those take a *runState, which only shared.with hands out.
type runState struct {
	phase       shakedown.Phase
	epoch       int // counts phases entered: a sample taken in an earlier one is not live
	closed      map[shakedown.Phase]bool
	stack       []*held         // injected faults, in the order of their inject
	graph       *errgroup.Group // the fault goroutines, while the inject phase runs
	firstInject time.Time
	revertEnd   time.Time
	recoveredAt time.Time
	phaseAt     time.Time // when the current phase began
	out         outcome
}

type loadRun struct {
	spec *shakedown.LoadSpec
	load Load
}

type journalOpen struct {
	j   Journal
	err error
}

// held is an injected fault waiting for its revert.
type held struct {
	n         *node
	revert    shakedown.Revert
	jid       int
	journaled bool
}

// outcome collects what happened, by verdict class.
type outcome struct {
	notRestored  []string
	revertFailed bool
	errs         []error
	aborted      string
	failed       []string
	notSteady    string
}

// Run runs one experiment and always returns a complete record with its verdict, exit code
// and reason. It never returns with anything injected unless a revert failed; then the
// verdict is not_restored and record.Recover holds the command that reverts what is left.
//
// Cancelling ctx aborts the run (exit 3) after reverting everything on a context detached
// from ctx; so does opts.Timeout.
func Run(ctx context.Context, exp *shakedown.Experiment, opts Options) (rec *shakedown.Record) {
	r := newRunner(ctx, exp, opts)
	defer func() {
		if p := recover(); p != nil {
			r.log().Error("shakedown engine: panic in run", "run", r.env.RunID, "panic", p, "stack", string(debug.Stack()))
			r.setErr(shakedown.Errorf(shakedown.KindInternal, "panic: %v", p))
		}
		r.finish()
		rec = r.rec
	}()
	r.run()
	return r.rec
}

func newRunner(ctx context.Context, exp *shakedown.Experiment, opts Options) *runner {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	seed := opts.Seed
	if seed == 0 {
		seed = randomSeed()
	}
	start := now()
	r := &runner{
		exp: exp, opts: opts, reg: opts.Registry, now: now, parent: ctx,
		wake:  make(chan struct{}, 1),
		state: shared{s: runState{closed: map[shakedown.Phase]bool{}}},
	}
	r.env = shakedown.Env{RunID: NewID(start), Experiment: exp.Name, StateDir: opts.StateDir, Seed: seed, Shared: sharedTargets(exp)}
	host := opts.Host
	r.rec = &shakedown.Record{
		Schema: shakedown.RecordSchema,
		ID:     r.env.RunID,
		Experiment: shakedown.ExperimentRef{
			Name: exp.Name, File: exp.File, SHA256: exp.SHA256,
			Description: exp.Description, Labels: exp.Labels,
		},
		Commit:       opts.Commit,
		StartedAt:    shakedown.At(start),
		Seed:         seed,
		Version:      shakedown.Version,
		Host:         host,
		Phases:       []shakedown.PhaseRecord{},
		Targets:      []shakedown.TargetRecord{},
		Faults:       []shakedown.FaultRecord{},
		Checks:       []shakedown.CheckRecord{},
		Expectations: []shakedown.ExpectationRecord{},
		Loads:        []shakedown.LoadRecord{},
	}
	// The record shows parameters with their secrets hidden, and says which fields held one.
	for i, f := range exp.Faults {
		r.rec.Faults = append(r.rec.Faults, shakedown.FaultRecord{Name: f.Name, Type: f.Type, Target: f.Target,
			Params: shakedown.RedactParams(fmt.Sprintf("faults[%d].with", i), f.Params)})
	}
	r.rec.Redacted = shakedown.SecretPaths(exp.Secrets())
	var inner context.Context
	inner, r.cancel = context.WithCancelCause(ctx)
	r.ctx = inner
	if opts.Timeout > 0 {
		r.ctx, r.stopTimer = context.WithTimeoutCause(inner, opts.Timeout, errTimeout)
	}
	return r
}

// run goes through the phases. Whatever it leaves behind, finish cleans up.
func (r *runner) run() {
	r.emit(shakedown.Event{Kind: shakedown.EventRunStart, Detail: r.exp.File})
	if r.ctx.Err() != nil {
		return
	}
	s, err := build(r.ctx, r.env, r.exp, r.opts)
	r.s = s
	for _, t := range s.all {
		r.rec.Targets = append(r.rec.Targets, t.record())
		e := shakedown.Event{Kind: shakedown.EventTargets, Name: t.spec.Name,
			Detail: fmt.Sprintf("selected %d of %d: %s", len(t.selected), len(t.matched), words.Some(instanceNames(t.selected), 5))}
		if t.err != nil {
			e.Detail, e.Err = "", t.err.Error()
		}
		r.emit(e)
	}
	if err != nil {
		// Resolving a target cut short by a signal or the timeout is that interruption,
		// which finish records, and not a failure of the tool.
		if r.ctx.Err() == nil {
			r.setErr(err)
		}
		return
	}
	if r.opts.Claim != nil {
		release, err := r.opts.Claim(r.env.RunID, s.claims(r.exp))
		if err != nil {
			// A claim cut short by a signal or the timeout (a lock still waited for) is
			// that interruption too. The claim may have waited on a context above the run's,
			// whose cancellation reaches the run's an instant later (a context's done channel
			// closes before its children are cancelled): that instant is waited for.
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				r.awaitCancel(time.Second)
			}
			if r.ctx.Err() == nil {
				r.setErr(err)
			}
			return
		}
		r.release = release
	}
	// Probes that run on a target's instances (exec with on:) find them here.
	r.env.Targets = s.selectedByName()
	if err := r.setupMonitors(); err != nil {
		r.setErr(err)
		return
	}
	r.openJournal()
	r.startMonitors()
	if !r.baseline() {
		return
	}
	ok := r.inject()
	r.revertPhase()
	if ok {
		r.recovery()
	}
}

// awaitCancel waits until the run's context is done, for at most within.
func (r *runner) awaitCancel(within time.Duration) {
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
	case <-t.C:
	}
}

// openJournal opens the journal (and so starts the watchdog) while the baseline runs, so that
// its start-up does not delay the first inject.
func (r *runner) openJournal() {
	if r.opts.OpenJournal == nil {
		return
	}
	ch := make(chan journalOpen, 1)
	r.jch = ch
	open := r.opts.OpenJournal
	go func() {
		defer close(ch)
		var res journalOpen
		func() {
			defer func() {
				if p := recover(); p != nil {
					res.err = shakedown.Errorf(shakedown.KindInternal, "panic: %v", p)
				}
			}()
			res.j, res.err = open(r.env.RunID, r.exp)
		}()
		ch <- res
	}()
}

// awaitJournal waits for the journal to be open. It reports false when it could not be.
func (r *runner) awaitJournal() bool {
	if r.jch == nil {
		return r.opts.OpenJournal == nil || r.journal != nil
	}
	res := <-r.jch
	r.jch = nil
	if res.err != nil {
		// An open cut short by a signal, a stop or the timeout (a watchdog still starting) is
		// that interruption, which finish records, as for a claim: its cancellation reaches
		// the run's context an instant after the one the open watched.
		if errors.Is(res.err, context.Canceled) || errors.Is(res.err, context.DeadlineExceeded) {
			r.awaitCancel(time.Second)
		}
		if r.ctx.Err() == nil {
			r.setErr(shakedown.Wrap(shakedown.KindOf(res.err), "open journal", res.err))
		}
		return false
	}
	r.journal = res.j
	if g, ok := r.journal.(Guarded); ok {
		lost := g.Lost()
		r.mon.Go(func() error {
			select {
			case err := <-lost:
				r.setErr(err)
				r.emit(shakedown.Event{Kind: shakedown.EventLog, Detail: err.Error()})
				r.cancel(err)
			case <-r.ctx.Done():
			}
			return nil
		})
	}
	return true
}

// baseline runs the baseline phase. It reports whether the inject phase may start.
func (r *runner) baseline() bool {
	r.enter(shakedown.PhaseBaseline, r.exp.Baseline)
	timer := time.NewTimer(r.exp.Baseline)
	defer timer.Stop()
	// With a baseline, the phase lasts its length and until every steady-state probe has
	// been sampled at least once (bounded by the probe's timeout): no evidence is no pass.
	// Without one (0), nothing is waited for.
	over := r.exp.Baseline <= 0
	for !over || r.exp.Baseline > 0 && !r.baselineSampled() {
		if r.baselineBroken() || r.ctx.Err() != nil {
			return false
		}
		select {
		case <-timer.C:
			over = true
		case <-r.ctx.Done():
		case <-r.wake:
		}
	}
	if r.baselineBroken() || r.ctx.Err() != nil {
		return false
	}
	r.closePhase(shakedown.PhaseBaseline)
	if r.baselineBroken() {
		return false
	}
	r.computeBaselines()
	return r.ctx.Err() == nil
}

// inject runs the fault graph. It reports whether the run went through it without being
// interrupted or failing, so that the recovery is worth watching.
func (r *runner) inject() bool {
	if !r.awaitJournal() || r.ctx.Err() != nil {
		return false
	}
	r.enter(shakedown.PhaseInject, r.s.length())
	g, gctx := errgroup.WithContext(r.ctx)
	r.state.with(func(s *runState) { s.graph = g })
	for _, n := range r.s.nodes {
		g.Go(func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = r.panicked("fault "+n.spec.Name, p)
					r.setErr(err)
				}
			}()
			return r.runNode(gctx, n)
		})
	}
	g.Wait()
	var ok bool
	r.state.with(func(s *runState) {
		s.graph = nil
		ok = len(s.out.errs) == 0 && !s.out.revertFailed
	})
	return r.ctx.Err() == nil && ok
}

// runNode waits for the fault's turn, injects it, holds it and reverts it.
func (r *runner) runNode(ctx context.Context, n *node) error {
	for _, d := range n.deps {
		select {
		case <-d.injected:
		case <-ctx.Done():
			return nil
		}
	}
	if n.spec.Delay > 0 {
		t := time.NewTimer(n.spec.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if p, ok := n.fault.(shakedown.Preparer); ok {
		if err := p.Prepare(ctx); err != nil {
			return r.injectFailed(ctx, n, fmt.Errorf("prepare: %w", err))
		}
	}
	undos := n.fault.Undo()
	h := &held{n: n}
	if j := r.journal; j != nil {
		id, err := j.Begin(n.spec.Name, undos, r.ttl(n))
		if err != nil {
			return r.injectFailed(ctx, n, fmt.Errorf("journal: %w", err))
		}
		h.jid, h.journaled = id, true
	}
	rev, err, returned := r.safeInject(ctx, n, undos)
	at := r.now()
	if h.journaled && returned {
		if jerr := r.journal.Injected(h.jid); jerr != nil {
			// The watchdog would stop processes that are gone already: no harm, only noise.
			r.log().Warn("shakedown engine: journal injected", "run", r.env.RunID, "fault", n.spec.Name, "err", jerr)
		}
	}
	h.revert = rev
	if rev != nil {
		r.state.with(func(s *runState) { s.stack = append(s.stack, h) })
	} else if h.journaled {
		r.journalDone(h, nil) // nothing to take back
	}
	if err != nil {
		return r.injectFailed(ctx, n, err)
	}
	var first bool
	r.state.with(func(s *runState) {
		r.rec.Faults[n.idx].InjectedAt = shakedown.AtPtr(at)
		first = s.firstInject.IsZero()
		if first {
			s.firstInject = at
		}
	})
	close(n.injected)
	r.emit(shakedown.Event{Kind: shakedown.EventInject, Phase: shakedown.PhaseInject, Name: n.spec.Name,
		Detail: fmt.Sprintf("%s on %s", n.spec.Type, orDash(words.Some(instanceNames(n.selected), 5)))})
	if first {
		r.kickExpects()
	}
	if n.typ.OneShot && n.spec.Duration <= 0 {
		return nil // its revert, if any, runs in the revert phase
	}
	var lost <-chan error
	if w, ok := n.fault.(shakedown.Watcher); ok {
		lost = w.Lost()
	}
	t := time.NewTimer(n.spec.Duration)
	for held := true; held; {
		select {
		case <-t.C:
			held = false
		case err := <-lost:
			// Said at once; the revert still says whether it was taken back. The run
			// cannot pass: its hypothesis was judged, in part, on a fault that no longer
			// held (someone took it back, a host dropped out), so it ends in error (5)
			// unless a failed revert makes it not restored (4).
			r.emit(shakedown.Event{Kind: shakedown.EventLog, Phase: shakedown.PhaseInject, Name: n.spec.Name, Detail: err.Error()})
			r.setErr(shakedown.Wrap(shakedown.KindConflict, "fault "+n.spec.Name+" did not hold for its duration", err))
		case <-ctx.Done():
			t.Stop()
			return nil // the revert phase takes it back, with everything else, last in first out
		}
	}
	if h := r.pop(n); h != nil {
		if err := r.revertHeld(h); err != nil {
			return errRevertFailed
		}
	}
	return nil
}

// injectFailed records a fault that could not be injected. When the graph was already being
// stopped, the failure is a consequence, not the cause.
func (r *runner) injectFailed(ctx context.Context, n *node, err error) error {
	r.state.with(func(*runState) { r.rec.Faults[n.idx].Error = err.Error() })
	r.emit(shakedown.Event{Kind: shakedown.EventInject, Phase: shakedown.PhaseInject, Name: n.spec.Name, Err: err.Error()})
	if ctx.Err() != nil {
		return nil // the graph was being stopped: an abort or an earlier failure is the cause
	}
	kind := shakedown.KindOf(err)
	if kind == shakedown.KindInvalid {
		// The file was accepted and the run is under way: a request the system refuses
		// now is a failure of the environment (5), not an invalid file (2, which says
		// that nothing was injected: other faults may be).
		kind = shakedown.KindInternal
	}
	err = shakedown.Wrap(kind, "inject "+n.spec.Name, err)
	r.setErr(err)
	return err
}

// safeInject calls Inject and says whether it returned. When Inject panics, the fault's
// undos (already journaled) become its revert, since it may have applied part of itself.
func (r *runner) safeInject(ctx context.Context, n *node, undos []shakedown.Undo) (rev shakedown.Revert, err error, returned bool) {
	defer func() {
		if p := recover(); p != nil {
			err = r.panicked("inject "+n.spec.Name, p)
			rev = r.undoRevert(undos)
		}
	}()
	rev, err = n.fault.Inject(ctx)
	return rev, err, true
}

// undoRevert returns a revert that carries out undos from the registry, in the order of
// shakedown.InOrder for an inject that did not return normally: its processes may still run.
func (r *runner) undoRevert(undos []shakedown.Undo) shakedown.Revert {
	if len(undos) == 0 {
		return nil
	}
	return func(ctx context.Context) error {
		var errs []error
		for _, u := range shakedown.InOrder(undos, false) {
			f, ok := r.reg.Undo(u.Type)
			if !ok {
				errs = append(errs, fmt.Errorf("undo %s: no undo function of this type", u.Type))
				continue
			}
			if err := f(ctx, u.Data); err != nil {
				errs = append(errs, fmt.Errorf("undo %s: %w", u.Summary, err))
			}
		}
		return errors.Join(errs...)
	}
}

// log is where the engine logs what does not belong in the record.
func (r *runner) log() *slog.Logger {
	if r.opts.Log != nil {
		return r.opts.Log
	}
	return slog.Default()
}

func (r *runner) panicked(where string, p any) error {
	r.log().Error("shakedown engine: panic", "run", r.env.RunID, "in", where, "panic", p, "stack", string(debug.Stack()))
	return shakedown.Errorf(shakedown.KindInternal, "panic in %s: %v", where, p)
}

// pop takes n's entry off the revert stack, or returns nil when it is not there.
func (r *runner) pop(n *node) (h *held) {
	r.state.with(func(s *runState) {
		for i := len(s.stack) - 1; i >= 0; i-- {
			if s.stack[i].n == n {
				h = s.stack[i]
				s.stack = append(s.stack[:i], s.stack[i+1:]...)
				return
			}
		}
	})
	return h
}

func (r *runner) popLast() (h *held) {
	r.state.with(func(s *runState) {
		if len(s.stack) == 0 {
			return
		}
		h = s.stack[len(s.stack)-1]
		s.stack = s.stack[:len(s.stack)-1]
	})
	return h
}

// revertAll reverts whatever is still injected, last in first out.
func (r *runner) revertAll() {
	for h := r.popLast(); h != nil; h = r.popLast() {
		r.revertHeld(h)
	}
}

// revertHeld reverts one fault on a context detached from the run's, with its own deadline.
func (r *runner) revertHeld(h *held) (err error) {
	var lapsed error
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.parent), shakedown.DefaultRevertWait)
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = r.panicked("revert "+h.n.spec.Name, p)
			}
		}()
		// The revert stopped whatever renewed the fault: what it cannot reach and lapses by
		// itself is gone once its lapse has passed.
		lapsed, err = shakedown.AwaitLapse(ctx, h.revert)
	}()
	cancel()
	var note string // how a revert that did not fail ended otherwise
	if lapsed != nil {
		note = "lapsed: " + lapsed.Error()
	}
	at := r.now()
	var phase shakedown.Phase
	r.state.with(func(s *runState) {
		fr := &r.rec.Faults[h.n.idx]
		if err != nil {
			fr.RevertError = err.Error()
			s.out.notRestored = append(s.out.notRestored, fmt.Sprintf("revert %s: %v", h.n.spec.Name, err))
			s.out.revertFailed = true
		} else {
			fr.RevertedAt = shakedown.AtPtr(at)
		}
		fr.RevertNote = note
		phase = s.phase
	})
	if h.journaled {
		r.journalDone(h, err)
	}
	ev := shakedown.Event{Kind: shakedown.EventRevert, Phase: phase, Name: h.n.spec.Name}
	if err != nil {
		ev.Err = err.Error()
	}
	ev.Detail = note
	r.emit(ev)
	return err
}

func (r *runner) journalDone(h *held, revertErr error) {
	if err := r.journal.Done(h.jid, revertErr); err != nil {
		// The watchdog may replay the undo later; undos are idempotent, so this is no harm
		// to the system, only noise.
		r.log().Warn("shakedown engine: journal done", "run", r.env.RunID, "fault", h.n.spec.Name, "err", err)
		r.emit(shakedown.Event{Kind: shakedown.EventLog, Name: h.n.spec.Name, Detail: "journal: " + err.Error()})
	}
}

// closeWhenAnswered closes phase p, which has just ended, once what was asked during it has
// come back — the loads' requests scheduled in it, each within its timeout, so a request the
// fault held up counts with its full latency; the probe samples in flight, each within its
// check's timeout — or the run ends, without holding up what follows (the revert). The
// recovery and the end of the run wait for it.
func (r *runner) closeWhenAnswered(p shakedown.Phase) {
	var probing []chan struct{}
	r.state.with(func(*runState) {
		for _, ck := range r.checks {
			if ck.probing != nil {
				probing = append(probing, ck.probing)
			}
		}
	})
	r.closing.Go(func() {
		defer func() {
			if v := recover(); v != nil {
				r.setErr(r.panicked("close phase "+string(p), v))
			}
		}()
		for _, l := range r.loads {
			l.load.AwaitPhase(r.ctx, p)
		}
		for _, done := range probing {
			select {
			case <-done:
			case <-r.ctx.Done():
			}
		}
		r.closePhase(p)
	})
}

// revertPhase reverts what is still injected and marks the end of the revert.
func (r *runner) revertPhase() {
	injected := r.currentPhase() == shakedown.PhaseInject
	r.enter(shakedown.PhaseRevert, 0)
	if injected {
		r.closeWhenAnswered(shakedown.PhaseInject)
	}
	r.revertAll()
	r.markReverted()
	r.closePhase(shakedown.PhaseRevert)
}

// markReverted notes that the revert is over.
func (r *runner) markReverted() {
	at := r.now()
	r.state.with(func(s *runState) { s.revertEnd = at })
}

// recovery watches the steady state come back, with "eventually" semantics, and waits for
// expectations to be decided.
func (r *runner) recovery() {
	if r.exp.Recovery <= 0 && len(r.expects) == 0 {
		return
	}
	r.enter(shakedown.PhaseRecovery, r.exp.Recovery)
	var re time.Time
	r.state.with(func(s *runState) { re = s.revertEnd })
	steadyDeadline := re.Add(r.exp.Recovery)
	judgeSteady := r.exp.Recovery > 0 && r.hasRecoveryChecks()
	for r.ctx.Err() == nil {
		now := r.now()
		var recovered bool
		r.state.with(func(s *runState) { recovered = !s.recoveredAt.IsZero() })
		steadyDone := !judgeSteady || recovered || !now.Before(steadyDeadline)
		expDone, expDeadline := r.expectationsDecided(now)
		if steadyDone && expDone {
			break
		}
		var next time.Time
		if !steadyDone {
			next = steadyDeadline
		}
		if !expDone && (next.IsZero() || expDeadline.Before(next)) {
			next = expDeadline
		}
		t := time.NewTimer(max(next.Sub(now), time.Millisecond))
		select {
		case <-t.C:
		case <-r.ctx.Done():
		case <-r.wake:
		}
		t.Stop()
	}
	if r.ctx.Err() != nil {
		return
	}
	r.closing.Wait() // the inject phase is judged before the recovery
	r.closePhase(shakedown.PhaseRecovery)
	r.state.with(func(s *runState) {
		if judgeSteady && s.recoveredAt.IsZero() {
			s.out.notRestored = append(s.out.notRestored, fmt.Sprintf("steady state not back within %s of the revert: %s",
				shortDur(r.exp.Recovery), s.notHolding(r.checks)))
		}
		if !s.recoveredAt.IsZero() {
			r.rec.Recovery.TimeToRecover = shakedown.MsPtr(max(0, s.recoveredAt.Sub(re)))
		}
	})
}

// enter starts phase p: the record, the loads, the checks' windows, and the event.
func (r *runner) enter(p shakedown.Phase, length time.Duration) {
	now := r.now()
	r.state.with(func(s *runState) {
		if n := len(r.rec.Phases); n > 0 {
			r.rec.Phases[n-1].End = shakedown.At(now)
		}
		r.rec.Phases = append(r.rec.Phases, shakedown.PhaseRecord{Name: p, Start: shakedown.At(now)})
		s.phase = p
		s.phaseAt = now
		s.epoch++
		for _, ck := range r.checks {
			if ck.role == roleSteady {
				ck.resetWindow()
			}
		}
	})
	for _, l := range r.loads {
		l.load.SetPhase(p)
	}
	for _, ck := range r.checks {
		kick(ck.kick)
	}
	r.kickExpects()
	r.emit(shakedown.Event{Kind: shakedown.EventPhase, Phase: p, Remaining: length})
}

func (r *runner) kickExpects() {
	for _, x := range r.expects {
		kick(x.kick)
	}
}

func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (r *runner) poke() { kick(r.wake) }

// setupMonitors builds loads, checks and expectations.
func (r *runner) setupMonitors() error {
	byName := map[string]Load{}
	for _, ls := range r.exp.Loads {
		if r.opts.NewLoad == nil {
			return shakedown.Errorf(shakedown.KindInternal, "load %s: no load generator configured", ls.Name)
		}
		l, err := r.opts.NewLoad(ls)
		if err != nil {
			return shakedown.Wrap(shakedown.KindOf(err), "load "+ls.Name, err)
		}
		r.s.keep(l)
		r.loads = append(r.loads, &loadRun{spec: ls, load: l})
		byName[ls.Name] = l
	}
	for _, c := range r.exp.SteadyState {
		ck, err := r.newCheck(c, roleSteady, byName)
		if err != nil {
			return err
		}
		r.checks = append(r.checks, ck)
	}
	for _, c := range r.exp.StopIf {
		ck, err := r.newCheck(c, roleStop, byName)
		if err != nil {
			return err
		}
		r.checks = append(r.checks, ck)
	}
	for _, e := range r.exp.Expect {
		x, err := r.newExpect(e)
		if err != nil {
			return err
		}
		r.expects = append(r.expects, x)
	}
	return nil
}

// startMonitors starts the loads, the check samplers and the expectation pollers. They run
// until finish stops them.
func (r *runner) startMonitors() {
	ctx, cancel := context.WithCancel(r.ctx)
	r.monCancel = cancel
	for _, l := range r.loads {
		r.goMon("load "+l.spec.Name, func() error {
			if err := l.load.Run(ctx); err != nil && ctx.Err() == nil {
				return shakedown.Wrap(shakedown.KindOf(err), "load "+l.spec.Name, err)
			}
			return nil
		})
	}
	if len(r.loads) > 0 && r.opts.Events != nil {
		r.goMon("load summary", func() error { r.loadSummaries(ctx); return nil })
	}
	for _, ck := range r.checks {
		r.goMon("check "+ck.c.Name, func() error { return r.sampleLoop(ctx, ck) })
	}
	for _, x := range r.expects {
		r.goMon("expectation "+x.e.Name, func() error { return r.pollLoop(ctx, x) })
	}
}

// goMon runs f in the monitors' group; an error or a panic fails the run.
func (r *runner) goMon(what string, f func() error) {
	r.mon.Go(func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = r.panicked(what, p)
			}
			if err != nil {
				r.fail(err)
			}
		}()
		return f()
	})
}

// fail records a tool error and interrupts the run.
func (r *runner) fail(err error) {
	r.setErr(err)
	r.cancel(err)
}

func (r *runner) setErr(err error) {
	r.state.with(func(s *runState) { s.out.errs = append(s.out.errs, err) })
}

// abort interrupts the run for reason (a stop condition).
func (r *runner) abort(reason string) {
	r.state.with(func(s *runState) {
		if s.out.aborted == "" {
			s.out.aborted = reason
		}
	})
	r.cancel(errStopped)
}

// noteInterruption says why the run's context ended, when nothing else has.
func (r *runner) noteInterruption() {
	if r.ctx.Err() == nil {
		return
	}
	r.state.with(func(s *runState) {
		if s.out.aborted == "" && len(s.out.errs) == 0 {
			s.out.aborted = r.interruption()
		}
	})
}

// interruption says why the run's context ended.
func (r *runner) interruption() string {
	switch cause := context.Cause(r.ctx); {
	case errors.Is(cause, errTimeout):
		return "timeout after " + shortDur(r.opts.Timeout)
	case r.parent.Err() != nil:
		var stop *Stopped
		if c := context.Cause(r.parent); errors.As(c, &stop) {
			return stop.Error()
		} else if c != nil && !errors.Is(c, context.Canceled) {
			return "cancelled: " + c.Error()
		}
		return "cancelled"
	default:
		return "interrupted: " + cause.Error()
	}
}

// finish reverts whatever is left, stops everything the run started, and completes the
// record. It runs on every path, panics included.
func (r *runner) finish() {
	if !r.injected() {
		// The inject phase is judged once its requests are answered, each within its
		// timeout. With a fault still in, the revert comes first: the cancel below cuts the
		// wait short.
		r.closing.Wait()
	}
	r.noteInterruption()
	r.cancel(errFinished)
	if r.stopTimer != nil {
		r.stopTimer()
	}
	var g *errgroup.Group
	r.state.with(func(s *runState) { g = s.graph })
	if g != nil {
		g.Wait() // only after a panic in the main goroutine during the inject phase
	}
	if r.injected() {
		if phase := r.currentPhase(); phase != shakedown.PhaseRevert {
			r.closePhase(phase)
			r.enter(shakedown.PhaseRevert, 0)
		}
		r.revertAll()
		r.markReverted()
	}
	r.closing.Wait()
	if r.monCancel != nil {
		r.monCancel()
	}
	r.mon.Wait()
	if phase := r.currentPhase(); phase != "" {
		r.closePhase(phase)
	}
	end := r.now()
	if n := len(r.rec.Phases); n > 0 {
		r.rec.Phases[n-1].End = shakedown.At(end)
	}
	if r.jch != nil {
		if res := <-r.jch; res.j != nil {
			r.journal = res.j
		}
		r.jch = nil
	}
	if r.journal != nil {
		if err := r.journal.Close(); err != nil {
			r.log().Warn("shakedown engine: close journal", "run", r.env.RunID, "err", err)
		}
		if g, ok := r.journal.(Guarded); ok {
			for _, l := range g.Lapses() {
				r.rec.Unguarded = append(r.rec.Unguarded, l)
				r.setErr(shakedown.Errorf(shakedown.KindInternal, "unguarded: %s", l))
				r.emit(shakedown.Event{Kind: shakedown.EventLog, Detail: "unguarded: " + l})
			}
		}
	}
	if r.release != nil {
		r.release(r.revertFailed())
	}
	for _, l := range r.loads {
		r.rec.Loads = append(r.rec.Loads, l.load.Record())
	}
	if r.s != nil { // closes the probes, alert sources and loads too, last made first
		r.s.close()
	}
	r.finishChecks()
	r.finishExpects(end)
	r.rec.EndedAt = shakedown.At(end)
	r.rec.Verdict, r.rec.Reason = r.verdict()
	r.rec.ExitCode = r.rec.Verdict.ExitCode()
	if r.revertFailed() {
		dir := r.opts.StateDir
		if dir == "" {
			dir = shakedown.DefaultStateDir
		}
		r.rec.Recover = "shakedown recover --state-dir " + dir
	}
	r.emit(shakedown.Event{Kind: shakedown.EventRunEnd, Verdict: r.rec.Verdict, Detail: r.rec.Reason})
}

// emit delivers an event, one at a time.
func (r *runner) emit(ev shakedown.Event) {
	if r.opts.Events == nil {
		return
	}
	ev.Time = r.now()
	ev.Run = r.env.RunID
	ev.Experiment = r.exp.Name
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.opts.Events(ev)
}

// ttl is how long the watchdog lets a fault live before it takes it back itself: its
// duration plus a margin. A one-shot fault with no duration keeps its revert (a restart, say)
// until the revert phase, so its TTL runs to the planned end of the whole fault graph.
func (r *runner) ttl(n *node) time.Duration {
	if n.spec.Duration > 0 {
		return shakedown.TTL(n.spec.Duration)
	}
	return shakedown.TTL(max(0, r.s.length()-n.start))
}

// loadSummaries emits, once a second, what each load did in the last second: the rate of
// answers, the errors and the p99, for live progress.
func (r *runner) loadSummaries(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, l := range r.loads {
			thr, n := l.load.Value("throughput", time.Second, 0)
			if n == 0 {
				r.emit(shakedown.Event{Kind: shakedown.EventLoad, Phase: r.currentPhase(), Name: l.spec.Name, Detail: "no answers in the last second"})
				continue
			}
			errs, _ := l.load.Value("errors", time.Second, 0)
			p99, _ := l.load.Value("latency.p99", time.Second, 0)
			r.emit(shakedown.Event{Kind: shakedown.EventLoad, Phase: r.currentPhase(), Name: l.spec.Name,
				Detail: fmt.Sprintf("%.0f ok/s, %s errors, p99 %s", thr, formatValue(shakedown.UnitFraction, errs),
					formatValue(shakedown.UnitDuration, p99))})
		}
	}
}

func (r *runner) currentPhase() (p shakedown.Phase) {
	r.state.with(func(s *runState) { p = s.phase })
	return p
}

// injected says whether a fault is still injected.
func (r *runner) injected() (yes bool) {
	r.state.with(func(s *runState) { yes = len(s.stack) > 0 })
	return yes
}

// revertFailed says whether a revert failed, so that something may be left injected.
func (r *runner) revertFailed() (yes bool) {
	r.state.with(func(s *runState) { yes = s.out.revertFailed })
	return yes
}

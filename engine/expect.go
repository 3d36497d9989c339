package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// alertTimeout bounds one poll of an alert source.
const alertTimeout = 5 * time.Second

// expect is one detection or recovery expectation with what its polls saw.
type expect struct {
	e      *shakedown.Expectation
	alert  AlertSource
	prober shakedown.Prober
	every  time.Duration
	kick   chan struct{}

	// Guarded by the runner's state lock: touched by functions that take a *runState.
	firedAt   time.Time // alert: first seen firing after the first inject; probe: first seen failing
	backAt    time.Time // alert: first seen resolved after the revert; probe: first seen holding
	preFiring bool      // the alert fired before anything was injected
	lastErr   string
}

func (r *runner) newExpect(e *shakedown.Expectation) (*expect, error) {
	x := &expect{e: e, kick: make(chan struct{}, 1)}
	switch {
	case e.Alert != nil:
		if r.opts.NewAlert == nil {
			return nil, shakedown.Errorf(shakedown.KindInternal, "expectation %s: no alert source configured", e.Name)
		}
		a, err := r.opts.NewAlert(e.Alert)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindOf(err), "expectation "+e.Name, err)
		}
		r.s.keep(a)
		x.alert, x.every = a, alertEvery
	case e.Probe != nil:
		pt, ok := r.reg.Probe(e.Probe.Type)
		if !ok {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "expectation %s: unknown probe type %q", e.Name, e.Probe.Type)
		}
		within := max(e.RecoversWithin, e.FiresWithin)
		x.every = min(max(within/20, 100*time.Millisecond), time.Second)
		p, err := pt.New(r.env, e.Probe.Params, shakedown.ProbeTimeout(x.every))
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindOf(err), "expectation "+e.Name, err)
		}
		r.s.keep(p)
		x.prober = p
	default:
		return nil, shakedown.Errorf(shakedown.KindInvalid, "expectation %s: neither an alert nor a probe", e.Name)
	}
	return x, nil
}

// pollLoop polls the expectation every interval, and at once on the first inject and when a
// phase starts. An alert is polled from the baseline on, so that an unreachable source is
// found before anything is injected.
func (r *runner) pollLoop(ctx context.Context, x *expect) error {
	t := time.NewTicker(x.every)
	defer t.Stop()
	for {
		phase := r.currentPhase()
		if phase != "" && (x.alert != nil || phase != shakedown.PhaseBaseline) {
			r.poll(ctx, x, phase)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-x.kick:
			t.Reset(x.every)
		}
	}
}

func (r *runner) poll(ctx context.Context, x *expect, phase shakedown.Phase) {
	at := r.now()
	var bad bool // alert firing, or probe failing
	if x.alert != nil {
		pctx, cancel := context.WithTimeout(ctx, alertTimeout)
		firing, err := x.alert.Firing(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if phase == shakedown.PhaseBaseline {
				kind := shakedown.KindOf(err)
				if kind == shakedown.KindInternal {
					kind = shakedown.KindUnavailable
				}
				r.fail(shakedown.Wrap(kind, "expectation "+x.e.Name, err))
				return
			}
			r.state.with(func(*runState) { x.lastErr = err.Error() })
			r.emit(shakedown.Event{Kind: shakedown.EventLog, Phase: phase, Name: x.e.Name, Err: err.Error()})
			return
		}
		bad = firing
	} else {
		pctx, cancel := context.WithTimeout(ctx, shakedown.ProbeTimeout(x.every))
		_, err := x.prober.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		bad = err != nil
	}
	var ev string
	r.state.with(func(s *runState) { ev = s.observeExpect(x, at, bad) })
	if ev != "" {
		r.emit(shakedown.Event{Kind: shakedown.EventExpect, Phase: phase, Name: x.e.Name, Held: true, Detail: ev})
		r.poke()
	}
}

// observeExpect notes what a poll of x at at saw: bad is an alert firing or a probe failing. It
// returns what to say when the poll detected the fault or saw the system recover.
func (s *runState) observeExpect(x *expect, at time.Time, bad bool) string {
	fi, re := s.firstInject, s.revertEnd
	switch {
	case bad && fi.IsZero():
		x.preFiring = x.alert != nil
	case bad && x.firedAt.IsZero() && !at.Before(fi):
		x.firedAt = at
		return fmt.Sprintf("detected %s after the first inject", shortDur(at.Sub(fi)))
	case !bad && !re.IsZero() && x.backAt.IsZero() && !at.Before(re) && (x.alert == nil || !x.firedAt.IsZero()):
		x.backAt = at
		return fmt.Sprintf("recovered %s after the revert", shortDur(at.Sub(re)))
	}
	return ""
}

// judge decides an expectation as far as can be at now. deadline is when its undecided
// parts will be decided.
func (s *runState) judge(x *expect, now time.Time) (decided, held bool, detail string, deadline time.Time) {
	v := expectVerdict{decided: true, held: true}
	what, back := "fired", "resolved"
	within := x.e.ResolvesWithin
	if x.alert == nil {
		what, back = "broke", "held again"
		within = x.e.RecoversWithin
	}
	if x.e.FiresWithin > 0 {
		v.fires(x, s.firstInject, now, what)
	}
	if within > 0 {
		v.comesBack(x, s.revertEnd, within, now, back)
	}
	if x.lastErr != "" && !v.held {
		v.notes = append(v.notes, "last error: "+x.lastErr)
	}
	return v.decided, v.held, strings.Join(v.notes, "; "), v.deadline
}

// expectVerdict is an expectation's verdict as its parts are judged.
type expectVerdict struct {
	decided, held bool
	notes         []string
	deadline      time.Time // when the undecided parts will be decided
}

func (v *expectVerdict) note(format string, args ...any) {
	v.notes = append(v.notes, fmt.Sprintf(format, args...))
}

func (v *expectVerdict) fail(format string, args ...any) {
	v.held = false
	v.note(format, args...)
}

// later leaves a part undecided until t.
func (v *expectVerdict) later(t time.Time) {
	v.decided = false
	if v.deadline.IsZero() || t.Before(v.deadline) {
		v.deadline = t
	}
}

// fires judges whether x fired (an alert) or broke (a probe) within its time of fi, the
// first inject.
func (v *expectVerdict) fires(x *expect, fi, now time.Time, what string) {
	within := x.e.FiresWithin
	switch {
	case fi.IsZero():
		v.fail("nothing was injected")
	case !x.firedAt.IsZero() && x.firedAt.Sub(fi) <= within:
		v.note("%s after %s (within %s)", what, shortDur(x.firedAt.Sub(fi)), shortDur(within))
	case !x.firedAt.IsZero():
		v.fail("%s after %s, expected within %s", what, shortDur(x.firedAt.Sub(fi)), shortDur(within))
	case now.Sub(fi) > within:
		v.fail("did not fire within %s of the first inject", shortDur(within))
	default:
		v.later(fi.Add(within))
	}
	if x.preFiring {
		v.note("it was already firing before the first inject")
	}
}

// comesBack judges whether x resolved (an alert) or held again (a probe) within within of
// re, the end of the revert.
func (v *expectVerdict) comesBack(x *expect, re time.Time, within time.Duration, now time.Time, back string) {
	switch {
	case re.IsZero():
		v.fail("nothing was reverted")
	case x.alert != nil && x.firedAt.IsZero():
		if x.e.FiresWithin <= 0 {
			v.note("never fired, nothing to resolve")
		}
	case !x.backAt.IsZero() && x.backAt.Sub(re) <= within:
		v.note("%s %s after the revert (within %s)", back, shortDur(x.backAt.Sub(re)), shortDur(within))
	case !x.backAt.IsZero():
		v.fail("%s %s after the revert, expected within %s", back, shortDur(x.backAt.Sub(re)), shortDur(within))
	case now.Sub(re) > within:
		v.fail("not %s within %s of the revert", back, shortDur(within))
	default:
		v.later(re.Add(within))
	}
}

// expectationsDecided says whether every expectation is decided, and if not, when the next
// undecided part will be.
func (r *runner) expectationsDecided(now time.Time) (all bool, next time.Time) {
	v := expectVerdict{decided: true}
	r.state.with(func(s *runState) {
		for _, x := range r.expects {
			if decided, _, _, dl := s.judge(x, now); !decided {
				v.later(dl)
			}
		}
	})
	return v.decided, v.deadline
}

// finishExpects writes each expectation's record and counts the missed ones as failures.
func (r *runner) finishExpects(end time.Time) {
	var events []shakedown.Event
	r.state.with(func(s *runState) {
		for _, x := range r.expects {
			er := s.expectRecord(x, end)
			r.rec.Expectations = append(r.rec.Expectations, er)
			if !er.Held {
				s.out.failed = append(s.out.failed, fmt.Sprintf("expectation %q: %s", x.e.Name, er.Detail))
			}
			events = append(events, shakedown.Event{Kind: shakedown.EventExpect, Name: x.e.Name, Held: er.Held, Detail: er.Detail})
		}
	})
	for _, ev := range events {
		r.emit(ev)
	}
}

// expectRecord judges x for good at end, the end of the run.
func (s *runState) expectRecord(x *expect, end time.Time) shakedown.ExpectationRecord {
	decided, held, detail, _ := s.judge(x, end)
	if !decided {
		held, detail = false, "not judged: the run ended before it could be decided"
	}
	er := shakedown.ExpectationRecord{Name: x.e.Name, Held: held, Detail: detail}
	if !x.firedAt.IsZero() {
		er.FiredAt = shakedown.AtPtr(x.firedAt)
		er.TimeToDetect = shakedown.MsPtr(x.firedAt.Sub(s.firstInject))
	}
	if !x.backAt.IsZero() {
		er.ResolvedAt = shakedown.AtPtr(x.backAt)
		er.TimeToRecover = shakedown.MsPtr(x.backAt.Sub(s.revertEnd))
	}
	return er
}

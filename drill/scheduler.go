package drill

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// RunFunc runs a drill's experiments once and returns their records (several for a folder,
// a suite), or an error when nothing could be run (an experiment file became invalid, the
// store of a lock could not be had). It calls started with each run's ID as it starts. A
// cancelled ctx cuts the runs short: they revert and end aborted, and their records are
// returned.
type RunFunc func(ctx context.Context, d *Drill, started func(runID string)) ([]*shakedown.Record, error)

// Scheduler runs the drills of a schedule when they are due, until its context ends.
//
// Each drill has one goroutine, so a drill never overlaps itself: one still running (or
// waiting for its lock) when it is due again is not started twice, and the times it missed
// are skipped, said in the log and counted in its State; it next runs at its first due time
// after the run ended. Run it once.
// Drills with the same lock run one at a time: one due while its lock is taken by another
// drill waits for it (its State says so), and runs as soon as the lock is free.
type Scheduler struct {
	Drills   []*Drill
	RunDrill RunFunc
	// Notifier tells a drill's notify URLs of each run whose verdict is not passed; nil
	// tells no one.
	Notifier *Notifier
	Log      *slog.Logger // nil: slog.Default()

	now func() time.Time // nil: time.Now; tests move the wall clock with it

	once   sync.Once // sets states up
	states states
	locks  locks
}

// State is what a drill is doing, for the dashboard.
type State struct {
	Name        string
	Experiments string
	When        string    // "every 2h", "cron 0 3 * * *"
	Lock        string    // "" when it takes none
	Next        time.Time // when it is next due; zero while it runs or waits
	Waiting     bool      // due, waiting for its lock
	Running     string    // the ID of its run in progress; "" when none
	Last        *Outcome  // its last run; nil before the first ends
	Runs        int       // how many times it ran since the scheduler started
	Skipped     int       // how many due times it missed while it still ran or waited
}

// Outcome is how one firing of a drill ended.
type Outcome struct {
	RunID    string // the last run's (a suite has several)
	Verdict  shakedown.Verdict
	ExitCode int
	Reason   string
	Started  time.Time
	Ended    time.Time
	Err      string // why nothing could be run, when so
}

// notifyBacklog is how many notifications of one drill may wait while an earlier one is
// still being delivered; past it, the newest are dropped (and logged).
const notifyBacklog = 8

// Run runs the drills until ctx ends, then waits for the runs in progress (which a
// cancelled ctx reverts and aborts) to end and be recorded.
//
// A drill's notifications are delivered by a goroutine of their own, so that a receiver
// that is slow or never answers delays neither the drill's next run nor the drills that
// wait for its lock.
func (s *Scheduler) Run(ctx context.Context) {
	s.once.Do(func() { s.states.init(s.Drills) })
	var wg sync.WaitGroup
	for _, d := range s.Drills {
		outbox := make(chan func(context.Context), notifyBacklog)
		wg.Go(func() {
			defer close(outbox)
			s.loop(ctx, d, outbox)
		})
		wg.Go(func() {
			for send := range outbox {
				send(ctx)
			}
		})
	}
	wg.Wait()
}

// State returns each drill's state, in the schedule's order.
func (s *Scheduler) State() []State {
	s.once.Do(func() { s.states.init(s.Drills) })
	return s.states.snapshot()
}

func (s *Scheduler) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// loop fires d each time it is due, until ctx ends.
func (s *Scheduler) loop(ctx context.Context, d *Drill, outbox chan<- func(context.Context)) {
	due := d.Next(s.clock())
	for {
		if due.IsZero() {
			s.log().Warn("drill is never due again", "drill", d.Name, "when", d.When())
			return
		}
		s.states.update(d.Name, func(st *State) { st.Next = due })
		if !sleepUntil(ctx, s.clock, due) {
			return
		}
		s.states.update(d.Name, func(st *State) { st.Next = time.Time{} })
		release, ok := s.locks.take(ctx, d.Lock, func() {
			s.log().Info("drill due, waiting for its lock", "drill", d.Name, "lock", d.Lock)
			s.states.update(d.Name, func(st *State) { st.Waiting = true })
		})
		if !ok {
			return
		}
		if ctx.Err() != nil {
			release()
			return
		}
		s.fire(ctx, d, outbox)
		release()
		var missed int
		due, missed = nextAfter(d, due, s.clock())
		if missed > 0 {
			s.log().Info("drill still running when due again: skipped", "drill", d.Name, "times", missed, "next", due.Format(time.RFC3339))
			s.states.update(d.Name, func(st *State) { st.Skipped += missed })
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// nextAfter returns d's first due time after now, following due, and how many due times
// between them were missed.
func nextAfter(d *Drill, due, now time.Time) (next time.Time, missed int) {
	next = d.Next(due)
	if d.cron == nil && d.Every > 0 && !next.After(now) {
		n := int(now.Sub(next)/d.Every) + 1
		return next.Add(time.Duration(n) * d.Every), n
	}
	for ; !next.IsZero() && !next.After(now); missed++ {
		if missed >= 100000 {
			return d.Next(now), missed
		}
		next = d.Next(next)
	}
	return next, missed
}

// fire runs d once, records its outcome and, when it did not pass, puts its notification
// in outbox (without waiting for it to be delivered).
func (s *Scheduler) fire(ctx context.Context, d *Drill, outbox chan<- func(context.Context)) {
	log := s.log().With("drill", d.Name)
	log.Info("drill starts", "experiments", d.Experiments)
	started := time.Now()
	s.states.update(d.Name, func(st *State) { st.Waiting = false })
	records, err := s.RunDrill(ctx, d, func(id string) {
		s.states.update(d.Name, func(st *State) { st.Running = id })
	})
	o := outcome(records, err)
	if o.Started.IsZero() {
		o.Started = started
	}
	if o.Ended.IsZero() {
		o.Ended = time.Now()
	}
	s.states.update(d.Name, func(st *State) { st.Running, st.Last = "", &o; st.Runs++ })
	if err != nil {
		log.Error("drill could not run", "err", err)
	} else {
		log.Info("drill ends", "run", o.RunID, "verdict", o.Verdict, "exit_code", o.ExitCode)
	}
	if o.Verdict == shakedown.VerdictPassed || s.Notifier == nil || len(d.Notify) == 0 {
		return
	}
	if ctx.Err() != nil {
		// Cut short by the scheduler's end (serve is stopping): the runs are aborted by us,
		// not by the system; no one is woken for that.
		log.Info("drill cut short by the scheduler's end: not notified", "run", o.RunID)
		return
	}
	send := func(ctx context.Context) {
		for _, r := range records {
			if r.Verdict != shakedown.VerdictPassed {
				s.Notifier.Send(ctx, d, r)
			}
		}
		if len(records) == 0 {
			s.Notifier.SendError(ctx, d, err)
		}
	}
	select {
	case outbox <- send:
	default:
		log.Warn("notify: earlier notifications of the drill are still being delivered; this one is dropped", "run", o.RunID, "waiting", notifyBacklog)
	}
}

// outcome sums up a firing: the worst verdict of its records, the last run's ID.
func outcome(records []*shakedown.Record, err error) Outcome {
	var o Outcome
	if err != nil {
		o.Err = err.Error()
		o.Verdict = shakedown.KindOf(err).Verdict()
		o.ExitCode = shakedown.KindOf(err).ExitCode()
		o.Reason = err.Error()
	}
	var vs []shakedown.Verdict
	for i, r := range records {
		vs = append(vs, r.Verdict)
		if i == 0 {
			o.Started = r.StartedAt.Time
		}
		o.RunID, o.Ended = r.ID, r.EndedAt.Time
		if o.Reason == "" || r.Verdict != shakedown.VerdictPassed {
			o.Reason = r.Reason
		}
	}
	if len(records) > 0 {
		o.Verdict = shakedown.Worst(vs...)
		o.ExitCode = o.Verdict.ExitCode()
	}
	return o
}

func (s *Scheduler) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// maxNap is the longest sleepUntil sleeps before it reads the clock again.
const maxNap = time.Minute

// sleepUntil waits until now() reaches t, or until ctx ends (false). A cron drill's t is a
// wall-clock time, and a timer counts elapsed time: the clock is read again at least every
// maxNap, so that a wall clock set forward (or a machine that slept) is noticed within a
// minute rather than after the whole wait. An every: drill's t holds a monotonic reading,
// which no change of the wall clock moves.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) bool {
	for {
		d := t.Sub(now())
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer := time.NewTimer(min(d, maxNap))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}

// states holds each drill's State; its lock guards nothing else.
type states struct {
	mu    sync.Mutex
	order []string
	by    map[string]*State
}

func (ss *states) init(drills []*Drill) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.order, ss.by = nil, map[string]*State{}
	for _, d := range drills {
		ss.order = append(ss.order, d.Name)
		ss.by[d.Name] = &State{Name: d.Name, Experiments: d.Experiments, When: d.When(), Lock: d.Lock}
	}
}

func (ss *states) update(name string, f func(*State)) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if st := ss.by[name]; st != nil {
		f(st)
	}
}

func (ss *states) snapshot() []State {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]State, 0, len(ss.order))
	for _, n := range ss.order {
		st := *ss.by[n]
		if st.Last != nil {
			last := *st.Last
			st.Last = &last
		}
		out = append(out, st)
	}
	return out
}

// locks are the drills' locks within the scheduler: one channel of one token per name.
type locks struct {
	mu sync.Mutex
	by map[string]chan struct{}
}

// take waits for the lock name (none when empty) and returns its release; ok is false when
// ctx ended first. It calls waiting when the lock is taken, before it waits.
func (l *locks) take(ctx context.Context, name string, waiting func()) (release func(), ok bool) {
	if name == "" {
		return func() {}, true
	}
	l.mu.Lock()
	if l.by == nil {
		l.by = map[string]chan struct{}{}
	}
	c := l.by[name]
	if c == nil {
		c = make(chan struct{}, 1)
		l.by[name] = c
	}
	l.mu.Unlock()
	select {
	case c <- struct{}{}:
		return func() { <-c }, true
	default:
		waiting()
	}
	select {
	case c <- struct{}{}:
		return func() { <-c }, true
	case <-ctx.Done():
		return nil, false
	}
}

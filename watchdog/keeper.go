package watchdog

import (
	"fmt"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// Keeper keeps a run guarded for as long as it lives: it starts a watchdog, notices at once
// when that watchdog dies (and, within checkEvery, when it is stopped with SIGSTOP, which it
// then kills), and starts another, which takes up the run's journal where the first left it.
//
//	Keep ──start──▶ watchdog 1 ──dies──▶ start ──▶ watchdog 2 ──…
//	                     │                              │
//	                     └──── onGuard(pid) ◀───────────┘   (the runner journals each)
//
// A time during which the run held faults and no watchdog lived is a lapse: the run was
// unguarded, and it must not pass. If no watchdog can be started while the run holds faults,
// Lost delivers why, and the run must revert at once. Before an inject the runner calls
// Ensure: no live watchdog, no inject.
type Keeper struct {
	start   func() (*Guard, error)
	holding func() bool         // whether the run holds faults now
	onGuard func(pid int) error // the runner journals each watchdog it starts
	stopped func(pid int) bool  // tests change it

	mu       sync.Mutex
	cur      *Guard // nil while none lives
	startErr error  // why the last start failed, while cur is nil
	lapses   []string
	open     *lapse        // the lapse going on, if any
	ready    chan struct{} // closed, and replaced, whenever a start was tried

	retry chan struct{} // Ensure asks the loop to start a watchdog now
	lost  chan error    // one error, when the guard is lost for good with faults held
	quit  chan struct{}
	done  chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// lapse is a time the run held faults while no watchdog lived.
type lapse struct {
	why   string
	since time.Time
}

const (
	// checkEvery is how often the Keeper looks whether its watchdog was stopped.
	checkEvery = 100 * time.Millisecond
	// startTries is how many times in a row the Keeper tries to start a watchdog.
	startTries = 3
	// retryAfter is how long it waits before trying again after that.
	retryAfter = time.Second
)

// Keep starts the first watchdog with start (Start with the run's arguments) and keeps one
// alive until Stop. holding says whether the run holds faults at this moment; onGuard is
// called with the pid of every watchdog started, the first included, for the journal.
func Keep(start func() (*Guard, error), holding func() bool, onGuard func(pid int) error) (*Keeper, error) {
	k := &Keeper{
		start: start, holding: holding, onGuard: onGuard, stopped: isStopped,
		ready: make(chan struct{}),
		retry: make(chan struct{}, 1), lost: make(chan error, 1),
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	g, err := k.startOne()
	if err != nil {
		return nil, err
	}
	k.cur = g
	go k.loop()
	return k, nil
}

func isStopped(pid int) bool {
	st, err := procfs.ReadStat(procfs.Root, pid)
	return err == nil && (st.State == 'T' || st.State == 't')
}

// startOne starts a watchdog, trying startTries times (one killed as it starts is replaced
// like one killed later), and journals it.
func (k *Keeper) startOne() (*Guard, error) {
	var err error
	for range startTries {
		select {
		case <-k.quit:
			return nil, shakedown.Errorf(shakedown.KindInternal, "the run's guard is being stopped")
		default:
		}
		var g *Guard
		if g, err = k.start(); err != nil {
			continue
		}
		if err = k.onGuard(g.PID()); err != nil {
			g.Stop()
			continue
		}
		return g, nil
	}
	return nil, err
}

// loop watches the current watchdog and replaces it when it dies or is stopped.
func (k *Keeper) loop() {
	defer close(k.done)
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for {
		k.mu.Lock()
		g := k.cur
		k.mu.Unlock()
		var exited <-chan struct{}
		var retry <-chan time.Time
		var timer *time.Timer
		if g != nil {
			exited = g.Exited()
		} else {
			timer = time.NewTimer(retryAfter)
			retry = timer.C
		}
		quit := k.watch(g, exited, retry, tick.C)
		if timer != nil {
			timer.Stop()
		}
		if quit {
			return
		}
	}
}

// watch waits for one thing to happen to watchdog g (nil: none lives) and deals with it. It
// reports whether the Keeper is being stopped.
func (k *Keeper) watch(g *Guard, exited <-chan struct{}, retry, tick <-chan time.Time) (quit bool) {
	for {
		select {
		case <-k.quit:
			return true
		case <-exited:
			k.replace(g, fmt.Sprintf("the watchdog (pid %d) died (%v)", g.PID(), g.waitErr))
			return false
		case <-tick:
			if g != nil && k.stopped(g.PID()) {
				g.cmd.Process.Kill()
				<-g.Exited()
				k.replace(g, fmt.Sprintf("the watchdog (pid %d) was stopped (SIGSTOP)", g.PID()))
				return false
			}
		case <-retry:
			k.replace(nil, "no watchdog could be started")
			return false
		case <-k.retry:
			if g == nil {
				k.replace(nil, "no watchdog could be started")
				return false
			}
		}
	}
}

// replace starts a watchdog in place of old (nil: none lives already). From the moment old
// is found gone until another is ready, the run is unguarded: a lapse, if it holds faults.
func (k *Keeper) replace(old *Guard, why string) {
	gone := time.Now()
	held := k.holding()
	k.mu.Lock()
	k.cur = nil
	if held && k.open == nil {
		k.open = &lapse{why: why, since: gone}
	}
	k.mu.Unlock()
	if old != nil {
		old.in.Close() // its end of the pipe; the process is gone
	}
	g, err := k.startOne()
	// A fault begun meanwhile (an inject that found a guard just before it died) was held
	// unguarded too.
	held = k.holding()
	k.mu.Lock()
	defer k.mu.Unlock()
	defer func() { close(k.ready); k.ready = make(chan struct{}) }()
	if held && k.open == nil {
		k.open = &lapse{why: why, since: gone}
	}
	if err != nil {
		k.startErr = err
		if k.open != nil {
			select {
			case k.lost <- shakedown.Errorf(shakedown.KindInternal, "%s while faults were held, and no other could be started: %v", k.open.why, err):
			default:
			}
		}
		return
	}
	k.cur, k.startErr = g, nil
	if l := k.open; l != nil {
		k.lapses = append(k.lapses, fmt.Sprintf("%s while faults were held; pid %d took over %s later, and until then nothing guarded the run",
			l.why, g.PID(), time.Since(l.since).Round(time.Millisecond)))
		k.open = nil
	}
}

// Ensure returns nil when a watchdog lives, after starting one if none does; else why none
// could be. The runner calls it before every inject.
func (k *Keeper) Ensure() error {
	fail := func(err error) error {
		return shakedown.Wrap(shakedown.KindInternal, "no watchdog guards the run, so nothing is injected", err)
	}
	deadline := time.NewTimer(startTries*readyWait + time.Second)
	defer deadline.Stop()
	for {
		k.mu.Lock()
		g, ready := k.cur, k.ready
		k.mu.Unlock()
		if g != nil && k.alive(g) {
			return nil
		}
		if g == nil {
			select {
			case k.retry <- struct{}{}:
			default:
			}
		}
		select {
		case <-ready:
			k.mu.Lock()
			g, err := k.cur, k.startErr
			k.mu.Unlock()
			if g == nil && err != nil {
				return fail(err)
			}
		case <-deadline.C:
			return fail(fmt.Errorf("none was ready within %v", startTries*readyWait+time.Second))
		case <-k.quit:
			return fail(fmt.Errorf("the run's guard was stopped"))
		}
	}
}

// alive says whether g still runs and is not stopped.
func (k *Keeper) alive(g *Guard) bool {
	select {
	case <-g.Exited():
		return false
	default:
		return !k.stopped(g.PID())
	}
}

// Lost delivers, once, why the run lost its guard for good while it held faults: it must
// revert everything now.
func (k *Keeper) Lost() <-chan error { return k.lost }

// Lapses says each time the run held faults while no watchdog lived, the one going on
// included.
func (k *Keeper) Lapses() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := append([]string(nil), k.lapses...)
	if l := k.open; l != nil {
		out = append(out, fmt.Sprintf("%s while faults were held, and no watchdog guarded the run for the %s after", l.why,
			time.Since(l.since).Round(time.Millisecond)))
	}
	return out
}

// PID returns the pid of the live watchdog, or 0.
func (k *Keeper) PID() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur == nil {
		return 0
	}
	return k.cur.PID()
}

// Stop stops keeping the run guarded and stops the live watchdog as Guard.Stop does; call it
// once the run ended, before its journal is closed.
func (k *Keeper) Stop() error {
	k.stopOnce.Do(func() {
		close(k.quit)
		<-k.done
		k.mu.Lock()
		g := k.cur
		k.mu.Unlock()
		if g == nil {
			k.stopErr = shakedown.Errorf(shakedown.KindInternal, "no watchdog was alive at the end of the run")
			return
		}
		k.stopErr = g.Stop()
	})
	return k.stopErr
}

package cli

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/engine"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/words"
)

// claimFunc is engine.Options.Claim.
type claimFunc = func(runID string, claims []engine.Claim) (release func(leftInjected bool), err error)

// historyRunFlags are run's flags about the history: where runs are recorded, and the locks
// they take there.
type historyRunFlags struct {
	dsn         string
	locks       []string
	lockTimeout time.Duration
}

func (f *historyRunFlags) register(cmd *cobra.Command) {
	historyFlag(cmd, &f.dsn, nil)
	cmd.Flags().StringArrayVar(&f.locks, "lock", nil, "take this lock in the history store before injecting anything, and hold it for the run (repeatable; as lock: in a file)")
	f.lockTimeout = history.DefaultLockTimeout
	cmd.Flags().Var(durationFlag{v: &f.lockTimeout}, "lock-timeout", "how long to wait for a lock another run holds before giving up (exit 5)")
}

// runHistory is a suite's use of the history store: it records every run after its verdict,
// and takes the runs' locks. Recording never costs a verdict: a store that cannot be opened or
// written is said loudly on stderr and the run's verdict, exit code and reports stand. Only a
// run that asks for a lock needs the store before it starts.
type runHistory struct {
	a           *app
	dsn         history.DSN
	stateDir    string
	lockTimeout time.Duration
	locks       []string // from --lock, for every run
	store       *history.Store
	openErr     error
	opened      bool
	recorded    int
	failed      int
	watchers    sync.WaitGroup // of the leases, until they are released
}

// newRunHistory resolves the suite's store and, when any run takes a lock, opens it now: a
// lock is a precondition, so a store that cannot be had then ends the suite before anything
// is injected.
func (a *app) newRunHistory(ctx context.Context, f *runFlags, exps []*shakedown.Experiment) (*runHistory, error) {
	h := &runHistory{a: a, stateDir: f.stateDir, lockTimeout: f.hist.lockTimeout, locks: f.hist.locks}
	if h.lockTimeout <= 0 {
		h.lockTimeout = history.DefaultLockTimeout
	}
	dsn, err := a.historyDSN(f.hist.dsn, f.stateDir)
	if err != nil {
		return nil, err
	}
	h.dsn = dsn
	needLock := len(h.locks) > 0
	for _, exp := range exps {
		needLock = needLock || exp.Lock != ""
	}
	if !needLock {
		return h, nil
	}
	if dsn.Off() {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "a lock (--lock, or lock: in a file) is taken in the history store, and --history is off")
	}
	if _, err := h.open(ctx); err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "a lock needs the history store", err)
	}
	return h, nil
}

// open opens the store once; later calls return what the first got.
func (h *runHistory) open(ctx context.Context) (*history.Store, error) {
	if !h.opened {
		h.opened = true
		h.store, h.openErr = history.Open(ctx, h.dsn)
	}
	return h.store, h.openErr
}

// record files r in the store; a failure is said on stderr and changes nothing else.
func (h *runHistory) record(ctx context.Context, r *shakedown.Record) {
	if h.dsn.Off() {
		return
	}
	// A cancelled run is recorded too: its record says it was aborted. The store bounds each
	// access (history.Timeout), so a store that stalls costs the run time, never its verdict.
	ctx = context.WithoutCancel(ctx)
	s, err := h.open(ctx)
	if err == nil {
		err = s.Record(ctx, r)
	}
	if err != nil {
		h.failed++
		fmt.Fprintf(h.a.stderr, "shakedown: WARNING: run %s was NOT recorded in the history: %v (its verdict, exit code and reports stand)\n", r.ID, err)
		return
	}
	h.recorded++
}

// summary says where the runs were recorded and how to list them.
func (h *runHistory) summary() {
	if h.recorded == 0 {
		return
	}
	list := "shakedown history"
	switch {
	case h.dsn == history.DSN{}.In(shakedown.DefaultStateDir) && h.stateDir == shakedown.DefaultStateDir:
	case h.dsn == history.DSN{}.In(h.stateDir):
		list += " --state-dir " + h.stateDir
	default:
		list += " --history " + h.dsn.String()
	}
	fmt.Fprintf(h.a.stdout, "recorded %d run%s in the history (%s); list with: %s\n", h.recorded, words.Plural(h.recorded), h.dsn, list)
}

// close closes the store, once every lease is released.
func (h *runHistory) close() {
	h.watchers.Wait()
	if h.store != nil {
		h.store.Close()
	}
}

// lockNames are the locks a run of exp takes, in one order for every run so that two runs
// never wait for each other's second lock.
func (h *runHistory) lockNames(exp *shakedown.Experiment) []string {
	names := slices.Clone(h.locks)
	if exp.Lock != "" {
		names = append(names, exp.Lock)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// withLocks wraps a run's claim so that the run takes its locks first: after its targets are
// resolved, before its baseline and before anything is injected. The locks are held until
// the run ends, renewed meanwhile; a lock lost meanwhile cuts the run short (cancel), which
// reverts what it injected and ends aborted.
func (h *runHistory) withLocks(ctx context.Context, cancel context.CancelCauseFunc, exp *shakedown.Experiment, host string, commit *shakedown.Commit, claim claimFunc) claimFunc {
	names := h.lockNames(exp)
	if len(names) == 0 {
		return claim
	}
	return func(runID string, cs []engine.Claim) (func(bool), error) {
		me := history.Holder{Run: runID, Host: host}
		if commit != nil {
			me.Commit = commit.SHA
		}
		var leases []*history.Lease
		releaseAll := func() {
			for _, l := range slices.Backward(leases) {
				if err := l.Release(); err != nil {
					fmt.Fprintf(h.a.stderr, "shakedown: %v\n", err)
				}
			}
		}
		for _, name := range names {
			l, err := h.store.Lock(ctx, name, me, history.LockOptions{Timeout: h.lockTimeout, Waiting: func(by history.Holder) {
				fmt.Fprintf(h.a.stderr, "shakedown: waiting for lock %s, held by %s (its lease lapses in %s unless renewed); waiting up to %s\n",
					name, by, by.Left.Round(time.Second), h.lockTimeout)
			}})
			if err != nil {
				releaseAll()
				return nil, err
			}
			leases = append(leases, l)
			h.watchers.Go(func() { h.watchLease(name, l, cancel) })
		}
		release := func(bool) {}
		if claim != nil {
			r, err := claim(runID, cs)
			if err != nil {
				releaseAll()
				return nil, err
			}
			release = r
		}
		return func(leftInjected bool) {
			release(leftInjected)
			releaseAll()
		}, nil
	}
}

// watchLease says loudly when a lease is lost while the run holds it, and cuts the run short
// (cancel): another run may hold the lock now. It ends when the lease is released.
func (h *runHistory) watchLease(name string, l *history.Lease, cancel context.CancelCauseFunc) {
	if err, ok := <-l.Lost(); ok {
		fmt.Fprintf(h.a.stderr, "shakedown: WARNING: lost lock %s while running: %v; the run is cut short\n", name, err)
		cancel(err)
	}
}

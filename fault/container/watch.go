package container

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// While a pause or a stop is held, someone may take it back by hand (docker unpause,
// docker start), a restart policy or the engine's own restart may start the container,
// or it may be removed. The revert then finds nothing to do, and would say nothing; the
// run would judge its hypothesis on a fault that lasted a second. So the fault watches its
// containers while it holds them and says at once (shakedown.Watcher) which one is no
// longer as it left it:
//
//	Inject ──▶ watcher: List(id=…) every watchEvery ──▶ Lost() ──▶ the run's log
//	Revert ──▶ stop the watcher, wait for it ──▶ undo
//
// The revert stops the watcher before it acts, so its own unpause or start is never
// reported as a loss.

// watchEvery is how often a held fault looks at its containers. (A variable for tests.)
var watchEvery = 2 * time.Second

// watched is the part of a fault that watches its containers while it holds them.
type watched struct {
	lost chan error // one message per container at most; never closed
	mu   sync.Mutex
	stop func() // stops the running watcher and waits for it; nil when none runs
}

func newWatched(n int) watched { return watched{lost: make(chan error, n)} }

// Lost implements shakedown.Watcher.
func (w *watched) Lost() <-chan error { return w.lost }

// start watches ctrs until stopped: held says, from a container's state as the engine
// lists it ("paused", "running", "exited"…), what is wrong with it, or "" when it is as the
// fault left it.
func (w *watched) start(op string, ctrs []Container, held func(state string) string) {
	if len(ctrs) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		said := map[string]bool{}
		t := time.NewTicker(watchEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, msg := range look(ctx, op, ctrs, held, said) {
				w.lost <- msg // room for one per container, and each is said once
			}
		}
	}()
	w.mu.Lock()
	w.stop = func() { cancel(); <-done }
	w.mu.Unlock()
}

// guard returns rev preceded by halt: the revert's own change is never reported as a loss.
func (w *watched) guard(rev shakedown.Revert) shakedown.Revert {
	if rev == nil {
		return nil
	}
	return func(ctx context.Context) error {
		w.halt()
		return rev(ctx)
	}
}

// Close stops the watcher, if one still runs: the run ends.
func (w *watched) Close() error {
	w.halt()
	return nil
}

// halt stops the watcher, if one runs, and waits for it.
func (w *watched) halt() {
	w.mu.Lock()
	stop := w.stop
	w.stop = nil
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// look lists the containers, one call per engine, and returns a message for each that is
// no longer held and was not said before (marking it in said). An engine that does not
// answer says nothing: the revert will say what it finds.
func look(ctx context.Context, op string, ctrs []Container, held func(string) string, said map[string]bool) []error {
	byHost := map[string][]Container{}
	for _, c := range ctrs {
		if !said[c.ID] {
			byHost[c.Host] = append(byHost[c.Host], c)
		}
	}
	var out []error
	for host, cs := range byHost {
		cl, err := ClientFor(host)
		if err != nil {
			continue
		}
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.ID
		}
		list, err := cl.List(ctx, map[string][]string{"id": ids})
		if err != nil {
			continue
		}
		state := map[string]string{}
		for _, s := range list {
			state[s.ID] = strings.ToLower(s.State)
		}
		for _, c := range cs {
			st, ok := state[c.ID]
			what := "is gone"
			if ok {
				what = held(st)
			}
			if what == "" {
				continue
			}
			said[c.ID] = true
			out = append(out, shakedown.Errorf(shakedown.KindConflict,
				"%s %s: %s during the fault, not by this run: the fault holds it no more", op, c.Label(), what))
		}
	}
	return out
}

// stillPaused is held for container.pause.
func stillPaused(state string) string {
	if state == "paused" {
		return ""
	}
	return "is " + state
}

// stillStopped is held for container.stop.
func stillStopped(state string) string {
	switch state {
	case "running", "restarting", "paused":
		return fmt.Sprintf("is %s again (started by hand, by its restart policy or by its engine)", state)
	}
	return ""
}

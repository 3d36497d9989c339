package container

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// The world changes under a container fault: someone else pauses, stops or disconnects a
// selected container, by hand or from another machine. The fault must not take back what
// it did not do: a revert never undoes someone else's pause, stop or disconnection.

// prepare runs a fault's Prepare, if it has one, as the engine does before its Undo.
func prepare(ctx context.Context, f shakedown.Fault) error {
	if p, ok := f.(shakedown.Preparer); ok {
		return p.Prepare(ctx)
	}
	return nil
}

// TestPauseOfPausedContainerIntegration: a container someone else paused is refused before
// anything is injected, and one they pause between Prepare and Inject is left paused by
// the revert.
func TestPauseOfPausedContainerIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			a := b.run(CreateSpec{Name: "mine", Labels: map[string]string{"role": "pp"}})
			c := b.run(CreateSpec{Name: "theirs", Labels: map[string]string{"role": "pp"}})
			b.waitState(a, "running", running)
			b.waitState(c, "running", running)
			t.Cleanup(func() { b.cl.Unpause(context.Background(), c) })
			sel := Selector{Labels: map[string]string{"role": "pp", "shakedown-test": b.label}}

			// paused by someone else before the run: refused, nothing injected
			if err := b.cl.Pause(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			ins := b.resolve(reg, sel)
			if len(ins) != 2 {
				t.Fatalf("resolved %d containers, want 2 (a paused one too)", len(ins))
			}
			f := build(t, reg, "container.pause", nil, ins)
			if err := prepare(t.Context(), f); !shakedown.IsKind(err, shakedown.KindConflict) {
				t.Fatalf("prepare with a container paused by someone else: %v, want KindConflict", err)
			}
			if s := b.state(a); s != "running" {
				t.Errorf("after the refusal: %s is %s, want running", ShortID(a), s)
			}
			if err := b.cl.Unpause(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			b.waitState(c, "running", running)

			// paused by someone else between Prepare and Inject: the inject fails, and its
			// revert unpauses only what it paused
			ins = b.resolve(reg, sel)
			f = build(t, reg, "container.pause", nil, ins)
			if err := prepare(t.Context(), f); err != nil {
				t.Fatalf("prepare: %v", err)
			}
			f.Undo()
			if err := b.cl.Pause(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			rev, err := f.Inject(t.Context())
			if !shakedown.IsKind(err, shakedown.KindConflict) {
				t.Fatalf("inject on a container paused meanwhile: %v, want KindConflict", err)
			}
			if rev == nil {
				t.Fatalf("inject paused %s but returned no revert", ShortID(a))
			}
			if err := rev(t.Context()); err != nil {
				t.Fatalf("revert: %v", err)
			}
			b.waitState(a, "running", running)
			if s := b.state(c); s != "paused" {
				t.Errorf("the revert took back someone else's pause: %s is %s, want paused", ShortID(c), s)
			}
		})
	}
}

// TestStopOfStoppedContainerIntegration: a container someone else stopped after the
// resolution is refused by Prepare; one they stop between Prepare and Inject is not
// started by the revert.
func TestStopOfStoppedContainerIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			a := b.run(CreateSpec{Name: "mine", Labels: map[string]string{"role": "ss"}})
			c := b.run(CreateSpec{Name: "theirs", Labels: map[string]string{"role": "ss"}})
			b.waitState(a, "running", running)
			b.waitState(c, "running", running)
			sel := Selector{Labels: map[string]string{"role": "ss", "shakedown-test": b.label}}
			grace := &GraceParams{Grace: shakedown.Duration(time.Second)}

			ins := b.resolve(reg, sel)
			if err := b.cl.Stop(t.Context(), c, time.Second); err != nil {
				t.Fatal(err)
			}
			f := build(t, reg, "container.stop", grace, ins)
			if err := prepare(t.Context(), f); !shakedown.IsKind(err, shakedown.KindConflict) {
				t.Fatalf("prepare with a container stopped since the resolution: %v, want KindConflict", err)
			}
			if s := b.state(a); s != "running" {
				t.Errorf("after the refusal: %s is %s, want running", ShortID(a), s)
			}
			if err := b.cl.Start(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			b.waitState(c, "running", running)

			ins = b.resolve(reg, sel)
			f = build(t, reg, "container.stop", grace, ins)
			if err := prepare(t.Context(), f); err != nil {
				t.Fatalf("prepare: %v", err)
			}
			f.Undo()
			if err := b.cl.Stop(t.Context(), c, time.Second); err != nil {
				t.Fatal(err)
			}
			rev, err := f.Inject(t.Context())
			if !shakedown.IsKind(err, shakedown.KindConflict) {
				t.Fatalf("inject on a container stopped meanwhile: %v, want KindConflict", err)
			}
			if rev == nil {
				t.Fatalf("inject stopped %s but returned no revert", ShortID(a))
			}
			if err := rev(t.Context()); err != nil {
				t.Fatalf("revert: %v", err)
			}
			b.waitState(a, "running", running)
			if s := b.state(c); s == "running" {
				t.Errorf("the revert started a container someone else stopped: %s is %s", ShortID(c), s)
			}
		})
	}
}

// TestDisconnectOfDisconnectedIntegration: a container someone else took off the network
// between Prepare and Inject is not connected again by the revert.
func TestDisconnectOfDisconnectedIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			net := b.network("net")
			a := b.run(CreateSpec{Name: "mine", Network: net, Labels: map[string]string{"role": "dd"}})
			c := b.run(CreateSpec{Name: "theirs", Network: net, Labels: map[string]string{"role": "dd"}})
			b.waitState(a, "running", running)
			b.waitState(c, "running", running)
			ins := b.resolve(reg, Selector{Labels: map[string]string{"role": "dd", "shakedown-test": b.label}})
			f := build(t, reg, "container.disconnect", &DisconnectParams{Network: net}, ins)
			if err := prepare(t.Context(), f); err != nil {
				t.Fatalf("prepare: %v", err)
			}
			f.Undo()
			if err := b.cl.Disconnect(t.Context(), net, c, false); err != nil {
				t.Fatal(err)
			}
			rev, err := f.Inject(t.Context())
			if err == nil {
				t.Fatalf("inject on a container disconnected meanwhile: no error")
			}
			t.Logf("inject: %v", err)
			if rev == nil {
				t.Fatalf("inject disconnected %s but returned no revert", ShortID(a))
			}
			if err := rev(t.Context()); err != nil {
				t.Fatalf("revert: %v", err)
			}
			if d := b.waitState(a, "running", running); attachment(d, net, "") == nil {
				t.Errorf("revert: %s is not on %s again", ShortID(a), net)
			}
			if d := b.waitState(c, "running", running); attachment(d, net, "") != nil {
				t.Errorf("the revert connected a container someone else had taken off %s", net)
			}
		})
	}
}

// TestRevertNeverActsOnATakerIntegration: the container a fault acted on is removed and
// another takes its place under a name that is the old one's id (the engine looks an id up
// as a name when no container has it): neither the revert nor the journal's undo touches
// the newcomer.
func TestRevertNeverActsOnATakerIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			for _, tc := range []struct {
				typ         string
				params      any
				theirs      func(id string) error // what someone does to the newcomer
				stillTheirs func(*Details) bool
			}{
				{"container.pause", nil, func(id string) error { return b.cl.Pause(t.Context(), id) },
					func(d *Details) bool { return d.State.Paused }},
				{"container.stop", &GraceParams{Grace: shakedown.Duration(time.Second)},
					func(id string) error { return b.cl.Stop(t.Context(), id, time.Second) },
					func(d *Details) bool { return !d.State.Running }},
			} {
				old := b.run(CreateSpec{Name: "old-" + tc.typ[len("container."):]})
				b.waitState(old, "running", running)
				ins := b.resolve(reg, Selector{Name: old})
				f := build(t, reg, tc.typ, tc.params, ins)
				rev, undos := inject(t, f)
				if err := b.cl.Remove(t.Context(), old); err != nil {
					t.Fatal(err)
				}
				taker, err := b.cl.Create(t.Context(), CreateSpec{Name: old, Image: b.img, Labels: map[string]string{"shakedown-test": b.label}})
				if err != nil {
					t.Fatalf("create a container named %s: %v", old, err)
				}
				t.Cleanup(func() { b.cl.Remove(context.Background(), taker) })
				if err := b.cl.Start(t.Context(), taker); err != nil {
					t.Fatal(err)
				}
				b.waitState(taker, "running", running)
				if err := tc.theirs(taker); err != nil {
					t.Fatal(err)
				}
				if err := rev(t.Context()); err != nil {
					t.Fatalf("%s: revert: %v", tc.typ, err)
				}
				replay(t, reg, undos)
				d, err := b.cl.Inspect(t.Context(), taker)
				if err != nil {
					t.Fatal(err)
				}
				if !tc.stillTheirs(d) {
					t.Errorf("%s: the revert acted on %s, a newcomer named after the container it acted on: now %s",
						tc.typ, ShortID(taker), d.State.Status)
				}
			}
		})
	}
}

// flakyEngine is a unix socket in front of the engine at host that forwards every
// connection, except that after down(n) it drops the connections it holds and refuses the
// next n: an engine that restarts, or whose socket is away for a moment.
type flakyEngine struct {
	host string
	// seen, when set, is closed once a request whose first line holds seenWhat has been
	// forwarded to the engine.
	seen     chan struct{}
	seenWhat string
	mu       sync.Mutex
	refuse   int
	open     map[net.Conn]bool
}

func newFlakyEngine(t *testing.T, host string) *flakyEngine {
	t.Helper()
	ep, err := ParseHost(host)
	if err != nil || ep.Scheme != "unix" {
		t.Skipf("the engine at %s is not on a unix socket", host)
	}
	sock := filepath.Join(t.TempDir(), "e.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fe := &flakyEngine{host: "unix://" + sock, open: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); fe.down(0); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fe.mu.Lock()
			if fe.refuse > 0 {
				fe.refuse--
				fe.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("unix", ep.Addr)
			if err != nil {
				fe.mu.Unlock()
				c.Close()
				continue
			}
			fe.open[c], fe.open[up] = true, true
			fe.mu.Unlock()
			wg.Go(func() { io.Copy(up, fe.watch(c)); up.Close() })
			wg.Go(func() { io.Copy(c, up); c.Close() })
		}
	})
	return fe
}

// watch returns r, noticing the request fe waits for (seen, seenWhat) as it passes.
func (fe *flakyEngine) watch(r io.Reader) io.Reader { return &noticer{r: r, fe: fe} }

// noticer closes fe.seen once fe.seenWhat has gone through it (within one read, as a
// request line does). Several connections may see it: seen is closed once.
type noticer struct {
	r  io.Reader
	fe *flakyEngine
}

func (n *noticer) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	n.fe.mu.Lock()
	if n.fe.seen != nil && strings.Contains(string(p[:k]), n.fe.seenWhat) {
		close(n.fe.seen)
		n.fe.seen = nil
	}
	n.fe.mu.Unlock()
	return k, err
}

// down drops every connection and refuses the next n.
func (fe *flakyEngine) down(n int) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	fe.refuse = n
	for c := range fe.open {
		c.Close()
	}
	clear(fe.open)
}

// TestRevertRidesOutAnEngineAwayIntegration: an engine that cannot be reached for a moment
// when a fault is taken back (it restarts; its socket is away) does not leave the fault in
// place: the revert and the journal's undo try again within their deadline.
func TestRevertRidesOutAnEngineAwayIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			fe := newFlakyEngine(t, host)
			reg := registry()
			id := b.run(CreateSpec{Name: "away"})
			b.waitState(id, "running", running)
			sel := Selector{Name: b.name("away"), DockerHost: fe.host}
			kind, _ := reg.Target(Kind)
			ins, err := kind.Resolve(t.Context(), shakedown.Env{}, &sel)
			if err != nil || len(ins) != 1 {
				t.Fatalf("resolve through the flaky socket: %v, %d instances", err, len(ins))
			}
			for round, how := range []string{"revert", "undo"} {
				f := build(t, reg, "container.pause", nil, ins)
				rev, undos := inject(t, f)
				if s := b.state(id); s != "paused" {
					t.Fatalf("round %d: after inject: %s", round, s)
				}
				fe.down(3)
				ctx, cancel := context.WithTimeout(t.Context(), shakedown.DefaultRevertWait)
				if how == "revert" {
					err = rev(ctx)
				} else {
					fn, _ := reg.Undo(undos[0].Type)
					err = fn(ctx, undos[0].Data)
				}
				cancel()
				if err != nil {
					t.Fatalf("%s while the engine is away for a moment: %v", how, err)
				}
				if s := b.state(id); s != "running" {
					t.Fatalf("after the %s: %s, want running", how, s)
				}
			}
		})
	}
}

// TestHeldFaultSaysWhenTakenBackIntegration: while a pause or a stop is held, someone
// unpauses or starts the container by hand: the fault says so at once (shakedown.Watcher),
// naming the container, rather than let the run judge a fault that lasted a moment.
func TestHeldFaultSaysWhenTakenBackIntegration(t *testing.T) {
	defer func(d time.Duration) { watchEvery = d }(watchEvery)
	watchEvery = 50 * time.Millisecond
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			for _, tc := range []struct {
				typ    string
				params any
				held   func(string) string
				undo   func(id string) error // by hand
			}{
				{"container.pause", nil, stillPaused, func(id string) error { return b.cl.Unpause(t.Context(), id) }},
				{"container.stop", &GraceParams{Grace: shakedown.Duration(time.Second)}, stillStopped,
					func(id string) error { return b.cl.Start(t.Context(), id) }},
			} {
				id := b.run(CreateSpec{Name: "held-" + tc.typ[len("container."):]})
				b.waitState(id, "running", running)
				ins := b.resolve(reg, Selector{Name: id})
				f := build(t, reg, tc.typ, tc.params, ins)
				rev, _ := inject(t, f)
				// as the fault left it: nothing to say
				c, _ := containerOf(ins[0])
				if msgs := look(t.Context(), tc.typ, []Container{c}, tc.held, map[string]bool{}); len(msgs) != 0 {
					t.Fatalf("%s: held as left, yet: %v", tc.typ, msgs)
				}
				if err := tc.undo(id); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-f.(shakedown.Watcher).Lost():
					if !strings.Contains(err.Error(), ShortID(id)) {
						t.Errorf("%s: %q does not name the container", tc.typ, err)
					}
					t.Logf("%s: %v", tc.typ, err)
				case <-time.After(time.Minute):
					t.Fatalf("%s taken back by hand: nothing said within a minute", tc.typ)
				}
				if err := rev(t.Context()); err != nil {
					t.Fatalf("%s: revert: %v", tc.typ, err)
				}
				f.(shakedown.Closer).Close()
			}
		})
	}
}

// TestStopUnderWayWhenTheRunDiesIntegration: the runner dies while the engine is still
// stopping the container (a process that waits out its grace). The journal's undo, as the
// watchdog carries it out for an inject that had not returned, must leave the container
// running: not start it while it still runs and let the stop land after.
func TestStopUnderWayWhenTheRunDiesIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			fe := newFlakyEngine(t, host)
			reg := registry()
			id := b.run(CreateSpec{Name: "slowstop", StopSignal: "SIGWINCH"}) // ignored: the stop waits out its grace
			before := b.waitState(id, "running", running)
			kind, _ := reg.Target(Kind)
			ins, err := kind.Resolve(t.Context(), shakedown.Env{}, &Selector{Name: id, DockerHost: fe.host})
			if err != nil || len(ins) != 1 {
				t.Fatalf("resolve: %v, %d instances", err, len(ins))
			}
			f := build(t, reg, "container.stop", &GraceParams{Grace: shakedown.Duration(5 * time.Second)}, ins)
			if err := prepare(t.Context(), f); err != nil {
				t.Fatal(err)
			}
			undos := f.Undo()
			seen := make(chan struct{})
			fe.mu.Lock()
			fe.seen, fe.seenWhat = seen, "/stop?"
			fe.mu.Unlock()
			// the runner: its stop under way, then gone (its connection dropped)
			ctx, die := context.WithCancel(context.Background())
			injected := make(chan struct{})
			go func() { defer close(injected); f.Inject(ctx) }()
			select {
			case <-seen:
			case <-time.After(time.Minute):
				t.Fatal("the stop never reached the engine")
			}
			die()
			<-injected
			// the watchdog: the inject had not returned
			for _, u := range shakedown.InOrder(undos, false) {
				fn, _ := reg.Undo(u.Type)
				if err := fn(context.Background(), u.Data); err != nil {
					t.Fatalf("undo %s: %v", u.Summary, err)
				}
			}
			// Running again, and as a new start: the stop under way is over, so nothing
			// will stop it later. (Without the halt, the start finds it running and does
			// nothing; the stop lands when its grace ends and the container stays exited.)
			b.waitState(id, "started again", func(d *Details) bool {
				return running(d) && d.State.StartedAt != before.State.StartedAt
			})
		})
	}
}

package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Grace is how long a command has, after the first signal, to return by itself. One that has
// not is ended by exit(ExitInterrupted) — unless it is reverting what it injected or stopping
// its watchdog (holdExit); then Grace runs again from the moment that is done.
const Grace = 500 * time.Millisecond

// SignalContext returns a context that the first SIGINT, SIGTERM or SIGHUP cancels, so a run
// reverts what it injected and exits, and any other command stops. Behind it stands a promise:
// the command ends within Grace, whatever it is blocked on, unless it holds off while it
// reverts (a run, recover, the watchdog). A second signal calls exit(ExitInterrupted) at once;
// the watchdog then reverts whatever is still injected. Either exit says why on stderr, and
// its code is 3 (aborted) unless a run already ended worse (noteVerdict). stop releases the
// signals.
//
// A SIGHUP the process was started ignoring (nohup) stays ignored: a run meant to outlive its
// terminal does.
func SignalContext(parent context.Context, stderr io.Writer, exit func(int)) (ctx context.Context, stop func()) {
	sigs := make(chan os.Signal, 2)
	caught := []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		caught = append(caught, syscall.SIGHUP)
	}
	signal.Notify(sigs, caught...)
	ctx, stopWatch := watchSignals(parent, sigs, func(code int, why string) {
		fmt.Fprintln(stderr, "shakedown:", why)
		exit(code)
	}, Grace)
	return ctx, func() {
		signal.Stop(sigs)
		stopWatch()
	}
}

// watchSignals is SignalContext on a channel of signals, with the grace period given; exit
// gets the code and why.
func watchSignals(parent context.Context, sigs <-chan os.Signal, exit func(code int, why string), grace time.Duration) (context.Context, func()) {
	g := &exitGuard{verdict: shakedown.VerdictPassed, released: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancelCause(context.WithValue(parent, exitGuardKey{}, g))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var sig os.Signal
		select {
		case sig = <-sigs:
			cancel(&interrupted{sig: sig})
		case <-done:
			return
		}
		first := (&interrupted{sig: sig}).Error()
		deadline := time.NewTimer(grace)
		defer deadline.Stop()
		for {
			select {
			case again := <-sigs:
				exit(g.exitCode(), (&interrupted{sig: again}).Error()+" again: exiting at once")
				return
			case <-done:
				return
			case <-g.released:
				if !g.held() {
					deadline.Reset(grace)
				}
			case <-deadline.C:
				if !g.held() {
					exit(g.exitCode(), first)
					return
				}
				// Held: the release resets the deadline.
			}
		}
	}()
	return ctx, func() {
		close(done)
		wg.Wait()
		cancel(nil)
	}
}

// interrupted is the cause of a context a signal cancelled.
type interrupted struct{ sig os.Signal }

func (e *interrupted) Error() string {
	name := map[os.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM", syscall.SIGHUP: "SIGHUP"}[e.sig]
	if name == "" {
		name = fmt.Sprint(e.sig)
	}
	return "interrupted by " + name
}

// Is makes a cancelled context's cause context.Canceled too.
func (e *interrupted) Is(target error) bool { return target == context.Canceled }

// exitGuard counts what holds off the exit that ends a command Grace after the first signal,
// and knows what that exit's code must say.
type exitGuard struct {
	mu       sync.Mutex
	holds    int
	verdict  shakedown.Verdict // the worst a run already had (noteVerdict)
	released chan struct{}     // gets a token when the last hold is released
}

// exitCode is the code a command ended by a signal exits with: aborted, or the verdict a run
// already had when that is worse (not restored).
func (g *exitGuard) exitCode() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return shakedown.Worst(shakedown.VerdictAborted, g.verdict).ExitCode()
}

// noteVerdict tells the exit that may end the command ctx belongs to the verdict of a run it
// finished, so that ending the process while it writes its reports cannot hide a fault left
// injected.
func noteVerdict(ctx context.Context, v shakedown.Verdict) {
	if g, _ := ctx.Value(exitGuardKey{}).(*exitGuard); g != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.verdict = shakedown.Worst(g.verdict, v)
	}
}

type exitGuardKey struct{}

func (g *exitGuard) held() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.holds > 0
}

// holdExit keeps the command that ctx belongs to from being ended Grace after the first
// signal, until release is called: for a revert, or a watchdog's stop, which have deadlines
// of their own and must not be cut short. A second signal still ends it at once. Without SignalContext behind ctx (a
// test calling Main), it does nothing.
func holdExit(ctx context.Context) (release func()) {
	g, _ := ctx.Value(exitGuardKey{}).(*exitGuard)
	if g == nil {
		return func() {}
	}
	g.mu.Lock()
	g.holds++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.holds--
			last := g.holds == 0
			g.mu.Unlock()
			if last {
				select {
				case g.released <- struct{}{}:
				default:
				}
			}
		})
	}
}

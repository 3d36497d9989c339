package cli

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/httplimit"
)

// TestWatchSignals: the first signal cancels, and ends the process Grace later unless a
// revert holds it off; then Grace runs from the revert's end. A second signal ends it at once.
func TestWatchSignals(t *testing.T) {
	const grace = time.Second
	type step struct {
		after  time.Duration // since the previous step
		signal bool          // send a signal
		hold   bool          // take a hold
		free   bool          // release it
	}
	for _, tc := range []struct {
		name   string
		steps  []step
		exitAt time.Duration // -1: never
	}{
		{"no signal", []step{{after: time.Hour}}, -1},
		{"one signal", []step{{signal: true}, {after: time.Hour}}, grace},
		{"two signals", []step{{signal: true}, {after: 100 * time.Millisecond, signal: true}, {after: time.Hour}}, 100 * time.Millisecond},
		{"held", []step{{hold: true}, {signal: true}, {after: time.Hour}}, -1},
		{"held then released", []step{{hold: true}, {signal: true}, {after: 5 * time.Second, free: true}, {after: time.Hour}}, 5*time.Second + grace},
		{"released within grace", []step{{hold: true}, {signal: true}, {after: 200 * time.Millisecond, free: true}, {after: time.Hour}}, 200*time.Millisecond + grace},
		{"held, second signal", []step{{hold: true}, {signal: true}, {after: 2 * time.Second, signal: true}, {after: time.Hour}}, 2 * time.Second},
		{"held and released before the signal", []step{{hold: true}, {free: true}, {signal: true}, {after: time.Hour}}, grace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				var exitedAt atomic.Int64
				exitedAt.Store(-1)
				var code atomic.Int64
				sigs := make(chan os.Signal, 2)
				ctx, stop := watchSignals(context.Background(), sigs, func(c int, why string) {
					if exitedAt.Load() < 0 {
						exitedAt.Store(int64(time.Since(start)))
						code.Store(int64(c))
					}
				}, grace)
				var release func()
				signalled := false
				for _, s := range tc.steps {
					time.Sleep(s.after)
					synctest.Wait()
					if exitedAt.Load() >= 0 {
						break
					}
					switch {
					case s.hold:
						release = holdExit(ctx)
					case s.free:
						release()
					}
					if s.signal {
						sigs <- syscall.SIGTERM
						synctest.Wait()
						if !signalled {
							signalled = true
							if !errors.Is(ctx.Err(), context.Canceled) {
								t.Fatalf("after the first signal, ctx.Err() = %v, want canceled", ctx.Err())
							}
							if got := context.Cause(ctx).Error(); got != "interrupted by SIGTERM" {
								t.Errorf("cause %q, want %q", got, "interrupted by SIGTERM")
							}
						}
					}
				}
				stop()
				got := time.Duration(exitedAt.Load())
				if got != tc.exitAt {
					t.Errorf("exit at %v, want %v (-1ns: never)", got, tc.exitAt)
				}
				if got >= 0 && code.Load() != ExitInterrupted {
					t.Errorf("exit code %d, want %d", code.Load(), ExitInterrupted)
				}
				if !signalled && ctx.Err() == nil {
					t.Errorf("stop did not cancel the context")
				}
			})
		})
	}
}

// TestHoldExitWithoutSignals: holdExit on a context SignalContext did not make does nothing.
func TestHoldExitWithoutSignals(t *testing.T) {
	release := holdExit(context.Background())
	release()
	release()
}

// TestExitKeepsTheVerdict: ended by a signal after a run was not restored, the process says
// so (4), not merely aborted (3).
func TestExitKeepsTheVerdict(t *testing.T) {
	for _, tc := range []struct {
		noted []shakedown.Verdict
		want  int
	}{
		{nil, 3},
		{[]shakedown.Verdict{shakedown.VerdictPassed}, 3},
		{[]shakedown.Verdict{shakedown.VerdictAborted}, 3},
		{[]shakedown.Verdict{shakedown.VerdictNotRestored, shakedown.VerdictAborted}, 4},
	} {
		synctest.Test(t, func(t *testing.T) {
			var code atomic.Int64
			sigs := make(chan os.Signal, 1)
			ctx, stop := watchSignals(context.Background(), sigs, func(c int, why string) { code.Store(int64(c)) }, time.Second)
			defer stop()
			for _, v := range tc.noted {
				noteVerdict(ctx, v)
			}
			sigs <- syscall.SIGINT
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if got := code.Load(); got != int64(tc.want) {
				t.Errorf("after %v: exit %d, want %d", tc.noted, got, tc.want)
			}
		})
	}
}

// TestServersStopWithinGrace: a server shakedown starts closes its connections sooner after a
// signal than the grace its command has, so the command ends by itself, with its own code.
func TestServersStopWithinGrace(t *testing.T) {
	if httplimit.ShutdownTimeout >= Grace {
		t.Errorf("servers take up to %v to stop, the grace after a signal is %v", httplimit.ShutdownTimeout, Grace)
	}
}

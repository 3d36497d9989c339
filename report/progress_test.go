package report

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// runEvents is the event stream of a run of the slow-cache experiment, as the engine sends
// it, with times from start.
func runEvents(run, exp string, start time.Time) []shakedown.Event {
	at := func(d time.Duration) time.Time { return start.Add(d) }
	ev := func(d time.Duration, kind shakedown.EventKind, phase shakedown.Phase, name string) shakedown.Event {
		return shakedown.Event{Time: at(d), Run: run, Experiment: exp, Kind: kind, Phase: phase, Name: name}
	}
	var es []shakedown.Event
	add := func(e shakedown.Event, f func(*shakedown.Event)) {
		if f != nil {
			f(&e)
		}
		es = append(es, e)
	}
	add(ev(0, shakedown.EventRunStart, "", ""), func(e *shakedown.Event) { e.Detail = "experiments/checkout-slow-cache.yaml" })
	add(ev(5*time.Millisecond, shakedown.EventTargets, "", "web"), func(e *shakedown.Event) { e.Detail = "selected pid 4122 of 3 matched" })
	add(ev(10*time.Millisecond, shakedown.EventPhase, shakedown.PhaseBaseline, ""), func(e *shakedown.Event) { e.Remaining = 20 * time.Second })
	add(ev(time.Second, shakedown.EventLoad, shakedown.PhaseBaseline, "checkout"), func(e *shakedown.Event) { e.Detail = "50 req/s, 0 errors, p50 41ms, p99 118ms" })
	add(ev(time.Second, shakedown.EventCheck, shakedown.PhaseBaseline, "checkout p99 under 400ms"), func(e *shakedown.Event) {
		e.Held, e.Detail = true, "observed 118ms, threshold max 400ms"
	})
	add(ev(20*time.Second, shakedown.EventPhase, shakedown.PhaseInject, ""), func(e *shakedown.Event) { e.Remaining = 60 * time.Second })
	add(ev(20*time.Second+12*time.Millisecond, shakedown.EventInject, shakedown.PhaseInject, "slow-cache"), nil)
	add(ev(20*time.Second+15*time.Millisecond, shakedown.EventInject, shakedown.PhaseInject, "pause-one-web"), nil)
	add(ev(25*time.Second, shakedown.EventCheck, shakedown.PhaseInject, "checkout p99 under 400ms"), func(e *shakedown.Event) {
		e.Held, e.Detail = false, "observed 612ms, threshold max 400ms"
	})
	add(ev(26*time.Second, shakedown.EventLog, shakedown.PhaseInject, ""), func(e *shakedown.Event) {
		e.Detail = "proxy said:\n\x1b[31mwarning\x1b[0m\r\tslow upstream" // hostile text stays on one line
	})
	add(ev(43*time.Second, shakedown.EventExpect, shakedown.PhaseInject, "cache alert fires"), func(e *shakedown.Event) {
		e.Held, e.Detail = true, "fired after 23.5s"
	})
	add(ev(80*time.Second, shakedown.EventPhase, shakedown.PhaseRevert, ""), nil)
	add(ev(80*time.Second+300*time.Millisecond, shakedown.EventRevert, shakedown.PhaseRevert, "pause-one-web"), func(e *shakedown.Event) {
		e.Err = "send SIGCONT to pid 4122: operation not permitted"
	})
	add(ev(80*time.Second+305*time.Millisecond, shakedown.EventRevert, shakedown.PhaseRevert, "slow-cache"), nil)
	add(ev(80*time.Second+340*time.Millisecond, shakedown.EventPhase, shakedown.PhaseRecovery, ""), func(e *shakedown.Event) { e.Remaining = 30 * time.Second })
	add(ev(85*time.Second, shakedown.EventStop, shakedown.PhaseRecovery, "error storm"), func(e *shakedown.Event) { e.Detail = "observed 27.5%, threshold max 20% for 5s" })
	add(ev(112*time.Second, shakedown.EventRunEnd, "", ""), func(e *shakedown.Event) {
		e.Verdict, e.Detail = shakedown.VerdictNotRestored, "revert of pause-one-web failed"
	})
	add(ev(112*time.Second, shakedown.EventKind("custom"), "", "thing"), func(e *shakedown.Event) { e.Detail = "an event kind this package does not know" })
	return es
}

func TestProgressPlain(t *testing.T) {
	events := runEvents("01JXA6Q8W3M4N5P6R7S8T9V0WA", "checkout-tolerates-slow-cache", t0)
	var b bytes.Buffer
	p := NewProgress(&b, false)
	for _, e := range events {
		p.Event(e)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	golden(t, "progress-plain.txt", b.Bytes())
	if strings.IndexByte(out, 0x1b) >= 0 {
		t.Error("plain progress contains an escape byte")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(events) || !strings.HasSuffix(out, "\n") {
		t.Fatalf("%d events gave %d lines:\n%s", len(events), len(lines), out)
	}
	for i, l := range lines {
		for _, c := range l {
			if isControl(c) {
				t.Errorf("line %d %q has control character %U", i, l, c)
			}
		}
		want := events[i].Time.Format("15:04:05.000") + " checkout-tolerates-slow-cache "
		if !strings.HasPrefix(l, want) {
			t.Errorf("line %d %q does not start with %q", i, l, want)
		}
	}
	if want := "09:30:20.012 checkout-tolerates-slow-cache inject slow-cache: injected"; lines[6] != want {
		t.Errorf("inject line = %q, want %q", lines[6], want)
	}
}

// syncBuffer is a writer the test can read while Progress writes from its goroutine.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// screen replays what was written to a terminal that understands the escapes Progress uses
// (cursor up, carriage return, clear to the end) and returns the lines left on it.
func screen(out string) []string {
	var lines []string
	row := 0
	for len(out) > 0 {
		if strings.HasPrefix(out, "\x1b[") {
			end := strings.IndexAny(out, "AJ")
			seq := out[2:end]
			switch out[end] {
			case 'A':
				var n int
				fmt.Sscanf(seq, "%d", &n)
				row -= n
			case 'J':
				lines = lines[:row]
			}
			out = out[end+1:]
			continue
		}
		switch out[0] {
		case '\r':
		case '\n':
			row++
		default:
			for len(lines) <= row {
				lines = append(lines, "")
			}
			lines[row] += out[:1]
		}
		out = out[1:]
	}
	return lines
}

func TestProgressTTY(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b syncBuffer
		p := NewProgress(&b, true)
		start := time.Now().UTC()
		events := runEvents("r1", "checkout-tolerates-slow-cache", start)
		// Play the events at their times on the bubble's clock.
		for _, e := range events[:9] {
			time.Sleep(time.Until(e.Time))
			p.Event(e)
		}
		time.Sleep(2*time.Second + RedrawInterval) // into the inject phase, past a redraw
		synctest.Wait()
		live := strings.Join(screen(b.String()), "\n")
		for _, want := range []string{
			"checkout-tolerates-slow-cache  inject  0:53 left",
			"fault  slow-cache                injected",
			"check  checkout p99 under 400ms  BREACHED  observed 612ms, threshold max 400ms",
			"load   checkout                  50 req/s, 0 errors, p50 41ms, p99 118ms",
			"inject slow-cache: injected", // a milestone in the scrollback
		} {
			if !strings.Contains(live, want) {
				t.Errorf("live view lacks %q:\n%s", want, live)
			}
		}
		for _, e := range events[9:] {
			time.Sleep(time.Until(e.Time))
			p.Event(e)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		final := screen(b.String())
		golden(t, "progress-tty-screen.txt", []byte(strings.Join(final, "\n")+"\n"))
		if got := strings.Join(final, "\n"); !strings.Contains(got, "NOT RESTORED checkout-tolerates-slow-cache (exit 4): revert of pause-one-web failed") {
			t.Errorf("final screen lacks the static summary:\n%s", got)
		}
	})
}

// However often events come, the live view is drawn at most once per RedrawInterval.
func TestProgressRedrawRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b syncBuffer
		p := NewProgress(&b, true)
		const span = 10 * time.Second
		start := time.Now()
		p.Event(shakedown.Event{Time: start, Run: "r", Experiment: "x", Kind: shakedown.EventPhase,
			Phase: shakedown.PhaseInject, Remaining: span})
		for i := 0; time.Since(start) < span; i++ {
			p.Event(shakedown.Event{Time: time.Now(), Run: "r", Experiment: "x", Kind: shakedown.EventCheck,
				Phase: shakedown.PhaseInject, Name: "c", Held: true, Detail: fmt.Sprintf("observed %dms", i)})
			time.Sleep(time.Millisecond)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		p.mu.Lock()
		redraws := p.redraws
		p.mu.Unlock()
		limit := int(span/RedrawInterval) + 2 // the ticks, plus the final draw
		if redraws > limit || b.Writes() > limit {
			t.Errorf("%d redraws (%d writes) in %v, want at most %d", redraws, b.Writes(), span, limit)
		}
		if redraws < int(span/RedrawInterval)/2 {
			t.Errorf("only %d redraws in %v of changing state", redraws, span)
		}
	})
}

// A terminal with no events draws nothing, and an idle countdown redraws once a second.
func TestProgressIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b syncBuffer
		p := NewProgress(&b, true)
		time.Sleep(time.Second)
		if n := b.Writes(); n != 0 {
			t.Errorf("%d writes with no events", n)
		}
		p.Event(shakedown.Event{Time: time.Now(), Run: "r", Experiment: "x", Kind: shakedown.EventPhase,
			Phase: shakedown.PhaseBaseline, Remaining: 20 * time.Second})
		time.Sleep(5*time.Second + RedrawInterval/2)
		if n := b.Writes(); n < 5 || n > 7 {
			t.Errorf("%d writes over 5s of countdown, want about one a second", n)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestProgressConcurrent(t *testing.T) {
	for _, tty := range []bool{false, true} {
		t.Run(fmt.Sprintf("tty=%v", tty), func(t *testing.T) {
			var b syncBuffer
			p := NewProgress(&b, tty)
			const runs, perRun = 8, 200
			var wg sync.WaitGroup
			for r := range runs {
				wg.Go(func() {
					run := fmt.Sprintf("run-%d", r)
					for i := range perRun {
						kind := shakedown.EventCheck
						if i%10 == 0 {
							kind = shakedown.EventInject
						}
						p.Event(shakedown.Event{Time: t0, Run: run, Experiment: "exp-" + run, Kind: kind,
							Phase: shakedown.PhaseInject, Name: fmt.Sprintf("n%d", i), Held: i%3 == 0})
					}
					p.Event(shakedown.Event{Time: t0, Run: run, Experiment: "exp-" + run, Kind: shakedown.EventRunEnd,
						Verdict: shakedown.VerdictPassed})
				})
			}
			wg.Wait()
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if err := p.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if !tty {
				if got, want := strings.Count(b.String(), "\n"), runs*(perRun+1); got != want {
					t.Errorf("%d lines for %d events", got, want)
				}
			} else if got := strings.Join(screen(b.String()), "\n"); strings.Count(got, "PASSED exp-run-") != runs {
				t.Errorf("final screen has %d summaries, want %d:\n%s", strings.Count(got, "PASSED exp-run-"), runs, got)
			}
		})
	}
}

func TestProgressWriteError(t *testing.T) {
	p := NewProgress(failWriter{}, false)
	p.Event(shakedown.Event{Time: t0, Kind: shakedown.EventLog, Detail: "x"})
	p.Event(shakedown.Event{Time: t0, Kind: shakedown.EventLog, Detail: "y"})
	if err := p.Close(); !shakedown.IsKind(err, shakedown.KindInternal) {
		t.Errorf("Close after failed writes: got %v, want a KindInternal error", err)
	}
}

func TestCountdown(t *testing.T) {
	tests := []struct {
		elapsed, total time.Duration
		want           string
	}{
		{0, 20 * time.Second, "0:20 left"},
		{500 * time.Millisecond, 20 * time.Second, "0:20 left"},
		{time.Second, 20 * time.Second, "0:19 left"},
		{19*time.Second + time.Millisecond, 20 * time.Second, "0:01 left"},
		{25 * time.Second, 20 * time.Second, "0:00 left"},
		{0, 90 * time.Second, "1:30 left"},
		{75 * time.Second, 0, "1:15 elapsed"},
	}
	for _, tt := range tests {
		if got := countdown(tt.elapsed, tt.total); got != tt.want {
			t.Errorf("countdown(%v, %v) = %q, want %q", tt.elapsed, tt.total, got, tt.want)
		}
	}
}

// TestProgressPlainLogsCheckChanges: a log shows a check when its state changes or a phase
// begins, not every sample.
func TestProgressPlainLogsCheckChanges(t *testing.T) {
	var b strings.Builder
	p := NewProgress(&b, false)
	ev := func(phase shakedown.Phase, held bool) {
		p.Event(shakedown.Event{Time: t0, Run: "r", Experiment: "e", Kind: shakedown.EventCheck, Phase: phase, Name: "c", Held: held})
	}
	ev(shakedown.PhaseBaseline, true) // first: logged
	ev(shakedown.PhaseBaseline, true) // same: not
	ev(shakedown.PhaseInject, true)   // new phase: logged
	ev(shakedown.PhaseInject, false)  // breached: logged
	ev(shakedown.PhaseInject, false)  // same: not
	ev(shakedown.PhaseInject, true)   // holding again: logged
	ev(shakedown.PhaseRecovery, true) // new phase: logged
	ev(shakedown.PhaseRecovery, true) // same: not
	p.Close()
	if got := strings.Count(b.String(), "\n"); got != 5 {
		t.Errorf("%d lines, want 5:\n%s", got, b.String())
	}
}

//go:build linux

package watchdog

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/journal"
)

// counter is an undo function that notes which faults it undid.
type counter struct {
	mu    sync.Mutex
	undid []string
}

func (c *counter) registry() *shakedown.Registry {
	reg := shakedown.NewRegistry()
	reg.AddUndo("count", func(_ context.Context, data json.RawMessage) error {
		var s string
		json.Unmarshal(data, &s)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.undid = append(c.undid, s)
		return nil
	})
	return reg
}

func (c *counter) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.undid...)
}

func countUndo(s string) []shakedown.Undo {
	data, _ := json.Marshal(s)
	return []shakedown.Undo{{Type: "count", Data: data}}
}

// inProcess runs the watchdog in a goroutine on a pipe, against a journal this goroutine holds open.
type inProcess struct {
	j    *journal.Journal
	in   *io.PipeWriter
	done chan error
	c    counter
	dir  string
}

func startInProcess(t *testing.T, ctx context.Context) *inProcess {
	t.Helper()
	p := &inProcess{dir: t.TempDir(), done: make(chan error, 1)}
	var err error
	if p.j, err = journal.Open(p.dir, "run1", journal.Meta{}); err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	p.in = w
	// Main's signal handling cannot live in a synctest bubble; the rest of it is watch.
	go func() { p.done <- watch(ctx, p.dir, "run1", p.c.registry(), r, nil, nil) }()
	return p
}

func (p *inProcess) begin(t *testing.T, fault string, ttl time.Duration) int {
	t.Helper()
	id, err := p.j.Begin(fault, countUndo(fault), ttl)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.j.Injected(id); err != nil { // as the engine does once the inject returned
		t.Fatal(err)
	}
	return id
}

// TestDeadlineTiming checks on a fake clock that an entry is undone at its deadline, not
// before, while the runner lives, and that its own revert afterwards ends the run cleanly.
func TestDeadlineTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startInProcess(t, t.Context())
		short := p.begin(t, "short", time.Minute)
		long := p.begin(t, "long", time.Hour)

		time.Sleep(time.Minute - time.Millisecond)
		synctest.Wait()
		if got := p.c.got(); len(got) != 0 {
			t.Fatalf("undone %v before any deadline", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if d := cmp.Diff([]string{"short"}, p.c.got()); d != "" {
			t.Fatalf("undone at the first deadline (-want +got):\n%s", d)
		}
		if by, at, ok := p.j.RevertedBy(short); !ok || by != journal.ByWatchdog || !at.Equal(time.Now()) {
			t.Errorf("RevertedBy(short) = %q, %v, %v; want the watchdog, now", by, at, ok)
		}
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if d := cmp.Diff([]string{"short"}, p.c.got()); d != "" {
			t.Fatalf("undone half an hour later (-want +got):\n%s", d)
		}

		// The run reverts both itself (short's revert is a no-op now) and ends cleanly.
		for _, id := range []int{short, long} {
			if err := p.j.Done(id, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.j.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		io.WriteString(p.in, "stop\n")
		p.in.Close()
		if err := <-p.done; err != nil {
			t.Fatalf("Main after stop: %v", err)
		}
		if d := cmp.Diff([]string{"short"}, p.c.got()); d != "" {
			t.Errorf("undone in all (-want +got):\n%s", d)
		}
	})
}

// TestRunnerGoneWhileLockHeld: the pipe ends but the lock is still held (here by a journal
// still open in this process; in life, a child that inherited it). After its grace the
// watchdog undoes everything anyway, last in first out.
func TestRunnerGoneWhileLockHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startInProcess(t, t.Context())
		p.begin(t, "a", time.Hour)
		p.begin(t, "b", time.Hour)
		p.in.Close() // no stop
		if err := <-p.done; err != nil {
			t.Fatalf("Main: %v", err)
		}
		if d := cmp.Diff([]string{"b", "a"}, p.c.got()); d != "" {
			t.Errorf("undone (-want +got):\n%s", d)
		}
		if pend, err := journal.Scan(p.dir); err != nil || len(pend) != 0 {
			t.Errorf("Scan = %v, %v; want nothing pending", pend, err)
		}
		p.j.Close()
	})
}

// TestStopLeavesPending: a run that ended cleanly with a failed revert leaves it to recover.
func TestStopLeavesPending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := startInProcess(t, t.Context())
		id := p.begin(t, "a", time.Hour)
		p.j.Done(id, io.ErrUnexpectedEOF)
		if err := p.j.Close(); !shakedown.IsKind(err, shakedown.KindNotRestored) {
			t.Fatalf("Close = %v, want KindNotRestored", err)
		}
		io.WriteString(p.in, "stop\n")
		p.in.Close()
		if err := <-p.done; err != nil {
			t.Fatalf("Main: %v", err)
		}
		if got := p.c.got(); len(got) != 0 {
			t.Errorf("watchdog undid %v after a clean stop", got)
		}
		if pend, _ := journal.Scan(p.dir); len(pend) != 1 {
			t.Errorf("Scan = %v, want the entry left for recover", pend)
		}
	})
}

// TestCancelReplays: a watchdog told to stop (SIGTERM to it) undoes what is pending first.
func TestCancelReplays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		p := startInProcess(t, ctx)
		p.begin(t, "a", time.Hour)
		synctest.Wait()
		cancel()
		if err := <-p.done; err != nil {
			t.Fatalf("Main: %v", err)
		}
		if d := cmp.Diff([]string{"a"}, p.c.got()); d != "" {
			t.Errorf("undone (-want +got):\n%s", d)
		}
		p.in.Close()
		p.j.Close()
	})
}

// TestRunnerGoneJournalUnreadable: when the runner dies holding a fault and its journal is
// gone (moved, its state dir re-pointed) or damaged (emptied, cut inside its run record), the
// watchdog fails, not success with nothing pending, and a damaged journal stays.
func TestRunnerGoneJournalUnreadable(t *testing.T) {
	tests := []struct {
		name   string
		spoil  func(t *testing.T, path string)
		want   error
		exists bool
	}{
		{"removed", func(t *testing.T, path string) { must(t, os.Rename(path, path+".moved")) }, ErrNoJournal, false},
		{"emptied", func(t *testing.T, path string) { must(t, os.Truncate(path, 0)) }, journal.ErrCorrupt, true},
		{"cut in its run record", func(t *testing.T, path string) { must(t, os.Truncate(path, 100)) }, journal.ErrCorrupt, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := startInProcess(t, t.Context())
				p.begin(t, "a", time.Hour)
				path := journal.Path(p.dir, "run1")
				tt.spoil(t, path)
				p.in.Close() // no stop: the runner died
				err := <-p.done
				if !errors.Is(err, tt.want) || !shakedown.IsKind(err, shakedown.KindNotRestored) {
					t.Errorf("Main = %v, want %v of kind not restored", err, tt.want)
				}
				if _, err := os.Lstat(path); (err == nil) != tt.exists {
					t.Errorf("journal there after the watchdog: %v, want %v", err == nil, tt.exists)
				}
				p.j.Close()
			})
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

package history_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
)

func TestLockWaiterSeesHolderAndGivesUp(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		a, b := open(t, dsn), open(t, dsn)
		ctx := context.Background()
		ttl := 3 * time.Second
		held, err := a.Lock(ctx, "staging", history.Holder{Run: "01RUNA", Host: "ci-1", Commit: "abc"}, history.LockOptions{TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		var seen []history.Holder
		_, err = b.Lock(ctx, "staging", history.Holder{Run: "01RUNB", Host: "ci-2"},
			history.LockOptions{TTL: ttl, Timeout: 300 * time.Millisecond, Waiting: func(h history.Holder) { seen = append(seen, h) }})
		if !shakedown.IsKind(err, shakedown.KindConflict) || shakedown.KindOf(err).ExitCode() != 5 {
			t.Fatalf("Lock while another holds it = %v; want a conflict (exit 5)", err)
		}
		t.Logf("Lock: %v", err)
		if len(seen) != 1 || seen[0].Run != "01RUNA" || seen[0].Host != "ci-1" || seen[0].Commit != "abc" || seen[0].Left <= 0 || seen[0].Left > ttl {
			t.Errorf("the waiter saw %+v; want once run 01RUNA on ci-1 at abc, lapsing within %s", seen, ttl)
		}
		if err := held.Release(); err != nil {
			t.Fatal(err)
		}
		l, err := b.Lock(ctx, "staging", history.Holder{Run: "01RUNB", Host: "ci-2"}, history.LockOptions{TTL: ttl, Timeout: time.Millisecond})
		if err != nil {
			t.Fatalf("Lock once released = %v", err)
		}
		l.Release()
		other, err := a.Lock(ctx, "other", history.Holder{Run: "01RUNA"}, history.LockOptions{Timeout: time.Millisecond})
		if err != nil {
			t.Fatalf("a lock of another name = %v, want taken at once", err)
		}
		other.Release()
	})
}

func TestLockIsRenewedWhileHeld(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		a, b := open(t, dsn), open(t, dsn)
		ctx := context.Background()
		ttl := 300 * time.Millisecond
		held, err := a.Lock(ctx, "staging", history.Holder{Run: "01RUNA"}, history.LockOptions{TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		defer held.Release()
		// Four times its TTL: without renewals the lease would have lapsed three times over.
		_, err = b.Lock(ctx, "staging", history.Holder{Run: "01RUNB"}, history.LockOptions{TTL: ttl, Timeout: 4 * ttl})
		if !shakedown.IsKind(err, shakedown.KindConflict) {
			t.Fatalf("Lock of a lease being renewed = %v; want a conflict", err)
		}
		select {
		case err := <-held.Lost():
			t.Fatalf("the holder lost its lease: %v", err)
		default:
		}
	})
}

// TestLockExcludes: runners with stores of their own (two hosts, each with four runs)
// take the same lock over and over; never are two inside at once.
func TestLockExcludes(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		var inside, most, turns atomic.Int32
		var wg sync.WaitGroup
		for host := range 2 {
			s := open(t, dsn)
			for r := range 4 {
				wg.Go(func() {
					me := history.Holder{Run: fmt.Sprintf("01RUN%d%d", host, r), Host: fmt.Sprint("host-", host)}
					for range 3 {
						l, err := s.Lock(context.Background(), "staging", me, history.LockOptions{TTL: 5 * time.Second, Timeout: time.Minute, Poll: 5 * time.Millisecond})
						if err != nil {
							t.Error(err)
							return
						}
						n := inside.Add(1)
						if n > most.Load() {
							most.Store(n)
						}
						time.Sleep(2 * time.Millisecond) // hold it a moment, so that others try meanwhile
						inside.Add(-1)
						turns.Add(1)
						if err := l.Release(); err != nil {
							t.Error(err)
						}
					}
				})
			}
		}
		wg.Wait()
		if most.Load() != 1 || turns.Load() != 24 {
			t.Errorf("%d turns, at most %d holders at once; want 24 turns, one at a time", turns.Load(), most.Load())
		}
	})
}

// TestKilledHolderLapses: a process that holds a lock is killed with SIGKILL; its lease lapses
// within its TTL and a waiter takes the lock.
func TestKilledHolderLapses(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		open(t, dsn) // create and migrate the store first
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "HISTORY_TEST_HOLD_LOCK="+string(dsn.Driver)+"|"+dsn.Path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Kill()
		line, err := bufio.NewReader(out).ReadString('\n')
		if strings.TrimSpace(line) != "held" {
			t.Fatalf("the holder said %q, %v; want held", line, err)
		}
		s := open(t, dsn)
		var seen []history.Holder
		_, err = s.Lock(context.Background(), "staging", history.Holder{Run: "01WAITER"},
			history.LockOptions{Timeout: 200 * time.Millisecond, Waiting: func(h history.Holder) { seen = append(seen, h) }})
		if !shakedown.IsKind(err, shakedown.KindConflict) || len(seen) == 0 || seen[0].Run != "01HOLDER" {
			t.Fatalf("Lock while the holder lives = %v, saw %+v; want a conflict naming 01HOLDER", err, seen)
		}
		cmd.Process.Kill()
		killed := time.Now()
		l, err := s.Lock(context.Background(), "staging", history.Holder{Run: "01WAITER"}, history.LockOptions{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatalf("Lock after the holder was killed = %v", err)
		}
		l.Release()
		if took := time.Since(killed); took > holderTTL+time.Second {
			t.Errorf("the killed holder's lease lapsed after %s; want within its TTL %s (and a poll)", took, holderTTL)
		}
	})
}

const holderTTL = 2 * time.Second

// holdLock takes lock "staging" in the store "DRIVER|PATH" names, says "held" and waits to be
// killed.
func holdLock(spec string) {
	driver, path, _ := strings.Cut(spec, "|")
	s, err := history.Open(context.Background(), history.DSN{Driver: history.Driver(driver), Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := s.Lock(context.Background(), "staging", history.Holder{Run: "01HOLDER", Host: "doomed"}, history.LockOptions{TTL: holderTTL}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("held")
	select {}
}

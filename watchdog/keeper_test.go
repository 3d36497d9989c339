//go:build linux

package watchdog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
	"github.com/shakedown-dev/shakedown/journal"
)

// keeperFor keeps a watchdog (this test binary in its watchdog part) for a fresh run; starts
// after the first fail when failAfterFirst.
func keeperFor(t *testing.T, holding *atomic.Bool, failAfterFirst bool) (*Keeper, func() []int) {
	t.Helper()
	stateDir := filepath.Join(t.TempDir(), "state")
	j, err := journal.Open(stateDir, "run1", journal.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	var started atomic.Int32
	start := func() (*Guard, error) {
		if failAfterFirst && started.Add(1) > 1 {
			return nil, errors.New("cannot start")
		}
		return Start(context.Background(), testBinary(t), []string{"watchdog", "--state-dir", stateDir, "--run", "run1"}, stateDir, "run1")
	}
	var mu sync.Mutex
	var guards []int
	k, err := Keep(start, holding.Load, func(pid int) error {
		mu.Lock()
		guards = append(guards, pid)
		mu.Unlock()
		return j.Guarded(pid)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if pid := k.PID(); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		k.Stop()
	})
	return k, func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), guards...)
	}
}

func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestKeeperReplaces: a watchdog killed while the run holds nothing is replaced and is no
// lapse; one killed while it holds faults is replaced and is one.
func TestKeeperReplaces(t *testing.T) {
	var holding atomic.Bool
	k, guards := keeperFor(t, &holding, false)
	first := k.PID()
	syscall.Kill(first, syscall.SIGKILL)
	testenv.WaitFor(t, "a second watchdog", 10*time.Second, func() bool { p := k.PID(); return p != 0 && p != first })
	if err := k.Ensure(); err != nil {
		t.Fatalf("Ensure after the replacement: %v", err)
	}
	if l := k.Lapses(); len(l) != 0 {
		t.Errorf("lapses %q with nothing held, want none", l)
	}

	holding.Store(true)
	second := k.PID()
	syscall.Kill(second, syscall.SIGSTOP)
	testenv.WaitFor(t, "a third watchdog", 10*time.Second, func() bool { p := k.PID(); return p != 0 && p != second })
	if l := k.Lapses(); len(l) != 1 {
		t.Errorf("lapses %q after a stopped watchdog with faults held, want one", l)
	}
	if g := guards(); len(g) != 3 {
		t.Errorf("watchdogs journaled: %v, want 3", g)
	}
}

// TestKeeperLost: with faults held and no watchdog to be had, Lost says so, the lapse stays
// open, and no inject is allowed.
func TestKeeperLost(t *testing.T) {
	var holding atomic.Bool
	holding.Store(true)
	k, _ := keeperFor(t, &holding, true)
	syscall.Kill(k.PID(), syscall.SIGKILL)
	select {
	case err := <-k.Lost():
		if !shakedown.IsKind(err, shakedown.KindInternal) {
			t.Errorf("Lost = %v, want KindInternal", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Lost said nothing after the only watchdog died and none could start")
	}
	if l := k.Lapses(); len(l) != 1 {
		t.Errorf("lapses %q, want the one going on", l)
	}
	if err := k.Ensure(); err == nil {
		t.Error("Ensure with no watchdog to be had = nil, want an error")
	}
	if err := k.Stop(); err == nil {
		t.Error("Stop with no watchdog alive = nil, want an error")
	}
}

package hold

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shakedown-dev/shakedown"
)

func item(key, fault, typ string, share, stacks bool) Item {
	return Item{Key: key, Name: key, Target: "t", Fault: fault, Type: typ, Share: share, Stacks: stacks}
}

func TestClaimRules(t *testing.T) {
	tests := []struct {
		name       string
		a, b       Item
		conflicted bool
	}{
		{"same instance, neither shares", item("process:1@2", "p", "process.pause", false, false), item("process:1@2", "p", "process.pause", false, false), true},
		{"other instance", item("process:1@2", "p", "process.pause", false, false), item("process:3@4", "p", "process.pause", false, false), false},
		{"both share, both stack", item("proxy:cache", "slow", "proxy.latency", true, true), item("proxy:cache", "cut", "proxy.down", true, true), false},
		{"only the first shares", item("proxy:cache", "slow", "proxy.latency", true, true), item("proxy:cache", "cut", "proxy.down", false, true), true},
		{"both share, one does not stack", item("process:1@2", "burn", "stress.cpu", true, true), item("process:1@2", "p", "process.pause", true, false), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Registry{Dir: t.TempDir()}
			if err := r.Claim(&Hold{Run: "a", Items: []Item{tt.a}}); err != nil {
				t.Fatal(err)
			}
			err := r.Claim(&Hold{Run: "b", Items: []Item{tt.b}})
			if got := errors.Is(err, ErrHeld); got != tt.conflicted {
				t.Fatalf("second claim = %v, want conflict %v", err, tt.conflicted)
			}
			if err != nil && !shakedown.IsKind(err, shakedown.KindConflict) {
				t.Errorf("conflict of kind %v, want conflict", shakedown.KindOf(err))
			}
			holds, _ := r.List()
			if want := map[bool]int{true: 1, false: 2}[tt.conflicted]; len(holds) != want {
				t.Errorf("%d holds registered, want %d", len(holds), want)
			}
		})
	}
}

func TestStaleHoldsPruned(t *testing.T) {
	live := map[string]bool{"alive": true, "new": true}
	r := &Registry{Dir: t.TempDir(), Live: func(h *Hold) bool { return live[h.Run] }}
	for _, run := range []string{"alive", "dead"} {
		if err := (&Registry{Dir: r.Dir}).Claim(&Hold{Run: run, Items: []Item{item("k-"+run, "f", "process.pause", false, false)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Claim(&Hold{Run: "new", Items: []Item{item("k-dead", "f", "process.pause", false, false)}}); err != nil {
		t.Fatalf("claim of an instance a dead run held = %v, want it taken", err)
	}
	if err := r.Claim(&Hold{Run: "new2", Items: []Item{item("k-alive", "f", "process.pause", false, false)}}); !errors.Is(err, ErrHeld) {
		t.Fatalf("claim of an instance a live run holds = %v, want a conflict", err)
	}
	holds, _ := r.List()
	var runs []string
	for _, h := range holds {
		runs = append(runs, h.Run)
	}
	if strings.Join(runs, " ") != "alive new" {
		t.Errorf("holds %v, want the dead run's pruned", runs)
	}
	if err := r.Release("new"); err != nil {
		t.Fatal(err)
	}
	if err := r.Release("new"); err != nil {
		t.Errorf("second release = %v, want nothing to do", err)
	}
}

// TestDamagedHoldRefuses: a hold that cannot be read may stand for a live run, so every claim
// fails until it is looked at, naming the file.
func TestDamagedHoldRefuses(t *testing.T) {
	r := &Registry{Dir: t.TempDir()}
	if err := r.Claim(&Hold{Run: "a", Items: []Item{item("k", "f", "t", false, false)}}); err != nil {
		t.Fatal(err)
	}
	path := r.path("a")
	if err := os.WriteFile(path, []byte(`{"run": "a", "items": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := r.Claim(&Hold{Run: "b", Items: []Item{item("other", "f", "t", false, false)}})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("claim beside a damaged hold = %v, want an error naming %s", err, path)
	}
}

// TestConcurrentClaims: of many runs claiming one instance at once, exactly one gets it.
func TestConcurrentClaims(t *testing.T) {
	r := &Registry{Dir: t.TempDir()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 16 {
		wg.Go(func() {
			err := r.Claim(&Hold{Run: "run" + string(rune('a'+i)), Items: []Item{item("k", "f", "t", false, false)}})
			if err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			} else if !errors.Is(err, ErrHeld) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d claims of one instance succeeded, want 1", won)
	}
}

func TestRegistryIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	r := &Registry{Dir: dir}
	if err := r.Claim(&Hold{Run: "a", Items: []Item{item("k", "f", "t", false, false)}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, holdsDir), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := r.Claim(&Hold{Run: "b", Items: []Item{item("k2", "f", "t", false, false)}}); err == nil {
		t.Error("claim in a registry others can write = nil, want a refusal")
	}
}

// FuzzReadHold: the hold decoder never panics and accepts only a whole hold with a run.
func FuzzReadHold(f *testing.F) {
	f.Add([]byte(`{"run":"a","experiment":"e","state_dir":"/s","pid":1,"start":2,"since":"2026-01-01T00:00:00Z","items":[{"key":"k","name":"n","target":"t","fault":"f","type":"x"}]}`))
	f.Add([]byte(`{"run":"a"} {}`))
	f.Add([]byte(`{"run":"a","extra":1}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "h.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := readHold(path)
		if err == nil && h.Run == "" {
			t.Fatalf("readHold(%q) accepted a hold without a run", data)
		}
	})
}

// TestFleetConflictSaidOnce: a fleet held alike by one run's fault is named in one sentence,
// with the first few instances and how many more, not one sentence per host.
func TestFleetConflictSaidOnce(t *testing.T) {
	r := &Registry{Dir: t.TempDir()}
	var mine, theirs []Item
	for i := range 8 {
		key := "host:h" + string(rune('a'+i))
		theirs = append(theirs, item(key, "cut", "network.partition", false, false))
		mine = append(mine, item(key, "cut", "network.partition", false, false))
	}
	other := item("process:1@2", "p", "process.pause", false, false)
	if err := r.Claim(&Hold{Run: "a", Experiment: "first", Items: append(theirs, other)}); err != nil {
		t.Fatal(err)
	}
	err := r.Claim(&Hold{Run: "b", Items: append(mine, other)})
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("claim = %v, want a conflict", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"host:ha, host:hb, host:hc, host:hd, host:he and 3 more (target t) are held by run a (experiment first",
		"its fault cut (network.partition)",
		"process:1@2 (target t) is held by run a",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("conflict %q\nlacks %q", msg, want)
		}
	}
	if n := strings.Count(msg, "held by run a"); n != 2 {
		t.Errorf("the holder is named %d times, want twice (one sentence per fault): %s", n, msg)
	}
}

// TestHoldsOfOneRunByJournal: a host's agents hold one fault of a run each, filed under
// their journals: they never conflict with each other, do with another run, and are
// released one by one.
func TestHoldsOfOneRunByJournal(t *testing.T) {
	r := &Registry{Dir: t.TempDir()}
	pause := item("process:1@2", "p", "process.pause", false, false)
	for _, j := range []string{"run1.freeze", "run1.again"} {
		if err := r.Claim(&Hold{Run: "run1", Journal: j, Items: []Item{pause}}); err != nil {
			t.Fatalf("claim of %s = %v, want the run's own holds to agree", j, err)
		}
	}
	if err := r.Claim(&Hold{Run: "run2", Journal: "run2.freeze", Items: []Item{pause}}); !errors.Is(err, ErrHeld) {
		t.Fatalf("another run's claim = %v, want a conflict", err)
	}
	if err := r.Release("run1.freeze"); err != nil {
		t.Fatal(err)
	}
	holds, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(holds) != 1 || holds[0].JournalID() != "run1.again" {
		t.Fatalf("holds after releasing run1.freeze: %+v, want run1.again's alone", holds)
	}
}

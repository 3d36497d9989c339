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

// twoUsers returns a root-like registry (Shared, reading the other's) and a user-like one
// (reading the root-like one), both of this test's user: the paths stand for root's and a
// user's, the owner each is checked for is injected.
func twoUsers(t *testing.T) (root, user *Registry) {
	t.Helper()
	base := t.TempDir()
	rootDir, userDir := filepath.Join(base, "run-shakedown"), filepath.Join(base, "shakedown-1000")
	uid := os.Geteuid()
	root = &Registry{Dir: rootDir, Shared: true, Peers: func() []Peer { return []Peer{{Dir: userDir, UID: uid}} }}
	user = &Registry{Dir: userDir, Peers: func() []Peer { return []Peer{{Dir: rootDir, UID: uid}} }}
	return root, user
}

func pause(key string) Item { return item(key, "p", "process.pause", false, false) }

// TestPeerHoldsRefuse: a run of either user is refused an instance a live run of the other
// holds, naming it and the registry it is in, and registers nothing; plan sees it too.
func TestPeerHoldsRefuse(t *testing.T) {
	tests := []struct {
		name         string
		first, other func(root, user *Registry) *Registry
	}{
		{"root holds, user claims", func(r, _ *Registry) *Registry { return r }, func(_, u *Registry) *Registry { return u }},
		{"user holds, root claims", func(_, u *Registry) *Registry { return u }, func(r, _ *Registry) *Registry { return r }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, user := twoUsers(t)
			first, second := tt.first(root, user), tt.other(root, user)
			if err := first.Claim(&Hold{Run: "first", Experiment: "e1", Items: []Item{pause("process:1@2")}}); err != nil {
				t.Fatal(err)
			}
			cs, err := second.Conflicts(&Hold{Run: "plan", Items: []Item{pause("process:1@2")}})
			if err != nil || len(cs) != 1 || cs[0].Holder.Run != "first" || cs[0].Peer == nil || cs[0].Peer.Dir != first.Dir {
				t.Fatalf("plan's conflicts = %+v, %v; want run first's, in %s", cs, err, first.Dir)
			}
			err = second.Claim(&Hold{Run: "second", Items: []Item{pause("process:1@2")}})
			if !errors.Is(err, ErrHeld) || !shakedown.IsKind(err, shakedown.KindConflict) {
				t.Fatalf("claim = %v, want a conflict", err)
			}
			if !strings.Contains(err.Error(), first.Dir) {
				t.Errorf("conflict %q does not name the registry %s", err, first.Dir)
			}
			if holds, _ := second.List(); len(holds) != 0 {
				t.Errorf("the refused claim left %d holds, want none", len(holds))
			}
			if err := second.Claim(&Hold{Run: "third", Items: []Item{pause("process:3@4")}}); err != nil {
				t.Errorf("claim of another instance = %v, want it taken", err)
			}
		})
	}
}

// TestPeerHoldsNeverActedOn: a hold in another user's registry that is no longer live is
// passed over, not removed; only the own registry is pruned.
func TestPeerHoldsNeverActedOn(t *testing.T) {
	root, user := twoUsers(t)
	for _, run := range []string{"dead", "alive"} {
		if err := root.Claim(&Hold{Run: run, Items: []Item{pause("k-" + run)}}); err != nil {
			t.Fatal(err)
		}
	}
	user.Live = func(h *Hold) bool { return h.Run != "dead" }
	if err := user.Claim(&Hold{Run: "u", Items: []Item{pause("k-alive")}}); !errors.Is(err, ErrHeld) {
		t.Fatalf("claim of an instance a live run of the other user holds = %v, want a conflict", err)
	}
	if err := user.Claim(&Hold{Run: "u", Items: []Item{pause("k-dead")}}); err != nil {
		t.Fatalf("claim of an instance a dead run of the other user held = %v, want it taken", err)
	}
	if _, err := os.Stat(root.path("dead")); err != nil {
		t.Errorf("the other user's dead hold: %v, want it left where it is", err)
	}
}

// TestPeerEntriesNotTheirs: what in another user's registry is not theirs alone, or is
// damaged, cannot stand for a run of theirs and is passed over without an error.
func TestPeerEntriesNotTheirs(t *testing.T) {
	tests := []struct {
		name    string
		spoil   func(t *testing.T, r *Registry)
		owner   int
		refused bool
	}{
		{"theirs alone, whole", func(*testing.T, *Registry) {}, os.Geteuid(), true},
		{"registry of another owner", func(*testing.T, *Registry) {}, os.Geteuid() + 1, false},
		{"hold writable by others", func(t *testing.T, r *Registry) { chmod(t, r.path("a"), 0o666) }, os.Geteuid(), false},
		{"holds folder writable by others", func(t *testing.T, r *Registry) { chmod(t, filepath.Join(r.Dir, holdsDir), 0o777) }, os.Geteuid(), false},
		{"damaged hold", func(t *testing.T, r *Registry) {
			if err := os.WriteFile(r.path("a"), []byte(`{"run":`), 0o600); err != nil {
				t.Fatal(err)
			}
		}, os.Geteuid(), false},
		{"hold filed under another run", func(t *testing.T, r *Registry) {
			if err := os.Rename(r.path("a"), r.path("b")); err != nil {
				t.Fatal(err)
			}
		}, os.Geteuid(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := &Registry{Dir: filepath.Join(t.TempDir(), "other")}
			if err := other.Claim(&Hold{Run: "a", Items: []Item{pause("k")}}); err != nil {
				t.Fatal(err)
			}
			tt.spoil(t, other)
			mine := &Registry{Dir: t.TempDir(), Peers: func() []Peer { return []Peer{{Dir: other.Dir, UID: tt.owner}} }}
			err := mine.Claim(&Hold{Run: "m", Items: []Item{pause("k")}})
			if tt.refused && !errors.Is(err, ErrHeld) || !tt.refused && err != nil {
				t.Errorf("claim = %v, want refused %v", err, tt.refused)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestSharedRegistryReadable: root's registry is readable by everyone and written by root
// alone; any other stays private.
func TestSharedRegistryReadable(t *testing.T) {
	for _, shared := range []bool{true, false} {
		dir := filepath.Join(t.TempDir(), "reg")
		if err := os.MkdirAll(filepath.Join(dir, holdsDir), 0o700); err != nil { // as an older version left it
			t.Fatal(err)
		}
		r := &Registry{Dir: dir, Shared: shared}
		if err := r.Claim(&Hold{Run: "a", Items: []Item{pause("k")}}); err != nil {
			t.Fatal(err)
		}
		wantDir, wantFile := os.FileMode(0o700), os.FileMode(0o600)
		if shared {
			wantDir, wantFile = 0o755, 0o644
		}
		for path, want := range map[string]os.FileMode{dir: wantDir, filepath.Join(dir, holdsDir): wantDir, r.path("a"): wantFile, filepath.Join(dir, lockName): 0o600} {
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
				t.Errorf("shared %v: %s: %v, %v; want mode %v", shared, path, fi.Mode().Perm(), err, want)
			}
		}
	}
}

// TestHoldRedacted: what a hold shows for people keeps no URL password: root's registry is
// readable by everyone.
func TestHoldRedacted(t *testing.T) {
	r := &Registry{Dir: t.TempDir(), Shared: true}
	it := pause("proxy:inline::8080")
	it.Name = "inline proxy :8080 → http://u:hunter2secret@db:5432/"
	if err := r.Claim(&Hold{Run: "a", File: "https://u:hunter2secret@example.com/exp.yaml", Items: []Item{it}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(r.path("a"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2secret") {
		t.Errorf("hold shows a password:\n%s", b)
	}
}

// TestConcurrentClaimsAcrossUsers: of two runs of different users claiming one instance at
// once, never both get it.
func TestConcurrentClaimsAcrossUsers(t *testing.T) {
	for i := range 50 {
		root, user := twoUsers(t)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, r := range []*Registry{root, user} {
			wg.Go(func() { errs[j] = r.Claim(&Hold{Run: "run" + string(rune('a'+j)), Items: []Item{pause("k")}}) })
		}
		wg.Wait()
		if errs[0] == nil && errs[1] == nil {
			t.Fatalf("round %d: both users' claims of one instance succeeded", i)
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, ErrHeld) {
				t.Fatal(err)
			}
		}
	}
}

// TestUserPeers: root finds each user's registry at its default places, by uid, and none of
// root's own or of a name that is no uid.
func TestUserPeers(t *testing.T) {
	base := t.TempDir()
	runUser, tmp := filepath.Join(base, "run-user"), filepath.Join(base, "tmp")
	for _, d := range []string{"run-user/1000/shakedown", "run-user/0", "run-user/x", "tmp/shakedown-1001", "tmp/shakedown-0", "tmp/shakedown-07", "tmp/shakedown-y", "tmp/other"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	got := userPeers(runUser, []string{tmp, filepath.Join(base, "missing")})
	want := []Peer{{Dir: filepath.Join(runUser, "1000", "shakedown"), UID: 1000}, {Dir: filepath.Join(tmp, "shakedown-1001"), UID: 1001}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("userPeers = %+v, want %+v", got, want)
	}
}

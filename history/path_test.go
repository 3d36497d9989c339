//go:build unix

package history_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
)

// TestSQLitePathLinks: a SQLite path given by the user follows the state dir's rule: a
// symbolic link to nothing is refused (its target is not created), another user's link is
// refused, and the user's own link to a store is followed; for a read-only open as for one
// that writes.
func TestSQLitePathLinks(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) (path, target string)
		want  error // nil: opens
	}{
		{"dangling link", func(t *testing.T, dir string) (string, string) {
			target := filepath.Join(dir, "elsewhere.db")
			return link(t, target, filepath.Join(dir, "link.db"), -1), target
		}, history.ErrDanglingLink},
		{"dangling link to a link", func(t *testing.T, dir string) (string, string) {
			target := filepath.Join(dir, "elsewhere.db")
			mid := link(t, target, filepath.Join(dir, "mid.db"), -1)
			return link(t, mid, filepath.Join(dir, "link.db"), -1), target
		}, history.ErrDanglingLink},
		{"another user's link", func(t *testing.T, dir string) (string, string) {
			if os.Geteuid() != 0 {
				t.Skip("giving a link to another user needs root")
			}
			target := filepath.Join(dir, "real.db")
			open(t, history.DSN{Driver: history.DriverSQLite, Path: target}).Close()
			return link(t, target, filepath.Join(dir, "link.db"), 65534), ""
		}, history.ErrOthersLink},
		{"own link to a store", func(t *testing.T, dir string) (string, string) {
			target := filepath.Join(dir, "real.db")
			open(t, history.DSN{Driver: history.DriverSQLite, Path: target}).Close()
			return link(t, target, filepath.Join(dir, "link.db"), -1), ""
		}, nil},
	}
	for _, tc := range tests {
		for _, ro := range []bool{false, true} {
			name := tc.name
			if ro {
				name += "/read-only"
			}
			t.Run(name, func(t *testing.T) {
				path, target := tc.setup(t, t.TempDir())
				s, err := history.OpenWith(context.Background(), history.DSN{Driver: history.DriverSQLite, Path: path}, history.Options{ReadOnly: ro})
				if err == nil {
					s.Close()
				}
				switch {
				case tc.want == nil && err != nil:
					t.Errorf("open %s: %v; want it open", path, err)
				case tc.want != nil && (!errors.Is(err, tc.want) || !shakedown.IsKind(err, shakedown.KindPermission)):
					t.Errorf("open %s: %v; want %v (permission)", path, err, tc.want)
				}
				if target != "" {
					if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("the link's target %s was created", target)
					}
				}
			})
		}
	}
}

// link makes a symbolic link at path to target, owned by uid (−1: this user).
func link(t *testing.T, target, path string, uid int) string {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Lchown(path, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

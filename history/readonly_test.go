package history_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
)

// TestReadOnlyWritesNothing: a store opened read-only is read as it is and never written: an
// empty file stays empty (no history in it), a store's file keeps every byte, and a write
// through it is refused by the database itself.
func TestReadOnlyWritesNothing(t *testing.T) {
	ro := history.Options{ReadOnly: true}
	t.Run("empty file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "empty.db")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := history.OpenWith(context.Background(), history.DSN{Driver: history.DriverSQLite, Path: path}, ro)
		if !errors.Is(err, history.ErrNoHistory) {
			t.Errorf("read-only open of an empty file = %v; want ErrNoHistory", err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
			t.Errorf("the empty file after a read-only open: %v, %v; want it empty", fi.Size(), err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "none.db")
		if _, err := history.OpenWith(context.Background(), history.DSN{Driver: history.DriverSQLite, Path: path}, ro); err == nil {
			t.Error("read-only open of a missing file succeeded")
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a read-only open created %s", path)
		}
	})
	backends(t, func(t *testing.T, dsn history.DSN) {
		s := open(t, dsn)
		if err := s.Record(context.Background(), run(1, "exp", shakedown.VerdictPassed, "c1", "main", 100)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		var before []byte
		if dsn.Driver == history.DriverSQLite {
			before, _ = os.ReadFile(dsn.Path)
		}
		r, err := history.OpenWith(context.Background(), dsn, ro)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if es, err := r.List(context.Background(), history.Filter{}); err != nil || len(es) != 1 {
			t.Errorf("List read-only = %d runs, %v; want 1", len(es), err)
		}
		if err := r.Record(context.Background(), run(2, "exp", shakedown.VerdictPassed, "c2", "main", 100)); err == nil {
			t.Error("Record through a read-only store succeeded")
		}
		r.Close()
		if dsn.Driver == history.DriverSQLite {
			if after, _ := os.ReadFile(dsn.Path); !bytes.Equal(before, after) {
				t.Error("the store's file changed under a read-only open")
			}
		}
	})
}

// TestReadOnlyMedia: a store on a read-only file system (where SQLite cannot make the
// companions a WAL file needs) is read all the same.
func TestReadOnlyMedia(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a read-only file system needs root")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "ro")
	src := filepath.Join(dir, "src")
	for _, d := range []string{mnt, src} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	dsn := history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(src, "history.db")}
	s := open(t, dsn)
	if err := s.Record(context.Background(), run(1, "exp", shakedown.VerdictPassed, "c1", "main", 100)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if out, err := exec.Command("mount", "--bind", "-o", "ro", src, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount read-only: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o600); err == nil {
		t.Skip("the bind mount is not read-only here")
	}
	r, err := history.OpenWith(context.Background(), history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(mnt, "history.db")}, history.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open on read-only media: %v", err)
	}
	defer r.Close()
	if es, err := r.List(context.Background(), history.Filter{}); err != nil || len(es) != 1 {
		t.Errorf("List on read-only media = %d runs, %v; want 1", len(es), err)
	}
}

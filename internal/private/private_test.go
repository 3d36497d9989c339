package private

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

func TestCheckDir(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	open := mk("open", 0o777)
	sticky := mk("sticky", os.ModeSticky|0o777)
	group := mk("group", 0o770)
	mine := mk("mine", 0o700)
	link := filepath.Join(mine, "link")
	if err := os.Symlink(open, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir  string
		safe bool
	}{
		{mine, true},
		{filepath.Join(mine, "not", "yet"), true},
		{sticky, true},
		{filepath.Join(sticky, "state"), true},
		{open, false},
		{filepath.Join(open, "state"), false},
		{filepath.Join(open, "a", "b", "c"), false},
		{group, false},
		{filepath.Join(link, "state"), false}, // the link's target is checked
	}
	for _, tt := range tests {
		err := CheckDir(tt.dir)
		if safe := err == nil; safe != tt.safe {
			t.Errorf("CheckDir(%s) = %v, want safe %v", tt.dir, err, tt.safe)
		}
		if err != nil && (!errors.Is(err, ErrUnsafe) || !shakedown.IsKind(err, shakedown.KindPermission)) {
			t.Errorf("CheckDir(%s) = %v, want ErrUnsafe of kind permission", tt.dir, err)
		}
	}
}

func TestMkdirOwn(t *testing.T) {
	state := filepath.Join(t.TempDir(), "a", "state")
	runs, err := MkdirOwn(state, "runs")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{state, runs} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a folder of mode 0700", p, fi.Mode(), err)
		}
	}
	if err := os.Chmod(runs, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := MkdirOwn(state, "runs"); err != nil {
		t.Errorf("MkdirOwn of a 0755 folder of mine = %v, want it accepted (no one else can write it)", err)
	}
	if err := os.Chmod(runs, 0o775); err != nil {
		t.Fatal(err)
	}
	if _, err := MkdirOwn(state, "runs"); !errors.Is(err, ErrUnsafe) {
		t.Errorf("MkdirOwn of a folder its group can write = %v, want a refusal", err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o646); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		flag int
		want error // nil: opens
	}{
		{file, os.O_RDONLY, nil},
		{file, os.O_RDWR | os.O_APPEND, nil},
		{loose, os.O_RDONLY, ErrUnsafe},
		{link, os.O_RDONLY, ErrUnsafe},
		{fifo, os.O_RDONLY, ErrUnsafe},
		{fifo, os.O_RDWR, ErrUnsafe},
		{dir, os.O_RDONLY, ErrUnsafe},
		{"/dev/zero", os.O_RDONLY, ErrUnsafe},
		{filepath.Join(dir, "missing"), os.O_RDONLY, fs.ErrNotExist},
	}
	for _, tt := range tests {
		done := make(chan error, 1)
		go func() {
			f, err := Open(tt.path, tt.flag)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Open(%s, %#x) = %v, want %v", tt.path, tt.flag, err, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Open(%s) blocked", tt.path)
		}
	}
}

// TestCheckDirRefusesOthersLinks: a symbolic link on the way to the state dir that another
// user owns is refused, as such a folder is: they could point it elsewhere mid-run. Links of
// this user's or root's are followed, and Resolve returns the real path.
func TestCheckDirRefusesOthersLinks(t *testing.T) {
	testenv.NeedRoot(t)
	base := t.TempDir()
	real := filepath.Join(base, "real")
	sticky := filepath.Join(base, "sticky")
	for _, d := range []string{real, sticky} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(sticky, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string, owner int) string {
		p := filepath.Join(sticky, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, owner, owner); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const nobody = 65534
	others := link("others", real, nobody)
	mine := link("mine", real, os.Geteuid())
	relative := link("relative", "../real", os.Geteuid())
	// A link of mine whose target passes through another user's link.
	chained := link("chained", filepath.Join(others, "."), os.Geteuid())
	tests := []struct {
		dir  string
		real string // "" when refused
	}{
		{others, ""},
		{filepath.Join(others, "state"), ""},
		{chained, ""},
		{mine, real},
		{filepath.Join(mine, "state", "sub"), filepath.Join(real, "state", "sub")},
		{relative, real},
		{relative + "/../sticky", sticky}, // ".." after the link: of its target
	}
	for _, tt := range tests {
		got, err := Resolve(tt.dir)
		if tt.real == "" {
			if !errors.Is(err, ErrUnsafe) || !shakedown.IsKind(err, shakedown.KindPermission) {
				t.Errorf("Resolve(%s) = %q, %v; want ErrUnsafe of kind permission", tt.dir, got, err)
			}
			if err := CheckDir(tt.dir); !errors.Is(err, ErrUnsafe) {
				t.Errorf("CheckDir(%s) = %v, want ErrUnsafe", tt.dir, err)
			}
			continue
		}
		if err != nil || got != tt.real {
			t.Errorf("Resolve(%s) = %q, %v; want %q", tt.dir, got, err, tt.real)
		}
	}
}

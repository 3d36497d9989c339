//go:build unix

package userfile

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(path("small"), []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path("big"), bytes.Repeat([]byte("x"), 101), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path("exact"), bytes.Repeat([]byte("x"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", path("sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, l := range [][2]string{{"fifo", "to-fifo"}, {"small", "to-small"}, {"/dev/zero", "to-zero"}, {"nowhere", "dangling"}} {
		if err := os.Symlink(l[0], path(l[1])); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path    string
		want    error // nil: read whole
		wantLen int
	}{
		{path("small"), nil, 11},
		{path("exact"), nil, 100},
		{path("to-small"), nil, 11},
		{path("big"), ErrTooLarge, 100},
		{path("fifo"), ErrNotRegular, 0},
		{path("to-fifo"), ErrNotRegular, 0},
		{"/dev/zero", ErrNotRegular, 0},
		{path("to-zero"), ErrNotRegular, 0},
		{"/dev/null", ErrNotRegular, 0},
		{path("sock"), ErrNotRegular, 0},
		{dir, ErrNotRegular, 0},
		{path("missing"), fs.ErrNotExist, 0},
		{path("dangling"), fs.ErrNotExist, 0},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			type result struct {
				data []byte
				err  error
			}
			done := make(chan result, 1)
			go func() {
				data, err := Read(tt.path, 100)
				done <- result{data, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Read(%s) still blocked after 10s", tt.path)
			}
			if tt.want == nil && r.err != nil || tt.want != nil && !errors.Is(r.err, tt.want) {
				t.Fatalf("Read(%s) error %v, want %v", tt.path, r.err, tt.want)
			}
			if len(r.data) != tt.wantLen {
				t.Errorf("Read(%s) gave %d bytes, want %d", tt.path, len(r.data), tt.wantLen)
			}
			var pe *fs.PathError
			if r.err != nil && !errors.As(r.err, &pe) {
				t.Errorf("Read(%s) error %T is not an *fs.PathError: %v", tt.path, r.err, r.err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		max  int64
		want error
	}{
		{small, 5, nil},
		{small, 4, ErrTooLarge},
		{fifo, 5, ErrNotRegular},
		{"/dev/zero", 5, ErrNotRegular},
		{dir, 5, ErrNotRegular},
		{filepath.Join(dir, "missing"), 5, fs.ErrNotExist},
	} {
		if err := Check(tt.path, tt.max); tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("Check(%s, %d) = %v, want %v", tt.path, tt.max, err, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		0o644:                             "a regular file",
		fs.ModeDir | 0o755:                "a directory",
		fs.ModeNamedPipe:                  "a named pipe (FIFO)",
		fs.ModeSocket:                     "a socket",
		fs.ModeDevice | fs.ModeCharDevice: "a character device",
		fs.ModeDevice:                     "a block device",
		fs.ModeIrregular:                  "an irregular file",
	} {
		if got := Describe(m); got != want {
			t.Errorf("Describe(%v) = %q, want %q", m, got, want)
		}
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{256 << 10: "256 KiB", 1 << 20: "1 MiB", 100: "100 bytes", 1500: "1500 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		f, err := Create(fifo, false)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		var pe *fs.PathError
		if !errors.As(err, &pe) || !errors.Is(err, errNoReader) {
			t.Errorf("Create(FIFO without reader) = %v, want a path error saying nobody reads", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Create(FIFO without reader) still blocked after 10s")
	}

	// With a reader, the FIFO is written to.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := Create(fifo, false)
	if err != nil {
		t.Fatalf("Create(FIFO with a reader): %v", err)
	}
	if _, err := w.WriteString("report"); err != nil {
		t.Fatal(err)
	}
	w.Close()

	// A regular file is created, truncated, appended to.
	path := filepath.Join(dir, "out")
	for _, step := range []struct {
		appending bool
		write     string
		want      string
	}{{false, "one", "one"}, {true, "two", "onetwo"}, {false, "three", "three"}} {
		f, err := Create(path, step.appending)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(step.write)
		f.Close()
		if b, _ := os.ReadFile(path); string(b) != step.want {
			t.Errorf("after writing %q (appending %v): %q, want %q", step.write, step.appending, b, step.want)
		}
	}
}

package dashboard_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/dashboard"
)

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"a token and a newline", write("ok", "s3cret\n"), "s3cret"},
		{"spaces around", write("spaces", "  \t s3cret \r\n\n"), "s3cret"},
		{"empty", write("empty", ""), ""},
		{"only white space", write("blank", " \n\t\n"), ""},
		{"two words", write("two", "one two\n"), ""},
		{"two lines", write("lines", "one\ntwo\n"), ""},
		{"a NUL", write("nul", "ab\x00cd"), ""},
		{"too large", write("large", string(make([]byte, dashboard.MaxTokenFile+1))), ""},
		{"missing", filepath.Join(dir, "missing"), ""},
		{"a folder", dir, ""},
		{"a FIFO", fifo, ""},
	} {
		got, err := dashboard.ReadToken(tc.path)
		if tc.want == "" {
			if !shakedown.IsKind(err, shakedown.KindInvalid) || got != "" {
				t.Errorf("%s: ReadToken = %q, %v; want an invalid error", tc.name, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: ReadToken = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

package cli

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCheckWritableLeavesNothing: checking a report path that can be written leaves the
// folder as it was; one that cannot is refused, and what the check made is gone too.
func TestCheckWritableLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		p  reportPath
		ok bool
	}{
		{reportPath{path: "new/deep/junit.xml"}, true},
		{reportPath{path: "file"}, true},
		{reportPath{path: "new/runs/", folder: true}, true},
		{reportPath{path: "folder", folder: true}, true},
		{reportPath{path: "summary.md", append: true}, true},
		{reportPath{path: "folder"}, false},
		{reportPath{path: "file/junit.xml"}, false},
		{reportPath{path: "file/runs/", folder: true}, false},
		{reportPath{path: "/proc/self/no-such/report.xml"}, false},
	}
	for _, tt := range tests {
		p := tt.p
		if !filepath.IsAbs(p.path) {
			p.path = filepath.Join(dir, p.path)
		}
		err := checkWritable(p)
		if (err == nil) != tt.ok {
			t.Errorf("checkWritable(%s) = %v, want ok %v", tt.p.path, err, tt.ok)
		}
		if got := tree(t, dir); !slices.Equal(got, []string{"file", "folder"}) {
			t.Errorf("after checkWritable(%s): the folder holds %v, want only what was there", tt.p.path, got)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "file")); string(b) != "keep" {
		t.Errorf("an existing report was changed by the check: %q", b)
	}
}

func tree(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, rel)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

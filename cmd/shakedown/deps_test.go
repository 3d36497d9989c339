package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLinksNoExample checks that dependencies follow the arrows: the shipped binary
// (with and without the Kubernetes family, as `make build` and `make demo` build it) links
// nothing under examples/, and the only package of ours that links a database driver is the
// history store. The embedded demo runs the shop service of demo/shop; the example's
// PostgreSQL store stays in examples/shop/app.
func TestBinaryLinksNoExample(t *testing.T) {
	drivers := []string{"github.com/jackc/pgx/", "github.com/lib/pq", "modernc.org/sqlite"}
	allowed := map[string]bool{module + "/history": true}
	for _, tags := range []string{"", "nokubernetes"} {
		t.Run("tags="+tags, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-tags", tags, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps: %v\n%s", err, stderrOf(err))
			}
			for line := range strings.Lines(string(out)) {
				pkg, imports, _ := strings.Cut(strings.TrimSpace(line), " ")
				if strings.HasPrefix(pkg, module+"/examples/") {
					t.Errorf("./cmd/shakedown links %s: the binary must not carry an example", pkg)
				}
				if !strings.HasPrefix(pkg, module) || allowed[pkg] {
					continue
				}
				for imp := range strings.FieldsSeq(imports) {
					for _, d := range drivers {
						if strings.HasPrefix(imp, d) {
							t.Errorf("%s imports the database driver %s; only the history store may", pkg, imp)
						}
					}
				}
			}
		})
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

//go:build !nokubernetes

package cli

import (
	"os"
	"strings"
	"testing"
)

// TestFaultsDocUpToDate: docs/faults.md is what `shakedown faults --markdown` prints, so the
// catalog people read cannot drift from the registry the binary runs with.
func TestFaultsDocUpToDate(t *testing.T) {
	var b strings.Builder
	if err := writeCatalogMarkdown(&b, Registry()); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../docs/faults.md")
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("docs/faults.md is out of date: run make docs")
	}
}

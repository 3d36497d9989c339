package shakedown

import (
	"errors"
	"testing"
)

// What needs Linux is an environment failure (exit 5), not an invalid file (exit 2): the
// same file validates everywhere and runs where the tool can carry it out.
func TestNeedsLinuxIsUnavailable(t *testing.T) {
	err := NeedsLinux("process.pause")
	if !errors.Is(err, &Error{Kind: KindUnavailable}) {
		t.Errorf("NeedsLinux: kind %v, want %v", KindOf(err), KindUnavailable)
	}
	if got := KindOf(err).ExitCode(); got != 5 {
		t.Errorf("NeedsLinux: exit code %d, want 5", got)
	}
}

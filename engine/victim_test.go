package engine_test

import (
	"testing"

	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

func startVictim(t *testing.T) *testenv.Victim { return testenv.StartVictim(t) }

// procState returns the state letter of a process from /proc ("S", "R", "T" for stopped).
func procState(t *testing.T, pid int) string {
	t.Helper()
	st, err := procfs.ReadStat(procfs.Root, pid)
	if err != nil {
		t.Fatalf("read state of pid %d: %v", pid, err)
	}
	return string(st.State)
}

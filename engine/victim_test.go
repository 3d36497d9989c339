package engine_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

func startVictim(t *testing.T) *testenv.Victim { return testenv.StartVictim(t) }

// procState returns the state letter of a process from /proc ("S", "R", "T" for stopped).
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read state of pid %d: %v", pid, err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return strings.Fields(s[i+1:])[0]
}

package testenv

import (
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// WaitFor polls cond until it holds and fails the test when it does not within the given
// time. Polling starts at a millisecond and backs off to 50 ms, so a quick condition is
// seen at once and a slow one (a server's answer) is not asked too often.
func WaitFor(tb testing.TB, what string, within time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(pause) // polling a condition with a deadline
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// Running reports whether process pid exists and is not a zombie.
func Running(pid int) bool {
	s, err := procfs.ReadStat(procfs.Root, pid)
	return err == nil && !s.Dead()
}

//go:build linux

package watchdog

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// BenchmarkKill9ToRevert measures the time from kill -9 of a runner that paused a victim
// process to the victim running again, undone by the watchdog from the journal. It reports
// the median and the slowest of b.N kills (goal: median ≤ 500ms). ns/op includes starting
// each runner and its watchdog, and is not the figure to read.
//
//	go test -run '^$' -bench Kill9 -benchtime 20x ./watchdog
func BenchmarkKill9ToRevert(b *testing.B) {
	v := testenv.StartVictim(b)
	var took []time.Duration
	for b.Loop() {
		r := startRunner(b, v.PID, time.Hour)
		start := time.Now()
		if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		for stopped(v.PID) {
			if time.Since(start) > 10*time.Second {
				b.Fatal("victim still stopped 10s after kill -9 of the runner")
			}
		}
		took = append(took, time.Since(start))
		r.cmd.Wait()
		testenv.WaitFor(b, "watchdog exited", 10*time.Second, func() bool { return exited(r.watchdog) })
		reap(r.watchdog)
		r.watchdog = 0
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "ms-max")
}

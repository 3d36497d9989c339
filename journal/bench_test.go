package journal

import (
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// BenchmarkBeginDone measures journaling one fault: two fsynced appends, the cost paid on the
// inject path before every fault.
func BenchmarkBeginDone(b *testing.B) {
	j, err := Open(b.TempDir(), "bench", Meta{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	undos := []shakedown.Undo{undo("mark", "x")}
	for b.Loop() {
		id, err := j.Begin("f", undos, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Done(id, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan measures reading a run's journal of 100 entries, what the watchdog does on
// every poll.
func BenchmarkScan(b *testing.B) {
	dir := b.TempDir()
	j, err := Open(dir, "bench", Meta{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	for range 100 {
		if _, err := j.Begin("f", []shakedown.Undo{undo("mark", "x")}, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if _, err := ScanRun(dir, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

package report

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// checkEvents is a second of a busy run: one sample of each of 10 checks.
func checkEvents() []shakedown.Event {
	var es []shakedown.Event
	for i := range 10 {
		es = append(es, shakedown.Event{Time: t0, Run: "r", Experiment: "checkout-tolerates-slow-cache",
			Kind: shakedown.EventCheck, Phase: shakedown.PhaseInject, Name: fmt.Sprintf("check %d", i),
			Held: i%4 != 0, Detail: "observed 331ms, threshold max 400ms"})
	}
	return es
}

func BenchmarkProgressEventPlain(b *testing.B) {
	p := NewProgress(io.Discard, false)
	es := checkEvents()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Event(es[i%len(es)])
	}
	_ = p.Close()
}

func BenchmarkProgressEventTTY(b *testing.B) {
	p := NewProgress(io.Discard, true)
	es := checkEvents()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Event(es[i%len(es)])
	}
	_ = p.Close()
}

// BenchmarkRedraw is one frame of the live view of a run with 10 checks, 2 faults, 1 load.
func BenchmarkRedraw(b *testing.B) {
	p := NewProgress(io.Discard, false)
	p.tty = true // draw by hand, without the loop
	p.now = func() time.Time { return t0 }
	for _, e := range runEvents("r", "checkout-tolerates-slow-cache", t0)[:9] {
		p.Event(e)
	}
	for _, e := range checkEvents() {
		p.Event(e)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.mu.Lock()
		p.frame = nil // force the draw
		p.redraw(false)
		p.mu.Unlock()
	}
}

func benchWriter(b *testing.B, write func(io.Writer, []*shakedown.Record) error) {
	records := []*shakedown.Record{passedRecord(), failedRecord(), notRestoredRecord()}
	b.ReportAllocs()
	for b.Loop() {
		if err := write(io.Discard, records); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteJSON(b *testing.B)     { benchWriter(b, WriteJSON) }
func BenchmarkWriteJUnit(b *testing.B)    { benchWriter(b, WriteJUnit) }
func BenchmarkWriteMarkdown(b *testing.B) { benchWriter(b, WriteMarkdown) }

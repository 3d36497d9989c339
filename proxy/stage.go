package proxy

import (
	"math"
	"math/rand/v2"
	"time"
)

// evKind says what an event on a link is.
type evKind uint8

const (
	evData  evKind = iota // bytes for the destination
	evEOF                 // the source ended: half-close the destination
	evClose               // end the connection (both sides)
	evReset               // end the connection with a TCP RST
	evReply               // bytes for the source (an HTTP answer the proxy gives itself)
	// The events of a connection's pairing (see pairing): only its last stages make them.
	evReplyClose // an evReply after which the connection ends
	evMark       // upstream: a request starts here; data is its method
	evAnswered   // downstream: a final response to a counted request ends here
)

// event is one thing a link must do, not before at.
type event struct {
	kind evKind
	data []byte
	at   time.Time
}

// stage is one toxic on one link. It turns each incoming event into the events it
// becomes, in order; times it gives out never go backwards for a stage.
type stage interface {
	push(ev event, out []event) []event
}

// deadliner is a stage that acts at a time of its own (timeout closes the connection).
// Its deadline is set when it is made, never by a push: a link with no deadline on gets
// none from the bytes it carries (the toxic path's inline relies on it).
type deadliner interface {
	deadline() (time.Time, bool)
	fire() []event
}

// flusher is a stage that may hold bytes; flush gives them back when it is removed.
type flusher interface {
	flush(now time.Time) []event
}

// remover is a stage that acts when it is removed from a live link.
type remover interface {
	removed(now time.Time) []event
}

// inheritor takes over state from the stage an update of its toxic replaces.
type inheritor interface {
	inherit(old stage)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ms converts milliseconds to a duration. Callers check their range first (millis);
// beyond time.Duration's, it saturates rather than wrap around to a small value.
func ms(v int64) time.Duration {
	const most = int64(math.MaxInt64 / time.Millisecond)
	switch {
	case v > most:
		return math.MaxInt64
	case v < -most:
		return math.MinInt64
	}
	return time.Duration(v) * time.Millisecond
}

// latencyStage delays data by latency ± jitter after it was read, in order.
type latencyStage struct {
	latency, jitter time.Duration
	last            time.Time
}

func (a *Latency) stage(time.Time) stage {
	return &latencyStage{latency: ms(a.Latency), jitter: ms(a.Jitter)}
}

func (s *latencyStage) push(ev event, out []event) []event {
	at := ev.at
	if ev.kind == evData {
		d := s.latency
		if s.jitter > 0 {
			d += time.Duration(rand.Int64N(int64(2*s.jitter))) - s.jitter
		}
		at = at.Add(max(d, 0))
	}
	s.last = later(at, s.last)
	ev.at = s.last
	return append(out, ev)
}

// bandwidthStage lets data out at rate bytes per millisecond, in pieces of at most
// 100 ms worth, each released when it has been "sent".
type bandwidthStage struct {
	rate int64 // bytes per millisecond (KB/s)
	last time.Time
}

func (a *Bandwidth) stage(time.Time) stage { return &bandwidthStage{rate: a.Rate} }

func (s *bandwidthStage) push(ev event, out []event) []event {
	if s.rate <= 0 {
		s.last = later(ev.at, s.last)
		ev.at = s.last
		return append(out, ev)
	}
	t := later(ev.at, s.last)
	if ev.kind != evData {
		ev.at, s.last = t, t
		return append(out, ev)
	}
	piece := int(min(s.rate*100, 1<<20))
	for off := 0; off < len(ev.data); off += piece {
		n := min(piece, len(ev.data)-off)
		t = t.Add(time.Duration(int64(n) * int64(time.Millisecond) / s.rate))
		out = append(out, event{kind: evData, data: ev.data[off : off+n], at: t})
	}
	s.last = t
	return out
}

// slowCloseStage delays the end of the stream.
type slowCloseStage struct {
	delay time.Duration
	last  time.Time
}

func (a *SlowClose) stage(time.Time) stage { return &slowCloseStage{delay: ms(a.Delay)} }

func (s *slowCloseStage) push(ev event, out []event) []event {
	at := later(ev.at, s.last)
	if ev.kind == evEOF {
		at = at.Add(s.delay)
	}
	s.last, ev.at = at, at
	return append(out, ev)
}

// timeoutStage drops data and closes the connection after timeout (never when 0).
type timeoutStage struct {
	timeout time.Duration
	start   time.Time
	fired   bool
}

func (a *Timeout) stage(now time.Time) stage {
	return &timeoutStage{timeout: ms(a.Timeout), start: now}
}

func (s *timeoutStage) push(ev event, out []event) []event {
	if ev.kind == evData || s.fired {
		return out
	}
	return append(out, ev)
}

func (s *timeoutStage) deadline() (time.Time, bool) {
	return s.start.Add(s.timeout), s.timeout > 0 && !s.fired
}

func (s *timeoutStage) fire() []event {
	s.fired = true
	return []event{{kind: evClose, at: s.start.Add(s.timeout)}}
}

// removed closes the connection: its stream has lost data (Toxiproxy does the same).
func (s *timeoutStage) removed(now time.Time) []event {
	if s.fired {
		return nil
	}
	return []event{{kind: evClose, at: now}}
}

// resetStage resets the connection timeout after the first event arrives; it drops
// everything.
type resetStage struct {
	timeout   time.Duration
	triggered bool
}

func (a *ResetPeer) stage(time.Time) stage { return &resetStage{timeout: ms(a.Timeout)} }

func (s *resetStage) push(ev event, out []event) []event {
	if s.triggered {
		return out
	}
	s.triggered = true
	return append(out, event{kind: evReset, at: ev.at.Add(s.timeout)})
}

// slicerStage cuts data into pieces of average ± variation bytes, delay apart.
type slicerStage struct {
	average, variation int
	delay              time.Duration
	last               time.Time
}

func (a *Slicer) stage(time.Time) stage {
	return &slicerStage{average: a.AverageSize, variation: a.SizeVariation, delay: time.Duration(a.Delay) * time.Microsecond}
}

// cuts appends the offsets that end each piece of data[start:end], splitting about in
// half until a piece is within variation of the average, as Toxiproxy does.
func (s *slicerStage) cuts(start, end int, out []int) []int {
	if (end-start)-s.average <= s.variation {
		return append(out, end)
	}
	mid := start + (end-start)/2
	if s.variation > 0 {
		mid += rand.IntN(2*s.variation) - s.variation
	}
	mid = min(max(mid, start+1), end-1)
	out = s.cuts(start, mid, out)
	return s.cuts(mid, end, out)
}

func (s *slicerStage) push(ev event, out []event) []event {
	t := later(ev.at, s.last)
	if ev.kind != evData {
		ev.at, s.last = t, t
		return append(out, ev)
	}
	prev := 0
	for _, c := range s.cuts(0, len(ev.data), nil) {
		out = append(out, event{kind: evData, data: ev.data[prev:c], at: t})
		t = t.Add(s.delay)
		prev = c
	}
	s.last = t
	return out
}

// limitStage lets bytes through up to a limit, then closes the connection.
type limitStage struct {
	limit, sent int64
	done        bool
}

func (a *LimitData) stage(time.Time) stage { return &limitStage{limit: a.Bytes} }

func (s *limitStage) inherit(old stage) {
	if o, ok := old.(*limitStage); ok {
		s.sent = o.sent
	}
}

func (s *limitStage) push(ev event, out []event) []event {
	if s.done {
		return out
	}
	if ev.kind == evData {
		rest := s.limit - s.sent
		if int64(len(ev.data)) > rest {
			ev.data = ev.data[:max(rest, 0)]
		}
		if len(ev.data) > 0 {
			s.sent += int64(len(ev.data))
			out = append(out, ev)
		}
		if s.sent >= s.limit {
			s.done = true
			out = append(out, event{kind: evClose, at: ev.at})
		}
		return out
	}
	return append(out, ev)
}

// down acts on the whole proxy, not on a link.
func (a *Down) stage(time.Time) stage { return nil }

package load

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/shakedown-dev/shakedown"
)

// Histogram geometry: microseconds from 1 µs to one hour. Phases keep three significant
// digits (0.1 %); the per-second timeline rows keep two (1 %), which is plenty for a
// timeline and a seventh of the memory.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	phaseDigits = 3
	rowDigits   = 2
)

// The ring behind Value: bucketWidth buckets by completion time, as many as cover
// MaxWindow and the bucket now filling. A window is the buckets from the one that holds its
// start to the one now filling: never shorter than asked, and less than a bucket longer.
const (
	bucketWidth = 10 * time.Millisecond
	// MaxWindow is the longest window Value looks back over; longer windows are clamped.
	MaxWindow = 60 * time.Second
	ringSlots = int(MaxWindow/bucketWidth) + 1
)

// MaxPhaseSamples bounds the raw latencies kept per phase for PhaseSamples. Beyond it the
// kept ones are a uniform random sample (reservoir sampling with a fixed seed) of all of
// the phase's requests; the phase's histogram still counts every request.
const MaxPhaseSamples = 100_000

// maxBucketSamples bounds the latencies a bucket of the ring keeps (2,048 in 10 ms: above
// 200,000 requests per second completing, they are a uniform random sample of the
// bucket's requests), so that the ring's memory does not grow with the rate.
const maxBucketSamples = 2048

// outcome is what became of one request.
type outcome struct {
	sched   time.Time // when it was due
	from    time.Time // where its latency starts: sched, or sent when only the generator held it up
	sent    time.Time // when it left; zero when it was never sent
	done    time.Time // when its response was read, or it failed
	late    bool      // it left more than LateAfter after it was due
	status  int       // HTTP status, 0 when there was no response
	errKind string    // "" for a success
}

func (o outcome) latency() time.Duration {
	if o.from.IsZero() {
		return o.done.Sub(o.sched)
	}
	return o.done.Sub(o.from)
}

// micros converts a latency to whole microseconds within the histogram's range.
func micros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	return min(max(us, histLowest), histHighest)
}

// phaseStats sums up the requests scheduled in one phase.
type phaseStats struct {
	name    shakedown.Phase
	pending int64         // scheduled but not yet complete
	drained chan struct{} // closed when pending drops to 0; made by a waiter
	spans   time.Duration // length of the phase's closed spans
	open    time.Time     // start of its current span; zero when the phase is not current
	first   time.Time     // when the phase first began
	hist    *hdr.Histogram
	count   int64
	errs    int64
	ok      int64
	late    int64
	kinds   map[string]int64 // errors by kind
	codes   map[int]int64    // responses by status
	raw     []uint32         // latencies in µs, a reservoir of at most MaxPhaseSamples
	rng     *rand.Rand
	second  []secCount // by scheduled second since the phase first began
}

type secCount struct{ count, errs, ok int64 }

func newPhaseStats(p shakedown.Phase, at time.Time) *phaseStats {
	return &phaseStats{
		name:  p,
		open:  at,
		first: at,
		hist:  hdr.New(histLowest, histHighest, phaseDigits),
		kinds: map[string]int64{},
		codes: map[int]int64{},
		rng:   rand.New(rand.NewPCG(1, uint64(len(p)))),
	}
}

// duration is how long the phase has been current, up to now.
func (s *phaseStats) duration(now time.Time) time.Duration {
	d := s.spans
	if !s.open.IsZero() {
		d += now.Sub(s.open)
	}
	return d
}

// add counts o, whose latency is us microseconds.
func (s *phaseStats) add(o outcome, us int64) {
	s.hist.RecordValue(us)
	s.count++
	if o.late {
		s.late++
	}
	if o.status != 0 {
		s.codes[o.status]++
	}
	if o.errKind != "" {
		s.errs++
		s.kinds[o.errKind]++
	} else {
		s.ok++
	}
	s.raw = sample(s.raw, MaxPhaseSamples, s.count-1, 1, uint32(us), s.rng)
	s.perSecond(o, 1)
}

// perSecond counts n outcomes like o in the second of the phase o was due in.
func (s *phaseStats) perSecond(o outcome, n int64) {
	if sec := int(o.sched.Sub(s.first) / time.Second); sec >= 0 {
		for len(s.second) <= sec {
			s.second = append(s.second, secCount{})
		}
		c := &s.second[sec]
		c.count += n
		if o.errKind != "" {
			c.errs += n
		} else {
			c.ok += n
		}
	}
}

// addN counts n outcomes like o, each of latency us microseconds, as n calls of add would.
func (s *phaseStats) addN(o outcome, us, n int64) {
	s.hist.RecordValues(us, n)
	s.count += n
	if o.late {
		s.late += n
	}
	if o.status != 0 {
		s.codes[o.status] += n
	}
	if o.errKind != "" {
		s.errs += n
		s.kinds[o.errKind] += n
	} else {
		s.ok += n
	}
	s.raw = sample(s.raw, MaxPhaseSamples, s.count-n, n, uint32(us), s.rng)
	s.perSecond(o, n)
}

// sample adds n values v to buf, a uniform random sample (a reservoir) of at most size of
// the seen values before them, and returns it. Up to size values at a time it draws as
// adding them one by one does; beyond that, in one go: each kept value is replaced with
// the chance that one of the n new ones takes its place, seen+n values having been seen.
func sample(buf []uint32, size int, seen, n int64, v uint32, rng *rand.Rand) []uint32 {
	for ; n > 0 && len(buf) < size; n-- {
		buf = append(buf, v)
		seen++
	}
	if n <= int64(size) {
		for ; n > 0; n-- {
			seen++
			if j := rng.Int64N(seen); j < int64(size) {
				buf[j] = v
			}
		}
		return buf
	}
	k := int(math.Round(float64(size) * float64(n) / float64(seen+n)))
	for range k {
		buf[rng.IntN(size)] = v
	}
	return buf
}

// bucket is one slot of the ring behind Value: the requests of the current phase completed
// in one bucketWidth.
type bucket struct {
	idx       int64 // which bucketWidth since the start it holds; -1 when empty
	lat       []uint32
	errs, oks int64
}

// flight is one scheduled request until its outcome is recorded: its phase and timeline
// row, and while it is in flight its place in the recorder's list of those.
type flight struct {
	phase      *phaseStats
	row        *row
	from       atomic.Int64 // when its latency started to run (Unix ns); 0 before it did
	prev, next *flight      // the in-flight list; guarded by the recorder's mu
}

// row is one second of the timeline, by scheduled send time, while its requests complete.
type row struct {
	sec     int64
	count   int64
	errs    int64
	pending int64 // scheduled but not yet complete
	hist    *hdr.Histogram
}

var flights = sync.Pool{New: func() any { return new(flight) }}

var rowHists = sync.Pool{New: func() any { return hdr.New(histLowest, histHighest, rowDigits) }}

// recorder holds everything a Generator measures. All of it is guarded by mu.
type recorder struct {
	mu      sync.Mutex
	now     func() time.Time
	start   time.Time // when the load started; zero before
	stopped time.Time // when it stopped sending; zero while it sends
	cur     *phaseStats
	phases  map[shakedown.Phase]*phaseStats
	order   []shakedown.Phase

	ring [ringSlots]bucket

	curSec int64          // the latest second a request was scheduled in
	live   map[int64]*row // timeline rows with requests still in flight
	flying flight         // sentinel of the list of requests scheduled and not complete
	rows   []shakedown.TimelineRow

	rng *rand.Rand // samples the ring's latencies

	sent, done int64 // requests sent, requests whose outcome is recorded
	lastDone   time.Time
}

func newRecorder(now func() time.Time) *recorder {
	r := &recorder{now: now, phases: map[shakedown.Phase]*phaseStats{}, live: map[int64]*row{}, rng: rand.New(rand.NewPCG(2, 3))}
	r.flying.prev, r.flying.next = &r.flying, &r.flying
	for i := range r.ring {
		r.ring[i].idx = -1
	}
	return r
}

// setPhase makes p the phase of requests scheduled from now on.
func (r *recorder) setPhase(p shakedown.Phase) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setPhaseLocked(p, r.now())
}

func (r *recorder) setPhaseLocked(p shakedown.Phase, now time.Time) {
	if r.cur != nil {
		if r.cur.name == p {
			return
		}
		if !r.cur.open.IsZero() {
			r.cur.spans += now.Sub(r.cur.open)
			r.cur.open = time.Time{}
		}
	}
	s := r.phases[p]
	if s == nil {
		s = newPhaseStats(p, now)
		r.phases[p] = s
		r.order = append(r.order, p)
	} else {
		s.open = now
	}
	r.cur = s
	if !r.start.IsZero() {
		// The bucket now filling holds the last phase's requests so far: the new phase's
		// windows start afresh in it.
		idx := max(int64(now.Sub(r.start)/bucketWidth), 0)
		b := &r.ring[idx%int64(ringSlots)]
		b.idx, b.lat, b.errs, b.oks = idx, b.lat[:0], 0, 0
	}
}

// begin marks the start of sending.
func (r *recorder) begin(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start = at
	if r.cur == nil {
		r.setPhaseLocked(shakedown.PhaseBaseline, at)
	} else if r.cur.first.Before(at) && r.cur.count == 0 && r.cur.spans == 0 {
		// The phase was set before the load started: it begins with the load.
		r.cur.first, r.cur.open = at, at
	}
}

// end marks the end of sending: the current phase's span closes here.
func (r *recorder) end(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = at
	if r.cur != nil && !r.cur.open.IsZero() {
		r.cur.spans += at.Sub(r.cur.open)
		r.cur.open = time.Time{}
	}
}

// rowAt returns the timeline row of second sec, made if need be; once sec is later than
// any before, it seals the rows of earlier seconds that owe no request. The caller holds
// r.mu.
func (r *recorder) rowAt(sec int64) *row {
	if sec > r.curSec {
		r.curSec = sec
		for _, w := range r.live {
			if w.pending == 0 && w.sec < sec {
				r.seal(w)
			}
		}
	}
	w := r.live[sec]
	if w == nil {
		w = &row{sec: sec, hist: rowHists.Get().(*hdr.Histogram)}
		r.live[sec] = w
	}
	return w
}

// schedule notes a request due at sched and returns its flight: the phase it belongs to and
// its timeline row. Its latency counts as running from when it is started (start).
func (r *recorder) schedule(sched time.Time) *flight {
	r.mu.Lock()
	defer r.mu.Unlock()
	sec := int64(sched.Sub(r.start) / time.Second)
	w := r.rowAt(sec)
	w.pending++
	r.cur.pending++
	f := flights.Get().(*flight)
	f.phase, f.row = r.cur, w
	f.prev, f.next = r.flying.prev, &r.flying
	f.prev.next, r.flying.prev = f, f
	return f
}

// start notes that f's latency runs from t: it is sent, or waits for a request in flight to
// end (which counts as latency). Until then it is not counted as in flight.
func (f *flight) start(t time.Time) { f.from.Store(t.UnixNano()) }

// add records the outcome of the request f.
func (r *recorder) add(f *flight, o outcome) {
	us := micros(o.latency())
	r.mu.Lock()
	defer r.mu.Unlock()
	f.prev.next, f.next.prev = f.next, f.prev
	ph, w := f.phase, f.row
	*f = flight{} // the caller lets go of f with this call
	flights.Put(f)
	ph.add(o, us)
	if ph.pending--; ph.pending == 0 && ph.drained != nil {
		close(ph.drained)
		ph.drained = nil
	}
	if !o.sent.IsZero() {
		r.sent++
	}
	r.done++
	if o.done.After(r.lastDone) {
		r.lastDone = o.done
	}

	// The windows behind Value hold the current phase's requests: an answer to a request of
	// an earlier phase (one a fault held up, answered after the revert) tells nothing of the
	// phase it arrives in.
	if ph == r.cur {
		idx := max(int64(o.done.Sub(r.start)/bucketWidth), 0)
		b := &r.ring[idx%int64(ringSlots)]
		if b.idx != idx {
			b.idx, b.lat, b.errs, b.oks = idx, b.lat[:0], 0, 0
		}
		b.lat = sample(b.lat, maxBucketSamples, b.errs+b.oks, 1, uint32(us), r.rng)
		if o.errKind != "" {
			b.errs++
		} else {
			b.oks++
		}
	}

	w.count++
	if o.errKind != "" {
		w.errs++
	}
	w.hist.RecordValue(us)
	w.pending--
	if w.pending == 0 && (w.sec < r.curSec || !r.stopped.IsZero()) {
		r.seal(w)
	}
}

// unsentChunk is how close in time the requests unsent records as one latency are due.
const unsentChunk = time.Millisecond

// unsent records the requests from..to-1 of the schedule (sched gives when each is due)
// as never sent: errors of kind "not sent", late, their latency running to stop — what
// schedule then add record for each. They are counted in aggregate, those due within the
// same millisecond (and the same second of the timeline and of the phase) with the first
// one's latency, so that a backlog costs the same whatever its size: a generator far
// behind a high rate may owe billions of requests when the load ends.
func (r *recorder) unsent(from, to int64, sched func(int64) time.Time, stop time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ph := r.cur
	for k := from; k < to; {
		at := sched(k)
		sec := int64(at.Sub(r.start) / time.Second)
		phSec := at.Sub(ph.first).Truncate(time.Second) + time.Second
		limit := at.Add(unsentChunk)
		for _, t := range []time.Time{r.start.Add(time.Duration(sec+1) * time.Second), ph.first.Add(phSec)} {
			if t.Before(limit) {
				limit = t
			}
		}
		next := min(max(searchIndex(k+1, to, func(j int64) bool { return !sched(j).Before(limit) }), k+1), to)
		n := next - k
		k = next

		w := r.rowAt(sec)
		o := outcome{sched: at, done: stop, late: true, errKind: "not sent"}
		us := micros(o.latency())
		ph.addN(o, us, n)
		r.done += n
		if o.done.After(r.lastDone) {
			r.lastDone = o.done
		}
		idx := max(int64(o.done.Sub(r.start)/bucketWidth), 0)
		b := &r.ring[idx%int64(ringSlots)]
		if b.idx != idx {
			b.idx, b.lat, b.errs, b.oks = idx, b.lat[:0], 0, 0
		}
		b.lat = sample(b.lat, maxBucketSamples, b.errs+b.oks, n, uint32(us), r.rng)
		b.errs += n
		w.count += n
		w.errs += n
		w.hist.RecordValues(us, n)
		if w.pending == 0 && (w.sec < r.curSec || !r.stopped.IsZero()) {
			r.seal(w)
		}
	}
	if ph.pending == 0 && ph.drained != nil {
		close(ph.drained)
		ph.drained = nil
	}
}

// searchIndex returns the first index in [lo, hi) for which f holds, hi when none does; f
// must be false then true along the range.
func searchIndex(lo, hi int64, f func(int64) bool) int64 {
	for lo < hi {
		mid := lo + (hi-lo)/2
		if f(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// seal turns a complete row into a TimelineRow and frees its histogram.
func (r *recorder) seal(w *row) {
	r.rows = append(r.rows, rowOf(r.start, w))
	delete(r.live, w.sec)
	w.hist.Reset()
	rowHists.Put(w.hist)
	w.hist = nil
}

func rowOf(start time.Time, w *row) shakedown.TimelineRow {
	return shakedown.TimelineRow{
		T:      shakedown.At(start.Add(time.Duration(w.sec) * time.Second)),
		Count:  w.count,
		Errors: w.errs,
		P50:    usMillis(w.hist.ValueAtQuantile(50), w.count),
		P99:    usMillis(w.hist.ValueAtQuantile(99), w.count),
	}
}

// finish seals every row once nothing is in flight.
func (r *recorder) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.live {
		if w.pending == 0 {
			r.seal(w)
		}
	}
}

func usMillis(us, n int64) shakedown.Millis {
	if n == 0 {
		return 0
	}
	return shakedown.Millis(float64(us) / 1e3)
}

// value computes metric over the current phase's requests completed in the last window, or
// over the whole current phase when window is 0. Over a window, the phase's requests still
// in flight count too:
// for latencies at their age so far, the least their latency can be, so that a system that
// stops answering shows as slow while it hangs rather than as having no requests; for
// throughput as requests not (yet) answered. A window in which fewer than least requests
// completed reaches back until it holds least, as far as the phase's start, or the phase
// so far when that holds more than the ring does.
func (r *recorder) value(metric string, window time.Duration, least int) (float64, int) {
	phaseSoFar := func() (float64, int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.start.IsZero() || r.cur == nil {
			return 0, 0
		}
		return phaseValue(r.cur, metric, r.cur.duration(r.now()))
	}
	if window <= 0 {
		return phaseSoFar()
	}
	latency := isLatency(metric)
	// Sorting the latencies is the costly part (milliseconds for a long window at a high
	// rate): it comes after recent has let go of the lock, so that no send waits for it.
	lat, errs, oks, flying, span, ok := r.recent(min(window, MaxWindow), least, latency)
	if !ok {
		return 0, 0
	}
	n := errs + oks
	if n < int64(least) {
		if v, all := phaseSoFar(); all > int(n) {
			return v, all
		}
	}
	switch {
	case metric == "errors":
		if n == 0 {
			return 0, 0
		}
		return float64(errs) / float64(n), int(n)
	case metric == "throughput":
		if span <= 0 {
			return 0, int(n + flying)
		}
		return float64(oks) / span.Seconds(), int(n + flying)
	case latency:
		if len(lat) == 0 {
			return 0, 0
		}
		return latencyOf(metric, lat), len(lat)
	}
	return 0, 0
}

// recent returns what the ring holds of the current phase's requests completed in the last
// window (at most MaxWindow), reaching further back while they are fewer than least: a
// copy of their latencies when withLat, their errors and successes, and how long the
// buckets they came from span; and the phase's requests in flight, whose ages so far join
// the latencies. ok is false before the load starts.
func (r *recorder) recent(window time.Duration, least int, withLat bool) (lat []uint32, errs, oks, flying int64, span time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		return nil, 0, 0, 0, 0, false
	}
	now := r.now()
	elapsed := now.Sub(r.start)
	nowIdx := int64(elapsed / bucketWidth)
	// The first bucket is the one holding now − window: the buckets cover window, or up
	// to a bucket more. A window reaches no further back than the current phase's span
	// (whose first bucket holds only what came after it opened) or the load's start.
	first := max(int64((elapsed-window)/bucketWidth), 0)
	from := time.Duration(first) * bucketWidth
	// The furthest back a window reaches: the ring's oldest bucket, the load's start, the
	// current phase's opening.
	lowest := max(nowIdx-int64(ringSlots)+1, 0)
	lowFrom := time.Duration(lowest) * bucketWidth
	if open := r.cur.open.Sub(r.start); !r.cur.open.IsZero() && open > lowFrom {
		lowest, lowFrom = int64(open/bucketWidth), open
	}
	if first <= lowest {
		first, from = lowest, lowFrom
	}
	add := func(idx int64) {
		if b := &r.ring[idx%int64(ringSlots)]; b.idx == idx {
			errs += b.errs
			oks += b.oks
		}
	}
	for idx := first; idx <= nowIdx; idx++ {
		add(idx)
	}
	for errs+oks < int64(least) && first > lowest {
		first--
		from = time.Duration(first) * bucketWidth
		if first == lowest {
			from = lowFrom
		}
		add(first)
	}
	span = elapsed - from
	if withLat {
		lat = make([]uint32, 0, errs+oks) // a bucket holds one latency per error or success
		for idx := first; idx <= nowIdx; idx++ {
			if b := &r.ring[idx%int64(ringSlots)]; b.idx == idx {
				lat = append(lat, b.lat...)
			}
		}
	}
	nowNs := now.UnixNano()
	for f := r.flying.next; f != &r.flying; f = f.next {
		if from := f.from.Load(); f.phase == r.cur && from != 0 && from < nowNs {
			flying++
			if withLat {
				lat = append(lat, uint32(micros(time.Duration(nowNs-from))))
			}
		}
	}
	return lat, errs, oks, flying, span, true
}

// awaitPhase waits until every request scheduled in phase p so far is complete (each ends
// within the load's timeout), or ctx ends.
func (r *recorder) awaitPhase(ctx context.Context, p shakedown.Phase) error {
	for {
		r.mu.Lock()
		s := r.phases[p]
		if s == nil || s.pending == 0 {
			r.mu.Unlock()
			return nil
		}
		if s.drained == nil {
			s.drained = make(chan struct{})
		}
		drained := s.drained
		r.mu.Unlock()
		select {
		case <-drained:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func isLatency(metric string) bool {
	switch metric {
	case "latency.p50", "latency.p90", "latency.p95", "latency.p99", "latency.max", "latency.mean":
		return true
	}
	return false
}

// quantileOf maps a latency metric to the percentile it names; 0 for the mean.
func quantileOf(metric string) float64 { return shakedown.Metric{Name: metric}.Quantile() }

// latencyOf computes a latency metric, in seconds, of raw µs latencies. Quantiles are
// nearest-rank: the smallest value with at least the quantile's share at or below it.
func latencyOf(metric string, lat []uint32) float64 {
	q := quantileOf(metric)
	if q == 0 {
		var sum float64
		for _, v := range lat {
			sum += float64(v)
		}
		return sum / float64(len(lat)) / 1e6
	}
	slices.Sort(lat)
	i := int(math.Ceil(q/100*float64(len(lat)))) - 1
	return float64(lat[min(max(i, 0), len(lat)-1)]) / 1e6
}

// phaseValue computes metric over everything phase s scheduled, over d of phase time.
func phaseValue(s *phaseStats, metric string, d time.Duration) (float64, int) {
	n := int(s.count)
	switch {
	case metric == "errors":
		if n == 0 {
			return 0, 0
		}
		return float64(s.errs) / float64(n), n
	case metric == "throughput":
		if d <= 0 {
			return 0, n
		}
		return float64(s.ok) / d.Seconds(), n
	case isLatency(metric):
		if n == 0 {
			return 0, 0
		}
		if q := quantileOf(metric); q > 0 {
			return float64(s.hist.ValueAtQuantile(q)) / 1e6, n
		}
		return s.hist.Mean() / 1e6, n
	}
	return 0, 0
}

func (r *recorder) phaseValue(p shakedown.Phase, metric string) (float64, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.phases[p]
	if s == nil {
		return 0, 0
	}
	return phaseValue(s, metric, s.duration(r.nowOrStop()))
}

// nowOrStop is the time the open phase is measured up to: now while sending, the stop
// after. Must hold mu.
func (r *recorder) nowOrStop() time.Time {
	if !r.stopped.IsZero() {
		return r.stopped
	}
	return r.now()
}

// phaseSamples returns the raw samples of metric in phase p: latencies in seconds, or one
// value per second of the phase for errors (seconds with no request are left out) and
// throughput. The phase's last second counts when at least half of it ran; its throughput
// is scaled to a full second.
func (r *recorder) phaseSamples(p shakedown.Phase, metric string) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.phases[p]
	if s == nil {
		return nil
	}
	if isLatency(metric) {
		out := make([]float64, len(s.raw))
		for i, v := range s.raw {
			out[i] = float64(v) / 1e6
		}
		return out
	}
	d := s.duration(r.nowOrStop()).Seconds()
	full := int(d)
	secs := full
	last := d - float64(full)
	if last >= 0.5 {
		secs++
	}
	var out []float64
	for i := 0; i < secs; i++ {
		var c secCount
		if i < len(s.second) {
			c = s.second[i]
		}
		switch metric {
		case "errors":
			if c.count > 0 {
				out = append(out, float64(c.errs)/float64(c.count))
			}
		case "throughput":
			v := float64(c.ok)
			if i == full {
				v /= last
			}
			out = append(out, v)
		}
	}
	return out
}

// loadStats sums up one phase for the run record.
func loadStats(s *phaseStats, d time.Duration) *shakedown.LoadStats {
	q := func(p float64) shakedown.Millis { return usMillis(s.hist.ValueAtQuantile(p), s.count) }
	st := &shakedown.LoadStats{
		Count:  s.count,
		Errors: s.errs,
		Late:   s.late,
		P50:    q(50),
		P90:    q(90),
		P95:    q(95),
		P99:    q(99),
		Max:    usMillis(s.hist.Max(), s.count),
	}
	if s.count > 0 {
		st.Mean = shakedown.Millis(math.Round(s.hist.Mean()) / 1e3)
	}
	if d > 0 {
		st.Throughput = float64(s.ok) / d.Seconds()
	}
	return st
}

// timeline returns one row per second from the start to the last second with a request;
// seconds with none are zero rows. Rows still in flight are read as they stand.
func (r *recorder) timeline() []shakedown.TimelineRow {
	byT := map[int64]shakedown.TimelineRow{}
	last := int64(-1)
	for _, w := range r.rows {
		sec := int64(w.T.Sub(r.start) / time.Second)
		byT[sec] = w
		last = max(last, sec)
	}
	for sec, w := range r.live {
		byT[sec] = rowOf(r.start, w)
		last = max(last, sec)
	}
	out := make([]shakedown.TimelineRow, 0, last+1)
	for sec := int64(0); sec <= last; sec++ {
		w, ok := byT[sec]
		if !ok {
			w = shakedown.TimelineRow{T: shakedown.At(r.start.Add(time.Duration(sec) * time.Second))}
		}
		out = append(out, w)
	}
	return out
}

// totals returns the error kinds and the status codes of all phases, with their counts.
func (r *recorder) totals() (kinds map[string]int64, codes map[string]int64) {
	kinds, codes = map[string]int64{}, map[string]int64{}
	for _, s := range r.phases {
		for k, n := range s.kinds {
			kinds[k] += n
		}
		for c, n := range s.codes {
			codes[strconv.Itoa(c)] += n
		}
	}
	return kinds, codes
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

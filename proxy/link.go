package proxy

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the toxic path of one link: the reader hands over chunks of at most
// readSize bytes through a queue of inQueue chunks, and stops taking more while the
// events waiting for their time hold more than maxQueued bytes. So a link never holds
// more than about maxQueued + inQueue*readSize bytes, whatever its toxics.
const (
	readSize  = 32 << 10
	inQueue   = 32
	maxQueued = 4 << 20
)

var (
	errInterrupted = errors.New("link interrupted to change path")
	errEnded       = errors.New("connection ended by a toxic")
)

// toxicState is a toxic as a proxy holds it. It is never changed once published to
// links: an update publishes a new one with a new id.
type toxicState struct {
	Toxic
	dir   Direction
	id    uint64
	timer *time.Timer // the TTL; guarded by the proxy's mutex
}

var toxicIDs atomic.Uint64

// entry is one toxic of a link's chain: its stage, or nil when the toxicity roll left it
// out of this connection (or it acts on the proxy, not the link).
type entry struct {
	t  *toxicState
	st stage
}

// link moves one direction of a connection, from src to dst.
type link struct {
	c        *conn
	dir      Direction
	src, dst net.Conn
	notify   chan struct{} // a token when the chain of the direction changed
	stop     atomic.Bool   // tells the reader of the toxic path to hand over and quit
	entries  []entry
	stages   []stage // the stages in effect, in chain order, then tail
	// tail is the last stage of a connection with a pairing, whatever the chain: it
	// counts the requests (upstream) or frames the responses (downstream).
	tail    stage
	spare   [2][]event // what the stages give, reused chunk after chunk (see enqueue)
	counter *atomic.Int64
	// seen is the chain the stages were built from: the fast path compares it with the
	// proxy's after each read, and hands what it read to the toxic path when it changed.
	seen    *[]*toxicState
	pending *event // read by the fast path after a change, for the toxic path to take first
}

// conn is one proxied connection: the client's and upstream's sockets and a link for
// each direction.
type conn struct {
	p                *Proxy
	client, upstream net.Conn
	links            [2]*link
	done             chan struct{}
	once             sync.Once
	// order pairs the answers to the client with its requests, from the moment either
	// link finds an http toxic on the proxy for the rest of the connection; nil before.
	order     *pairing
	orderOnce sync.Once
}

// pairs returns the connection's pairing, made on first call.
func (c *conn) pairs() *pairing {
	c.orderOnce.Do(func() { c.order = new(pairing) })
	return c.order
}

// hasHTTP reports whether a chain holds an http toxic.
func hasHTTP(chain []*toxicState) bool {
	for _, t := range chain {
		if strings.HasPrefix(t.Type, "http_") {
			return true
		}
	}
	return false
}

func newConn(p *Proxy, client, upstream net.Conn) *conn {
	c := &conn{p: p, client: client, upstream: upstream, done: make(chan struct{})}
	c.links[Upstream] = &link{c: c, dir: Upstream, src: client, dst: upstream, notify: make(chan struct{}, 1), counter: &p.stats.bytes[Upstream]}
	c.links[Downstream] = &link{c: c, dir: Downstream, src: upstream, dst: client, notify: make(chan struct{}, 1), counter: &p.stats.bytes[Downstream]}
	return c
}

// serve runs both links and returns when the connection has ended.
func (c *conn) serve() {
	var wg sync.WaitGroup
	wg.Go(func() { c.ended(c.links[Downstream].run()) })
	c.ended(c.links[Upstream].run())
	wg.Wait()
	c.close()
}

// ended is called with the result of a link: a clean end (nil) leaves the other
// direction running (a half-closed connection); anything else ends the connection.
func (c *conn) ended(err error) {
	if err != nil {
		c.close()
	}
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		c.client.Close()
		c.upstream.Close()
	})
}

// reset ends the connection with a TCP RST on both sides.
func (c *conn) reset() {
	for _, s := range []net.Conn{c.client, c.upstream} {
		if t, ok := s.(*net.TCPConn); ok {
			t.SetLinger(0)
		}
	}
	c.close()
}

// changed tells the link that its chain changed: a token for the toxic path. The fast
// path notices the change with the next bytes it reads; a chain that acts without bytes
// (a timeout) cannot wait for them, and interrupt puts a read deadline in the past to stop
// the fast path at once.
func (l *link) changed(interrupt bool) {
	select {
	case l.notify <- struct{}{}:
	default:
	}
	if interrupt {
		l.src.SetReadDeadline(time.Now())
	}
}

// chainChanged reports whether the proxy's chain is no longer the one the link's stages
// were built from.
func (l *link) chainChanged() bool { return l.c.p.chains[l.dir].Load() != l.seen }

// run moves bytes until the direction ends. It returns nil when the source ended and the
// end was passed on (half-close), or why the connection must end.
func (l *link) run() error {
	for {
		if len(l.stages) == 0 { // so always on the first turn
			// Clear a deadline left by a change, then look at the chain: a change made
			// after this point sets a new deadline or is seen by the fast path with
			// its next read, so none is missed.
			l.src.SetReadDeadline(time.Time{})
			l.rebuild(time.Now())
		}
		var err error
		if len(l.stages) == 0 {
			if done, err := l.flushPending(); done {
				return err
			}
			err = l.fast()
		} else {
			err = l.slow()
		}
		if err != errInterrupted {
			return err
		}
	}
}

// rebuild brings the link's stages in line with the proxy's chain for its direction. It
// returns the events that stages removed from a live link leave behind (bytes they held,
// a close) and whether any stage was removed.
func (l *link) rebuild(now time.Time) ([]event, bool) {
	seen := l.c.p.chains[l.dir].Load()
	chain := *seen
	l.seen = seen
	// The proxy publishes both chains before it tells the links, and a new pointer for the
	// downstream chain when the upstream one gains an http toxic: the downstream link frames
	// the responses from the first byte of the first that needs it.
	up := chain
	if l.dir == Downstream {
		up = *l.c.p.chains[Upstream].Load()
	}
	if l.tail == nil && hasHTTP(up) {
		if l.dir == Upstream {
			l.tail = &httpStage{order: l.c.pairs(), count: true}
		} else {
			l.tail = &responseStage{order: l.c.pairs()}
		}
	}
	old := l.entries
	find := func(es []entry, id uint64) (entry, bool) {
		for _, e := range es {
			if e.t.id == id {
				return e, true
			}
		}
		return entry{}, false
	}
	next := make([]entry, 0, len(chain))
	for _, t := range chain {
		if e, ok := find(old, t.id); ok {
			next = append(next, e)
			continue
		}
		e := entry{t: t}
		if t.Toxicity >= 1 || rand.Float32() < t.Toxicity {
			e.st = t.Attributes.stage(now)
		}
		if in, ok := e.st.(inheritor); ok {
			for _, o := range old {
				if o.t.Name == t.Name && o.st != nil {
					in.inherit(o.st)
				}
			}
		}
		if h, ok := e.st.(*httpStage); ok {
			h.hits = &l.c.p.stats.httpHits
			h.order = l.c.pairs()
		}
		next = append(next, e)
	}
	var carried []event
	removed := false
	for _, e := range old {
		if e.st == nil {
			continue
		}
		if _, ok := find(next, e.t.id); ok {
			var out []event
			for _, ev := range carried {
				out = e.st.push(ev, out)
			}
			carried = out
			continue
		}
		removed = true
		var mine []event
		if f, ok := e.st.(flusher); ok {
			mine = f.flush(now)
		}
		if r, ok := e.st.(remover); ok {
			mine = append(mine, r.removed(now)...)
		}
		carried = append(mine, carried...)
	}
	if l.tail != nil {
		var out []event
		for _, ev := range carried {
			out = l.tail.push(ev, out)
		}
		carried = out
	}
	l.entries = next
	l.stages = l.stages[:0]
	for _, e := range next {
		if e.st != nil {
			l.stages = append(l.stages, e.st)
		}
	}
	if l.tail != nil {
		l.stages = append(l.stages, l.tail)
	}
	return carried, removed
}

// enqueue pushes events through the stages from index i on and queues what comes out.
// The stages write into the link's two spare slices in turn, so a chunk costs no
// allocation; the spares are cleared once the events are queued, holding no bytes.
func (l *link) enqueue(q *queue, i int, evs ...event) {
	for ; i < len(l.stages); i++ {
		out := l.spare[i%2][:0]
		for _, ev := range evs {
			out = l.stages[i].push(ev, out)
		}
		l.spare[i%2], evs = out, out
	}
	q.push(evs...)
	clear(l.spare[0])
	clear(l.spare[1])
}

// errChanged stops the fast path when the chain changed; what it had read is in pending.
var errChanged = errors.New("chain changed")

// fast moves bytes with no toxic in the way: in the kernel between two TCP sockets, else
// through a buffer. It stops, without losing a byte, at a read deadline or when it reads
// bytes (or the end of the stream) after the chain changed: those go to l.pending.
func (l *link) fast() error {
	var err error
	var pending *event
	handled := false
	if s, ok := l.src.(*net.TCPConn); ok {
		if d, ok := l.dst.(*net.TCPConn); ok {
			handled, pending, err = spliceCopy(d, s, l.counter, l.chainChanged)
		}
	}
	if !handled {
		pending, err = copyBuffer(l.dst, l.src, l.counter, l.chainChanged)
	}
	switch {
	case err == nil:
		halfClose(l.dst)
		return nil
	case err == errChanged:
		l.pending = pending
		return errInterrupted
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errInterrupted
	}
	return err
}

// flushPending carries out, straight away, what the fast path read after a change that
// left the link without stages after all (a toxicity roll). done and err are exec's.
func (l *link) flushPending() (done bool, err error) {
	if l.pending == nil {
		return false, nil
	}
	ev := *l.pending
	l.pending = nil
	return l.exec(ev)
}

func copyBuffer(dst io.Writer, src io.Reader, counter *atomic.Int64, changed func() bool) (*event, error) {
	buf := make([]byte, readSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if changed() {
				return &event{kind: evData, data: append([]byte(nil), buf[:n]...), at: time.Now()}, errChanged
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			counter.Add(int64(n))
		}
		if err == io.EOF {
			if changed() {
				return &event{kind: evEOF, at: time.Now()}, errChanged
			}
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// halfClose passes the end of the stream on. A connection that cannot half-close is
// closed.
func halfClose(c net.Conn) {
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		hc.CloseWrite()
		return
	}
	c.Close()
}

// slow moves bytes through the link's stages: a reader goroutine stamps each chunk with
// the time it arrived and queues it; this goroutine pushes it through the stages and
// carries out the events they give, each at its time.
func (l *link) slow() (err error) {
	in := make(chan event, inQueue)
	quit := make(chan struct{})
	rdone := make(chan struct{})
	l.stop.Store(false)
	// The link's state (its stages, the queue) is the holder's of mu: the link's own, but
	// for while it waits idle, when the reader may take it to carry a chunk through itself
	// (inline below). It is unlocked last, once the reader has quit.
	var mu sync.Mutex
	mu.Lock()
	defer mu.Unlock()
	var q queue
	var inflight atomic.Int32 // chunks handed over through in and not queued yet
	kick := make(chan struct{}, 1)
	var inlineErr error // a write the reader made failed: the link ends with it
	// inline carries a chunk through the stages on the reader's goroutine, and writes what
	// is due of it at once, when the link waits idle (nothing queued, no stage deadline, so
	// it holds no alarm) and nothing handed over through in is still to be queued before
	// it. What it leaves — bytes due later, an event that is not data, a failed write — it
	// kicks the link to see to. A chunk that passes through at once (a toxic that
	// delays nothing, or not this request) so costs no hand-over between goroutines.
	inline := func(ev event) bool {
		if !mu.TryLock() {
			return false
		}
		if inflight.Load() != 0 || inlineErr != nil {
			mu.Unlock()
			return false
		}
		l.enqueue(&q, 0, ev)
		now := time.Now()
		for q.len() > 0 && q.head().inline() && !q.head().at.After(now) {
			if _, err := l.exec(q.pop()); err != nil {
				inlineErr = err
				break
			}
		}
		// (A push never sets a stage's deadline: an idle link has none to arm for.)
		left := q.len() > 0 || inlineErr != nil
		mu.Unlock() // before the kick, which the link meets by taking mu
		if left {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
		return true
	}
	go l.read(in, quit, rdone, inline, &inflight)
	defer func() {
		close(quit)
		if err != nil && err != errInterrupted {
			l.c.close() // unblocks the reader
		}
		<-rdone
	}()

	if l.pending != nil { // read by the fast path after the change: it goes first
		l.enqueue(&q, 0, *l.pending)
		l.pending = nil
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// Between sockets a timerfd alarm writes the data due at the exact time itself, and
	// wakes the link only for what it leaves (a write that would wait, an event that is
	// not data, a stage's deadline). The runtime timer is armed as well: for when the
	// alarm is late, and to bring the link round to arm it again after it did all.
	var al *alarm
	var until time.Time // the earliest stage deadline the alarm is armed with; zero: none
	if d, ok := l.dst.(*net.TCPConn); ok {
		if rc, err := d.SyscallConn(); err == nil {
			if al = newAlarm(l.releaser(&q, rc, &until)); al != nil {
				defer al.disarm()
			}
		}
	}
	for {
		now := time.Now()
		for q.len() > 0 && !q.head().at.After(now) {
			if done, err := l.exec(q.pop()); done {
				return err
			}
			now = time.Now()
		}
		next, has := time.Time{}, q.len() > 0
		if has {
			next = q.head().at
		}
		fired := false
		until = time.Time{}
		for i, st := range l.stages {
			d, ok := st.(deadliner)
			if !ok {
				continue
			}
			t, on := d.deadline()
			switch {
			case !on:
				continue
			case !t.After(now):
				l.enqueue(&q, i+1, d.fire()...)
				fired = true
				continue
			case !has || t.Before(next):
				next, has = t, true
			}
			if until.IsZero() || t.Before(until) {
				until = t
			}
		}
		if fired {
			continue
		}
		var inCh <-chan event
		if q.bytes < maxQueued {
			inCh = in
		}
		var tc <-chan time.Time
		var ac <-chan struct{}
		if has {
			timer.Reset(next.Sub(now))
			tc = timer.C
			if al != nil {
				al.arm(next)
				ac = al.c
			}
		}
		idle := !has
		if idle {
			mu.Unlock() // the reader may carry chunks through meanwhile (inline)
		}
		var ev event
		var got, changed, ended bool
		select {
		case ev = <-inCh:
			got = true
		case <-tc:
		case <-ac:
		case <-kick: // the reader left something to see to
		case <-l.notify:
			changed = true
		case <-l.c.done:
			ended = true
		}
		if idle {
			mu.Lock()
		}
		// Whatever woke the link, the alarm is taken back before the queue is touched (a
		// kick left from before the alarm was armed may come now).
		al.disarm()
		switch {
		case ended:
			return errEnded
		case inlineErr != nil:
			return inlineErr
		case got:
			l.enqueue(&q, 0, ev)
			inflight.Add(-1)
		case changed:
			now := time.Now()
			evs, removed := l.rebuild(now)
			if removed {
				// A toxic taken away lets go of what it held back: what waits goes out now.
				q.release(now)
			}
			q.push(evs...)
			if len(l.stages) == 0 {
				return l.leave(in, rdone, &q)
			}
		}
	}
}

// leave ends the toxic path: it stops the reader, takes what it read, and carries out
// every event left, now and in order, before the link goes back to the fast path.
func (l *link) leave(in chan event, rdone chan struct{}, q *queue) error {
	l.stop.Store(true)
	l.src.SetReadDeadline(time.Now())
	for waiting := true; waiting; {
		select {
		case ev := <-in:
			q.push(ev)
		case <-rdone:
			waiting = false
		}
	}
	for drained := false; !drained; {
		select {
		case ev := <-in:
			q.push(ev)
		default:
			drained = true
		}
	}
	for q.len() > 0 {
		if done, err := l.exec(q.pop()); done {
			return err
		}
	}
	return errInterrupted
}

// exec carries out one event. done says the link has ended, and err why (nil for a
// clean end of stream).
func (l *link) exec(ev event) (done bool, err error) {
	switch ev.kind {
	case evData:
		if _, err := l.dst.Write(ev.data); err != nil {
			return true, err
		}
		l.counter.Add(int64(len(ev.data)))
	case evReply, evReplyClose:
		return l.c.pairs().reply(l.src, ev.data, ev.kind == evReplyClose)
	case evMark:
		l.c.pairs().forward(string(ev.data))
	case evAnswered:
		return l.c.pairs().answer(l.dst)
	case evEOF:
		halfClose(l.dst)
		return true, nil
	case evClose:
		l.c.close()
		return true, errEnded
	case evReset:
		l.c.reset()
		return true, errEnded
	}
	return false, nil
}

// inline says whether the reader may carry out the event itself: it writes to the
// destination at most, and ends the link only with an error.
func (ev *event) inline() bool {
	return ev.kind == evData || ev.kind == evMark || ev.kind == evAnswered
}

// read is the reader of the toxic path. It quits when told to (stop and a deadline), when
// the source ends, or when quit closes. A chunk is handed over from within the read, if
// the link has room for it; otherwise the read ends there and the reader waits to hand
// it over.
func (l *link) read(in chan<- event, quit <-chan struct{}, done chan<- struct{}, inline func(event) bool, inflight *atomic.Int32) {
	defer close(done)
	chunks, stop := chunkReader(l.src)
	defer stop()
	var held event // a chunk the link had no room for yet
	// emit carries a chunk through itself when the link is idle (inline), or hands it
	// over, and says whether to read on: not when the link had no room for it, nor when
	// the link asked the reader to stop — then the read ends here and meets the deadline
	// that came with the stop, however fast the bytes come.
	emit := func(data []byte, at time.Time) bool {
		ev := event{kind: evData, data: data, at: at}
		if inline(ev) {
			return !l.stop.Load()
		}
		inflight.Add(1)
		select {
		case in <- ev:
			return !l.stop.Load()
		default:
			held = ev
			return false
		}
	}
	for {
		err := chunks(emit)
		if held.data != nil {
			select {
			case in <- held:
			case <-quit:
				return
			}
			held = event{}
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Clear the deadline, then look at the flag: a stop asked after the clear
			// sets a new deadline, so none is missed.
			l.src.SetReadDeadline(time.Time{})
			if l.stop.Load() {
				return
			}
			continue
		}
		ev := event{kind: evEOF, at: time.Now()}
		if err != io.EOF {
			ev.kind = evClose
		}
		select {
		case in <- ev:
		case <-quit:
		}
		return
	}
}

// bufferedChunks reads chunks from src through a buffer of the link's own, as chunkReader
// does but without its timestamps or waits.
func bufferedChunks(src net.Conn) (chunks func(emit func([]byte, time.Time) bool) error, stop func()) {
	buf := make([]byte, readSize)
	return func(emit func([]byte, time.Time) bool) error {
		for {
			n, err := src.Read(buf)
			if n > 0 && !emit(append([]byte(nil), buf[:n]...), time.Now()) {
				return err
			}
			if err != nil {
				return err
			}
		}
	}, func() {}
}

// queue holds events waiting for their time, in order.
type queue struct {
	evs   []event
	off   int
	bytes int
}

func (q *queue) len() int     { return len(q.evs) - q.off }
func (q *queue) head() *event { return &q.evs[q.off] }

func (q *queue) push(evs ...event) {
	// Move the waiting events to the front once the popped ones fill half the slice: a
	// queue that is never empty (a steady stream under latency) must not grow forever.
	if q.off > 0 && 2*q.off >= len(q.evs) {
		n := copy(q.evs, q.evs[q.off:])
		clear(q.evs[n:])
		q.evs, q.off = q.evs[:n], 0
	}
	for _, ev := range evs {
		q.bytes += len(ev.data)
	}
	q.evs = append(q.evs, evs...)
}

func (q *queue) pop() event {
	ev := q.evs[q.off]
	q.evs[q.off] = event{}
	q.off++
	q.bytes -= len(ev.data)
	return ev
}

// release makes every waiting event due now.
func (q *queue) release(now time.Time) {
	for i := q.off; i < len(q.evs); i++ {
		if q.evs[i].at.After(now) {
			q.evs[i].at = now
		}
	}
}

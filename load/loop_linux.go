//go:build linux

package load

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown/internal/netfd"
)

// loop sends an open-model load of a plain http:// URL through the lean client (see wire)
// from one goroutine: it waits in the kernel (epoll_pwait2, to the nanosecond) for the
// next due time or the next bytes, writes each request when it is due, and reads each
// answer as it comes (see answer), on connections of its own that Go's poller does not
// watch. runOpen's design wakes three goroutines per request (the dispatcher, a worker at
// the due time, the worker again when its answer comes), and each wake-up of a goroutine
// can wake a thread; measured at 2,000 requests/s (bench/load) those wake-ups were most of
// what the generator spent above the simplest sender (bench/load/blocking). The loop's
// goroutine blocks in the system call itself, so while it waits the runtime has nothing
// to wake: it uses less CPU than that sender, which sleeps twice per request where the
// loop waits once per event.
//
// What is rare or may block goes to goroutines whose results come back through post:
// dialling (wire's dialer, with its name resolution, deadline and errors), and following
// a redirect (through net/http, as runOpen does).
type loop struct {
	g    *Generator
	w    *wire
	ctx  context.Context // the run's values, not its end: see hit
	epfd int
	wake int // an eventfd: post and the end of the run's context write to it
	buf  []byte
	evs  []unix.EpollEvent
	hold bool // short waits keep the P: see epollWait

	conns  map[int32]*loopConn // by descriptor
	idle   []*loopConn         // last in, first out, as wire's
	flight []*loopReq          // requests not yet answered, in order of their deadlines
	queued []*loopReq          // requests due while MaxInFlight were in flight
	busy   int                 // requests sent and not yet answered

	mu     sync.Mutex
	posted []func() // what goroutines hand back, run in the loop
	closed bool     // wake is closed: nothing may write to it
}

// loopConn is one of the loop's connections.
type loopConn struct {
	fd     int
	reused bool     // it carried an answer before
	req    *loopReq // the request on it; nil when idle
	out    []byte   // what of the request is still to write
	outSet bool     // it is waited on for writing too
	ans    answer
}

// loopReq is one request the loop has sent.
type loopReq struct {
	j        job
	o        outcome
	deadline time.Time
	conn     *loopConn // nil while a goroutine has it
	retried  bool
	done     bool
}

// runLoop runs an open-model load through the loop. It reports false, having done
// nothing, when the loop cannot run (the lean client is not in use, or the kernel refused
// an epoll or eventfd descriptor): runOpen then sends the load.
func (g *Generator) runLoop(ctx context.Context, start time.Time) bool {
	if g.wire == nil {
		return false
	}
	epfd, wake, err := netfd.Open()
	if err != nil {
		return false
	}
	l := &loop{
		g: g, w: g.wire, ctx: context.WithoutCancel(ctx), epfd: epfd, wake: wake,
		buf: make([]byte, 64<<10), evs: make([]unix.EpollEvent, 64), hold: takeHold(), conns: map[int32]*loopConn{},
	}
	defer l.close()
	if l.hold {
		defer holders.Add(-1)
	}
	stopWaking := context.AfterFunc(ctx, l.poke)
	defer stopWaking()
	l.run(ctx, start)
	return true
}

// run sends on the schedule until ctx ends, then waits for the requests in flight.
func (l *loop) run(ctx context.Context, start time.Time) {
	g := l.g
	rate := g.spec.Rate.PerSecond()
	deadline, hasDeadline := ctx.Deadline()
	var i int64
	next := start
	stopped := false
	var stop time.Time
	for {
		now := g.now()
		if !stopped {
			switch {
			case ctx.Err() != nil:
				stop, stopped = now, true
				if hasDeadline && now.After(deadline) {
					stop = deadline
				}
			case hasDeadline && !next.Before(deadline) && !now.Before(deadline):
				stop, stopped = deadline, true // due when the load ends: not sent
			}
			if stopped {
				// Those that fell due before the end but were not sent (the loop was
				// behind) go out now, late; those that find all MaxInFlight requests
				// busy, and those still waiting for one, count as errors ("not sent")
				// whose latency runs to the end, as runOpen's.
				for ; next.Before(stop) && l.busy < g.maxInFlight; i++ {
					l.send(&loopReq{j: job{sched: next, fl: g.rec.schedule(next)}})
					next = start.Add(offset(rate, g.spec.Ramp, i+1))
				}
				i = g.unsent(start, i, stop)
				for _, r := range l.queued {
					g.rec.add(r.j.fl, outcome{sched: r.j.sched, done: stop, late: true, errKind: "not sent"})
				}
				l.queued = nil
				g.rec.end(stop)
			}
		}
		// With MaxInFlight requests in flight and as many waiting for them, the loop
		// schedules no more until one lands: those behind go out late then, or count as
		// not sent when the load ends, and the waiting ones take no more memory.
		full := func() bool { return l.busy >= g.maxInFlight && len(l.queued) >= g.maxInFlight }
		for !stopped && !next.After(now) && (!hasDeadline || next.Before(deadline)) && !full() {
			l.due(job{sched: next, fl: g.rec.schedule(next)})
			i++
			next = start.Add(offset(rate, g.spec.Ramp, i))
		}
		wakeAt := l.expire(now)
		if stopped && l.busy == 0 {
			return
		}
		if !stopped && full() {
			// A landing request wakes the loop; else the end of the load does.
			if hasDeadline && (wakeAt.IsZero() || deadline.Before(wakeAt)) {
				wakeAt = deadline
			}
		} else if !stopped && (wakeAt.IsZero() || next.Before(wakeAt)) {
			wakeAt = next
			if hasDeadline && deadline.Before(wakeAt) {
				wakeAt = deadline
			}
		}
		l.wait(wakeAt)
	}
}

// due sends j, which is due, or queues it when MaxInFlight requests are in flight.
func (l *loop) due(j job) {
	if l.busy < l.g.maxInFlight {
		l.send(&loopReq{j: j})
		return
	}
	j.blocked = true
	j.fl.start(j.sched) // its wait is latency
	l.queued = append(l.queued, &loopReq{j: j})
}

// send sends r now.
func (l *loop) send(r *loopReq) {
	r.o = l.g.leave(r.j)
	r.deadline = r.o.sent.Add(l.g.timeout)
	l.busy++
	l.flight = append(l.flight, r)
	l.start(r)
}

// start writes r on an idle connection, or dials one for it.
func (l *loop) start(r *loopReq) {
	if n := len(l.idle); n > 0 {
		c := l.idle[n-1]
		l.idle[n-1] = nil
		l.idle = l.idle[:n-1]
		l.write(c, r)
		return
	}
	deadline := r.deadline
	go func() {
		fd, err := l.dial(deadline)
		l.post(func() {
			if err != nil {
				l.land(r, 0, err, context.Background())
				return
			}
			c := &loopConn{fd: fd}
			if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
				unix.Close(fd)
				l.land(r, 0, err, context.Background())
				return
			}
			l.conns[int32(fd)] = c
			l.write(c, r)
		})
	}()
	l.handOver()
}

// dial connects with wire's dialer and returns a descriptor of the connection's own,
// which Go's poller does not watch.
func (l *loop) dial(deadline time.Time) (int, error) {
	d := l.w.dialer
	d.Deadline = deadline
	c, err := d.Dial("tcp", l.w.addr)
	if err != nil {
		return -1, err
	}
	return netfd.Own(c)
}

// write puts r on c and writes what the socket takes at once.
func (l *loop) write(c *loopConn, r *loopReq) {
	c.req, r.conn = r, c
	c.ans = newAnswer(l.w.head)
	c.out = l.w.req
	l.writeMore(c)
}

// writeMore writes what of c's request is left; what the socket does not take now waits
// for it to be writable.
func (l *loop) writeMore(c *loopConn) {
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			l.watchOut(c, true)
			return
		case err != nil:
			l.fail(c, err)
			return
		}
		c.out = c.out[n:]
	}
	l.watchOut(c, false)
}

// watchOut makes c waited on for writing as well as reading, or for reading only, when
// that changes.
func (l *loop) watchOut(c *loopConn, out bool) {
	if c.outSet == out {
		return
	}
	c.outSet = out
	events := uint32(unix.EPOLLIN)
	if out {
		events |= unix.EPOLLOUT
	}
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd)})
}

// read reads what came on c once (level-triggered: more comes as another event).
func (l *loop) read(c *loopConn) {
	n, err := unix.Read(c.fd, l.buf)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return
	case err != nil:
		l.fail(c, err)
		return
	case c.req == nil: // the server closed an idle connection, or spoke out of turn
		l.closeConn(c)
		return
	case n == 0:
		if err := c.ans.end(); err != nil {
			l.fail(c, err)
			return
		}
		c.ans.keep = false
		l.answered(c)
		return
	}
	used, err := c.ans.feed(l.buf[:n])
	switch {
	case err != nil:
		l.fail(c, err)
	case c.ans.done():
		if used < n {
			c.ans.keep = false // more than the answer came: the connection is out of step
		}
		l.answered(c)
	}
}

// answered lands c's request, whose answer is whole; c carries the next or closes.
func (l *loop) answered(c *loopConn) {
	r := c.req
	status, location, keep, _, _ := c.ans.result(nil)
	keep = keep && len(c.out) == 0 // it answered before taking the whole request
	c.req, r.conn = nil, nil
	if keep && len(l.idle) < DefaultMaxInFlight {
		c.reused = true
		l.idle = append(l.idle, c)
	} else {
		l.closeConn(c)
	}
	if location == "" {
		l.land(r, status, nil, context.Background())
		return
	}
	go func() {
		rctx, cancel := context.WithDeadline(l.ctx, r.deadline)
		status, err := l.g.redirect(rctx, location, status)
		cancel()
		l.post(func() {
			l.land(r, status, err, rctx)
		})
	}()
	l.handOver()
}

// fail ends c's request with err and closes c. A request that found its reused
// connection closed by the server before any answer came is sent again on another, once,
// when it is idempotent (as wire does).
func (l *loop) fail(c *loopConn, err error) {
	r := c.req
	answered := c.ans.answered
	status, _, _, _, _ := c.ans.result(err) // an answer cut in its body has its status, as in wire
	reused := c.reused
	l.closeConn(c)
	if r == nil {
		return
	}
	r.conn = nil
	if reused && !answered && l.w.idempotent && !r.retried && !errors.Is(err, os.ErrDeadlineExceeded) {
		r.retried = true
		l.start(r)
		return
	}
	l.land(r, status, err, context.Background())
}

func (l *loop) closeConn(c *loopConn) {
	delete(l.conns, int32(c.fd))
	unix.Close(c.fd) // which takes it out of the epoll set
	c.req = nil
	for i, ic := range l.idle {
		if ic == c {
			l.idle = append(l.idle[:i], l.idle[i+1:]...)
			break
		}
	}
}

// land records r's outcome and sends the next queued request in its place.
func (l *loop) land(r *loopReq, status int, err error, rctx context.Context) {
	r.o.status = status
	l.g.land(r.j, r.o, err, rctx)
	r.done = true
	l.busy--
	if len(l.queued) > 0 {
		q := l.queued[0]
		l.queued[0] = nil
		l.queued = l.queued[1:]
		l.send(q)
	}
}

// expire ends the requests on connections whose deadline has passed (those a goroutine
// has end by their deadline there), and returns the next deadline to wake for (zero when
// none).
func (l *loop) expire(now time.Time) time.Time {
	for len(l.flight) > 0 && l.flight[0].done {
		l.flight[0] = nil
		l.flight = l.flight[1:]
	}
	for _, r := range l.flight {
		if r.deadline.After(now) {
			return r.deadline
		}
		if !r.done && r.conn != nil {
			l.fail(r.conn, os.ErrDeadlineExceeded)
		}
	}
	return time.Time{}
}

// post hands f to the loop, from another goroutine.
func (l *loop) post(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.posted = append(l.posted, f)
	l.pokeLocked()
}

// poke wakes the loop, from another goroutine.
func (l *loop) poke() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pokeLocked()
}

func (l *loop) pokeLocked() {
	if !l.closed {
		netfd.Wake(l.wake)
	}
}

// wait waits until at (forever when zero) or until something happens, and handles what
// did.
func (l *loop) wait(at time.Time) {
	n, err := epollWait(l.epfd, l.evs, at, l.g.now, l.hold)
	if err != nil {
		if err != unix.EINTR {
			time.Sleep(time.Millisecond) // not expected: the descriptors are the loop's own
		}
		return
	}
	for _, ev := range l.evs[:n] {
		if ev.Fd == int32(l.wake) {
			var b [8]byte
			unix.Read(l.wake, b[:])
			l.mu.Lock()
			posted := l.posted
			l.posted = nil
			l.mu.Unlock()
			for _, f := range posted {
				f()
			}
			continue
		}
		c := l.conns[ev.Fd]
		if c == nil {
			continue // closed while handling an earlier event
		}
		if ev.Events&unix.EPOLLOUT != 0 && len(c.out) > 0 {
			l.writeMore(c)
			if l.conns[ev.Fd] != c {
				continue
			}
		}
		if ev.Events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			l.read(c)
		}
	}
}

// close closes the loop's descriptors.
func (l *loop) close() {
	for _, c := range l.conns {
		unix.Close(c.fd)
	}
	unix.Close(l.epfd)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	unix.Close(l.wake)
}

// holdUpTo is the longest wait in which the loop keeps its P (see epollWait).
const holdUpTo = 10 * time.Millisecond

// holders counts the loops whose short waits keep their P.
var holders atomic.Int32

// takeHold reports whether a new loop may keep its P in short waits: as long as one P
// is left to the rest of the program (the engine's probes, its API, other loads).
func takeHold() bool {
	if holders.Add(1) <= int32(runtime.GOMAXPROCS(0)-1) {
		return true
	}
	holders.Add(-1)
	return false
}

// handOver lets a goroutine the loop just started run at once: on a P the loop keeps,
// it would wait for another P to steal it.
func (l *loop) handOver() {
	if l.hold {
		runtime.Gosched()
	}
}

// epollWait waits on epfd until at (forever when zero).
//
// A wait of at most holdUpTo keeps the goroutine's P when hold is set (see takeHold), as
// a goroutine that computes would: the runtime wakes its monitor thread each time a
// goroutine enters a system call while the monitor sleeps, and that thread then polls
// every 20 µs for a while. Sending every half millisecond, those wake-ups cost more than
// the sending (bench/load). Nothing waits on the P meanwhile: the other Ps run and steal
// what is runnable, and the runtime's preemption signal ends the wait (EINTR) when it
// needs the P for a collection or after 10 ms.
func epollWait(epfd int, events []unix.EpollEvent, at time.Time, now func() time.Time, hold bool) (int, error) {
	if at.IsZero() {
		return netfd.Wait(epfd, events, -1, false)
	}
	wait := max(at.Sub(now()), 0)
	return netfd.Wait(epfd, events, wait, hold && wait <= holdUpTo)
}

package proxy

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A link on the fast path waits for bytes in the runtime's poller: the kernel wakes the
// poller's thread, which makes the link's goroutine runnable, which a processor then runs
// — a chain of wake-ups, each waiting for a CPU behind whatever holds it. On a busy host
// the chain costs milliseconds, and a latency toxic on the other direction looks off by
// as much: a request's way there is part of the round trip the toxic is judged on. So
// while its proxy has toxics, a fast link waits on the alarms' thread instead, which
// reads the bytes when they come and passes them on itself where it can (a small message
// the destination takes at once) — one wake-up, of the thread with the highest priority
// and the shortest slices — and hands them to the link where it cannot.

// watch is a socket the alarms' thread waits on for a link.
type watch struct {
	id int32 // the socket's events carry it
	rc syscall.RawConn
	c  chan struct{} // a token when a fire hands the socket back to the link
	// What fire passes the kernel and the socket, made once: the thread allocates
	// nothing per message, so it is never drafted to help the collector.
	ev     unix.EpollEvent
	readFn func(fd uintptr) bool

	mu     sync.Mutex            // held while the thread tries
	try    func(fd uintptr) bool // the link's read: true when it has something for the link
	on     bool                  // armed, and not fired or cancelled since
	added  bool                  // the socket is in the epoll
	took   bool                  // the last fire's try said true
	again  bool                  // the last fire armed the watch again
	rearms int                   // fires that armed the watch again (a relay, or nothing read)
	backs  int                   // fires that handed the socket back
}

// newWatch returns a watch of the socket, or nil where the alarms' thread cannot be had.
func newWatch(rc syscall.RawConn) *watch {
	s := startAlarms()
	if s == nil {
		return nil
	}
	w := &watch{rc: rc, c: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.lastID++; s.lastID <= timerID {
			s.lastID = timerID + 1
		}
		if _, used := s.watches[s.lastID]; !used {
			break
		}
	}
	w.id = s.lastID
	s.watches[w.id] = w
	// Readable or ended, once, until armed again.
	w.ev = unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: w.id}
	w.readFn = w.read
	return w
}

// await waits for the socket on the alarms' thread, which calls try when it is readable,
// and again each time try says false (it passed the bytes on, or there were none). It
// returns true once try said true: what try read is the caller's. It returns false when
// try did not say so — the socket could not be watched, a read on it failed (closed, a
// deadline), or wake or done closed first: the caller then waits in its own read, as it
// would without the alarms' thread.
func (w *watch) await(try func(fd uintptr) bool, wake, done <-chan struct{}) bool {
	w.mu.Lock()
	w.try, w.took = try, false
	var err error
	cerr := w.rc.Control(func(fd uintptr) {
		op := unix.EPOLL_CTL_MOD
		if !w.added {
			op = unix.EPOLL_CTL_ADD
		}
		err = unix.EpollCtl(theAlarms.ep, op, int(fd), &w.ev)
	})
	w.on = cerr == nil && err == nil
	w.added = w.added || w.on
	on := w.on
	w.mu.Unlock()
	if !on {
		return false
	}
	select {
	case <-w.c:
		return w.result()
	case <-wake:
	case <-done:
	}
	w.mu.Lock()
	w.on = false // a fire from now on does nothing; one under way has finished
	w.mu.Unlock()
	select {
	case <-w.c: // it fired as the wait ended
		return w.result()
	default:
		return false
	}
}

func (w *watch) result() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.took
}

// fire runs on the alarms' thread when the socket is readable: it calls try, and arms the
// watch again if try said false, or else hands the socket back to the link.
func (w *watch) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.on {
		return
	}
	w.again = false
	err := w.rc.Read(w.readFn)
	if err == nil && w.again {
		w.rearms++
		return
	}
	w.backs++
	w.on = false
	select {
	case w.c <- struct{}{}:
	default:
	}
}

// read is fire's: it calls try, and arms the watch again if try said false; w.mu is held.
func (w *watch) read(fd uintptr) bool {
	if w.took = w.try(fd); !w.took {
		w.again = unix.EpollCtl(theAlarms.ep, unix.EPOLL_CTL_MOD, int(fd), &w.ev) == nil
	}
	return true // never wait: the link does
}

// close takes the socket out of the epoll and the watch out of the alarms.
func (w *watch) close() {
	w.mu.Lock()
	w.on = false
	if w.added {
		// A socket closed meanwhile left the epoll as it closed.
		w.rc.Control(func(fd uintptr) { unix.EpollCtl(theAlarms.ep, unix.EPOLL_CTL_DEL, int(fd), nil) })
		w.added = false
	}
	w.mu.Unlock()
	s := theAlarms
	s.mu.Lock()
	delete(s.watches, w.id)
	s.mu.Unlock()
}

// parker returns what spliceCopy parks the link's waits for bytes with: while the link is
// quick, a watch of its source (made at the first wait), and release, which lets go of
// the watch when the fast path ends.
func (l *link) parker() (park func(rc syscall.RawConn, try func(fd uintptr) bool) bool, release func()) {
	var w *watch
	park = func(rc syscall.RawConn, try func(fd uintptr) bool) bool {
		if !l.quick() {
			return false
		}
		if w == nil {
			if w = newWatch(rc); w == nil {
				return false
			}
		}
		return w.await(try, l.notify, l.c.done)
	}
	release = func() {
		if w != nil {
			w.close()
		}
	}
	return park, release
}

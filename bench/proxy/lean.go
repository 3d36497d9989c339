//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown/internal/netfd"
)

// The web figures' two ends in the driver: a web backend and its clients, event loops
// on OS threads of their own waiting in epoll, with no runtime poller or goroutines
// between the bytes and the sockets. A request through a proxy costs the driver two
// sends and two receives besides the proxy's own; on two shared cores whatever the
// driver spends on them is taken from the proxy and weighs on both proxies alike, which
// pulls the ratio of their rates towards 1. With a goroutine per connection at each end
// (net/http's server, a blocking client) the driver spent more per request than either
// proxy; these ends spend the least a kernel socket lets them. The latency client takes
// each answer's time from the kernel (SO_TIMESTAMPNS), so its own wake-up is not in it.

// webAnswer is the web backend's one answer, to every request.
var webAnswer = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")

// headEnd is what ends a request's head; the backend's clients send no bodies.
var headEnd = []byte("\r\n\r\n")

// inbox hands descriptors accepted or dialled on other goroutines to a loop's thread,
// waking its epoll wait.
type inbox[T any] struct {
	mu   sync.Mutex
	in   []T
	wake int
}

func (b *inbox[T]) put(v T) {
	b.mu.Lock()
	b.in = append(b.in, v)
	b.mu.Unlock()
	netfd.Wake(b.wake)
}

// take returns what was put since the last take; the loop calls it when the wake
// descriptor is readable.
func (b *inbox[T]) take() []T {
	var n [8]byte
	unix.Read(b.wake, n[:])
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.in
	b.in = nil
	return in
}

// acceptInto accepts ln's connections into box until ln closes, each as a descriptor the
// runtime's poller does not watch.
func acceptInto(ln net.Listener, box *inbox[int]) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if fd, err := netfd.Own(c); err == nil {
			box.put(fd)
		}
	}
}

// serveWeb answers every request of every connection to it with webAnswer, HTTP/1.1
// keep-alive, on one OS thread, until the process ends; it returns the address.
func serveWeb() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	epfd, wake, err := netfd.Open()
	if err != nil {
		ln.Close()
		return "", err
	}
	box := &inbox[int]{wake: wake}
	go answerLoop(epfd, box)
	go acceptInto(ln, box)
	return ln.Addr().String(), nil
}

// answerLoop answers the requests of the connections box brings, on an OS thread of
// its own waiting on epfd.
func answerLoop(epfd int, box *inbox[int]) {
	runtime.LockOSThread()
	matched := map[int32]int{} // descriptor → bytes of headEnd seen at the end of what it sent
	buf := make([]byte, 64<<10)
	var out []byte
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := netfd.Wait(epfd, events, -1, false)
		if err != nil {
			continue
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(box.wake) {
				for _, fd := range box.take() {
					matched[int32(fd)] = 0
					unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
				}
				continue
			}
			fd := int(ev.Fd)
			m, err := unix.Read(fd, buf)
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err != nil || m == 0 {
				unix.Close(fd)
				delete(matched, ev.Fd)
				continue
			}
			k := matched[ev.Fd]
			out = out[:0]
			for _, c := range buf[:m] {
				switch {
				case c == headEnd[k]:
					k++
				case c == headEnd[0]:
					k = 1
				default:
					k = 0
				}
				if k == len(headEnd) {
					out = append(out, webAnswer...)
					k = 0
				}
			}
			matched[ev.Fd] = k
			if len(out) > 0 {
				writeAll(fd, out)
			}
		}
	}
}

// answers follows the answers on one connection to the web backend: each must be
// webAnswer, byte for byte, and none may come before its request.
type answers struct {
	got     int  // bytes of the answer in flight read
	waiting bool // a request is out
}

// feed takes b, read from the connection, and says whether it completed the answer in
// flight.
func (a *answers) feed(b []byte) (done bool, err error) {
	for len(b) > 0 {
		if !a.waiting {
			return false, fmt.Errorf("%q came with no request out", b)
		}
		c := min(len(b), len(webAnswer)-a.got)
		if !bytes.Equal(b[:c], webAnswer[a.got:a.got+c]) {
			return false, fmt.Errorf("answer %q, want %q", b[:c], webAnswer[a.got:a.got+c])
		}
		b, a.got = b[c:], a.got+c
		if a.got == len(webAnswer) {
			a.got, a.waiting, done = 0, false, true
		}
	}
	return done, nil
}

// client is a set of keep-alive connections to the web backend, read and written on one
// OS thread that waits in epoll, with one request out on each at a time.
type client struct {
	addr string
	req  []byte
	epfd int
	conn map[int32]*answers
	free []int // connections with no request out
	buf  []byte
	oob  []byte
	ev   []unix.EpollEvent
}

// dial opens n connections to addr; the answers' arrival times come with them.
func dial(addr string, n int) (*client, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	c := &client{addr: addr, req: []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"), epfd: epfd, conn: map[int32]*answers{},
		buf: make([]byte, 64<<10), oob: make([]byte, 128), ev: make([]unix.EpollEvent, 64)}
	for range n {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			c.close()
			return nil, err
		}
		fd, err := netfd.Own(nc)
		if err != nil {
			c.close()
			return nil, err
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		c.conn[int32(fd)] = &answers{}
		c.free = append(c.free, fd)
		unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	}
	return c, nil
}

func (c *client) close() {
	for fd := range c.conn {
		unix.Close(int(fd))
	}
	unix.Close(c.epfd)
}

// send writes a request on a free connection; false when none is free.
func (c *client) send() bool {
	if len(c.free) == 0 {
		return false
	}
	fd := c.free[len(c.free)-1]
	c.free = c.free[:len(c.free)-1]
	c.conn[int32(fd)].waiting = true
	writeAll(fd, c.req)
	return true
}

// wait waits at most wait for answers and calls done with the connection and the
// kernel's receive time (CLOCK_REALTIME ns) of each answer completed; the connection is
// free again when done is called.
func (c *client) wait(wait time.Duration, done func(fd int, at int64)) error {
	n, err := netfd.Wait(c.epfd, c.ev, wait, false)
	if err != nil {
		return nil // EINTR
	}
	for _, ev := range c.ev[:n] {
		m, oobn, _, _, err := unix.Recvmsg(int(ev.Fd), c.buf, c.oob, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err == nil && m == 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return fmt.Errorf("through %s: the connection ended: %v", c.addr, err)
		}
		complete, err := c.conn[ev.Fd].feed(c.buf[:m])
		if err != nil {
			return fmt.Errorf("through %s: %v", c.addr, err)
		}
		if complete {
			c.free = append(c.free, int(ev.Fd))
			done(int(ev.Fd), arrivalNs(c.oob[:oobn]))
		}
	}
	return nil
}

// onThread runs f on an OS thread of its own and returns its error.
func onThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		errc <- f()
	}()
	return <-errc
}

// requestRate runs workers closed-loop HTTP/1.1 keep-alive clients, one connection each,
// on one OS thread for d and returns requests/s: each sends its next request once the
// whole answer to the last one is in.
func requestRate(addr string, workers int, d time.Duration) (float64, error) {
	c, err := dial(addr, workers)
	if err != nil {
		return 0, err
	}
	defer c.close()
	var n int
	err = onThread(func() error {
		end := time.Now().Add(d)
		for c.send() {
		}
		for now := time.Now(); now.Before(end); now = time.Now() {
			if err := c.wait(end.Sub(now), func(int, int64) { n++; c.send() }); err != nil {
				return err
			}
		}
		return nil
	})
	return float64(n) / d.Seconds(), err
}

// latencyClient sends requests at a steady rate (open model: whether or not the last
// are answered) over keep-alive connections and records each one's latency, from the
// moment it is written to the kernel's receive time of the answer's last bytes, so that
// this end's own wake-up after the answer arrived is not in it.
type latencyClient struct {
	*client
	sent map[int]int64 // connection → when its request went, UnixNano
}

// newLatencyClient opens conns connections to addr: more than the requests ever out at
// once.
func newLatencyClient(addr string, conns int) (*latencyClient, error) {
	c, err := dial(addr, conns)
	if err != nil {
		return nil, err
	}
	return &latencyClient{c, map[int]int64{}}, nil
}

// run sends rate requests/s for d and returns their latencies once all are answered.
func (l *latencyClient) run(rate int, d time.Duration) ([]time.Duration, error) {
	var lat []time.Duration
	record := func(fd int, at int64) { lat = append(lat, time.Duration(at-l.sent[fd])) }
	err := onThread(func() error {
		every := time.Second / time.Duration(rate)
		end := time.Now().Add(d)
		for next := time.Now(); next.Before(end); {
			if !time.Now().Before(next) {
				if len(l.free) == 0 {
					return fmt.Errorf("through %s: all %d connections have a request out", l.addr, len(l.conn))
				}
				l.sent[l.free[len(l.free)-1]] = time.Now().UnixNano()
				l.send()
				next = next.Add(every)
				continue
			}
			if err := l.wait(max(time.Until(next), 0), record); err != nil {
				return err
			}
		}
		for deadline := time.Now().Add(5 * time.Second); len(l.free) < len(l.conn); {
			if !time.Now().Before(deadline) {
				return fmt.Errorf("through %s: %d answers missing 5 s after the last request", l.addr, len(l.conn)-len(l.free))
			}
			if err := l.wait(max(time.Until(deadline), 0), record); err != nil {
				return err
			}
		}
		return nil
	})
	return lat, err
}

// readStamped fills b from c and returns when the kernel received the last of it
// (SO_TIMESTAMPNS, CLOCK_REALTIME ns; which c must have on): the time the bytes reached
// this end, before this thread woke to read them.
func readStamped(c *net.TCPConn, b []byte) (int64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	oob := make([]byte, 128)
	var at int64
	for got := 0; got < len(b); {
		var n, oobn int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), b[got:], oob, 0)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err == nil && n == 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, err
		}
		got += n
		at = arrivalNs(oob[:oobn])
	}
	return at, nil
}

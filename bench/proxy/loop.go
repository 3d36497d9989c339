//go:build linux

package main

import (
	"fmt"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown/internal/netfd"
)

// The one-thread relay is a reference for three figures: one OS thread that relays
// every connection both ways, waiting in epoll (to the nanosecond) for the next bytes,
// with no runtime scheduler, poller or goroutines between the bytes and the sockets. With
// no delay it reads and writes at once: the simplest event-loop relay, beside the
// keep-alive rate and the added latency. With a delay it is the simplest delaying relay,
// beside the latency toxic's error: it reads what comes back from upstream with the
// kernel's arrival time and writes it when it falls due (arrival plus the delay), one
// wake-up at each due time in a process that does nothing else, so what is left in its
// error is the kernel's waking of threads, which every relay in a process of its own
// meets.

// loopPair is one relayed connection: client and upstream descriptors of its own.
type loopPair struct{ c, u int }

// delayChunk is what came back from upstream, to write to the client at due.
type delayChunk struct {
	due  int64 // CLOCK_REALTIME ns
	data []byte
	to   int
}

// serveLoop relays every connection to listen on to upstream until the process ends,
// delaying what comes back by delay (none when 0).
func serveLoop(listen, upstream string, delay time.Duration) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	epfd, wake, err := netfd.Open()
	if err != nil {
		return err
	}
	box := &inbox[loopPair]{wake: wake}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			cfd, err1 := netfd.Own(c)
			ufd, err2 := netfd.Own(u)
			if err1 != nil || err2 != nil {
				continue
			}
			if delay > 0 {
				unix.SetsockoptInt(ufd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
			}
			box.put(loopPair{cfd, ufd})
		}
	}()
	fmt.Println("listening")
	runtime.LockOSThread()
	peer := map[int32]int{}          // descriptor → where its bytes go
	fromUpstream := map[int32]bool{} // descriptors whose bytes are delayed
	var queue []delayChunk           // in order of due: one delay for all
	buf := make([]byte, 64<<10)
	oob := make([]byte, 128)
	events := make([]unix.EpollEvent, 64)
	for {
		wait := time.Duration(-1)
		if len(queue) > 0 {
			wait = time.Duration(max(queue[0].due-time.Now().UnixNano(), 0))
		}
		n, err := netfd.Wait(epfd, events, wait, false)
		if err != nil {
			n = 0
		}
		for now := time.Now().UnixNano(); len(queue) > 0 && queue[0].due <= now; queue = queue[1:] {
			writeAll(queue[0].to, queue[0].data)
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(wake) {
				for _, p := range box.take() {
					peer[int32(p.c)], peer[int32(p.u)] = p.u, p.c
					fromUpstream[int32(p.u)] = true
					unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p.c, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p.c)})
					unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, p.u, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p.u)})
				}
				continue
			}
			to, ok := peer[ev.Fd]
			if !ok {
				continue
			}
			m, oobn, _, _, err := unix.Recvmsg(int(ev.Fd), buf, oob, 0)
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if err != nil || m == 0 { // one side ended: the pair goes
				for _, fd := range []int{int(ev.Fd), to} {
					unix.Close(fd)
					delete(peer, int32(fd))
					delete(fromUpstream, int32(fd))
				}
				continue
			}
			if delay == 0 || !fromUpstream[ev.Fd] {
				writeAll(to, buf[:m])
				continue
			}
			at := arrivalNs(oob[:oobn])
			queue = append(queue, delayChunk{due: at + int64(delay), data: append([]byte(nil), buf[:m]...), to: to})
		}
	}
}

// arrivalNs is the kernel's receive time in oob (SO_TIMESTAMPNS), or now.
func arrivalNs(oob []byte) int64 {
	if ts, ok := netfd.ReceivedAt(oob); ok && unix.TimespecToNsec(ts) > 0 {
		return unix.TimespecToNsec(ts)
	}
	return time.Now().UnixNano()
}

func writeAll(fd int, b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN { // the bench's messages are small: wait for room
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			unix.Poll(p, 1000)
			continue
		}
		if err != nil {
			return
		}
		b = b[n:]
	}
}

package netfd

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// pair returns the server's end of a loopback TCP connection and a descriptor of the
// client's end of its own.
func pair(t *testing.T) (net.Conn, int) {
	t.Helper()
	c, s := testenv.TCPPair(t)
	fd, err := Own(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return s, fd
}

// TestOwnKeepsTheSocket: the connection handed over stays open and carries bytes both
// ways through the descriptor, its net.Conn closed.
func TestOwnKeepsTheSocket(t *testing.T) {
	s, fd := pair(t)
	if _, err := unix.Write(fd, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(b); err != nil || string(b) != "ping" {
		t.Fatalf("server read %q, %v", b, err)
	}
}

// TestWaitAndReceivedAt: a wait with a timeout ends with no event; bytes that come wake a
// wait without one, and a read with SO_TIMESTAMPNS gives the kernel's receive time; an
// eventfd's Wake wakes a wait too.
func TestWaitAndReceivedAt(t *testing.T) {
	s, fd := pair(t)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		t.Fatal(err)
	}
	epfd, wake, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	defer unix.Close(wake)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	start := time.Now()
	if n, err := Wait(epfd, events, 20*time.Millisecond, false); n != 0 || err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("an empty wait of 20ms: %d events, %v, after %v", n, err, time.Since(start))
	}
	sent := time.Now()
	s.Write([]byte("pong"))
	if n, err := Wait(epfd, events, -1, false); n != 1 || err != nil || events[0].Fd != int32(fd) {
		t.Fatalf("wait for bytes: %d events %v, %v", n, events[:n], err)
	}
	b, oob := make([]byte, 16), make([]byte, 64)
	_, oobn, _, _, err := unix.Recvmsg(fd, b, oob, 0)
	if err != nil {
		t.Fatal(err)
	}
	ts, ok := ReceivedAt(oob[:oobn])
	if at := time.Unix(ts.Unix()); !ok || at.Before(sent.Add(-time.Second)) || at.After(time.Now()) {
		t.Errorf("receive time %v (%v), want between %v and now", at, ok, sent)
	}
	if _, ok := ReceivedAt(nil); ok {
		t.Error("a receive time from no control messages")
	}

	go Wake(wake)
	if n, err := Wait(epfd, events, 10*time.Second, false); n != 1 || err != nil || events[0].Fd != int32(wake) {
		t.Fatalf("wait for a wake: %d events %v, %v", n, events[:n], err)
	}
}

// TestQueued: with TCP_INQ on, a read says what is left behind it — bytes, or the end of
// the stream that came with the last of them — and 0 only when the socket is empty and
// open, which is when a reader may wait for its next wake-up.
func TestQueued(t *testing.T) {
	s, fd := pair(t)
	if err := unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_INQ, 1); err != nil {
		t.Fatal(err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 1)
	// waitFor waits until the socket reports want.
	waitFor := func(want uint32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			n, err := Wait(epfd, events, time.Until(deadline), false)
			if err != nil && err != unix.EINTR {
				t.Fatal(err)
			}
			if n == 1 && events[0].Events&want == want {
				return
			}
		}
		t.Fatalf("the socket never reported %#x", want)
	}
	read := func(size int) (string, int, bool) {
		t.Helper()
		b, oob := make([]byte, size), make([]byte, QueuedSpace)
		n, oobn, _, _, err := unix.Recvmsg(fd, b, oob, 0)
		if err != nil {
			t.Fatal(err)
		}
		q, ok := Queued(oob[:oobn])
		return string(b[:n]), q, ok
	}

	s.Write([]byte("0123456789"))
	waitFor(unix.EPOLLIN)
	if got, q, ok := read(4); got != "0123" || q != 6 || !ok {
		t.Errorf("4 of 10 bytes: read %q, %d queued (%v), want 6", got, q, ok)
	}
	if got, q, ok := read(64); got != "456789" || q != 0 || !ok {
		t.Errorf("the rest: read %q, %d queued (%v), want 0: the socket is empty and open", got, q, ok)
	}

	s.Write([]byte("end"))
	s.(*net.TCPConn).CloseWrite()
	waitFor(unix.EPOLLRDHUP) // the bytes and the end of the stream both wait in the socket
	if got, q, ok := read(64); got != "end" || q == 0 || !ok {
		t.Errorf("the last bytes: read %q, %d queued (%v), want more than 0: the end of the stream is left", got, q, ok)
	}
	if got, _, _ := read(64); got != "" {
		t.Errorf("after the last bytes: read %q, want the end of the stream", got)
	}
	if _, ok := Queued(nil); ok {
		t.Error("a queue length from no control messages")
	}
}

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

package proxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// watchesOf returns the watches the alarms' thread holds.
func watchesOf() []*watch {
	s := startAlarms()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ws []*watch
	for _, w := range s.watches {
		ws = append(ws, w)
	}
	return ws
}

// quickProxy starts a proxy to an echo backend with a latency toxic on the way back, so
// that the way there, which has none, is quick, and returns a connection through it.
func quickProxy(t *testing.T) (*Proxy, *net.TCPConn) {
	t.Helper()
	p := NewProxy("t", "127.0.0.1:0", testenv.EchoServer(t), nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	add(t, p, "latency", "downstream", &Latency{Latency: 5})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return p, c.(*net.TCPConn)
}

// echoTrip writes msg and reads its echo.
func echoTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo differs at %d", firstDiff(got, msg))
	}
}

// While a proxy has toxics, the direction without any is relayed by the alarms' thread:
// each small message is read and passed on there, without handing the socket back to
// the link; and once the connection ends, the thread lets go of the socket.
func TestQuickLinkRelaysOnTheAlarmsThread(t *testing.T) {
	before := len(watchesOf())
	_, c := quickProxy(t)
	const rounds = 50
	for i := range rounds {
		echoTrip(t, c, []byte{byte(i), 'p', 'i', 'n', 'g'})
	}
	ws := watchesOf()
	if len(ws) != before+1 {
		t.Fatalf("%d watches, want %d: one for the way there", len(ws), before+1)
	}
	var w *watch
	for _, x := range ws {
		x.mu.Lock()
		if x.rearms > 0 {
			w = x
		}
		x.mu.Unlock()
	}
	if w == nil {
		t.Fatal("no watch relayed anything")
	}
	w.mu.Lock()
	rearms, backs := w.rearms, w.backs
	w.mu.Unlock()
	if rearms < rounds || backs != 0 {
		t.Errorf("the thread relayed %d times and handed the socket back %d times; want at least %d and none", rearms, backs, rounds)
	}
	c.Close()
	testenv.WaitFor(t, "the thread to let go of the socket", time.Minute, func() bool { return len(watchesOf()) == before })
}

// A quick link loses nothing and keeps every rule of the fast path: bulk moves (handed
// back to the link, which splices), a toxic added to the quick direction takes the next
// bytes, toxics taken away leave it relaying as before, a timeout toxic ends it at its
// time, and the end of the stream passes on.
func TestQuickLinkKeepsTheFastPathsRules(t *testing.T) {
	p, c := quickProxy(t)
	echoTrip(t, c, []byte("hello"))

	bulk := pattern(8 << 20)
	got := make(chan []byte)
	go func() {
		b := make([]byte, len(bulk))
		io.ReadFull(c, b)
		got <- b
	}()
	if _, err := c.Write(bulk); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, bulk) {
		t.Fatalf("bulk echo differs at %d", firstDiff(b, bulk))
	}

	// A toxic on the way there: the thread hands the next bytes to the link's toxic path.
	add(t, p, "latency", "upstream", &Latency{Latency: 50})
	start := time.Now()
	echoTrip(t, c, []byte("late"))
	if d := time.Since(start); d < 55*time.Millisecond {
		t.Errorf("a round trip with 50 ms each way on the way there and 5 back took %v", d)
	}
	// Taken away again, and then the one on the way back too: relayed as before.
	if err := p.RemoveToxic("latency_upstream"); err != nil {
		t.Fatal(err)
	}
	echoTrip(t, c, []byte("again"))
	if err := p.ResetToxics(); err != nil {
		t.Fatal(err)
	}
	echoTrip(t, c, []byte("plain"))

	// Quick again, then a timeout toxic on the quick direction ends the connection at
	// its time, with no bytes to wake the link.
	add(t, p, "latency", "downstream", &Latency{Latency: 5})
	echoTrip(t, c, []byte("quick"))
	start = time.Now()
	add(t, p, "timeout", "upstream", &Timeout{Timeout: 100})
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read a byte from a connection a timeout toxic ends")
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 30*time.Second {
		t.Errorf("the timeout toxic ended the connection after %v, want about 100 ms", d)
	}
}

// The end of the stream on a quick direction passes on: the backend sees it, answers
// what came before it, and closes.
func TestQuickLinkPassesTheEnd(t *testing.T) {
	_, c := quickProxy(t)
	echoTrip(t, c, []byte("first"))
	if _, err := c.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	rest, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "last" {
		t.Fatalf("after the end, got %q, want %q", rest, "last")
	}
}

package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// readN reads exactly n bytes and returns them with the time the last one arrived.
func readN(t *testing.T, c net.Conn, n int) ([]byte, time.Time) {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b, time.Now()
}

func add(t *testing.T, p *Proxy, typ, stream string, attrs Attrs) {
	t.Helper()
	if _, err := p.AddToxic(Toxic{Type: typ, Stream: stream, Toxicity: 1, Attributes: attrs}); err != nil {
		t.Fatalf("add %s: %v", typ, err)
	}
}

// Each toxic's timing, measured on the fake clock of a synctest bubble: exact, not
// within a slack.
func TestToxicTiming(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		attrs  Attrs
		size   int
		wantAt time.Duration // when the last byte arrives upstream
	}{
		{"no toxic", "", nil, 1000, 0},
		{"latency", "latency", &Latency{Latency: 200}, 1000, 200 * time.Millisecond},
		{"bandwidth 10 KB/s", "bandwidth", &Bandwidth{Rate: 10}, 5000, 500 * time.Millisecond},
		{"slicer 100 bytes 1ms apart", "slicer", &Slicer{AverageSize: 100, Delay: 1000}, 800, 7 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := NewProxy("t", "", "", nil)
				if tt.typ != "" {
					add(t, p, tt.typ, "upstream", tt.attrs)
				}
				client, server, _, done := pipeConn(p)
				data := bytes.Repeat([]byte("abcdefghij"), tt.size/10)
				start := time.Now()
				go client.Write(data)
				got, at := readN(t, server, len(data))
				if !bytes.Equal(got, data) {
					t.Fatalf("bytes changed on the way")
				}
				if d := at.Sub(start); d != tt.wantAt {
					t.Errorf("last byte after %v, want %v", d, tt.wantAt)
				}
				client.Close()
				server.Close()
				<-done
			})
		})
	}
}

func TestLatencyJitterBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewProxy("t", "", "", nil)
		add(t, p, "latency", "downstream", &Latency{Latency: 100, Jitter: 20})
		client, server, _, done := pipeConn(p)
		for i := 0; i < 50; i++ {
			start := time.Now()
			go server.Write([]byte{byte(i)})
			b, at := readN(t, client, 1)
			if b[0] != byte(i) {
				t.Fatalf("byte %d arrived as %d", i, b[0])
			}
			if d := at.Sub(start); d < 80*time.Millisecond || d >= 120*time.Millisecond {
				t.Fatalf("delay %v outside 100ms ± 20ms", d)
			}
		}
		client.Close()
		server.Close()
		<-done
	})
}

func TestTimeoutClosesAfterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewProxy("t", "", "", nil)
		add(t, p, "timeout", "upstream", &Timeout{Timeout: 300})
		client, server, _, done := pipeConn(p)
		start := time.Now()
		go client.Write([]byte("dropped"))
		_, err := server.Read(make([]byte, 10))
		if !isClosed(err) {
			t.Fatalf("read upstream: %v, want the connection closed", err)
		}
		if d := time.Since(start); d != 300*time.Millisecond {
			t.Errorf("closed after %v, want 300ms", d)
		}
		<-done
	})
}

func TestTimeoutZeroHoldsUntilRemoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewProxy("t", "", "", nil)
		add(t, p, "timeout", "upstream", &Timeout{})
		client, server, _, done := pipeConn(p)
		go client.Write([]byte("dropped"))
		time.Sleep(time.Hour)
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("connection ended under a timeout of 0")
		default:
		}
		// Removing it closes the connection, whose stream lost bytes (as Toxiproxy).
		if err := p.RemoveToxic("timeout_upstream"); err != nil {
			t.Fatal(err)
		}
		<-done
		server.Close()
	})
}

func TestResetPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewProxy("t", "", "", nil)
		add(t, p, "reset_peer", "upstream", &ResetPeer{Timeout: 50})
		client, server, _, done := pipeConn(p)
		start := time.Now()
		go client.Write([]byte("x"))
		if _, err := server.Read(make([]byte, 1)); !isClosed(err) {
			t.Fatalf("read: %v, want closed", err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("reset after %v, want 50ms", d)
		}
		<-done
	})
}

func TestLimitData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewProxy("t", "", "", nil)
		add(t, p, "limit_data", "upstream", &LimitData{Bytes: 7})
		client, server, _, done := pipeConn(p)
		go client.Write([]byte("0123456789"))
		got, err := io.ReadAll(server)
		if err != nil && !isClosed(err) {
			t.Fatal(err)
		}
		if string(got) != "0123456" {
			t.Errorf("got %q, want the first 7 bytes", got)
		}
		<-done
	})
}

func TestSlowClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewProxy("t", "", "", nil)
		add(t, p, "slow_close", "upstream", &SlowClose{Delay: 400})
		client, server, _, done := pipeConn(p)
		go func() { client.Write([]byte("bye")); client.Close() }()
		start := time.Now()
		got, _ := io.ReadAll(server)
		if string(got) != "bye" {
			t.Errorf("got %q", got)
		}
		if d := time.Since(start); d != 400*time.Millisecond {
			t.Errorf("closed after %v, want 400ms", d)
		}
		<-done
	})
}

// Toxics added and removed while bytes stream must not lose, repeat or reorder any.
func TestToggleOnLiveConnectionPipe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewProxy("t", "", "", nil)
		client, server, _, done := pipeConn(p)
		data := pattern(1 << 20)
		go func() {
			for off := 0; off < len(data); off += 1000 {
				client.Write(data[off:min(off+1000, len(data))])
				time.Sleep(time.Millisecond)
			}
			client.Close()
		}()
		stop := make(chan struct{})
		toggled := make(chan int)
		go func() { toggled <- toggle(p, stop) }()
		got, _ := io.ReadAll(server)
		close(stop)
		<-toggled
		if !bytes.Equal(got, data) {
			t.Fatalf("stream differs: got %d bytes, want %d; first difference at %d", len(got), len(data), firstDiff(got, data))
		}
		server.Close()
		<-done
	})
}

// The same over real TCP, through the splice fast path.
func TestToggleOnLiveConnectionTCP(t *testing.T) {
	backend := testenv.EchoServer(t)
	p := NewProxy("t", "127.0.0.1:0", backend, nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := pattern(8 << 20)
	go func() {
		for off := 0; off < len(data); off += 64 << 10 {
			c.Write(data[off:min(off+64<<10, len(data))])
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	stop := make(chan struct{})
	toggled := make(chan int)
	go func() { toggled <- toggle(p, stop) }()
	got, err := io.ReadAll(c)
	close(stop)
	n := <-toggled
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("stream differs after %d toggles: got %d bytes, want %d; first difference at %d", n, len(got), len(data), firstDiff(got, data))
	}
	t.Logf("%d toggles", n)
}

// toggle adds and removes toxics on both directions until stop closes.
func toggle(p *Proxy, stop chan struct{}) int {
	kinds := []Toxic{
		{Name: "l", Type: "latency", Stream: "upstream", Toxicity: 1, Attributes: &Latency{Latency: 1}},
		{Name: "s", Type: "slicer", Stream: "downstream", Toxicity: 1, Attributes: &Slicer{AverageSize: 500, SizeVariation: 100}},
		{Name: "b", Type: "bandwidth", Stream: "upstream", Toxicity: 1, Attributes: &Bandwidth{Rate: 100000}},
		{Name: "h", Type: "http_delay", Stream: "upstream", Toxicity: 1, Attributes: &HTTPDelay{Delay: 1, Percent: 100}},
		{Name: "j", Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: &Latency{Latency: 1, Jitter: 1}},
	}
	n := 0
	for i := 0; ; i++ {
		select {
		case <-stop:
			p.ResetToxics()
			return n
		default:
		}
		k := kinds[i%len(kinds)]
		if _, err := p.Toxic(k.Name); err == nil {
			p.RemoveToxic(k.Name)
		} else {
			p.AddToxic(k)
		}
		n++
		time.Sleep(time.Duration(i%3) * time.Millisecond)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A toxic added to a live connection that sits idle on the fast path takes effect with
// the next bytes or the end of the stream, timed from when they arrive; a timeout, which
// acts without bytes, interrupts the fast path at once.
func TestToxicAddedToIdleLink(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		attrs Attrs
		bytes bool          // the client writes "hello" (else it only closes)
		want  string        // what arrives upstream
		after time.Duration // from the write (or close) to the end upstream
	}{
		{"latency delays the next bytes", "latency", &Latency{Latency: 100}, true, "hello", 100 * time.Millisecond},
		{"slow_close delays the end", "slow_close", &SlowClose{Delay: 250}, false, "", 250 * time.Millisecond},
		{"limit_data cuts the next bytes", "limit_data", &LimitData{Bytes: 2}, true, "he", 0},
		{"timeout closes without bytes", "timeout", &Timeout{Timeout: 300}, false, "", 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := NewProxy("t", "", "", nil)
				client, server, _, done := pipeConn(p)
				// One byte through first: the link is live and on the fast path.
				go client.Write([]byte("x"))
				readN(t, server, 1)
				synctest.Wait()
				add(t, p, tt.typ, "upstream", tt.attrs)
				start := time.Now()
				if tt.typ == "timeout" {
					// Nothing is written: the timeout must close the connection itself.
				} else if tt.bytes {
					go func() { client.Write([]byte("hello")); client.Close() }()
				} else {
					client.Close()
				}
				got, _ := io.ReadAll(server)
				if string(got) != tt.want {
					t.Errorf("upstream got %q, want %q", got, tt.want)
				}
				if d := time.Since(start); d != tt.after {
					t.Errorf("ended upstream after %v, want %v", d, tt.after)
				}
				client.Close()
				server.Close()
				<-done
			})
		})
	}
}

// A queue that never runs empty keeps to the room its waiting events need.
func TestQueueNeverEmptyStaysSmall(t *testing.T) {
	var q queue
	q.push(event{at: time.Unix(0, 0)}, event{at: time.Unix(1, 0)}, event{at: time.Unix(2, 0)})
	for i := range 100000 {
		q.push(event{at: time.Unix(int64(i+3), 0)})
		if got, want := q.pop().at, time.Unix(int64(i), 0); !got.Equal(want) {
			t.Fatalf("pop %d: event of %v, want %v", i, got, want)
		}
	}
	if q.len() != 3 || cap(q.evs) > 64 {
		t.Errorf("3 events waiting after 100000 in and out: len %d, room for %d", q.len(), cap(q.evs))
	}
}

// A toxic added while a TCP link waits for more bytes, after a small message or between
// bulk transfers (bytes moving by splice), takes effect with the next bytes, however few:
// they do not slip past it in the kernel. Whether the link was still in bulk mode depends
// on how the kernel cut the last chunk, so the test takes several connections.
func TestToxicAddedToWaitingTCPLink(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := NewProxy("t", "127.0.0.1:0", ln.Addr().String(), nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for round := range 10 {
		bulk := []byte("x")
		if round > 1 {
			bulk = pattern(4 << 20)
		}
		p.ResetToxics()
		gotBulk := make(chan error, 1)
		rest := make(chan []byte, 1)
		go func() {
			s, err := ln.Accept()
			if err != nil {
				gotBulk <- err
				return
			}
			defer s.Close()
			b := make([]byte, len(bulk))
			_, err = io.ReadFull(s, b)
			if err == nil && !bytes.Equal(b, bulk) {
				err = fmt.Errorf("bulk differs at %d", firstDiff(b, bulk))
			}
			gotBulk <- err
			r, _ := io.ReadAll(s)
			rest <- r
		}()
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(bulk); err != nil {
			t.Fatal(err)
		}
		if err := <-gotBulk; err != nil {
			t.Fatal(err)
		}
		add(t, p, "limit_data", "upstream", &LimitData{Bytes: 2})
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		if r := <-rest; string(r) != "he" {
			t.Fatalf("round %d: after the toxic, upstream got %q, want %q", round, r, "he")
		}
		c.Close()
	}
}

// A toxic that delays nothing passes the bytes through on the reader's goroutine while
// the link waits idle; a delay added meanwhile queues them again, and its removal lets
// them through at once. Through every turn, each connection's bytes come back whole and in
// order. (That a delay never delivers early: TestLatencyOverTCPNeverEarly.)
func TestPassThroughAndDelayTakeTurns(t *testing.T) {
	p := NewProxy("t", "127.0.0.1:0", testenv.EchoServer(t), nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, stream := range []string{"upstream", "downstream"} {
		if _, err := p.AddToxic(Toxic{Name: "zero-" + stream, Type: "latency", Stream: stream, Toxicity: 1, Attributes: &Latency{}}); err != nil {
			t.Fatal(err)
		}
	}
	const delay = 30 * time.Millisecond
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := pattern(1 << 20)
			for i := range 60 {
				size := 1 + (i*7919+w*104729)%(len(msg)-1)
				if i%3 != 0 {
					size %= 200 // mostly small, as requests are
				}
				size++
				go c.Write(msg[:size])
				got := make([]byte, size)
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, msg[:size]) {
					errs <- fmt.Errorf("connection %d, message %d of %d bytes differs at %d", w, i, size, firstDiff(got, msg[:size]))
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for turn := 0; ; turn++ {
		select {
		case <-done:
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if turn%2 == 0 {
			if _, err := p.AddToxic(Toxic{Name: "delay", Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: &Latency{Latency: delay.Milliseconds()}}); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := p.RemoveToxic("delay"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCloseAfterAnswerPassesOn: a server that answers and closes at once puts the answer
// and its end of stream in the proxy's socket together, with one wake-up for both; the
// client must get the answer and then the end, at once, on the clean path and on the
// toxic path in either direction. (A reader that, after a short read, waits for a wake-up
// instead of reading on left half of these connections open until TCP's keep-alive.)
func TestCloseAfterAnswerPassesOn(t *testing.T) {
	backend := testenv.Serve(t, func(c net.Conn) {
		b := make([]byte, 16)
		if _, err := c.Read(b); err == nil {
			c.Write([]byte("hello"))
		}
	})
	for _, tc := range []struct {
		name   string
		toxics []Toxic
	}{
		{"clean", nil},
		{"latency downstream", []Toxic{{Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: &Latency{}}}},
		{"latency upstream", []Toxic{{Type: "latency", Stream: "upstream", Toxicity: 1, Attributes: &Latency{}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProxy("t", "127.0.0.1:0", backend, nil)
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for _, tx := range tc.toxics {
				if _, err := p.AddToxic(tx); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 40 {
				c, err := net.Dial("tcp", p.Addr())
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write([]byte("hi")); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(c)
				c.Close()
				if err != nil || string(got) != "hello" {
					t.Fatalf("connection %d: read %q, %v; want hello and the end of stream", i, got, err)
				}
			}
		})
	}
}

package proxy

import (
	"bufio"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// An alarm never rings before the time it was armed for, whatever the order the alarms
// were armed in, and a re-armed alarm rings for its new time only.
func TestAlarmNeverEarly(t *testing.T) {
	offsets := []time.Duration{9, 1, 5, 3, 7, 2, 8, 4, 6, 0}
	var wg sync.WaitGroup
	start := time.Now()
	for _, off := range offsets {
		a := newAlarm()
		if a == nil {
			t.Fatal("no timerfd alarm on Linux")
		}
		at := start.Add(off * time.Millisecond)
		// Armed first for later, then moved to its time: only the second counts.
		a.arm(at.Add(time.Hour))
		a.arm(at)
		wg.Go(func() {
			defer a.disarm()
			select {
			case <-a.c:
				if now := time.Now(); now.Before(at) {
					t.Errorf("alarm for +%v rang %v early", off*time.Millisecond, at.Sub(now))
				}
			case <-time.After(time.Minute):
				t.Errorf("alarm for +%v never rang", off*time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// A disarmed alarm leaves the heap, and the heap keeps its order.
func TestAlarmDisarm(t *testing.T) {
	far := time.Now().Add(time.Hour)
	var as []*alarm
	for i := range 5 {
		a := newAlarm()
		a.arm(far.Add(time.Duration(i) * time.Second))
		as = append(as, a)
	}
	as[2].disarm()
	as[0].disarm()
	theAlarms.mu.Lock()
	var left []*alarm
	for _, a := range theAlarms.h {
		if slices.Contains(as, a) {
			left = append(left, a)
		}
	}
	head := theAlarms.h[0]
	theAlarms.mu.Unlock()
	for _, a := range as {
		a.disarm()
	}
	if len(left) != 3 || slices.Contains(left, as[0]) || slices.Contains(left, as[2]) {
		t.Errorf("after disarming two of five, %d left", len(left))
	}
	if head.at.After(as[1].at) {
		t.Errorf("heap head at %v, after the earliest armed alarm (%v)", head.at, as[1].at)
	}
	if as[0].index != -1 || as[2].index != -1 {
		t.Errorf("disarmed alarms still have heap places %d, %d", as[0].index, as[2].index)
	}
}

// timestampMsg builds a control message with a receive timestamp.
func timestampMsg(ts unix.Timespec) []byte {
	b := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(ts))))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	h.SetLen(unix.CmsgLen(int(unsafe.Sizeof(ts))))
	*(*unix.Timespec)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = ts
	return b
}

func TestArrival(t *testing.T) {
	now := time.Now()
	wall := func(d time.Duration) []byte { return timestampMsg(unix.NsecToTimespec(now.Add(d).UnixNano())) }
	other := timestampMsg(unix.Timespec{})
	(*unix.Cmsghdr)(unsafe.Pointer(&other[0])).Type = unix.SCM_RIGHTS
	tests := []struct {
		name string
		oob  []byte
		want time.Duration // before now
	}{
		{"5 ms old", wall(-5 * time.Millisecond), 5 * time.Millisecond},
		{"just now", wall(0), 0},
		{"in the future (clock stepped back)", wall(time.Second), 0},
		{"older than a second (clock stepped on)", wall(-2 * time.Second), 0},
		{"no message", nil, 0},
		{"truncated", wall(-time.Millisecond)[:8], 0},
		{"another kind of message", other, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := now.Sub(arrival(tt.oob, now))
			// The wall clock round trip through a Timespec keeps nanoseconds.
			if d := got - tt.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("arrival %v before now, want %v", got, tt.want)
			}
		})
	}
}

func FuzzArrival(f *testing.F) {
	f.Add(timestampMsg(unix.NsecToTimespec(time.Now().UnixNano())))
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, oob []byte) {
		now := time.Now()
		if at := arrival(oob, now); at.After(now) || at.Before(now.Add(-time.Second)) {
			t.Errorf("arrival %v from now, want within the last second", at.Sub(now))
		}
	})
}

// The toxic path stamps bytes with the time the kernel received them, not the time it
// read them: bytes that waited in the socket are not delayed twice.
func TestChunkReaderKernelTimestamp(t *testing.T) {
	c, s := testenv.TCPPair(t)
	next, stop := chunkReader(s)
	defer stop()
	raw, err := s.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// send writes msg, waits until it is queued at the receiver (on a busy machine loopback
	// delivery can lag the write), lets it wait there for wait — the reader comes late —
	// and reads it: it returns when the write began, when the bytes were seen queued, and
	// the stamp.
	send := func(msg string, wait time.Duration) (before, queued, at time.Time) {
		before = time.Now()
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			var n int
			raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
			if n >= len(msg) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the bytes never reached the receiving socket")
			}
			time.Sleep(time.Millisecond)
		}
		queued = time.Now()
		time.Sleep(wait)
		data, at, err := next()
		if err != nil || string(data) != msg {
			t.Fatalf("read %q, %v", data, err)
		}
		return before, queued, at
	}
	// The kernel turns receive timestamps on for the whole host asynchronously after the
	// first socket asks for them: until then a packet is stamped when it is read. Wait for
	// that, as a long-running proxy never has to.
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, queued, at := send("x", 5*time.Millisecond)
		if !at.After(queued) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("receive timestamps never came on")
		}
	}
	before, queued, at := send("hello", 20*time.Millisecond)
	if at.Before(before) || at.After(queued) {
		t.Errorf("stamped %v after the write began and %v after the bytes were seen queued; want between the two",
			at.Sub(before), at.Sub(queued))
	}
	c.Close()
	if _, _, err := next(); err != io.EOF {
		t.Errorf("after the peer closed: %v, want io.EOF", err)
	}
}

// Through real sockets, with the timerfd alarm, a latency toxic never delivers early.
func TestLatencyOverTCPNeverEarly(t *testing.T) {
	p := NewProxy("t", "127.0.0.1:0", testenv.EchoServer(t), nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const latency = 20 * time.Millisecond
	add(t, p, "latency", "downstream", &Latency{Latency: latency.Milliseconds()})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	b := make([]byte, 32)
	for i := range 10 {
		start := time.Now()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < latency {
			t.Errorf("round trip %d took %v, less than the %v latency", i, d, latency)
		}
	}
}

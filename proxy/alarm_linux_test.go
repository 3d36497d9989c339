package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
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
		a := newAlarm(nil)
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
		a := newAlarm(nil)
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
	chunks, stop := chunkReader(s)
	defer stop()
	next := func() (data []byte, at time.Time, err error) { // one chunk
		err = chunks(func(d []byte, a time.Time) bool { data, at = d, a; return false })
		return data, at, err
	}
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

// One call of the chunk reader hands over every chunk as it comes, waiting between them,
// until emit says stop (the rest is read by the next call) or a deadline ends the wait.
func TestChunkReaderReadsOnUntilTold(t *testing.T) {
	c, s := testenv.TCPPair(t)
	chunks, stop := chunkReader(s)
	defer stop()
	type chunk struct {
		data string
		err  error
	}
	got := make(chan chunk, 16)
	var calls atomic.Int32
	go func() {
		for {
			calls.Add(1)
			err := chunks(func(d []byte, _ time.Time) bool {
				got <- chunk{data: string(d)}
				return string(d) != "stop"
			})
			if err != nil {
				got <- chunk{err: err}
				return
			}
		}
	}()
	for _, msg := range []string{"one", "two", "stop", "three"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		select {
		case ch := <-got:
			if ch.data != msg {
				t.Fatalf("chunk %q, %v; want %q", ch.data, ch.err, msg)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q never handed over", msg)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls for four chunks, one told to stop; want 2", n)
	}
	s.SetReadDeadline(time.Now())
	select {
	case ch := <-got:
		if !errors.Is(ch.err, os.ErrDeadlineExceeded) {
			t.Errorf("after the deadline: %q, %v; want the deadline's error", ch.data, ch.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline did not end the wait")
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

// An alarm's release runs when it rings, before its token; a disarmed alarm's never
// does; and disarm waits for a release that is running, so a link that disarms its
// alarm when it wakes has its queue to itself again.
func TestAlarmRelease(t *testing.T) {
	var mu sync.Mutex
	released := map[string]int{}
	note := func(name string) func(time.Time) (time.Time, bool) {
		return func(time.Time) (time.Time, bool) {
			mu.Lock()
			released[name]++
			mu.Unlock()
			return time.Time{}, true
		}
	}
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return released[name]
	}

	now := time.Now()
	gone := newAlarm(note("disarmed"))
	gone.arm(now.Add(time.Millisecond))
	gone.disarm()
	rung := newAlarm(note("rung"))
	rung.arm(now.Add(2 * time.Millisecond)) // rings after the disarmed one's time
	select {
	case <-rung.c:
	case <-time.After(time.Minute):
		t.Fatal("the alarm never rang")
	}
	if n := count("rung"); n != 1 {
		t.Errorf("when its token came, the alarm's release had run %d times, want 1", n)
	}
	rung.disarm()
	if n := count("disarmed"); n != 0 {
		t.Errorf("a disarmed alarm's release ran %d times", n)
	}
	select {
	case <-gone.c:
		t.Error("a disarmed alarm gave a token")
	default:
	}

	started, unblock := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	busy := newAlarm(func(time.Time) (time.Time, bool) {
		close(started)
		<-unblock
		time.Sleep(20 * time.Millisecond) // a disarm that did not wait would return meanwhile
		finished.Store(true)
		return time.Now().Add(time.Millisecond), false // and is not armed again after
	})
	busy.arm(time.Now())
	<-started
	disarmed := make(chan struct{})
	go func() {
		busy.disarm()
		close(disarmed)
	}()
	close(unblock)
	<-disarmed
	if !finished.Load() {
		t.Error("disarm returned while the alarm's release was running")
	}
	theAlarms.mu.Lock()
	left := busy.index >= 0
	theAlarms.mu.Unlock()
	if left {
		t.Error("a release that finished after disarm had begun armed its alarm again")
	}
}

// A release that leaves the link nothing to do gives no token: it has its alarm ring
// again at the time it says, or not at all; the token comes once it says so.
func TestAlarmReleaseRearms(t *testing.T) {
	var mu sync.Mutex
	var rang []time.Time
	start := time.Now()
	steps := []time.Duration{3 * time.Millisecond, 6 * time.Millisecond, 9 * time.Millisecond}
	a := newAlarm(func(now time.Time) (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		rang = append(rang, now)
		if len(rang) < len(steps) {
			return start.Add(steps[len(rang)]), false
		}
		return time.Time{}, true
	})
	a.arm(start.Add(steps[0]))
	select {
	case <-a.c:
	case <-time.After(time.Minute):
		t.Fatal("the alarm never gave its token")
	}
	a.disarm()
	mu.Lock()
	defer mu.Unlock()
	if len(rang) != len(steps) {
		t.Fatalf("the release ran %d times before the token, want %d", len(rang), len(steps))
	}
	for i, at := range rang {
		if want := start.Add(steps[i]); at.Before(want) {
			t.Errorf("ring %d came %v early", i, want.Sub(at))
		}
	}

	quiet := newAlarm(func(time.Time) (time.Time, bool) { return time.Time{}, false })
	quiet.arm(time.Now())
	deadline := time.Now().Add(time.Second)
	for {
		quiet.mu.Lock()
		armed := quiet.armed
		quiet.mu.Unlock()
		if !armed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the alarm never rang")
		}
		runtime.Gosched()
	}
	select {
	case <-quiet.c:
		t.Error("a release that left nothing to do gave a token")
	default:
	}
	theAlarms.mu.Lock()
	defer theAlarms.mu.Unlock()
	if quiet.index >= 0 {
		t.Error("a release that asked for no more left its alarm armed")
	}
}

// The alarms' thread runs at the highest priority when the process may raise it.
func TestAlarmThreadPriority(t *testing.T) {
	testenv.NeedRoot(t)
	a := newAlarm(nil)
	a.arm(time.Now())
	<-a.c // the thread has set its priority before it first waits
	var nices []int
	for _, n := range niceOfThreads(t, "self") {
		nices = append(nices, n)
	}
	if !slices.Contains(nices, -20) {
		t.Errorf("no thread at nice -20; the threads' nice values: %v", nices)
	}
}

// The alarms' thread runs in the shortest time slices where the kernel takes a thread's
// own (Linux 6.12 and later), and keeps its nice value; no other thread takes them.
func TestAlarmThreadSlice(t *testing.T) {
	// Whether the kernel takes a slice: asked on a thread of its own, which ends with
	// the goroutine that locked it.
	takes := make(chan bool)
	go func() {
		runtime.LockOSThread()
		err := setSlice(300 * time.Microsecond)
		attr, gerr := unix.SchedGetAttr(0, 0)
		takes <- err == nil && gerr == nil && attr.Runtime == uint64(300*time.Microsecond)
	}()
	testenv.Need(t, <-takes, "the kernel keeps its own time slices (Linux 6.12 and later take a thread's)")

	a := newAlarm(nil)
	a.arm(time.Now())
	<-a.c // the thread has set its slice before it first waits
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var short []string
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if attr, err := unix.SchedGetAttr(tid, 0); err == nil && attr.Runtime == uint64(alarmSlice) {
			short = append(short, task.Name())
		}
	}
	if len(short) != 1 {
		t.Fatalf("threads in %v slices: %v; want one, the alarms'", alarmSlice, short)
	}
	if os.Geteuid() == 0 {
		if n := niceOfThreads(t, "self")[short[0]]; n != alarmNice {
			t.Errorf("the alarms' thread is at nice %d, want %d", n, alarmNice)
		}
	}
}

// An alarm's release writes the data due, in order, as far as the socket takes it
// without waiting and within its budget; it leaves the rest of a chunk cut short, what is
// not yet due and what is not data to the link, which carries them on without losing or
// repeating a byte.
func TestReleaserLeavesTheRestToTheLink(t *testing.T) {
	client, server := testenv.TCPPair(t)
	if err := server.SetWriteBuffer(8 << 10); err != nil { // full after a few chunks
		t.Fatal(err)
	}
	rc, err := server.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	l := &link{dst: server, counter: new(atomic.Int64)}
	var q queue
	data := pattern(4 << 20)
	now := time.Now()
	const chunk = 30_000 // not a divisor of the socket's room: writes are cut inside chunks
	due := len(data) - len(data)/4
	for off := 0; off < len(data); off += chunk {
		at := now
		if off >= due {
			at = now.Add(time.Hour)
		}
		q.push(event{kind: evData, data: data[off:min(off+chunk, len(data))], at: at})
	}
	q.push(event{kind: evEOF, at: now})
	queued := q.bytes
	var until time.Time
	release := l.releaser(&q, rc, &until)
	check := func(before int64) {
		t.Helper()
		if n := l.counter.Load() - before; n > releaseBudget+chunk {
			t.Fatalf("one release wrote %d bytes, more than its budget %d and a chunk", n, releaseBudget)
		}
		if q.bytes != queued-int(l.counter.Load()) {
			t.Fatalf("%d bytes written and %d left queued, of %d", l.counter.Load(), q.bytes, queued)
		}
	}

	// Nothing reads: the releases fill the socket, the last write cut inside a chunk,
	// and what is due and left wakes the link.
	for {
		before := l.counter.Load()
		again, wake := release(now)
		check(before)
		if !wake || !again.IsZero() {
			t.Fatalf("a release that left data due said (%v, %v), want the link woken", again, wake)
		}
		if l.counter.Load() == before {
			break
		}
	}
	if l.counter.Load() == 0 {
		t.Fatal("the releases wrote nothing to an empty socket")
	}

	var read atomic.Int64
	got := make(chan []byte)
	go func() {
		var all []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			all = append(all, buf[:n]...)
			read.Add(int64(n))
			if err != nil {
				got <- all
				return
			}
		}
	}()
	// Release as alarms ringing would, until what is due is out. The chunk across the
	// boundary is due as a whole; nothing after it is.
	want := (due + chunk - 1) / chunk * chunk
	releaseUntil := func(at time.Time, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !done(); {
			before := l.counter.Load()
			release(at)
			check(before)
			if time.Now().After(deadline) {
				t.Fatalf("releases wrote %d of the %d bytes due", l.counter.Load(), want)
			}
		}
	}
	releaseUntil(now, func() bool { return int(l.counter.Load()) >= want })
	testenv.WaitFor(t, "the reader to take what was released", time.Minute, func() bool { return read.Load() >= int64(want) })
	// To an empty socket only the time stops it: the link sleeps on, and the alarm is
	// to ring again for the next chunk — or at a stage's deadline before it.
	again, wake := release(now)
	if n := int(l.counter.Load()); n != want {
		t.Fatalf("released %d bytes, want the %d due", n, want)
	}
	if next := now.Add(time.Hour); wake || !again.Equal(next) {
		t.Fatalf("a release that left nothing due said (%v, %v), want (%v, false)", again, wake, next)
	}
	until = now.Add(time.Minute)
	if again, wake := release(now); wake || !again.Equal(until) {
		t.Fatalf("with a stage's deadline before the next chunk, a release said (%v, %v), want (%v, false)", again, wake, until)
	}
	if _, wake := release(until); !wake {
		t.Fatal("a release at a stage's deadline did not wake the link")
	}
	until = time.Time{}
	// All data due: the releases stop at the end of the stream.
	releaseUntil(now.Add(2*time.Hour), func() bool { return q.len() == 1 })
	if q.head().kind != evEOF {
		t.Fatalf("after releasing all data, left %v, want the end of stream", q.head().kind)
	}
	if _, wake := release(now.Add(2 * time.Hour)); !wake {
		t.Fatal("a release that left the end of stream due did not wake the link")
	}
	// The link carries out what is left.
	for q.len() > 0 {
		if done, err := l.exec(q.pop()); done && err != nil {
			t.Fatal(err)
		}
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("got %d bytes, want %d; first difference at %d", len(b), len(data), firstDiff(b, data))
	}
}

// A large stream through a latency toxic, answered faster than the client reads, so that
// the alarm's writes are cut short by a full socket and its budget, arrives whole and in
// order.
func TestLatencyOverTCPKeepsAStreamWhole(t *testing.T) {
	p := NewProxy("t", "127.0.0.1:0", testenv.EchoServer(t), nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	add(t, p, "latency", "downstream", &Latency{Latency: 2})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := pattern(16 << 20)
	half := make(chan struct{})
	go func() {
		for off := 0; off < len(data); off += 1 << 20 {
			if off == len(data)/2 {
				close(half) // the way back is full by now: nothing has read it
			}
			if _, err := c.Write(data[off : off+1<<20]); err != nil {
				return
			}
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	select {
	case <-half:
	case <-time.After(time.Minute):
		t.Fatal("the first half was never written")
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, want %d; first difference at %d", len(got), len(data), firstDiff(got, data))
	}
}

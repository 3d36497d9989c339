package proxy

import (
	"container/heap"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Runtime timers wake a goroutine up to about a millisecond late when the process is
// otherwise idle (the scheduler sleeps in epoll with a timeout in whole milliseconds),
// which is more than a latency toxic may be off. alarms wakes links from one timerfd
// instead: the kernel's timer is exact to microseconds.
//
// On a busy host exact timers are not enough: a thread the timer wakes waits for a CPU
// behind the threads that hold them, up to a scheduler tick (4 ms at 250 Hz) and more.
// So the timerfd is read by one OS thread of its own, at the highest nice priority the
// process may set (as root or with CAP_SYS_NICE; else at the priority it has) and in the
// shortest time slices the kernel gives (alarmSlice), and that thread writes what is due
// itself: an alarm armed with a release function has it called there, and wakes the link
// only if the release leaves it something to do now. No other thread has to be scheduled
// for the bytes to leave on time. Nice, not a real-time policy: the thread's work is
// small, and a fair scheduler never lets it starve the host it shares.
//
// Waking a link from the thread has a cost beyond the wake: the goroutine made runnable
// goes to the run queue of the thread's processor, which the runtime then hands to
// another thread while this one waits in the kernel, so that the next time it wakes it
// has to find a processor again — on a busy host, milliseconds. A release that carries
// out everything due arms its alarm again for the next event itself, and leaves the link
// asleep (its runtime timer, armed as well, wakes it a little later to look again).
//
// The slice is what a process without the privilege has: since Linux 6.12 (EEVDF) a
// thread may ask for a time slice of its own, and a short one gives it no larger share of
// the CPUs, only an earlier deadline, so that when the timer wakes it, it takes its CPU
// from a thread that has run for a while instead of waiting until that thread's slice
// (1.4 ms on two CPUs) is spent. A kernel before that ignores the request.

// alarm wakes one link: a token on c at (or just after) the time it was armed for.
type alarm struct {
	c     chan struct{}
	at    time.Time
	index int // in the heap of alarms; -1 when not armed

	// release, when not nil, is called on the alarms' thread when the alarm rings: it
	// may carry out what is due. It says whether the link has something to do now (the
	// token is given then), or else when the alarm is to ring again (zero: not at all).
	// It runs only between arm and disarm, and disarm waits for it, so the link it
	// belongs to, which arms the alarm before it waits and disarms it when it wakes,
	// never runs beside it.
	release func(now time.Time) (again time.Time, wake bool)
	mu      sync.Mutex // held while release runs
	armed   bool       // under mu: armed and not rung or disarmed since
}

type alarmHeap []*alarm

func (h alarmHeap) Len() int           { return len(h) }
func (h alarmHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h alarmHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *alarmHeap) Push(x any) {
	a := x.(*alarm)
	a.index = len(*h)
	*h = append(*h, a)
}
func (h *alarmHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	a.index = -1
	return a
}

// alarms is the process's one timerfd and the alarms waiting on it.
type alarms struct {
	mu  sync.Mutex
	h   alarmHeap
	fd  int
	set time.Time // the time the timerfd is armed for; zero when it is not
}

var (
	alarmsOnce sync.Once
	theAlarms  *alarms // nil where no timerfd could be had: links use runtime timers only
)

// alarmNice is the priority the alarms' thread asks for: the highest.
const alarmNice = -20

// alarmSlice is the time slice the alarms' thread asks for: the shortest the kernel gives.
const alarmSlice = 100 * time.Microsecond

// newAlarm returns an alarm that calls release (if not nil) when it rings, or nil when
// precise alarms are not available.
func newAlarm(release func(now time.Time) (time.Time, bool)) *alarm {
	alarmsOnce.Do(func() {
		// A blocking descriptor: the alarms' thread waits in read(2), woken by the
		// kernel itself, not by the runtime's poller on another thread.
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC)
		if err != nil {
			return
		}
		theAlarms = &alarms{fd: fd}
		go theAlarms.loop()
	})
	if theAlarms == nil {
		return nil
	}
	return &alarm{c: make(chan struct{}, 1), index: -1, release: release}
}

// arm sets the alarm for at, replacing the time it was set for.
func (a *alarm) arm(at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.armed = true
	a.setLocked(at)
}

// setLocked puts the alarm in the heap for at, or moves it there; a.mu is held.
func (a *alarm) setLocked(at time.Time) {
	s := theAlarms
	s.mu.Lock()
	defer s.mu.Unlock()
	a.at = at
	if a.index >= 0 {
		heap.Fix(&s.h, a.index)
	} else {
		heap.Push(&s.h, a)
	}
	if s.h[0] == a && (s.set.IsZero() || at.Before(s.set)) {
		s.armLocked()
	}
}

// disarm takes the alarm out, once its release has finished if it is running (so it is
// not armed again after); a token already given may still be in c.
func (a *alarm) disarm() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.armed = false
	s := theAlarms
	s.mu.Lock()
	if a.index >= 0 {
		heap.Remove(&s.h, a.index)
	}
	s.mu.Unlock()
}

// ring carries out the alarm's release, then gives its token or arms it again as the
// release says, unless it was disarmed since it was taken from the heap.
func (a *alarm) ring() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.armed {
		return
	}
	if a.release != nil {
		again, wake := a.release(time.Now())
		if !wake {
			if again.IsZero() {
				a.armed = false
			} else {
				a.setLocked(again)
			}
			return
		}
	}
	a.armed = false
	select {
	case a.c <- struct{}{}:
	default:
	}
}

// armLocked sets the timerfd for the earliest alarm.
func (s *alarms) armLocked() {
	if len(s.h) == 0 {
		s.set = time.Time{}
		unix.TimerfdSettime(s.fd, 0, &unix.ItimerSpec{}, nil)
		return
	}
	at := s.h[0].at
	d := max(time.Until(at), time.Microsecond) // zero would disarm it
	s.set = at
	unix.TimerfdSettime(s.fd, 0, &unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}, nil)
}

// loop waits for the timerfd on a thread of its own, raised to alarmNice if the process
// may and in alarmSlice time slices if the kernel takes them, and rings every alarm due.
func (s *alarms) loop() {
	runtime.LockOSThread() // for good: the thread's priority is not the runtime's others'
	unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), alarmNice)
	setSlice(alarmSlice)
	var buf [8]byte
	var due []*alarm
	for {
		if _, err := unix.Read(s.fd, buf[:]); err != nil {
			if err == unix.EINTR {
				continue
			}
			// Cannot happen with a timerfd this process holds; if it does, the links'
			// runtime timers still wake them, only less exactly.
			return
		}
		s.mu.Lock()
		now := time.Now()
		for len(s.h) > 0 && !s.h[0].at.After(now) {
			due = append(due, heap.Pop(&s.h).(*alarm))
		}
		s.armLocked()
		s.mu.Unlock()
		for i, a := range due {
			a.ring()
			due[i] = nil
		}
		due = due[:0]
	}
}

// setSlice asks the scheduler to run this thread in time slices of d, keeping its policy
// (a real-time one is left as it is), nice value and flags.
func setSlice(d time.Duration) error {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return err
	}
	if attr.Policy != unix.SCHED_NORMAL && attr.Policy != unix.SCHED_BATCH {
		return nil
	}
	attr.Size = unix.SizeofSchedAttr
	attr.Flags &= unix.SCHED_FLAG_RESET_ON_FORK
	attr.Runtime = uint64(d)
	return unix.SchedSetAttr(0, attr, 0)
}

// releaseBudget bounds what an alarm's release writes at one ring (it stops once it has
// written this much, so it writes at most one chunk more): what is due first leaves on
// time, and a burst due at once is not all copied at the alarms' priority.
const releaseBudget = 256 << 10

// releaser returns the release of the link's alarm: it writes the data at the head of q
// that is due, as far as dst takes it without waiting, up to releaseBudget. It leaves
// an event that is not data, a write that would wait and a failed write (which the link
// repeats, and reports) to the link, and wakes the link for them, and at until (when not
// zero: a stage's deadline, which the link sets before it arms the alarm). Else it has
// the alarm ring again when the next event is due.
func (l *link) releaser(q *queue, dst syscall.RawConn, until *time.Time) func(now time.Time) (time.Time, bool) {
	var data []byte
	var n int
	var err error
	write := func(fd uintptr) bool {
		n, err = rawWrite(int(fd), data)
		return true // never wait: the link does
	}
	writeDue := func(now time.Time) {
		for budget := releaseBudget; budget > 0 && q.len() > 0; {
			ev := q.head()
			if ev.kind != evData || ev.at.After(now) {
				return
			}
			data = ev.data
			dst.Write(write)
			data = nil
			if err != nil || n <= 0 {
				return
			}
			l.counter.Add(int64(n))
			budget -= n
			if n < len(ev.data) {
				ev.data = ev.data[n:]
				q.bytes -= n
				continue
			}
			q.pop()
		}
	}
	return func(now time.Time) (time.Time, bool) {
		writeDue(now)
		next := *until // the earlier of the deadline and the head's time
		if q.len() > 0 && (next.IsZero() || q.head().at.Before(next)) {
			next = q.head().at
		}
		if !next.IsZero() && !next.After(now) {
			return time.Time{}, true
		}
		return next, false
	}
}

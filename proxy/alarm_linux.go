package proxy

import (
	"container/heap"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Runtime timers wake a goroutine up to about a millisecond late when the process is
// otherwise idle (the scheduler sleeps in epoll with a timeout in whole milliseconds),
// which is more than a latency toxic may be off. alarms wakes links from one timerfd
// instead: the kernel's timer is exact to microseconds, and its descriptor wakes the
// scheduler's poller as soon as it fires.

// alarm wakes one link: a token on c at (or just after) the time it was armed for.
type alarm struct {
	c     chan struct{}
	at    time.Time
	index int // in the heap of alarms; -1 when not armed
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

// newAlarm returns an alarm, or nil when precise alarms are not available.
func newAlarm() *alarm {
	alarmsOnce.Do(func() {
		fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
		if err != nil {
			return
		}
		// A non-blocking descriptor in an *os.File waits in the runtime's poller.
		f := os.NewFile(uintptr(fd), "timerfd")
		theAlarms = &alarms{fd: fd}
		go theAlarms.loop(f)
	})
	if theAlarms == nil {
		return nil
	}
	return &alarm{c: make(chan struct{}, 1), index: -1}
}

// arm sets the alarm for at, replacing the time it was set for.
func (a *alarm) arm(at time.Time) {
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

// disarm takes the alarm out; a token already given may still be in c.
func (a *alarm) disarm() {
	s := theAlarms
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.index >= 0 {
		heap.Remove(&s.h, a.index)
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

// loop waits for the timerfd and gives a token to every alarm due.
func (s *alarms) loop(f *os.File) {
	var buf [8]byte
	for {
		if _, err := f.Read(buf[:]); err != nil {
			// Cannot happen with a timerfd this process holds; if it does, the links'
			// runtime timers still wake them, only less exactly.
			return
		}
		s.mu.Lock()
		now := time.Now()
		for len(s.h) > 0 && !s.h[0].at.After(now) {
			a := heap.Pop(&s.h).(*alarm)
			select {
			case a.c <- struct{}{}:
			default:
			}
		}
		s.armLocked()
		s.mu.Unlock()
	}
}

package netfd

import (
	"net"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Own returns a descriptor of c's socket of its own, which Go's poller does not watch, and
// closes c (the poller forgets it; the socket stays open for the copy). The descriptor
// keeps c's options, non-blocking mode among them, and is closed on exec.
func Own(c net.Conn) (int, error) {
	defer c.Close()
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, syscall.EINVAL
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, dupErr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, dupErr
}

// Wait waits on epfd for events, for at most wait (forever when negative): to the
// nanosecond where the kernel has epoll_pwait2 (5.11), to the millisecond after it where
// not. With hold, the wait is a raw system call that keeps the goroutine's P, as a
// goroutine that computes would: the caller says why that is safe.
func Wait(epfd int, events []unix.EpollEvent, wait time.Duration, hold bool) (int, error) {
	var ts *unix.Timespec
	if wait >= 0 {
		t := unix.NsecToTimespec(int64(wait))
		ts = &t
	}
	if !noPwait2.Load() {
		call := unix.Syscall6
		if hold {
			call = unix.RawSyscall6
		}
		n, _, errno := call(unix.SYS_EPOLL_PWAIT2, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(unsafe.Pointer(ts)), 0, 0)
		if errno != unix.ENOSYS {
			if errno != 0 {
				return 0, errno
			}
			return int(n), nil
		}
		noPwait2.Store(true)
	}
	msec := -1
	if wait >= 0 {
		msec = int((wait + time.Millisecond - 1) / time.Millisecond)
	}
	return unix.EpollWait(epfd, events, msec)
}

// noPwait2 says the kernel has no epoll_pwait2.
var noPwait2 atomic.Bool

// Open returns an epoll descriptor with an eventfd in its set, for Wake to end a Wait on
// it from another goroutine; both are closed on exec, and the eventfd does not block.
func Open() (epfd, wake int, err error) {
	if epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return -1, -1, err
	}
	wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err == nil {
		err = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)})
		if err != nil {
			unix.Close(wake)
		}
	}
	if err != nil {
		unix.Close(epfd)
		return -1, -1, err
	}
	return epfd, wake, nil
}

// Wake adds one to the eventfd fd, which wakes whoever waits on it.
func Wake(fd int) {
	one := uint64(1)
	unix.Write(fd, (*[8]byte)(unsafe.Pointer(&one))[:])
}

// ReceivedAt returns the kernel's receive time (CLOCK_REALTIME) that oob, the control
// messages of a read from a socket with SO_TIMESTAMPNS on, carries, if it carries one.
// It walks the messages one by one without gathering them: it runs per read.
func ReceivedAt(oob []byte) (unix.Timespec, bool) { return stamp(oob, unix.SCM_TIMESTAMPNS) }

// SentAt returns the software transmit time (CLOCK_REALTIME) that oob, the control
// messages of a read from a socket's error queue with SO_TIMESTAMPING's transmit
// timestamps on, carries, if it carries one.
func SentAt(oob []byte) (unix.Timespec, bool) {
	return stamp(oob, unix.SCM_TIMESTAMPING) // the first of its three times is the software one
}

// Queued returns what oob, the control messages of a read from a TCP socket with TCP_INQ
// on, says is left to read after it: the bytes still queued, or 1 once the peer's end of
// the stream has come (the kernel's way to say "read again"). 0 means the socket is empty
// and open, so a wait for its next wake-up misses nothing. It is false without the
// message.
func Queued(oob []byte) (int, bool) {
	for len(oob) >= unix.CmsgLen(0) {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0, false
		}
		if h.Level == unix.SOL_TCP && h.Type == unix.TCP_CM_INQ && len(data) >= 4 {
			return int(*(*int32)(unsafe.Pointer(&data[0]))), true
		}
		oob = rest
	}
	return 0, false
}

// QueuedSpace is the room the control message Queued reads takes.
var QueuedSpace = unix.CmsgSpace(4)

// stamp returns the first time in the first socket-level control message of type typ in
// oob.
func stamp(oob []byte, typ int32) (unix.Timespec, bool) {
	for len(oob) >= unix.CmsgLen(0) {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return unix.Timespec{}, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == typ && len(data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			return *(*unix.Timespec)(unsafe.Pointer(&data[0])), true
		}
		oob = rest
	}
	return unix.Timespec{}, false
}

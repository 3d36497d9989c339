//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown/internal/netfd"
)

// An accuracy probe's round trip is told by the kernel's times at each end: when the
// driver's request left (its transmit timestamp), when it reached the echo backend, when
// the answer left the backend, and when it reached the driver. What lies between the
// first two and between the last two is the proxy's alone: neither the driver's nor the
// backend's threads, nor how soon the machine let them run, are in it.
//
// A transmit timestamp comes back on the socket's error queue (SO_TIMESTAMPING) once
// the bytes have left; the backend, in this process, files the time its answer left
// under the probe's number, for the driver to take.

// A probe: the backend's receive time of it, the time its answer was written (both put
// in by the backend), and the probe's number (put in by the driver).
const (
	probeRecv   = 0
	probeWrote  = 8
	probeNumber = 16
)

var (
	probeNumbers atomic.Uint64
	answersLeft  sync.Map // probe number → chan int64: when the backend's answer left
)

// stampSends asks the kernel for the transmit time of what is written to the socket.
func stampSends(rc syscall.RawConn) error {
	return setSockopt(rc, unix.SO_TIMESTAMPING,
		unix.SOF_TIMESTAMPING_TX_SOFTWARE|unix.SOF_TIMESTAMPING_SOFTWARE|unix.SOF_TIMESTAMPING_OPT_TSONLY)
}

// setSockopt sets a socket-level option of the socket.
func setSockopt(rc syscall.RawConn, opt, value int) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, value) }); cerr != nil {
		return cerr
	}
	return err
}

// sentAt returns the transmit time (wall clock, ns) of the last write to the socket, from
// its error queue; on loopback it is there once the write has returned.
func sentAt(rc syscall.RawConn) (int64, error) {
	var b [1]byte
	oob := make([]byte, 256)
	deadline := time.Now().Add(time.Second)
	for {
		var at int64
		var n int
		var err error
		cerr := rc.Control(func(fd uintptr) {
			for {
				var oobn int
				_, oobn, _, _, err = unix.Recvmsg(int(fd), b[:], oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
				if err != nil {
					return
				}
				if ts, ok := netfd.SentAt(oob[:oobn]); ok && unix.TimespecToNsec(ts) > 0 {
					at, n = unix.TimespecToNsec(ts), n+1
				}
			}
		})
		if cerr != nil {
			return 0, cerr
		}
		if n > 0 {
			return at, nil
		}
		if err != unix.EAGAIN {
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, errors.New("no transmit timestamp on the socket's error queue")
		}
		time.Sleep(10 * time.Microsecond)
	}
}

// answerLeft files when the backend's answer to probe left.
func answerLeft(probe []byte, at int64) {
	c, _ := answersLeft.LoadOrStore(binary.LittleEndian.Uint64(probe[probeNumber:]), make(chan int64, 1))
	c.(chan int64) <- at
}

// whenAnswerLeft waits for the backend to file when its answer to probe left.
func whenAnswerLeft(probe []byte) (int64, error) {
	n := binary.LittleEndian.Uint64(probe[probeNumber:])
	c, _ := answersLeft.LoadOrStore(n, make(chan int64, 1))
	defer answersLeft.Delete(n)
	select {
	case at := <-c.(chan int64):
		return at, nil
	case <-time.After(5 * time.Second):
		return 0, errors.New("the echo backend never said when its answer left")
	}
}

// numberProbe gives probe a number of its own.
func numberProbe(probe []byte) {
	binary.LittleEndian.PutUint64(probe[probeNumber:], probeNumbers.Add(1))
}

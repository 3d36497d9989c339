//go:build linux

package main

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The wake floor is the least a delay can be late in a process of its own: one OS thread
// that sleeps in the kernel to an exact time (clock_nanosleep to an absolute time), as
// often as the latency toxic's traffic has chunks due (500 a second), with nothing else
// to do. How late it wakes is the kernel's doing alone: a proxy's latency toxic, in a
// process of its own, wakes at least that late at the time it must write, and every
// request through any proxy waits for such a wake-up in each direction. (The latency
// figure with no proxy cannot show this: its client and echo server share one process,
// whose running thread passes the bytes between them without sleeping.)

// wakeRate is how many times a second the wake floor wakes.
const wakeRate = 500

// wakeLateness sleeps to a time wakeRate times a second for d and returns the p99 of how
// late each wake-up was.
func wakeLateness(d time.Duration) time.Duration {
	runtime.LockOSThread()
	now := func() int64 {
		var ts unix.Timespec
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		return unix.TimespecToNsec(ts)
	}
	period := int64(time.Second / wakeRate)
	start := now()
	var late []time.Duration
	for due := start + period; due < start+int64(d); due += period {
		ts := unix.NsecToTimespec(due)
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
		}
		late = append(late, time.Duration(now()-due))
	}
	return p99(late)
}

// wakeFloor runs the wake floor for d in a process of its own and returns its p99, in ms.
func wakeFloor(self string, d time.Duration) (float64, error) {
	out, err := command(self, "-wake", d.String()).Output()
	if err != nil {
		return 0, fmt.Errorf("wake floor: %w", err)
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

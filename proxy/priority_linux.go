package proxy

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// SetNice gives every thread of this process the nice value nice (-20 to 19; the kernel
// holds a value beyond to the nearest end). The threads the runtime starts later take it
// from the thread that starts them, so the whole process keeps it. (On Linux a nice value
// belongs to a thread, and setpriority(2) on the process sets only its first thread's.)
// A thread already at a higher priority (the latency toxic's alarms) keeps it. Going
// below zero needs root or CAP_SYS_NICE; without them the error says so and the process
// keeps the priority it had.
//
// It is for a process that only proxies, the daemon: a process that starts others passes
// its nice value on to them.
func SetNice(nice int) error {
	// Threads may start while the first pass runs: go over them until a pass finds none
	// it has not set.
	done := map[int]bool{}
	for {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		fresh := false
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || done[tid] {
				continue
			}
			done[tid], fresh = true, true
			// The system call answers 20 - nice, so that its answers are never negative.
			if prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil && 20-prio < nice {
				continue // raised on purpose: the alarms' thread
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && err != unix.ESRCH {
				return fmt.Errorf("set nice %d: %w", nice, err)
			}
		}
		if !fresh {
			return nil
		}
	}
}

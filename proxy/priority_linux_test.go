package proxy

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// niceOfThreads returns the nice value of each thread of process pid ("self" for this one).
func niceOfThreads(t *testing.T, pid string) map[string]int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, task := range tasks {
		stat, err := os.ReadFile("/proc/" + pid + "/task/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		// The fields after the command's closing parenthesis: state is the first, nice the 17th.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 16 {
			n, err := strconv.Atoi(fields[16])
			if err != nil {
				t.Fatalf("thread %s: nice %q", task.Name(), fields[16])
			}
			out[task.Name()] = n
		}
	}
	return out
}

// SetNice sets every thread of the process, the threads started after it take the same,
// and the alarms' thread keeps its higher priority. It runs in a process of its own: the
// test's must keep the priority it has.
func TestSetNice(t *testing.T) {
	testenv.NeedRoot(t)
	if os.Getenv("SHAKEDOWN_TEST_SETNICE") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSetNice$", "-test.v")
		cmd.Env = append(os.Environ(), "SHAKEDOWN_TEST_SETNICE=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !bytes.Contains(out, []byte("--- PASS: TestSetNice")) {
			t.Fatalf("the child did not pass:\n%s", out)
		}
		return
	}
	a := newAlarm(nil)
	a.arm(time.Now())
	<-a.c // the alarms' thread runs, at alarmNice
	if err := SetNice(-7); err != nil {
		t.Fatal(err)
	}
	// Threads started now: goroutines locked to threads of their own, all at once.
	var started, hold sync.WaitGroup
	release := make(chan struct{})
	for range 8 {
		started.Add(1)
		hold.Go(func() {
			runtime.LockOSThread()
			started.Done()
			<-release
		})
	}
	started.Wait()
	nices := niceOfThreads(t, "self")
	close(release)
	hold.Wait()
	count := map[int]int{}
	for _, n := range nices {
		count[n]++
	}
	if count[alarmNice] != 1 || count[-7] != len(nices)-1 {
		t.Errorf("%d threads by nice value: %v; want one at %d (the alarms') and the rest at -7", len(nices), count, alarmNice)
	}
}

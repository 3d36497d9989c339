//go:build linux

package watchdog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/testenv"
	"github.com/shakedown-dev/shakedown/journal"
)

// runner is a runner process started by a test.
type runner struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	out      *bufio.Reader
	watchdog int // pid
	stateDir string
	runID    string
	marker   string
}

// startRunner starts a runner that pauses victim under a watchdog with the given TTL, and
// returns once the fault is injected.
func startRunner(t testing.TB, victim int, ttl time.Duration) *runner {
	t.Helper()
	dir := t.TempDir()
	r := &runner{stateDir: filepath.Join(dir, "state"), runID: "run1", marker: filepath.Join(dir, "undone")}
	r.cmd = exec.Command(os.Args[0], "-test.run=^$")
	r.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d %d %s", runnerEnv, r.stateDir, r.runID, victim, ttl.Nanoseconds(), r.marker))
	r.cmd.Stderr = os.Stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a CI step
	var err error
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		if r.watchdog > 0 {
			syscall.Kill(r.watchdog, syscall.SIGKILL)
			reap(r.watchdog)
		}
	})
	r.out = bufio.NewReader(stdout)
	line := r.expect(t, "watchdog ")
	if r.watchdog, err = strconv.Atoi(line); err != nil {
		t.Fatalf("runner said watchdog %q", line)
	}
	r.expect(t, "injected")
	return r
}

// expect reads the runner's next line, which must start with prefix, and returns the rest.
func (r *runner) expect(t testing.TB, prefix string) string {
	t.Helper()
	line, err := r.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, prefix) {
		t.Fatalf("runner said %q, %v; want %q…", line, err, prefix)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, prefix))
}

// procStat returns the state letter, process group and session of pid, or 0 when it is gone.
func procStat(pid int) (state byte, pgrp, session int) {
	st, err := procfs.ReadStat(procfs.Root, pid)
	if err != nil {
		return 0, 0, 0
	}
	pgrp, _ = unix.Getpgid(pid)
	return st.State, pgrp, st.Session
}

func stopped(pid int) bool { s, _, _ := procStat(pid); return s == 'T' || s == 't' }

// reap waits for pid, an orphan of ours since the test is a child subreaper, and returns
// how it ended; -1 when it is not our child.
func reap(pid int) int {
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return -1
	}
	return ws.ExitStatus()
}

// exited reports whether pid is gone or a zombie.
func exited(pid int) bool { s, _, _ := procStat(pid); return s == 0 || s == 'Z' }

func undoneCount(t testing.TB, marker string) int {
	b, err := os.ReadFile(marker)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// checkIsolated checks that the watchdog runs in a session of its own and holds neither the
// runner's stdout nor its stderr.
func checkIsolated(t *testing.T, r *runner) {
	t.Helper()
	_, _, wsess := procStat(r.watchdog)
	_, rgrp, rsess := procStat(r.cmd.Process.Pid)
	if wsess != r.watchdog || wsess == rsess {
		t.Errorf("watchdog %d in session %d (runner's %d), want a session of its own", r.watchdog, wsess, rsess)
	}
	if _, wgrp, _ := procStat(r.watchdog); wgrp == rgrp {
		t.Errorf("watchdog in the runner's process group %d", rgrp)
	}
	var runnerOut []string
	for _, fd := range []string{"1", "2"} {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", r.cmd.Process.Pid, fd))
		if err != nil {
			t.Fatal(err)
		}
		runnerOut = append(runnerOut, l)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", r.watchdog))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", r.watchdog, fd.Name()))
		if slices.Contains(runnerOut, l) {
			t.Errorf("watchdog fd %s is %s, which is the runner's stdout or stderr", fd.Name(), l)
		}
		if fd.Name() == "2" && l != LogPath(r.stateDir, r.runID) {
			t.Errorf("watchdog stderr is %s, want its log %s", l, LogPath(r.stateDir, r.runID))
		}
	}
}

// checkNothingLeft checks that the state dir holds no journal and nothing pending.
func checkNothingLeft(t *testing.T, r *runner) {
	t.Helper()
	if p, err := journal.Scan(r.stateDir); err != nil || len(p) != 0 {
		t.Errorf("Scan = %+v, %v; want nothing pending", p, err)
	}
	if ents, _ := os.ReadDir(journal.RunsDir(r.stateDir)); len(ents) != 0 {
		t.Errorf("%d files left in the runs folder, want none", len(ents))
	}
}

func TestRunnerDeathReverts(t *testing.T) {
	tests := []struct {
		name string
		kill func(r *runner) error
	}{
		{"kill -9 of the runner", func(r *runner) error { return r.cmd.Process.Signal(syscall.SIGKILL) }},
		{"SIGINT to its process group", func(r *runner) error { return syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT) }},
		{"SIGHUP to its process group", func(r *runner) error { return syscall.Kill(-r.cmd.Process.Pid, syscall.SIGHUP) }},
		{"SIGTERM to its process group", func(r *runner) error { return syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM) }},
		{"SIGINT and SIGHUP to the watchdog, then kill -9 of the runner", func(r *runner) error {
			// A watchdog these killed would revert nothing after the runner's death.
			syscall.Kill(r.watchdog, syscall.SIGINT)
			syscall.Kill(r.watchdog, syscall.SIGHUP)
			return r.cmd.Process.Signal(syscall.SIGKILL)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testenv.StartVictim(t)
			r := startRunner(t, v.PID, time.Hour)
			if !stopped(v.PID) {
				t.Fatalf("victim %d not stopped after inject", v.PID)
			}
			checkIsolated(t, r)

			start := time.Now()
			if err := tt.kill(r); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, "victim running again", 10*time.Second, func() bool { return !stopped(v.PID) })
			t.Logf("runner killed → victim running again: %v", time.Since(start))
			r.cmd.Wait()

			testenv.WaitFor(t, "watchdog exited", 10*time.Second, func() bool { return exited(r.watchdog) })
			if code := reap(r.watchdog); code != 0 && code != -1 {
				t.Errorf("watchdog exit status %d, want 0; log:\n%s", code, readLog(r))
			}
			r.watchdog = 0
			if n := undoneCount(t, r.marker); n != 1 {
				t.Errorf("undone %d times, want once; log:\n%s", n, readLog(r))
			}
			checkNothingLeft(t, r)
		})
	}
}

func TestTTLExpiresWhileRunnerLives(t *testing.T) {
	v := testenv.StartVictim(t)
	// The TTL outlasts what a busy machine may take to see the victim stopped (which the
	// runner waits for before it says injected).
	r := startRunner(t, v.PID, time.Second)
	testenv.WaitFor(t, "victim running again after the TTL", 10*time.Second, func() bool { return !stopped(v.PID) })
	if exited(r.cmd.Process.Pid) || exited(r.watchdog) {
		t.Fatalf("runner or watchdog gone; the TTL must be enforced while both live")
	}
	// The runner's own revert is now a no-op; the run ends cleanly.
	io.WriteString(r.stdin, "finish\n")
	r.expect(t, "finished")
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("runner: %v", err)
	}
	if !exited(r.watchdog) {
		t.Errorf("watchdog %d still there after Stop", r.watchdog)
	}
	r.watchdog = 0
	if n := undoneCount(t, r.marker); n != 1 {
		t.Errorf("watchdog undid %d times, want once", n)
	}
	checkNothingLeft(t, r)
}

func TestCleanStop(t *testing.T) {
	v := testenv.StartVictim(t)
	r := startRunner(t, v.PID, time.Hour)
	io.WriteString(r.stdin, "finish\n")
	r.expect(t, "finished")
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("runner: %v", err)
	}
	if stopped(v.PID) {
		t.Errorf("victim still stopped after the runner reverted")
	}
	if !exited(r.watchdog) {
		t.Errorf("watchdog %d still there after Stop", r.watchdog)
	}
	r.watchdog = 0
	if n := undoneCount(t, r.marker); n != 0 {
		t.Errorf("watchdog undid %d times after a clean run, want never", n)
	}
	checkNothingLeft(t, r)
	if _, err := os.Stat(LogPath(r.stateDir, r.runID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("watchdog log after a clean stop: %v, want removed", err)
	}
}

func TestStartFailsWhenWatchdogCannotRun(t *testing.T) {
	dir := t.TempDir()
	// `true` exits at once without saying ready.
	if _, err := Start(t.Context(), "/bin/true", nil, dir, "run1"); err == nil {
		t.Fatal("Start of a program that never says ready succeeded")
	}
	if _, err := Start(t.Context(), filepath.Join(dir, "no-such-program"), nil, dir, "run1"); err == nil {
		t.Fatal("Start of a missing program succeeded")
	}
}

// TestStartGivesUpWhenCancelled: a start whose context ends before the watchdog is ready
// returns that context's cause at once, and the process it started is gone.
func TestStartGivesUpWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	cause := errors.New("interrupted by SIGHUP")
	ctx, cancel := context.WithCancelCause(t.Context())
	done := make(chan error, 1)
	go func() {
		// This one never says ready: only the cancellation ends the wait (readyWait is 10 s).
		_, err := Start(ctx, "/bin/sh", []string{"-c", `echo $$ > "$0"; exec sleep 60`, pidFile}, dir, "run1")
		done <- err
	}()
	var pid int
	testenv.WaitFor(t, "the starting process wrote its pid", 5*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	cancel(cause)
	select {
	case err := <-done:
		if !errors.Is(err, cause) {
			t.Fatalf("Start after its context ended: %v, want the cause %v", err, cause)
		}
	case <-time.After(readyWait / 2):
		t.Fatalf("Start still waiting %v after its context ended", readyWait/2)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the process Start gave up on (pid %d) still exists: %v", pid, err)
	}
}

func readLog(r *runner) string {
	b, _ := os.ReadFile(LogPath(r.stateDir, r.runID))
	return string(b)
}

//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pidIn polls file until it holds a pid other than not, or the deadline passes.
func pidIn(t *testing.T, file string, not int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(file); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p != not {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: no new pid (not %d) within 10s", file, not)
	return 0
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestRestartsAKilledProgramAndStopsOnTERM(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "supervise")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	pidfile := filepath.Join(dir, "child.pid")
	cmd := exec.Command(bin, "-pidfile", pidfile, "-delay", "50ms", "-log", filepath.Join(dir, "child.log"), "--", sleep, "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	first := pidIn(t, pidfile, 0)
	syscall.Kill(first, syscall.SIGKILL)
	second := pidIn(t, pidfile, first)
	if !alive(second) {
		t.Fatalf("restarted program %d is not running", second)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("supervise after SIGTERM: %v, want a clean exit", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("supervise did not exit within 10s of SIGTERM")
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(second) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// A zombie is gone for our purposes: its parent (supervise) has exited and init reaps it.
	if b, _ := os.ReadFile("/proc/" + strconv.Itoa(second) + "/stat"); alive(second) && !strings.Contains(string(b), ") Z") {
		t.Errorf("program %d still runs after supervise stopped", second)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile left after stop: %v", err)
	}
}

func TestNeedsAProgram(t *testing.T) {
	if err := run(t.Context(), []string{"-delay", "1s"}); err == nil {
		t.Fatal("run with no program: nil error, want one")
	}
}

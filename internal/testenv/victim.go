package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// VictimBinary builds internal/victim once per test binary and returns its path.
func VictimBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shakedown-victim-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "victim")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/shakedown-dev/shakedown/internal/victim")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = err
			buildPath = out.String()
		}
	})
	if buildErr != nil {
		t.Fatalf("build victim: %v\n%s", buildErr, buildPath)
	}
	return buildPath
}

// Victim is a running victim process.
type Victim struct {
	Cmd     *exec.Cmd
	PID     int
	Addr    string // host:port it serves on
	PIDFile string
	Dir     string
}

// StartVictim starts a victim with extra flags (e.g. "-delay", "50ms") and waits until it
// serves. The test's cleanup kills it (SIGCONT first, in case a test left it stopped).
func StartVictim(t testing.TB, args ...string) *Victim {
	t.Helper()
	bin := VictimBinary(t)
	dir := t.TempDir()
	v := &Victim{Dir: dir, PIDFile: filepath.Join(dir, "victim.pid")}
	addrFile := filepath.Join(dir, "victim.addr")
	v.Cmd = exec.Command(bin, append([]string{"-addr-file", addrFile, "-pidfile", v.PIDFile}, args...)...)
	if err := v.Cmd.Start(); err != nil {
		t.Fatalf("start victim: %v", err)
	}
	v.PID = v.Cmd.Process.Pid
	t.Cleanup(func() {
		v.Cmd.Process.Signal(syscallSIGCONT)
		v.Cmd.Process.Kill()
		v.Cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			v.Addr = strings.TrimSpace(string(b))
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("victim did not write %s within 10s", addrFile)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline, not a readiness sleep
	}
}

// ReadPIDFile returns the pid in path, or 0.
func ReadPIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// Package testenv lets tests that need something of the machine (root, a Debian-packaged
// server, a container engine) skip with a one-line reason when it is absent, and fail instead
// when SHAKEDOWN_REQUIRE_ALL=1, as CI sets after installing everything.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireAll reports whether absent prerequisites must fail tests rather than skip them.
func RequireAll() bool { return os.Getenv("SHAKEDOWN_REQUIRE_ALL") == "1" }

// Need skips (or, under SHAKEDOWN_REQUIRE_ALL=1, fails) the test when ok is false.
func Need(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if RequireAll() {
		t.Fatalf("required but missing: %s (SHAKEDOWN_REQUIRE_ALL=1)", reason)
	}
	t.Skip("skipped: " + reason)
}

// NeedRoot needs the test to run as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "needs root")
}

// NeedCommand needs a program on PATH (or at an absolute path) and returns its path.
func NeedCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Need(t, err == nil, name+" is not installed")
	return p
}

// NeedEnv needs an environment variable and returns its value.
func NeedEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	Need(t, v != "", name+" is not set")
	return v
}

package argv

import (
	"context"
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx := context.Background()
	if _, err := Run(ctx, []string{"true"}, "", nil, time.Second); err != nil {
		t.Errorf("true: %v", err)
	}
	res, err := Run(ctx, []string{"sh", "-c", "echo one >&2; echo two >&2; exit 3"}, "", nil, time.Second)
	if err == nil || res.Code != 3 || res.Stderr != "one\ntwo" || res.TimedOut {
		t.Errorf("exit 3: %+v, %v", res, err)
	}
	var se *StartError
	if _, err := Run(ctx, []string{"/no/such/program"}, "", nil, time.Second); !errors.As(err, &se) {
		t.Errorf("missing program: %v, want a StartError", err)
	}
	// A timeout kills the whole group, and a child left holding stderr does not hold up the
	// wait.
	start := time.Now()
	res, err = Run(ctx, []string{"sh", "-c", "sleep 30 & sleep 30"}, "", nil, 200*time.Millisecond)
	if !res.TimedOut || !errors.Is(err, context.DeadlineExceeded) || res.Signal != syscall.SIGKILL {
		t.Errorf("timeout: %+v, %v", res, err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("timeout took %v", took)
	}
}

func TestLast(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"first line\nsecond\nthird", 12, "third"},
		{"aaaa\nbbbb", 7, "bbbb"},
	} {
		if got := Last(tc.in, tc.n); got != tc.want {
			t.Errorf("Last(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestEnviron(t *testing.T) {
	if env := Environ(nil); env != nil {
		t.Errorf("Environ(nil) = %d variables, want nil (inherit)", len(env))
	}
	t.Setenv("ARGV_TEST_INHERITED", "1")
	env := Environ(map[string]string{"B": "2", "A": "1 2"})
	if n := len(env); n < 3 || env[n-2] != "A=1 2" || env[n-1] != "B=2" || !slices.Contains(env, "ARGV_TEST_INHERITED=1") {
		t.Errorf("Environ(A, B) = %q, want the inherited environment then A=1 2, B=2", env)
	}
	res, err := Run(context.Background(), []string{"sh", "-c", `test "$A" = "1 2" && test "$ARGV_TEST_INHERITED" = 1`}, "", env, 5*time.Second)
	if err != nil {
		t.Errorf("run with Environ(A, B): %+v, %v", res, err)
	}
}

func TestValidEnvName(t *testing.T) {
	for name, want := range map[string]bool{"PATH": true, "a_b1": true, "": false, "A=B": false, "A\x00": false} {
		if got := ValidEnvName(name); got != want {
			t.Errorf("ValidEnvName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestQuote(t *testing.T) {
	got := Quote([]string{"redis-cli", "-p", "6379", "", "DEBUG SLEEP", "a$b"})
	want := `redis-cli -p 6379 "" "DEBUG SLEEP" "a$b"`
	if got != want {
		t.Fatalf("Quote = %s, want %s", got, want)
	}
}

package argv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
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

// TestRunStderrIsBounded: a command that writes without end to standard error costs
// neither disk nor memory past the tail that is kept, and a child left holding standard
// error after the command exits holds up nothing.
func TestRunStderrIsBounded(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		script     string
		wantCode   int
		wantStderr string
	}{
		// Standard error is a pipe, never a file on disk that grows as long as the command
		// writes.
		{"stderr is a pipe", `test -p /dev/stderr || { echo "stderr is not a pipe" >&2; exit 9; }`, 0, ""},
		{"64 MiB then a last line", `head -c 67108864 /dev/zero | tr '\0' x >&2; echo >&2; echo the end >&2; exit 3`, 3, "the end"},
		{"many lines", `i=0; while [ $i -lt 2000 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 1`, 1, ""},
		{"a child holds stderr, exit 0", `sleep 30 & exit 0`, 0, ""},
		{"a child holds stderr, exit 4", `sleep 30 & echo failing >&2; exit 4`, 4, "failing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res, err := Run(ctx, []string{"sh", "-c", tt.script}, "", nil, 30*time.Second)
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("took %v", took)
			}
			if res.Code != tt.wantCode || (err == nil) != (tt.wantCode == 0) {
				t.Fatalf("exit %d, %v (stderr %q), want exit %d", res.Code, err, res.Stderr, tt.wantCode)
			}
			if len(res.Stderr) > TailBytes {
				t.Errorf("kept %d bytes of stderr, want at most %d", len(res.Stderr), TailBytes)
			}
			if tt.wantStderr != "" && res.Stderr != tt.wantStderr {
				t.Errorf("stderr %.100q, want %q", res.Stderr, tt.wantStderr)
			}
			if tt.name == "many lines" && (!strings.HasPrefix(res.Stderr, "line ") || !strings.HasSuffix(res.Stderr, "line 1999")) {
				t.Errorf("stderr %.40q…, want whole lines ending in line 1999", res.Stderr)
			}
		})
	}
}

func TestTailWriter(t *testing.T) {
	for _, chunks := range [][]int{{10}, {TailBytes}, {TailBytes + 1}, {3 * TailBytes}, {100, 100, 5000, 7, TailBytes, 1}} {
		var w tailWriter
		var all []byte
		for i, n := range chunks {
			p := []byte(strings.Repeat(string(rune('a'+i)), n))
			all = append(all, p...)
			w.Write(p)
		}
		want := all[max(0, len(all)-TailBytes):]
		if got := w.String(); got != string(want) {
			t.Errorf("chunks %v: kept %d bytes, want the last %d", chunks, len(got), len(want))
		}
		if cap(w.t.buf) > 4*TailBytes {
			t.Errorf("chunks %v: holds %d bytes", chunks, cap(w.t.buf))
		}
	}
}

// TestRunOrphanWritesOn: a background child the command leaves holding standard error may
// go on writing to it after Run has returned — it is not ended by SIGPIPE — and Run does
// not wait for it.
func TestRunOrphanWritesOn(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "mark")
	script := `(sleep 0.5; i=0; while [ $i -lt 100 ]; do echo "late $i" >&2; i=$((i+1)); done; touch "$1") & exit 0`
	start := time.Now()
	if _, err := Run(context.Background(), []string{"sh", "-c", script, "sh", mark}, "", nil, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run waited %v for a child left behind", took)
	}
	testenv.WaitFor(t, "the child left behind to write its lines and finish", 10*time.Second, func() bool {
		_, err := os.Stat(mark)
		return err == nil
	})
}

func TestTail(t *testing.T) {
	tl := Tail{Max: 10}
	for range 100 {
		tl.Write([]byte("line\n"))
	}
	tl.Write([]byte("last one\n"))
	if got := tl.String(); got != "last one\n" {
		t.Errorf("tail = %q, want the last whole line", got)
	}
	tl = Tail{Max: 4}
	tl.Write([]byte("no newline at all"))
	if got := tl.String(); got != " all" {
		t.Errorf("tail of one long line = %q, want its last 4 bytes", got)
	}
}

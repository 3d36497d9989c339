// Package argv runs a command given as an argument list — never a shell string — the way
// exec faults and exec probes need: in a process group of its own that is killed whole on
// timeout or cancellation, with only the end of its standard error kept (however much it
// writes), and a background child it leaves holding standard error unable to hold up the
// wait for more than a moment.
package argv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// Environ returns this process's environment with extra added, in the order of their names,
// for Run; nil, which inherits the environment, when extra is empty.
func Environ(extra map[string]string) []string {
	if len(extra) == 0 {
		return nil
	}
	env := os.Environ()
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// ValidEnvName reports whether name can name an environment variable: it is not empty and
// holds no '=' or NUL.
func ValidEnvName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "=\x00")
}

// TailBytes is how much of the end of standard error a Result keeps.
const TailBytes = 2048

// Result is how a command that started ended.
type Result struct {
	Took     time.Duration
	Code     int            // exit code; -1 when a signal ended it
	Signal   syscall.Signal // the signal that ended it, or 0
	Stderr   string         // the last TailBytes of standard error, from a whole line, trimmed
	TimedOut bool           // the timeout, not the caller's context, ended it
}

// StartError is a command that could not be started at all.
type StartError struct{ Err error }

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// Run runs argv in dir with env (nil: this process's environment) for at most timeout. It
// returns a *StartError when the command could not start, the context's error when ctx
// ended first, an error (an *exec.ExitError, or one wrapping context.DeadlineExceeded when
// TimedOut) when the command failed, and nil when it exited 0.
func Run(ctx context.Context, argv []string, dir string, env []string, timeout time.Duration) (Result, error) {
	return run(ctx, argv, dir, env, timeout, false)
}

// Check runs argv as Run does, for a check that must leave nothing behind — an exec probe,
// run again at every sample: what the command left running in its process group (a child
// started with &) is killed once it has ended.
func Check(ctx context.Context, argv []string, dir string, env []string, timeout time.Duration) (Result, error) {
	return run(ctx, argv, dir, env, timeout, true)
}

func run(ctx context.Context, argv []string, dir string, env []string, timeout time.Duration, killLeft bool) (Result, error) {
	var res Result
	if len(argv) == 0 || argv[0] == "" {
		return res, &StartError{errors.New("empty command")}
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		return res, &StartError{err}
	}
	stderr := &tailWriter{}
	drained := make(chan struct{})
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env, cmd.Stderr = dir, env, w
	ownGroup(cmd)
	start := time.Now()
	err = cmd.Start()
	w.Close() // the command holds its own copy
	if err != nil {
		r.Close()
		return res, &StartError{err}
	}
	go func() {
		defer close(drained)
		defer r.Close()
		io.Copy(stderr, r)
	}()
	err = cmd.Wait()
	if killLeft {
		killGroup(cmd)
	}
	// A child left holding standard error (a daemon started with &) keeps the pipe open
	// after the command has ended. What came before the end is read within orphanWait;
	// the pipe is then read on, and dropped, for as long as the child holds it, so that
	// its writes neither fill a disk nor end it with SIGPIPE.
	select {
	case <-drained:
	case <-time.After(orphanWait):
	}
	res.Took = time.Since(start)
	res.Code = cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal()
	}
	if err == nil {
		return res, nil
	}
	res.Stderr = stderr.String()
	switch {
	case ctx.Err() != nil:
		return res, ctx.Err()
	case runCtx.Err() != nil:
		res.TimedOut = true
		return res, errors.Join(err, context.DeadlineExceeded)
	}
	return res, err
}

// orphanWait is how long Run waits for the rest of standard error after the command
// ended, while a child it left still holds it open.
const orphanWait = 200 * time.Millisecond

// tailWriter keeps the last TailBytes written to it (a Tail) for one writer and readers at
// once: a command that writes without end costs neither memory nor disk.
type tailWriter struct {
	mu sync.Mutex
	t  Tail
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t.Max == 0 {
		w.t.Max = TailBytes
	}
	return w.t.Write(p)
}

// String returns the last TailBytes written, from a whole line where some were dropped,
// trimmed.
func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(strings.ToValidUTF8(w.t.String(), "?"))
}

// Tail keeps the last Max bytes written to it, from the start of a line when it can, in
// about twice that much memory however much is written. It holds one byte more than it
// shows, to see whether what it shows starts a line. It is not safe for concurrent use.
type Tail struct {
	Max int
	buf []byte
}

func (t *Tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.Max+1 {
		p = p[len(p)-t.Max-1:]
		t.buf = t.buf[:0]
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.Max+1 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.Max-1:]...)
	}
	return n, nil
}

// String returns what the tail holds: the last Max bytes, from a line's start when one
// begins among them.
func (t *Tail) String() string {
	b := t.buf
	if len(b) > t.Max {
		b = b[len(b)-t.Max-1:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		} else {
			b = b[1:]
		}
	}
	return string(b)
}

// Last returns the end of s of at most n bytes, starting at a whole line where it can.
func Last(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(dropPartialLine(s[len(s)-n:]))
}

func dropPartialLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	return s
}

// Quote shows an argv as people read it, quoting the arguments that need it. The password
// of a URL among the arguments shows as xxxxx.
func Quote(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range shakedown.RedactArgs(argv) {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\$`|&;<>()*?[]{}#~") {
			parts[i] = strconv.Quote(a)
		} else {
			parts[i] = a
		}
	}
	return strings.Join(parts, " ")
}

// Marker returns the environment entry NAME=value that marks the processes of one command and
// all their descendants (who inherit it), so that KillMarked can find them later from another
// process — the watchdog, `shakedown recover` — which never knew their pids.
func Marker(name, value string) string { return name + "=" + value }

// killRounds bounds how often KillMarked scans: each round kills every marked process it
// finds, and a process can only be found again if it forked in between.
const killRounds = 50

// KillMarked kills, with SIGKILL, every process whose environment holds marker (see Marker)
// — a command still running and whatever it started — and scans again until none is left. A
// process is signalled by pid and start time, so a reused pid is never hit. It returns how
// many it killed; an error when some could not be killed or kept appearing.
func KillMarked(marker string) (int, error) {
	self := os.Getpid()
	killed := 0
	for range killRounds {
		pids, err := procfs.PIDs(procfs.Root)
		if err != nil {
			return killed, err
		}
		found := 0
		var errs []error
		for _, pid := range pids {
			if pid == self || !procfs.HasEnv(procfs.Root, pid, marker) {
				continue
			}
			start, err := procfs.StartTime(pid)
			if err != nil {
				continue // gone
			}
			ok, err := procfs.Signal(pid, start, syscall.SIGKILL)
			if err != nil {
				errs = append(errs, fmt.Errorf("kill pid %d: %w", pid, err))
				continue
			}
			if ok {
				found++
				killed++
			}
		}
		if err := errors.Join(errs...); err != nil {
			return killed, err
		}
		if found == 0 {
			return killed, nil
		}
		// Give the killed a moment to die, and their forks a moment to show.
		time.Sleep(time.Millisecond)
	}
	return killed, fmt.Errorf("processes marked %s kept appearing after %d rounds of kills", marker, killRounds)
}

// Hide returns s, something a command printed, with the values of secrets (the variables a
// file gave it in env:) and any URL's password written as xxxxx.
func Hide(s string, secrets map[string]string) string {
	var ss []shakedown.Secret
	for k, v := range secrets {
		ss = append(ss, shakedown.Secret{Path: k, Value: v})
	}
	return shakedown.NewRedactor(ss...).String(s)
}

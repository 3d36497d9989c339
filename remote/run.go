package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/argv"
)

// Limits of what Run keeps of a command's output.
const (
	MaxStdout  = 64 << 20 // more is an error
	StderrTail = 2048     // the last bytes of standard error kept
)

// Output is what a command that ran on a host printed, and how it ended.
type Output struct {
	Stdout []byte
	Stderr string // the last StderrTail bytes, trimmed
	Code   int    // exit code; -1 when a signal ended it
	Signal string // the signal that ended it ("KILL"), or ""
}

// ExitError is a command that ran on the host and did not exit 0.
type ExitError struct {
	Code   int
	Signal string
	Stderr string
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("exit status %d", e.Code)
	if e.Signal != "" {
		s = "killed by signal " + e.Signal
	}
	if e.Stderr != "" {
		s += ": " + e.Stderr
	}
	return s
}

// wrapper runs a command on the host after telling, on the first line of its standard
// error, the session it runs in (sshd makes one per SSH session; field 6 of /proc/PID/stat),
// so that a cancelled Run can end everything the command started: OpenSSH refuses SSH's
// signal request to root logins, and a closed channel does not end a command that neither
// reads nor writes.
const wrapper = `f() { echo "shakedown-session $4" >&2; }; read -r s </proc/$$/stat; f ${s##*) }; exec "$@"`

// commandLine is the line the login shell on the host runs for argv: argv quoted (see
// Quote) behind the wrapper, and behind "sudo -n --" when sudo is asked for.
func commandLine(argv []string, sudo bool) (string, error) {
	if _, err := Quote(argv); err != nil {
		return "", err
	}
	line, err := Quote(append([]string{"sh", "-c", wrapper, "sh"}, argv...))
	if err != nil || !sudo {
		return line, err
	}
	// sudo clears the environment; the command still learns which SSH connection it runs
	// over (a network fault spares it).
	return `sudo -n -- env "SSH_CONNECTION=$SSH_CONNECTION" ` + line, nil
}

// killSession ends every process of the session that the wrapper named.
const killSession = `pkill -KILL -s "$1" 2>/dev/null || kill -KILL -- "-$1" 2>/dev/null; exit 0`

// Run runs argv on the host, each argument quoted for the login shell (see Quote), with
// "sudo -n --" in front when the host says Sudo, and stdin (may be nil) as its standard
// input. It returns when the command has exited and its output is read. A command that
// exits non-zero is an error of kind KindInternal wrapping an *ExitError (KindPermission
// when sudo wants a password); a connection lost meanwhile, KindUnavailable. When ctx ends
// first, every process of the command's session on the host is killed (SIGKILL) before Run
// returns.
func (c *Client) Run(ctx context.Context, argv []string, stdin io.Reader) (Output, error) {
	return c.run(ctx, argv, stdin, c.host.Sudo)
}

// run is Run, with sudo or without.
func (c *Client) run(ctx context.Context, argv []string, stdin io.Reader, sudo bool) (Output, error) {
	var out Output
	line, err := commandLine(argv, sudo)
	if err != nil {
		return out, err
	}
	op := fmt.Sprintf("run %s on %s", argv[0], c.addr)
	if sudo {
		op = fmt.Sprintf("run %s (sudo) on %s", argv[0], c.addr)
	}
	s, err := c.conn.NewSession()
	if err != nil {
		return out, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	defer s.Close()
	stdout := &capped{max: MaxStdout}
	stderr := newSessionTail()
	s.Stdin, s.Stdout, s.Stderr = stdin, stdout, stderr
	if err := s.Start(line); err != nil {
		return out, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		// The command may be running before the wrapper's line naming its session has
		// arrived here: wait for that line (or the command's end) before killing.
		select {
		case <-stderr.known():
		case <-waited:
			return out, shakedown.Wrap(ctxKind(ctx, shakedown.KindUnavailable), op, ctx.Err())
		case <-time.After(killTimeout):
		}
		c.kill(stderr.session(), sudo)
		s.Close()
		select {
		case <-waited:
		case <-time.After(killTimeout):
		}
		return out, shakedown.Wrap(ctxKind(ctx, shakedown.KindUnavailable), op, ctx.Err())
	}
	out.Stdout = stdout.Bytes()
	out.Stderr = strings.TrimSpace(stderr.String())
	var ee *ssh.ExitError
	switch {
	case err == nil:
		if stdout.over {
			return out, shakedown.Errorf(shakedown.KindInternal, "%s: more than %d bytes of output", op, MaxStdout)
		}
		return out, nil
	case errors.As(err, &ee):
		out.Code, out.Signal = ee.ExitStatus(), ee.Signal()
		if out.Signal != "" {
			out.Code = -1
		}
		kind := shakedown.KindInternal
		if sudo && out.Code == 1 && strings.Contains(out.Stderr, "sudo: a password is required") {
			kind = shakedown.KindPermission
		}
		return out, shakedown.Wrap(kind, op, &ExitError{Code: out.Code, Signal: out.Signal, Stderr: out.Stderr})
	default: // *ssh.ExitMissingError, io.EOF: the connection or the session went away
		return out, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
}

// killTimeout bounds the kill of a cancelled command, and the wait for its session to end.
const killTimeout = 5 * time.Second

// kill ends the processes of session sid on the host, on a session of its own, waiting
// killTimeout at most (best effort: a connection that is gone has taken its sessions with
// it; one that hangs is closed by the keepalives, which ends the kill's goroutine).
func (c *Client) kill(sid int, sudo bool) {
	if sid <= 1 {
		return
	}
	line, _ := Quote([]string{"sh", "-c", killSession, "sh", strconv.Itoa(sid)})
	if sudo {
		line = "sudo -n -- " + line
	}
	done := make(chan struct{})
	c.wg.Go(func() {
		defer close(done)
		s, err := c.conn.NewSession()
		if err != nil {
			return
		}
		defer s.Close()
		s.Run(line)
	})
	select {
	case <-done:
	case <-time.After(killTimeout):
	}
}

// sessionTail is the tail of a command's standard error after the wrapper's first line,
// whose session ID it keeps.
type sessionTail struct {
	mu    sync.Mutex
	first []byte // the wrapper's line, until its newline
	sid   int
	done  bool
	ready chan struct{} // closed once the first line is in
	argv.Tail
}

func newSessionTail() *sessionTail {
	return &sessionTail{ready: make(chan struct{}), Tail: argv.Tail{Max: StderrTail}}
}

// known is closed once the first line has been written: the session, if any, is known.
func (t *sessionTail) known() <-chan struct{} { return t.ready }

func (t *sessionTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if !t.done {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.first = append(t.first, p...)
			return n, nil
		}
		t.first = append(t.first, p[:i]...)
		p = p[i+1:]
		t.done = true
		close(t.ready)
		if v, ok := strings.CutPrefix(string(t.first), "shakedown-session "); ok {
			t.sid, _ = strconv.Atoi(v)
		} else { // not the wrapper's line (the wrapper could not start): keep it
			t.Tail.Write(append(t.first, '\n'))
		}
	}
	t.Tail.Write(p)
	return n, nil
}

func (t *sessionTail) session() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sid
}

func (t *sessionTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done { // a partial first line that never ended
		return string(t.first) + t.Tail.String()
	}
	return t.Tail.String()
}

// capped is a buffer that keeps at most max bytes and remembers it was offered more.
type capped struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *capped) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

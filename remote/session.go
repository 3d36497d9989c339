package remote

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/shakedown-dev/shakedown"
)

// Session is a command that runs on a host while the caller talks to it: lines written to
// its standard input, lines read from its standard output. Close ends the session; the
// command then reads end of file (it is not killed: a command that must end when its caller
// goes away watches its standard input).
type Session struct {
	op     string
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *sessionTail
	ended  chan struct{} // closed when the session has ended
	err    error         // how it ended (s.Wait's error), once ended is closed
	eof    bool          // ReadLine came to the end of the output
	close  func() error
}

// Start starts argv on the host as Run does (quoted, with "sudo -n --" when the host says
// Sudo) and returns at once. The caller must Close the session.
func (c *Client) Start(argv []string) (*Session, error) {
	line, err := commandLine(argv, c.host.Sudo)
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("start %s on %s", argv[0], c.addr)
	s, err := c.conn.NewSession()
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	stdin, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	stderr := newSessionTail()
	s.Stderr = stderr
	if err := s.Start(line); err != nil {
		s.Close()
		return nil, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	ss := &Session{op: op, stdin: stdin, lines: sc, stderr: stderr, ended: make(chan struct{}), close: s.Close}
	go func() {
		ss.err = s.Wait()
		close(ss.ended)
	}()
	return ss, nil
}

// WriteLine writes one line to the command's standard input.
func (s *Session) WriteLine(line string) error {
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		return shakedown.Wrap(shakedown.KindUnavailable, s.op, err)
	}
	return nil
}

// ReadLine reads the next line of the command's standard output. At its end it returns an
// error of kind KindUnavailable saying how the command ended, with its standard error's tail.
func (s *Session) ReadLine() (string, error) {
	if s.lines.Scan() {
		return s.lines.Text(), nil
	}
	err := s.lines.Err()
	if err == nil {
		err = io.EOF
		s.eof = true
	}
	if tail := strings.TrimSpace(s.stderr.String()); tail != "" {
		err = fmt.Errorf("%w: %s", err, tail)
	}
	return "", shakedown.Wrap(shakedown.KindUnavailable, s.op, err)
}

// Stderr returns the tail of what the command wrote to its standard error so far.
func (s *Session) Stderr() string { return strings.TrimSpace(s.stderr.String()) }

// CloseInput closes the command's standard input: it reads end of file.
func (s *Session) CloseInput() error { return s.stdin.Close() }

// Ended is closed once the session has ended: the command exited, or the connection closed.
func (s *Session) Ended() <-chan struct{} { return s.ended }

// NotRun reports whether the session has ended with the host's shell saying that the
// command could not be run at all (exit 126: not executable; 127: not found). Once ReadLine
// came to the end of the output, it waits up to killTimeout for the session's end, which
// follows; before, it is false. Call it from the goroutine that reads lines.
func (s *Session) NotRun() bool {
	if !s.eof {
		return false
	}
	select {
	case <-s.ended:
	case <-time.After(killTimeout):
		return false
	}
	var ee *ssh.ExitError
	return errors.As(s.err, &ee) && (ee.ExitStatus() == 126 || ee.ExitStatus() == 127)
}

// Close ends the session. It does not wait for the command.
func (s *Session) Close() error { return s.close() }

package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// ExecParams are the parameters of the exec probe.
type ExecParams struct {
	Command []string          `json:"command" required:"true" doc:"argv to run; the probe holds when it exits 0"`
	Env     map[string]string `json:"env,omitempty" doc:"variables added to its environment"`
	Dir     string            `json:"dir,omitempty" doc:"its working directory (default: shakedown's)"`
}

// Validate checks the command and the environment.
func (p *ExecParams) Validate() error {
	if len(p.Command) == 0 || p.Command[0] == "" {
		return shakedown.Errorf(shakedown.KindInvalid, "exec probe: command: give the argv to run, program first")
	}
	for k := range p.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return shakedown.Errorf(shakedown.KindInvalid, "exec probe: env: bad variable name %q", k)
		}
	}
	return nil
}

// Exec is an exec prober.
type Exec struct {
	p       ExecParams
	env     []string // nil: inherit
	timeout time.Duration
}

// NewExec returns an exec prober whose runs each take at most timeout (DefaultTimeout when
// zero); a run that takes longer is killed with its whole process group.
func NewExec(p *ExecParams, timeout time.Duration) (*Exec, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	e := &Exec{p: *p, timeout: orDefault(timeout)}
	if len(p.Env) > 0 {
		e.env = os.Environ()
		for _, k := range slices.Sorted(maps.Keys(p.Env)) {
			e.env = append(e.env, k+"="+p.Env[k])
		}
	}
	return e, nil
}

// Probe runs the command once.
func (e *Exec) Probe(ctx context.Context) (string, error) {
	op := "run " + strings.Join(e.p.Command, " ")
	runCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	// Standard error goes to an unlinked file, not a pipe: something the command leaves
	// running cannot hold up Wait.
	errFile, err := os.CreateTemp("", "shakedown-probe-*")
	if err != nil {
		return "cannot run", shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	os.Remove(errFile.Name())
	defer errFile.Close()

	cmd := exec.CommandContext(runCtx, e.p.Command[0], e.p.Command[1:]...)
	cmd.Dir, cmd.Env, cmd.Stderr = e.p.Dir, e.env, errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	if err := cmd.Start(); err != nil {
		kind := shakedown.KindFailed
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			kind = shakedown.KindNotFound
		}
		return "cannot start", shakedown.Wrap(kind, op, err)
	}
	err = cmd.Wait()
	took := since(start)
	code := cmd.ProcessState.ExitCode()
	switch {
	case err == nil:
		return fmt.Sprintf("exit 0 in %s", took), nil
	case ctx.Err() != nil:
		return "cancelled", shakedown.Wrap(shakedown.KindAborted, op, ctx.Err())
	case runCtx.Err() != nil:
		return "timed out after " + formatDuration(e.timeout),
			shakedown.Wrap(shakedown.KindFailed, op, fmt.Errorf("timed out after %s, process group killed: %w", e.timeout, context.DeadlineExceeded))
	}
	obs := fmt.Sprintf("exit %d in %s", code, took)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		obs = fmt.Sprintf("killed by signal %d in %s", int(ws.Signal()), took)
	}
	if t := tail(errFile, 200); t != "" {
		obs += ": " + t
	}
	return obs, shakedown.Wrap(shakedown.KindFailed, op, fmt.Errorf("%w (%s)", err, obs))
}

// tail returns about the last n bytes of f, whole lines where it can, on one line.
func tail(f *os.File, n int64) string {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size == 0 {
		return ""
	}
	off := max(0, size-n)
	buf := make([]byte, size-off)
	k, _ := f.ReadAt(buf, off)
	s := strings.TrimSpace(strings.ToValidUTF8(string(buf[:k]), "?"))
	if off > 0 {
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
			s = s[i+1:]
		}
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/argv"
)

// ExecParams are the parameters of the exec probe.
type ExecParams struct {
	Command []string          `json:"command" required:"true" doc:"argv to run; the probe holds when it exits 0"`
	Env     map[string]string `json:"env,omitempty" doc:"variables added to its environment; their values are secrets, shown as xxxxx in everything shakedown writes"`
	Dir     string            `json:"dir,omitempty" doc:"its working directory (default: shakedown's)"`
}

// String says what the probe runs, for a plan.
func (p *ExecParams) String() string { return argv.Quote(p.Command) + " exits 0" }

// Validate checks the command and the environment.
func (p *ExecParams) Validate() error {
	if len(p.Command) == 0 || p.Command[0] == "" {
		return shakedown.Errorf(shakedown.KindInvalid, "exec probe: command: give the argv to run, program first")
	}
	for k := range p.Env {
		if !argv.ValidEnvName(k) {
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
	return &Exec{p: *p, env: argv.Environ(p.Env), timeout: orDefault(timeout)}, nil
}

// Probe runs the command once.
func (e *Exec) Probe(ctx context.Context) (string, error) {
	op := "run " + argv.Quote(e.p.Command)
	res, err := argv.Run(ctx, e.p.Command, e.p.Dir, e.env, e.timeout)
	took := formatDuration(res.Took)
	var se *argv.StartError
	switch {
	case err == nil:
		return fmt.Sprintf("exit 0 in %s", took), nil
	case errors.As(err, &se):
		kind := shakedown.KindFailed
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			kind = shakedown.KindNotFound
		}
		return "cannot start", shakedown.Wrap(kind, op, err)
	case ctx.Err() != nil:
		return "cancelled", shakedown.Wrap(shakedown.KindAborted, op, ctx.Err())
	case res.TimedOut:
		return "timed out after " + formatDuration(e.timeout),
			shakedown.Wrap(shakedown.KindFailed, op, fmt.Errorf("timed out after %s, process group killed: %w", e.timeout, context.DeadlineExceeded))
	}
	obs := fmt.Sprintf("exit %d in %s", res.Code, took)
	if res.Signal != 0 {
		obs = fmt.Sprintf("killed by signal %d in %s", int(res.Signal), took)
	}
	if t := oneLine(argv.Last(argv.Hide(res.Stderr, e.p.Env), 200)); t != "" {
		obs += ": " + t
	}
	return obs, shakedown.Wrap(shakedown.KindFailed, op, fmt.Errorf("%w (%s)", err, obs))
}

// oneLine puts the lines of s on one line, separated by " | ".
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

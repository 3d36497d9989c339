package probe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/argv"
	"github.com/shakedown-dev/shakedown/internal/words"
)

// ExecParams are the parameters of the exec probe.
type ExecParams struct {
	Command []string          `json:"command" required:"true" doc:"argv to run; the probe holds when it exits 0"`
	Env     map[string]string `json:"env,omitempty" doc:"variables added to its environment; their values are secrets, shown as xxxxx in everything shakedown writes"`
	Dir     string            `json:"dir,omitempty" doc:"its working directory (default: shakedown's)"`
	On      string            `json:"on,omitempty" doc:"a hosts target: the command runs on each host the run selected from it, over SSH, and the probe holds when it exits 0 on every one"`
}

// OnTarget names the target whose instances run the command; "" for this machine.
func (p *ExecParams) OnTarget() string { return p.On }

// String says what the probe runs, for a plan.
func (p *ExecParams) String() string {
	if p.On != "" {
		return argv.Quote(p.Command) + " exits 0 on every host of " + p.On
	}
	return argv.Quote(p.Command) + " exits 0"
}

// Validate checks the command and the environment.
func (p *ExecParams) Validate() error {
	var errs shakedown.FieldErrors
	if len(p.Command) == 0 || p.Command[0] == "" {
		errs.Add("command", "give the argv to run, program first")
	}
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		if !argv.ValidEnvName(k) {
			errs.Add("env", "bad variable name %q", k)
		}
		if p.On != "" && strings.ContainsAny(p.Env[k], "\n\x00") {
			errs.Add("env", "the value of %s has a line break or NUL, which a command on a host cannot be given", k)
		}
	}
	return errs.Err()
}

// Exec is an exec prober.
type Exec struct {
	p       ExecParams
	env     []string // nil: inherit
	timeout time.Duration
	on      []onInstance // with p.On: where the command runs
}

// onInstance is an instance of an on: target, which runs the command.
type onInstance struct {
	name string
	run  shakedown.CommandRunner
}

// NewExec returns an exec prober whose runs each take at most timeout (DefaultTimeout when
// zero); a run that takes longer is killed with its whole process group. With p.On, the
// command runs on the instances env.Targets holds for that target instead.
func NewExec(env shakedown.Env, p *ExecParams, timeout time.Duration) (*Exec, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	e := &Exec{p: *p, env: argv.Environ(p.Env), timeout: orDefault(timeout)}
	if p.On == "" {
		return e, nil
	}
	ins, ok := env.Targets[p.On]
	if !ok {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "exec probe: on: target %q was not resolved in this run", p.On)
	}
	for _, in := range ins {
		r, ok := in.Ref.(shakedown.CommandRunner)
		if !ok {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "exec probe: on: %s of target %s does not run commands (on: takes a hosts target)", in.Name, p.On)
		}
		e.on = append(e.on, onInstance{name: in.Name, run: r})
	}
	if len(e.on) == 0 {
		return nil, shakedown.Errorf(shakedown.KindNotFound, "exec probe: on: target %s selected no instance", p.On)
	}
	return e, nil
}

// Probe runs the command once, here or on every instance of its on: target.
func (e *Exec) Probe(ctx context.Context) (string, error) {
	if e.p.On != "" {
		return e.probeOn(ctx)
	}
	op := "run " + argv.Quote(e.p.Command)
	res, err := argv.Check(ctx, e.p.Command, e.p.Dir, e.env, e.timeout)
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

// probeOn runs the command on every instance of the on: target at once. It holds when the
// command exits 0 on each; otherwise the observation names every instance where it did not.
func (e *Exec) probeOn(ctx context.Context) (string, error) {
	op := "run " + argv.Quote(e.p.Command) + " on " + e.p.On
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	start := time.Now()
	results := make([]string, len(e.on))
	failed := make([]error, len(e.on))
	var wg sync.WaitGroup
	for i, in := range e.on {
		wg.Go(func() {
			res, err := in.run.RunCommand(ctx, e.p.Command, e.p.Env, e.p.Dir)
			switch {
			case err != nil && ctx.Err() != nil:
				results[i], failed[i] = in.name+": timed out", err
			case err != nil:
				results[i], failed[i] = in.name+": "+oneLine(argv.Hide(err.Error(), e.p.Env)), err
			case res.Code != 0:
				obs := fmt.Sprintf("%s: exit %d", in.name, res.Code)
				if res.Signal != "" {
					obs = fmt.Sprintf("%s: killed by signal %s", in.name, res.Signal)
				}
				if t := oneLine(argv.Last(argv.Hide(res.Stderr, e.p.Env), 200)); t != "" {
					obs += ": " + t
				}
				results[i], failed[i] = obs, errors.New(obs)
			}
		})
	}
	wg.Wait()
	took := formatDuration(time.Since(start))
	var bad []string
	for i, err := range failed {
		if err != nil {
			bad = append(bad, results[i])
		}
	}
	switch {
	case len(bad) == 0:
		return fmt.Sprintf("exit 0 on %s in %s", words.Count(len(e.on), "host"), took), nil
	case errors.Is(parent.Err(), context.Canceled):
		return "cancelled", shakedown.Wrap(shakedown.KindAborted, op, parent.Err())
	}
	obs := fmt.Sprintf("failed on %d of %s in %s: %s", len(bad), words.Count(len(e.on), "host"), took, strings.Join(bad, "; "))
	return obs, shakedown.Wrap(shakedown.KindFailed, op, errors.New("it did not exit 0 on every host"))
}

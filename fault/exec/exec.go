// Package exec is the escape hatch among shakedown's faults: the `exec` fault runs one
// command to inject a fault and another to revert it, for anything no built-in fault does.
//
// Commands are argument lists, never shell strings. Each runs in its own process group,
// which is killed when its timeout passes.
package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/argv"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// Type is the name of the fault type, UndoType that of its undo (the revert command) and
// StopType that of the undo that stops an inject still running.
const (
	Type     = "exec"
	UndoType = "exec"
	StopType = "exec.stop"
)

// The environment variables that mark an inject's processes and a revert's, and all their
// children: SHAKEDOWN_INJECT=<run>/<fault>, SHAKEDOWN_REVERT=<run>/<fault>.
const (
	InjectMark = "SHAKEDOWN_INJECT"
	RevertMark = "SHAKEDOWN_REVERT"
)

// DefaultTimeout bounds each command when the parameters say nothing.
const DefaultTimeout = 30 * time.Second

// Register adds the exec fault type and its undo type to r.
func Register(r *shakedown.Registry) {
	r.AddFault(shakedown.FaultType{
		Name:    Type,
		Summary: "run an argv to inject a fault and another to revert it",
		Doc: "Runs `inject` and fails, with its exit status and the last lines of its standard error, " +
			"unless it exits 0. The revert runs `revert` (after `duration` if one is set, else at the " +
			"revert phase); it must be idempotent, since recovery may run it again. Both run with " +
			"shakedown's environment plus `env`, SHAKEDOWN_RUN_ID and SHAKEDOWN_FAULT, in `dir`, with " +
			"standard input from /dev/null and standard output discarded; each runs in its own process " +
			"group, killed when `timeout` passes. When inject fails after it started, the revert still " +
			"runs. If the runner dies while `inject` still runs, the watchdog (or `shakedown recover`) " +
			"first kills it and everything it started — every process carrying its SHAKEDOWN_INJECT " +
			"variable — and only then runs `revert`; a `revert` left running by a dead runner is killed " +
			"the same way (SHAKEDOWN_REVERT) before it runs again. No shell is involved: use " +
			"[sh, -c, \"...\"] explicitly if you need one.",
		OneShot: true,
		Params:  func() any { return &Params{Timeout: shakedown.Duration(DefaultTimeout)} },
		New:     newFault,
	})
	r.AddUndo(UndoType, undo)
	r.AddUndo(StopType, stop)
}

// Params are the parameters of the exec fault.
type Params struct {
	Inject  []string           `json:"inject" required:"true" doc:"argv run to inject the fault; it must exit 0"`
	Revert  []string           `json:"revert,omitempty" doc:"argv run to revert the fault; it must exit 0 and may run more than once"`
	Timeout shakedown.Duration `json:"timeout,omitempty" doc:"how long each command may run before its process group is killed (default 30s)"`
	Env     map[string]string  `json:"env,omitempty" doc:"variables added to the environment of both commands; their values are secrets, shown as xxxxx in everything shakedown writes"`
	Dir     string             `json:"dir,omitempty" doc:"working directory of both commands (default: shakedown's)"`
}

// Validate checks the commands, the timeout and the environment.
func (p *Params) Validate() error {
	var errs shakedown.FieldErrors
	if len(p.Inject) == 0 || p.Inject[0] == "" {
		errs.Add("inject", "give the argv to run, program first")
	}
	if len(p.Revert) > 0 && p.Revert[0] == "" {
		errs.AddItem("revert", 0, "the program name is empty")
	}
	if p.Timeout <= 0 {
		errs.Add("timeout", "must be positive, not %s", p.Timeout)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		if !argv.ValidEnvName(k) {
			errs.Add("env", "bad variable name %q", k)
		}
	}
	return errs.Err()
}

// Command is one command of an exec fault; it is also the data of an exec undo.
type Command struct {
	Argv    []string           `json:"argv"`
	Env     map[string]string  `json:"env,omitempty"` // added to the inherited environment
	Dir     string             `json:"dir,omitempty"`
	Timeout shakedown.Duration `json:"timeout"`
}

func newFault(env shakedown.Env, spec *shakedown.FaultSpec, _ []shakedown.Instance) (shakedown.Fault, error) {
	p, err := shakedown.ParamsAs[Params](spec.Params, "exec")
	if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	vars := map[string]string{"SHAKEDOWN_RUN_ID": env.RunID, "SHAKEDOWN_FAULT": spec.Name}
	maps.Copy(vars, p.Env)
	// The revert may be replayed by a process started elsewhere: pin the directory.
	dir := p.Dir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	mark := env.RunID + "/" + spec.Name
	f := &fault{
		inject: Command{Argv: slices.Clone(p.Inject), Env: with(vars, InjectMark, mark), Dir: dir, Timeout: p.Timeout},
		mark:   mark,
		shown:  p,
	}
	if len(p.Revert) > 0 {
		f.revert = &Command{Argv: slices.Clone(p.Revert), Env: with(vars, RevertMark, mark), Dir: dir, Timeout: p.Timeout}
	}
	return f, nil
}

// with returns a copy of vars with k set to v.
func with(vars map[string]string, k, v string) map[string]string {
	out := maps.Clone(vars)
	out[k] = v
	return out
}

type fault struct {
	inject Command
	revert *Command
	mark   string  // the value of InjectMark and RevertMark
	shown  *Params // as written, for the plan
}

func (f *fault) Plan() []string {
	lines := []string{fmt.Sprintf("run %s (timeout %s)", argv.Quote(f.shown.Inject), f.shown.Timeout)}
	if f.revert != nil {
		lines = append(lines, "revert: run "+argv.Quote(f.shown.Revert))
	}
	return lines
}

// Undo is the revert command, if any, and before it (when the runner died during the
// inject) the kill of the inject's processes.
func (f *fault) Undo() []shakedown.Undo {
	marker := argv.Marker(InjectMark, f.mark)
	stopData, _ := json.Marshal(stopData{Marker: marker})
	undos := []shakedown.Undo{{Type: StopType, Data: stopData, Interrupt: true,
		Summary: "kill what the inject still runs (" + marker + ")"}}
	if f.revert != nil {
		data, _ := json.Marshal(f.revert)
		undos = append(undos, shakedown.Undo{Type: UndoType, Data: data, Summary: "run " + argv.Quote(f.revert.Argv)})
	}
	return undos
}

// stopData is the data of a StopType undo.
type stopData struct {
	Marker string `json:"marker"` // NAME=value
}

// stop kills every process the marker names: an inject still running, and its children.
func stop(_ context.Context, raw json.RawMessage) error {
	var d stopData
	if err := json.Unmarshal(raw, &d); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "undo "+StopType, err)
	}
	if !strings.HasPrefix(d.Marker, InjectMark+"=") && !strings.HasPrefix(d.Marker, RevertMark+"=") {
		return shakedown.Errorf(shakedown.KindInvalid, "undo %s: %q is not a marker of ours", StopType, d.Marker)
	}
	if _, err := argv.KillMarked(d.Marker); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "undo "+StopType, err)
	}
	return nil
}

func (f *fault) Inject(ctx context.Context) (shakedown.Revert, error) {
	err := f.inject.Run(ctx)
	var se *argv.StartError
	if errors.As(err, &se) {
		return nil, err // nothing ran, nothing to revert
	}
	if f.revert == nil {
		return func(context.Context) error { return nil }, err
	}
	return f.revert.Run, err
}

// undo runs the revert command from the journal, after killing an earlier run of it that a
// dead runner may have left going: the two would race.
func undo(ctx context.Context, raw json.RawMessage) error {
	var c Command
	if err := json.Unmarshal(raw, &c); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "undo "+UndoType, err)
	}
	if c.Timeout <= 0 {
		c.Timeout = shakedown.Duration(DefaultTimeout)
	}
	if m, ok := c.Env[RevertMark]; ok {
		if _, err := argv.KillMarked(argv.Marker(RevertMark, m)); err != nil {
			return shakedown.Wrap(shakedown.KindInternal, "undo "+UndoType+": stop an earlier revert", err)
		}
	}
	return c.Run(ctx)
}

// ExitError is how a command that ran failed: its exit code (or the signal that killed it)
// and the end of its standard error.
type ExitError struct {
	Argv   []string
	Code   int    // -1 when a signal ended it
	Signal string // "KILL" when a signal ended it
	Stderr string // its last lines, with the values of its env: written as xxxxx
}

func (e *ExitError) Error() string {
	var b strings.Builder
	b.WriteString(argv.Quote(e.Argv))
	if e.Signal != "" {
		b.WriteString(": killed by SIG" + e.Signal)
	} else {
		fmt.Fprintf(&b, ": exit status %d", e.Code)
	}
	if e.Stderr != "" {
		b.WriteString(": " + strings.ReplaceAll(e.Stderr, "\n", " | "))
	}
	return b.String()
}

// Run runs the command and returns nil when it exits 0 in time. The error is KindNotFound
// or KindPermission when it cannot start, KindAborted when ctx ends, and KindInternal with an
// *ExitError when it fails or times out.
func (c Command) Run(ctx context.Context) error {
	op := "run " + argv.Quote(c.Argv)
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return shakedown.Errorf(shakedown.KindInvalid, "run: empty command")
	}
	if err := ctx.Err(); err != nil {
		return shakedown.Wrap(shakedown.KindAborted, op, err)
	}
	timeout := c.Timeout.D()
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	res, err := argv.Run(ctx, c.Argv, c.Dir, argv.Environ(c.Env), timeout)
	var se *argv.StartError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		kind := shakedown.KindInternal
		switch {
		case errors.Is(err, osexec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			kind = shakedown.KindNotFound
		case errors.Is(err, fs.ErrPermission):
			kind = shakedown.KindPermission
		}
		return shakedown.Wrap(kind, op, err)
	case ctx.Err() != nil:
		return shakedown.Wrap(shakedown.KindAborted, op, ctx.Err())
	}
	ee := &ExitError{Argv: c.Argv, Code: res.Code, Stderr: argv.Hide(lastLines(res.Stderr, tailLines), c.fileEnv())}
	if res.Signal != 0 {
		ee.Signal = procfs.SignalName(res.Signal)
	}
	if res.TimedOut {
		return shakedown.Wrap(shakedown.KindInternal, fmt.Sprintf("exec: timed out after %s", timeout), ee)
	}
	return shakedown.Wrap(shakedown.KindInternal, "exec", ee)
}

// fileEnv is the part of the command's environment that the file's env: gave it: the
// secrets to hide in what it printed. What shakedown sets itself (the run, the fault, the
// marks) is none.
func (c Command) fileEnv() map[string]string {
	out := maps.Clone(c.Env)
	for _, k := range []string{"SHAKEDOWN_RUN_ID", "SHAKEDOWN_FAULT", InjectMark, RevertMark} {
		delete(out, k)
	}
	return out
}

// tailLines is how many of the last lines of standard error an ExitError keeps.
const tailLines = 5

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package process

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/argv"
	"github.com/shakedown-dev/shakedown/internal/private"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// UndoRestart is the undo type that runs a process.kill fault's restart command unless the
// killed process came back by itself: RestartData.
const UndoRestart = "process.restart"

// KillParams are the parameters of process.kill.
type KillParams struct {
	Signal  string   `json:"signal" doc:"the signal to send: a name (KILL, SIGTERM, term) or a number (9)"`
	Restart []string `json:"restart,omitempty" doc:"argv run as the revert, in its own session, unless a process matching the target runs again by then"`
}

// Validate checks the signal and the restart command.
func (p *KillParams) Validate() error {
	var errs shakedown.FieldErrors
	if _, err := ParseSignal(p.Signal); err != nil {
		errs.AddErr("signal", -1, err)
	}
	if len(p.Restart) > 0 && p.Restart[0] == "" {
		errs.AddItem("restart", 0, "the program name is empty")
	}
	return errs.Err()
}

// RestartData is the data of a process.restart undo.
type RestartData struct {
	Selector Selector `json:"selector"`         // how the killed processes were found
	Before   []string `json:"before"`           // instance ids the selector matched before the kill
	Argv     []string `json:"argv"`             // the restart command
	Dir      string   `json:"dir,omitempty"`    // its working directory: shakedown's when the fault was built
	Log      string   `json:"log,omitempty"`    // its stdout and stderr go here (appended); /dev/null when empty
	Marker   string   `json:"marker,omitempty"` // "<pid> <starttime>" of the process a restart started
}

var killType = shakedown.FaultType{
	Name:    "process.kill",
	Summary: "send a signal (default KILL) to the selected processes; optionally restart them as the revert",
	Doc: "Sends `signal` to each selected process, after checking that its pid still belongs to the " +
		"process that was resolved (same start time); a process that is gone is reported and not " +
		"signalled. A kill is one shot: with no `restart` the run watches the system recover on its own. " +
		"With `restart`, the revert (after `duration` if one is set, else at the revert phase) runs that " +
		"argv detached in its own session, its output appended to a log under the state directory, so a " +
		"restarted server outlives shakedown; it runs it once, and not at all if a process matching the " +
		"target that was not there before the kill already runs (a supervisor restarted it).",
	Targets: []string{Kind},
	OneShot: true,
	Params:  func() any { return &KillParams{Signal: "KILL"} },
	New:     newKill,
}

func newKill(env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	params := &KillParams{Signal: "KILL"}
	switch p := spec.Params.(type) {
	case *KillParams:
		if p != nil {
			params = p
		}
	case KillParams:
		params = &p
	case nil:
	default:
		return nil, shakedown.Errorf(shakedown.KindInternal, "process.kill: parameters are %T, want *process.KillParams", spec.Params)
	}
	if err := params.Validate(); err != nil {
		return nil, err
	}
	sig, _ := ParseSignal(params.Signal)
	procs, err := procsOf(spec, targets)
	if err != nil {
		return nil, err
	}
	f := &kill{sig: sig, procs: procs}
	if len(params.Restart) > 0 {
		f.restart = &RestartData{Argv: slices.Clone(params.Restart)}
		// The undo may be replayed by a process started elsewhere: pin the directory.
		if wd, err := os.Getwd(); err == nil {
			f.restart.Dir = wd
		}
		if len(procs) > 0 {
			f.restart.Selector = procs[0].Selector
		}
		for _, p := range procs {
			f.restart.Before = append(f.restart.Before, p.ID())
		}
		if env.StateDir != "" {
			base := "process-restart-" + fileSafe(env.RunID) + "-" + fileSafe(spec.Name)
			f.restart.Log = filepath.Join(env.StateDir, restartDir, base+".log")
			f.restart.Marker = filepath.Join(env.StateDir, restartDir, base+".pid")
		}
	}
	return f, nil
}

// kill is a process.kill fault.
type kill struct {
	sig     syscall.Signal
	procs   []Proc
	restart *RestartData // nil without a restart command
}

// Prepare notes which processes match the target before the kill, so that the restart can
// tell a process that came back from one that was never killed. It changes nothing.
func (f *kill) Prepare(ctx context.Context) error {
	if err := supported(); err != nil {
		return err
	}
	if f.restart == nil || f.restart.Selector == (Selector{}) {
		return nil
	}
	procs, _, err := f.restart.Selector.find(ctx, procfs.Root)
	if err != nil {
		return err
	}
	for _, p := range procs {
		if id := p.ID(); !slices.Contains(f.restart.Before, id) {
			f.restart.Before = append(f.restart.Before, id)
		}
	}
	return nil
}

func (f *kill) Plan() []string {
	lines := make([]string, 0, len(f.procs)+1)
	for _, p := range f.procs {
		lines = append(lines, "SIG"+procfs.SignalName(f.sig)+" "+p.Label())
	}
	if f.restart != nil {
		lines = append(lines, fmt.Sprintf("revert: run %s unless a new process matching %s runs", argv.Quote(f.restart.Argv), f.restart.Selector))
	}
	return lines
}

func (f *kill) Undo() []shakedown.Undo {
	if f.restart == nil {
		return nil
	}
	data, _ := json.Marshal(f.restart)
	return []shakedown.Undo{{
		Type:    UndoRestart,
		Data:    data,
		Summary: fmt.Sprintf("run %s unless %s runs again", argv.Quote(f.restart.Argv), f.restart.Selector),
	}}
}

func (f *kill) Inject(ctx context.Context) (shakedown.Revert, error) {
	killed, err := signalAll(ctx, f.procs, f.sig)
	if len(killed) == 0 {
		return nil, err
	}
	if f.restart == nil {
		return func(context.Context) error { return nil }, err
	}
	data := *f.restart
	var mu sync.Mutex
	var started struct {
		pid   int
		start uint64
	}
	return func(ctx context.Context) error {
		// Without a state directory there is no marker file: remember here what was started.
		mu.Lock()
		defer mu.Unlock()
		if started.pid > 0 && procfs.Alive(started.pid, started.start) {
			return nil
		}
		pid, start, err := restart(ctx, data)
		if pid > 0 {
			started.pid, started.start = pid, start
		}
		return err
	}, err
}

// restartGrace is how long Restart watches a started command for an early failure.
const restartGrace = 300 * time.Millisecond

// Restart runs d.Argv detached, unless a process it started before still runs (d.Marker) or
// the selector matches a process that was not among d.Before (the killed one came back; not
// checked for a pid selector, since a process that comes back has another pid). It is
// what a process.restart undo does. The started process runs in its own session with stdin
// from /dev/null and its output appended to d.Log, and outlives the caller; Restart watches
// it for restartGrace and fails if it exits non-zero by then.
func Restart(ctx context.Context, d RestartData) error {
	_, _, err := restart(ctx, d)
	return err
}

// restart is Restart that also returns the pid and start time of the process it started, if
// it started one.
func restart(ctx context.Context, d RestartData) (int, uint64, error) {
	op := "restart " + d.Selector.String()
	if len(d.Argv) == 0 || d.Argv[0] == "" {
		return 0, 0, shakedown.Errorf(shakedown.KindInvalid, "%s: no command", op)
	}
	if pid, start, ok := readMarker(d.Marker); ok && procfs.Alive(pid, start) {
		return 0, 0, nil
	}
	// A process that comes back has a new pid, so a pid selector cannot tell; only the
	// marker can.
	if d.Selector != (Selector{}) && d.Selector.PID == 0 {
		procs, _, err := d.Selector.find(ctx, procfs.Root)
		if err != nil && !shakedown.IsKind(err, shakedown.KindNotFound) {
			return 0, 0, shakedown.Wrap(shakedown.KindOf(err), op, err)
		}
		for _, p := range procs {
			if !slices.Contains(d.Before, p.ID()) {
				return 0, 0, nil // it came back by itself
			}
		}
	}

	out, err := openLog(d.Log)
	if err != nil {
		return 0, 0, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	defer out.Close()
	cmd := exec.Command(d.Argv[0], d.Argv[1:]...)
	cmd.Dir = d.Dir
	cmd.Stdout, cmd.Stderr = out, out // *os.File: the child gets the descriptor, no copying goroutine
	cmd.SysProcAttr = argv.OwnSession()
	if err := cmd.Start(); err != nil {
		kind := shakedown.KindInternal
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			kind = shakedown.KindNotFound
		}
		return 0, 0, shakedown.Wrap(kind, op, err)
	}
	pid := cmd.Process.Pid
	start, _ := procfs.StartTime(pid) // 0 if it is gone already; Wait below says why
	// The child is ours until it exits; reap it whenever that is so that it leaves no zombie.
	// This goroutine ends with the child or with this process, whichever comes first.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if start != 0 {
		if err := writeMarker(d.Marker, pid, start); err != nil {
			return pid, start, shakedown.Wrap(shakedown.KindInternal, op, err)
		}
	}
	timer := time.NewTimer(restartGrace)
	defer timer.Stop()
	select {
	case err := <-exited:
		if err != nil {
			return pid, start, shakedown.Errorf(shakedown.KindInternal, "%s: %s exited at once: %w%s", op, argv.Quote(d.Argv), err, logTail(d.Log))
		}
	case <-timer.C:
	case <-ctx.Done():
	}
	return pid, start, nil
}

func undoRestart(ctx context.Context, raw json.RawMessage) error {
	var d RestartData
	if err := json.Unmarshal(raw, &d); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "undo "+UndoRestart, err)
	}
	return Restart(ctx, d)
}

// restartDir is the folder of the state dir that holds restart logs and markers, private to
// the user (see package internal/private): a marker decides whether a restart runs again.
const restartDir = "restart"

func openLog(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	dir := filepath.Dir(path)
	if _, err := private.MkdirOwn(filepath.Dir(dir), filepath.Base(dir)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|private.NoFollow, 0o600)
	if err != nil {
		return nil, err
	}
	if err := private.CheckFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// logTail returns the last lines of a restart log, for an error message.
func logTail(path string) string {
	if path == "" {
		return ""
	}
	f, err := private.Open(path, os.O_RDONLY)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 4096 // the log of a restarted service may be long: its end is enough
	if size, err := f.Seek(0, io.SeekEnd); err == nil && size > tail {
		f.Seek(size-tail, io.SeekStart)
	} else {
		f.Seek(0, io.SeekStart)
	}
	b, err := io.ReadAll(io.LimitReader(f, tail))
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return " (log " + path + ": " + strings.Join(lines, " | ") + ")"
}

func readMarker(path string) (int, uint64, bool) {
	if path == "" {
		return 0, 0, false
	}
	fh, err := private.Open(path, os.O_RDONLY)
	if err != nil {
		return 0, 0, false
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, 64))
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	return pid, start, err1 == nil && err2 == nil && pid > 0
}

func writeMarker(path string, pid int, start uint64) error {
	if path == "" {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", pid, start), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// fileSafe keeps letters, digits, '-', '_' and '.' of s, for use in a file name.
func fileSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// UndoSignal is the undo type that sends a signal to one process, if it still runs:
// SignalData.
const UndoSignal = "process.signal"

// SignalData is the data of a process.signal undo.
type SignalData struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"starttime"`
	Signal    string `json:"signal"` // as ParseSignal reads it: "CONT"
}

var pauseType = shakedown.FaultType{
	Name:    "process.pause",
	Summary: "stop the selected processes with SIGSTOP; revert sends SIGCONT",
	Doc: "Sends SIGSTOP to each selected process, which then neither runs nor answers, but keeps its " +
		"sockets open: clients see timeouts, not refused connections. The revert sends SIGCONT to each " +
		"process that still runs with the same pid and start time; a process that is gone counts as " +
		"reverted. A process that is stopped already when the fault starts (job control, a debugger, " +
		"another pause) is left alone and not resumed by the revert: this fault did not stop it; when every " +
		"process is, the fault is refused before it is injected (exit 5), naming them. Leaving alone what someone else did holds for the live " +
		"revert: a replay of the journal after the runner died (the watchdog, `shakedown recover`) resumes every " +
		"process the fault was to stop when it was journaled, so one someone else stopped between the fault's " +
		"check and its inject is then resumed too. Processes owned by another user need root.",
	Targets: []string{Kind},
	New: func(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
		procs, err := procsOf(spec, targets)
		if err != nil {
			return nil, err
		}
		return &pause{all: procs, procs: procs}, nil
	},
}

// pause is a process.pause fault.
type pause struct {
	all   []Proc // the target's processes
	procs []Proc // those it stops: all but the ones stopped already when it was prepared
	left  []Proc // the ones stopped already, by someone else: never resumed by its revert
}

// Prepare leaves out the processes that are stopped already: a SIGCONT in the revert would
// resume what someone else stopped (a shell's job control, a debugger, another pause of this
// run). When that leaves none, the fault is refused (KindConflict): it would stop nothing,
// and the run would judge its hypothesis on a fault that never happened. It changes nothing.
func (f *pause) Prepare(context.Context) error {
	if err := supported(); err != nil {
		return err
	}
	f.procs, f.left = split(f.all)
	if len(f.procs) == 0 {
		return nothingToStop(f.left)
	}
	return nil
}

// split parts procs into those running, which the pause stops, and those stopped already
// by someone else, which it leaves alone. It only reads.
func split(procs []Proc) (run, left []Proc) {
	for _, p := range procs {
		if stopped(p) {
			left = append(left, p)
		} else {
			run = append(run, p)
		}
	}
	return run, left
}

// nothingToStop is the refusal of a pause whose processes are all stopped already.
func nothingToStop(left []Proc) error {
	if len(left) == 0 {
		return shakedown.Errorf(shakedown.KindConflict, "process.pause: no process to stop")
	}
	names := make([]string, len(left))
	for i, p := range left {
		names[i] = p.Label()
	}
	return shakedown.Errorf(shakedown.KindConflict,
		"process.pause: nothing left to stop: %s stopped already, not by this fault (job control, a debugger, another pause)",
		strings.Join(names, ", "))
}

// stopped reports whether process p, as it was resolved, is stopped now (by a signal or a
// tracer).
func stopped(p Proc) bool {
	st, err := procfs.ReadStat(procfs.Root, p.PID)
	return err == nil && st.StartTime == p.StartTime && (st.State == 'T' || st.State == 't')
}

// Plan says what the pause would do now: it looks at the processes itself, as a plan is
// never prepared.
func (f *pause) Plan() []string {
	run, left := split(f.all)
	lines := make([]string, 0, len(f.all)+1)
	for _, p := range run {
		lines = append(lines, "SIGSTOP "+p.Label())
	}
	for _, p := range left {
		lines = append(lines, "leave "+p.Label()+" alone: stopped already, not by this fault, so its revert does not resume it")
	}
	if len(run) == 0 {
		lines = append(lines, "nothing left to stop now: the fault would be refused (exit 5)")
	}
	return lines
}

func (f *pause) Undo() []shakedown.Undo {
	out := make([]shakedown.Undo, len(f.procs))
	for i, p := range f.procs {
		data, _ := json.Marshal(SignalData{PID: p.PID, StartTime: p.StartTime, Signal: "CONT"})
		out[i] = shakedown.Undo{Type: UndoSignal, Data: data, Summary: "SIGCONT " + p.Label()}
	}
	return out
}

func (f *pause) Inject(ctx context.Context) (shakedown.Revert, error) {
	if err := supported(); err != nil {
		return nil, err
	}
	// One stopped by someone else since Prepare is left alone as well; when that leaves
	// none, nothing is injected and the fault is refused.
	mine, left := split(f.procs)
	if len(mine) == 0 {
		return nil, nothingToStop(append(f.left[:len(f.left):len(f.left)], left...))
	}
	done, err := signalAll(ctx, mine, sigStop)
	if len(done) == 0 {
		return nil, err
	}
	revert := func(ctx context.Context) error {
		var errs []error
		for _, p := range done {
			if _, err := procfs.Signal(p.PID, p.StartTime, sigCont); err != nil {
				errs = append(errs, signalErr("SIGCONT", p, err))
			}
		}
		return errors.Join(errs...)
	}
	return revert, err
}

// signalAll sends sig to each process that still runs as it was resolved, and returns those
// it signalled. Processes that are gone are reported in the error (KindNotFound), not
// signalled.
func signalAll(ctx context.Context, procs []Proc, sig syscall.Signal) ([]Proc, error) {
	var done []Proc
	var errs []error
	name := "SIG" + procfs.SignalName(sig)
	for _, p := range procs {
		if err := ctx.Err(); err != nil {
			errs = append(errs, shakedown.Wrap(shakedown.KindAborted, name, err))
			break
		}
		ok, err := procfs.Signal(p.PID, p.StartTime, sig)
		switch {
		case err != nil:
			errs = append(errs, signalErr(name, p, err))
		case !ok:
			errs = append(errs, shakedown.Errorf(shakedown.KindNotFound,
				"%s %s: the process is gone (exited, or its pid belongs to another process now); not signalled", name, p.Label()))
		default:
			done = append(done, p)
		}
	}
	return done, errors.Join(errs...)
}

func signalErr(name string, p Proc, err error) error {
	kind := shakedown.KindInternal
	if errors.Is(err, syscall.EPERM) {
		kind = shakedown.KindPermission
	}
	return shakedown.Wrap(kind, fmt.Sprintf("%s %s", name, p.Label()), err)
}

// procsOf returns the processes a fault's target instances stand for.
func procsOf(spec *shakedown.FaultSpec, targets []shakedown.Instance) ([]Proc, error) {
	out := make([]Proc, 0, len(targets))
	for _, inst := range targets {
		p, err := procOf(inst)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "fault "+spec.Name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func undoSignal(_ context.Context, raw json.RawMessage) error {
	var d SignalData
	if err := json.Unmarshal(raw, &d); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "undo "+UndoSignal, err)
	}
	sig, err := ParseSignal(d.Signal)
	if err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "undo "+UndoSignal, err)
	}
	if d.PID <= 0 {
		return shakedown.Errorf(shakedown.KindInvalid, "undo %s: pid %d is not a process id", UndoSignal, d.PID)
	}
	p := Proc{PID: d.PID, StartTime: d.StartTime, Comm: "process"}
	if _, err := procfs.Signal(d.PID, d.StartTime, sig); err != nil {
		return signalErr("SIG"+procfs.SignalName(sig), p, err)
	}
	return nil
}

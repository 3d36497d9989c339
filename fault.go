package shakedown

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Env is what a target, fault or probe may know of the run it is part of.
type Env struct {
	RunID      string // unique and short; adapters prefix the names of what they create with it
	Experiment string // the experiment's name, for what others are told of the run
	StateDir   string // the run's state directory
	Seed       int64
	DryRun     bool // plan: resolve and describe, change nothing
	// Spare are TCP connections a fault must leave alone: on a host reached over SSH, the
	// runner's own connection, which carries the fault's lease.
	Spare []TCPConn
	// Targets are the instances the run selected, by target name, once every target is
	// resolved (nil before, and in a fault's own constructor): exec probes with on: run on
	// the instances of a target.
	Targets map[string][]Instance
	// Shared are the targets, by name, that let other runs hold their instances at once
	// (share: true): a fault on a fleet of hosts tells each host's own registry of held faults.
	Shared map[string]bool
}

// CommandRunner is implemented by the handle (Instance.Ref) of an instance that runs
// commands where it is: a host reached over SSH. The target kinds whose instances do say so
// with TargetKind.RunsCommands.
type CommandRunner interface {
	// RunCommand runs argv there with env added to its environment, in dir when dir is not
	// empty, and returns how it ended. A command that ran and failed is not an error; one
	// that could not be run (the host is unreachable) is. When ctx ends, the command is killed.
	RunCommand(ctx context.Context, argv []string, env map[string]string, dir string) (CommandResult, error)
}

// CommandResult is how a command run by a CommandRunner ended.
type CommandResult struct {
	Code   int    // its exit code; -1 when a signal ended it
	Signal string // the signal that ended it, or ""
	Stderr string // the tail of its standard error
}

// TCPConn is one TCP connection as this host sees it.
type TCPConn struct {
	Local, Peer netip.AddrPort
}

// ParseSSHConnection reads the value sshd gives SSH_CONNECTION ("client-addr client-port
// server-addr server-port") as the connection it names, seen from the server.
func ParseSSHConnection(s string) (TCPConn, bool) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return TCPConn{}, false
	}
	peer, err1 := netip.ParseAddrPort(net.JoinHostPort(f[0], f[1]))
	local, err2 := netip.ParseAddrPort(net.JoinHostPort(f[2], f[3]))
	if err1 != nil || err2 != nil {
		return TCPConn{}, false
	}
	unmap := func(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }
	return TCPConn{Local: unmap(local), Peer: unmap(peer)}, true
}

// Instance is one thing a target resolved to: a process, a proxied link, a container, a pod.
type Instance struct {
	Kind  string            `json:"kind"`
	ID    string            `json:"id"`   // stable identity, e.g. "1234@98765" for pid and start time
	Name  string            `json:"name"` // for people: "shop-web (pid 1234)"
	Attrs map[string]string `json:"attrs,omitempty"`
	// Ref is the adapter's own handle, for faults of the same family. If it implements
	// io.Closer, the engine closes it when the run ends.
	Ref any `json:"-"`
}

// RefAs returns in.Ref as a T when the target family that resolved the instance put one
// there, as a T or a non-nil *T. Faults of that family use it before falling back on what
// the instance's ID and Attrs say (an instance replayed from a journal has no Ref).
func RefAs[T any](in Instance) (T, bool) {
	switch r := in.Ref.(type) {
	case T:
		return r, true
	case *T:
		if r != nil {
			return *r, true
		}
	}
	var zero T
	return zero, false
}

// ValidateParams checks decoded parameters that know how to (they have a Validate method);
// others pass. A fault type's New calls it, so faults built from Go rather than from a file
// are checked the same way.
func ValidateParams(params any) error {
	if v, ok := params.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// ParamsAs returns the decoded parameters a registry entry's New or Resolve receives as the
// *T its Params function makes (a T is taken too). Anything else is a wiring mistake, an
// internal error that names what (e.g. "http probe") and the types.
func ParamsAs[T any](params any, what string) (*T, error) {
	switch p := params.(type) {
	case *T:
		if p != nil {
			return p, nil
		}
	case T:
		return &p, nil
	}
	var zero *T
	return nil, Errorf(KindInternal, "%s: parameters are %T, want %T", what, params, zero)
}

// Fault is one fault of an experiment, built for its selected target instances.
//
// The engine calls Undo, writes what it returns to the journal and syncs it, and only then
// calls Inject. Inject applies the fault and returns the Revert that takes it back; when it
// fails half way it still returns a Revert for what it applied, or nil if nothing was.
// A Revert must be idempotent and treat "already gone" as success. When the runner cannot
// revert (a panic in Inject, a crash), the undos are carried out instead, last first.
type Fault interface {
	Undo() []Undo
	Inject(ctx context.Context) (Revert, error)
}

// Revert takes back one injected fault. The engine calls it on a context detached from the
// run's, with its own deadline.
type Revert func(ctx context.Context) error

// Undo is the durable form of a revert: a registered UndoFunc name and its argument. The
// watchdog and `shakedown recover` replay it from the journal when the runner could not.
type Undo struct {
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"`
	Summary string          `json:"summary"` // for people: "SIGCONT pid 1234"
	// Interrupt marks an undo that stops an inject still running (kills the processes an
	// exec fault's inject started, say). It is carried out first, and only when the inject
	// may not have returned: the runner died during it. The runner's own revert never needs
	// it, as it reverts only once the inject has returned.
	Interrupt bool `json:"interrupt,omitempty"`
}

// InOrder returns undos in the order they are carried out when the fault's Revert cannot be
// (an inject that panicked, a replay of the journal): the Interrupt undos first, unless the
// inject is known to have returned, then the others last first.
func InOrder(undos []Undo, injectReturned bool) []Undo {
	out := make([]Undo, 0, len(undos))
	if !injectReturned {
		for _, u := range undos {
			if u.Interrupt {
				out = append(out, u)
			}
		}
	}
	for i := len(undos) - 1; i >= 0; i-- {
		if !undos[i].Interrupt {
			out = append(out, undos[i])
		}
	}
	return out
}

// UndoFunc carries out an Undo of its type. It must be idempotent: "already gone" is success.
type UndoFunc func(ctx context.Context, data json.RawMessage) error

// Preparer is a Fault that must look at the world before its Undo can be written (the
// replica count a scale fault will restore, say). The engine calls Prepare before Undo.
// Prepare must change nothing.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Watcher is a Fault that can lose hold of what it injected while the fault lasts (a host
// whose connection dropped): Lost receives a message for each loss, for the run to report
// at once. Whether the fault was taken back is still for its revert to say.
type Watcher interface {
	Lost() <-chan error
}

// Planner is a Fault that can say exactly what it will do ("add nft table shakedown_01h…",
// "SIGSTOP pid 1234"). plan prints these lines.
type Planner interface {
	Plan() []string
}

// Prober samples one probe. Probe returns a short observation for people ("200 in 3ms") and
// a nil error when the probe holds.
type Prober interface {
	Probe(ctx context.Context) (observed string, err error)
}

// Closer is implemented by probes, faults and instance handles that hold resources until the
// run ends.
type Closer interface {
	Close() error
}

// TTL returns how long a fault may live before the watchdog takes it back: its duration plus
// a margin, or the margin alone for one-shot faults.
func TTL(duration time.Duration) time.Duration { return duration + DefaultTTLMargin }

// MaxSchedule is the longest a fault schedule may span: every fault ends, its delay and the
// faults it comes after counted, within this of the inject phase's start; a baseline and a
// recovery are each at most this long too. It keeps every sum of them far from where a
// time.Duration wraps (292 years).
const MaxSchedule = 30 * 24 * time.Hour

// FaultWindow returns where a fault starts and ends, from the inject phase's start: delay
// after after (the latest start of the faults it comes after), for duration. ok is false
// when it starts or ends past MaxSchedule; start and end then stop just past it, never
// wrapping.
func FaultWindow(after, delay, duration time.Duration) (start, end time.Duration, ok bool) {
	const past = MaxSchedule + 1
	add := func(a, b time.Duration) time.Duration {
		if a < 0 || b < 0 || a > MaxSchedule || b > MaxSchedule || a+b > MaxSchedule {
			return past
		}
		return a + b
	}
	start = add(after, delay)
	end = add(start, duration)
	return start, end, end <= MaxSchedule
}

// FieldError is a problem with one field of a parameter set. A Validate method may return
// several, joined with errors.Join, so that each is reported at its own field.
type FieldError struct {
	Field string // the field's key as the file writes it: "ssh", "known_hosts"
	Index int    // the item of a list field the problem is with, from 0; -1 for the field
	Err   error
	// Against names the other fields the problem compares this one with ("delay" for a
	// jitter longer than the delay). A file decoder that could not read one of them leaves
	// the problem unsaid: it rests on a value the file did not give.
	Against []string
}

func (e *FieldError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("%s[%d]: %v", e.Field, e.Index, e.Err)
	}
	return e.Field + ": " + e.Err.Error()
}

func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors collects the problems of a parameter set, each at its field, so that a
// Validate method reports all of them rather than the first:
//
//	var errs shakedown.FieldErrors
//	if p.Status < 100 { errs.Add("status", "must lie in [100, 599], got %d", p.Status) }
//	return errs.Err()
//
// Each problem is of KindInvalid.
type FieldErrors struct{ errs []error }

// Add records a problem with the field as a whole.
func (fe *FieldErrors) Add(field, format string, args ...any) { fe.AddItem(field, -1, format, args...) }

// AddItem records a problem with item i of a list field (-1: the field as a whole).
func (fe *FieldErrors) AddItem(field string, i int, format string, args ...any) {
	fe.AddErr(field, i, Errorf(KindInvalid, format, args...))
}

// AddAgainst records a problem with the field that rests on the values of the other fields
// too (against), as a comparison with them does.
func (fe *FieldErrors) AddAgainst(field string, against []string, format string, args ...any) {
	fe.errs = append(fe.errs, &FieldError{Field: field, Index: -1, Err: Errorf(KindInvalid, format, args...), Against: against})
}

// AddErr records err as a problem with the field (item i, or -1); of several joined, each
// that names its own field (a FieldError) is kept as it is. A nil err is nothing.
func (fe *FieldErrors) AddErr(field string, i int, err error) {
	for _, e := range Unjoin(err) {
		if _, named := e.(*FieldError); !named {
			e = &FieldError{Field: field, Index: i, Err: invalid(e)}
		}
		fe.errs = append(fe.errs, e)
	}
}

// Whole records a problem with the parameters as a whole (which fields to give, say).
func (fe *FieldErrors) Whole(format string, args ...any) {
	fe.errs = append(fe.errs, Errorf(KindInvalid, format, args...))
}

// Merge records the problems of parameters embedded in these, as they name themselves.
func (fe *FieldErrors) Merge(err error) {
	for _, e := range Unjoin(err) {
		if _, named := e.(*FieldError); !named {
			e = invalid(e)
		}
		fe.errs = append(fe.errs, e)
	}
}

// Err returns the problems joined, or nil when there are none.
func (fe *FieldErrors) Err() error { return errors.Join(fe.errs...) }

// Unjoin returns the problems err joins — errors.Join's, and Join's (an *Error with no
// operation around them) — at any depth, or err alone; none for nil. An error with an
// operation around several is one problem of that operation.
func Unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok && e.Op == "" {
		if _, ok := e.Err.(interface{ Unwrap() []error }); ok {
			return Unjoin(e.Err)
		}
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, Unjoin(e)...)
	}
	return out
}

func invalid(err error) error {
	if KindOf(err) == KindInvalid {
		return err
	}
	return &Error{Kind: KindInvalid, Err: err}
}

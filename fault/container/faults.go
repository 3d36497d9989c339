package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
)

// The undo types of the container faults. Each is idempotent: a container that is gone, or
// already in the state the undo brings it to, counts as done.
const (
	UndoStart   = "container.start"   // start the container if it is not running: Ref
	UndoHalt    = "container.halt"    // end a stop still under way at once (SIGKILL): Ref; an Interrupt undo
	UndoUnpause = "container.unpause" // unpause the container if it is paused: Ref
	UndoConnect = "container.connect" // rejoin a network with the same aliases and address: ConnectData
)

// Ref names one container in an undo record: the daemon it lives on and its full id.
type Ref struct {
	Host string `json:"host"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

func (r Ref) label() string { return Container{ID: r.ID, Name: r.Name}.Label() }

// ConnectData is the data of a container.connect undo.
type ConnectData struct {
	Ref
	Network   string   `json:"network"`    // its name
	NetworkID string   `json:"network_id"` // its id, when known
	Aliases   []string `json:"aliases,omitempty"`
	IPv4      string   `json:"ipv4,omitempty"` // the address it had, asked for again when the network allows
	IPv6      string   `json:"ipv6,omitempty"`
}

// parallelism bounds how many containers one fault acts on at once.
const parallelism = 16

// KillParams are the parameters of container.kill.
type KillParams struct {
	Signal string `json:"signal" doc:"the signal to send, by name (KILL, SIGTERM) or number"`
	Via    string `json:"via" doc:"host: signal the container's init process from this machine, as a crash would (restart policies apply); api: ask the engine (Docker then counts the container as stopped by hand, and does not restart it); auto: host when the process is visible here, else api"`
}

// Validate checks the signal and the way.
func (p *KillParams) Validate() error {
	var errs shakedown.FieldErrors
	if _, err := NormalizeSignal(p.Signal); err != nil {
		errs.AddErr("signal", -1, err)
	}
	switch p.Via {
	case "", "auto", "host", "api":
	default:
		errs.Add("via", "%q: want auto, host or api", p.Via)
	}
	return errs.Err()
}

// GraceParams are the parameters of container.stop and container.restart.
type GraceParams struct {
	Grace shakedown.Duration `json:"grace" doc:"how long the container has to exit after SIGTERM before it is killed"`
}

// Validate checks the grace period.
func (p *GraceParams) Validate() error {
	var errs shakedown.FieldErrors
	if p.Grace < 0 || p.Grace.D() > time.Hour {
		errs.Add("grace", "%s: want 0 to 1h", p.Grace)
	}
	return errs.Err()
}

// DisconnectParams are the parameters of container.disconnect.
type DisconnectParams struct {
	Network string `json:"network" required:"true" doc:"the network (name or id) the containers leave"`
	Force   bool   `json:"force" doc:"force the disconnection"`
}

// Validate checks that a network is named.
func (p *DisconnectParams) Validate() error {
	var errs shakedown.FieldErrors
	if strings.TrimSpace(p.Network) == "" {
		errs.Add("network", "is required")
	}
	return errs.Err()
}

var signalNames = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
	"USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
	"CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
	"VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31,
}

// NormalizeSignal reads a signal as a name with or without SIG ("KILL", "sigterm") or a
// number (1–64) and returns the form the Engine API takes: "SIGKILL" or "40". The empty
// string is SIGKILL.
func NormalizeSignal(s string) (string, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if t == "" {
		return "SIGKILL", nil
	}
	if n, err := strconv.Atoi(t); err == nil {
		if n < 1 || n > 64 {
			return "", shakedown.Errorf(shakedown.KindInvalid, "signal %q: want 1–64", s)
		}
		for name, v := range signalNames {
			if v == n {
				return "SIG" + name, nil
			}
		}
		return strconv.Itoa(n), nil
	}
	t = strings.TrimPrefix(t, "SIG")
	if _, ok := signalNames[t]; !ok {
		return "", shakedown.Errorf(shakedown.KindInvalid, "signal %q is not a signal name", s)
	}
	return "SIG" + t, nil
}

var (
	killType = shakedown.FaultType{
		Name:    "container.kill",
		Summary: "send a signal (default SIGKILL) to the main process of the selected containers",
		Doc: "Sends `signal` to each selected container's main process. With `via: host` (the default " +
			"when the engine runs on this machine) the signal goes straight to the process, checked by " +
			"its start time, as in a crash: the engine sees the container die and its restart policy " +
			"applies. With `via: api` the engine's kill endpoint sends it; Docker then counts the " +
			"container as stopped by hand and does not restart it. One-shot: nothing is taken back; " +
			"the run watches the restart policy, the orchestrator or the peers recover.",
		Targets: []string{Kind},
		OneShot: true,
		Params:  func() any { return &KillParams{Signal: "KILL", Via: "auto"} },
		New:     newKill,
	}
	stopType = shakedown.FaultType{
		Name:    "container.stop",
		Summary: "stop the selected containers; revert starts them again",
		Doc: "Stops each selected container (SIGTERM, then SIGKILL after `grace`) and starts it again " +
			"when the fault's duration ends, as FIS's stop-instances with startInstancesAfterDuration. " +
			"The revert starts only containers that are not running; one that is gone counts as started. " +
			"A container that someone paused, or that stopped since the target was resolved, is refused before " +
			"this fault is injected (exit 5); one that stops meanwhile (the engine says it is stopped already) is not started " +
			"by the revert. While held, a container started again (by hand, its restart policy or its engine) " +
			"or removed is reported at once. A stop cut short (the run interrupted, `--timeout`, an engine that did " +
			"not answer in time) goes on in the engine through its grace period: the revert, and recovery if the run " +
			"dies while the engine is still stopping a container, end that stop at once (SIGKILL) before they start the " +
			"container, so the stop cannot land after. " + replayNote,
		Targets: []string{Kind},
		Params:  func() any { return &GraceParams{Grace: shakedown.Duration(10 * time.Second)} },
		New:     newStop,
	}
	pauseType = shakedown.FaultType{
		Name:    "container.pause",
		Summary: "freeze every process of the selected containers; revert unpauses them",
		Doc: "Pauses each selected container (the cgroup freezer): its processes neither run nor answer, " +
			"but its sockets stay open, so peers see timeouts rather than refused connections. The revert " +
			"unpauses each container that is still paused. A container someone else paused already is refused " +
			"before this fault is injected (exit 5), and one paused meanwhile (the engine says so) is left paused by the revert. " +
			"While held, a container unpaused by someone else, or removed, is reported at once. " + replayNote,
		Targets: []string{Kind},
		New:     newPause,
	}
	restartType = shakedown.FaultType{
		Name:    "container.restart",
		Summary: "restart the selected containers (one-shot)",
		Doc: "Restarts each selected container: SIGTERM, SIGKILL after `grace`, then start. One-shot; if " +
			"the run dies half way, recovery starts any container the restart left stopped. A paused container is " +
			"refused (a restart would unpause it).",
		Targets: []string{Kind},
		OneShot: true,
		Params:  func() any { return &GraceParams{Grace: shakedown.Duration(10 * time.Second)} },
		New:     newRestart,
	}
	disconnectType = shakedown.FaultType{
		Name:    "container.disconnect",
		Summary: "take the selected containers off a network; revert rejoins them",
		Doc: "Disconnects each selected container from `network`, a partition as its peers on that " +
			"network see it. Before that it records the container's aliases and address there; the revert " +
			"connects it again with the same aliases and, where the network has a configured subnet, the " +
			"same address (else the daemon picks one). A container already on the network again counts as " +
			"reverted; one that someone else took off the network after the fault read it is not connected " +
			"again by the revert. " + replayNote,
		Targets: []string{Kind},
		Params:  func() any { return &DisconnectParams{} },
		New:     newDisconnect,
	}
)

// replayNote says where a fault's care for changes made by someone else ends: the journal's
// undo knows only what the fault was to change when it was journaled.
const replayNote = "Leaving alone what someone else did holds for the live revert: a replay of the journal after the runner died " +
	"(the watchdog, `shakedown recover`) acts on every container the fault was to change when it was journaled, " +
	"so a change someone else made between the fault's check and its inject is then taken back too."

// base is what every container fault holds: its selected containers.
type base struct {
	name string
	ctrs []Container
}

func newBase(spec *shakedown.FaultSpec, targets []shakedown.Instance) (base, error) {
	if err := shakedown.ValidateParams(spec.Params); err != nil {
		return base{}, err
	}
	b := base{name: spec.Type}
	for _, in := range targets {
		c, err := containerOf(in)
		if err != nil {
			return base{}, err
		}
		b.ctrs = append(b.ctrs, c)
	}
	if len(b.ctrs) == 0 {
		return base{}, shakedown.Errorf(shakedown.KindNotFound, "%s: no containers selected", spec.Type)
	}
	return b, nil
}

func (b *base) refs(typ, verb string) []shakedown.Undo {
	out := make([]shakedown.Undo, len(b.ctrs))
	for i, c := range b.ctrs {
		data, _ := json.Marshal(Ref{Host: c.Host, ID: c.ID, Name: c.Name})
		out[i] = shakedown.Undo{Type: typ, Data: data, Summary: verb + " container " + c.Label()}
	}
	return out
}

func (b *base) plan(verb string) []string {
	out := make([]string, len(b.ctrs))
	for i, c := range b.ctrs {
		out[i] = verb + " container " + c.Label() + " on " + c.Host
	}
	return out
}

// each runs fn on every container, parallelism at a time, and returns the containers it
// succeeded on (in their order) and the errors of the others, joined.
func each(ctx context.Context, op string, ctrs []Container, fn func(context.Context, *Client, Container) error) ([]Container, error) {
	errs := eachErr(ctx, op, ctrs, fn)
	var done []Container
	for i, c := range ctrs {
		if errs[i] == nil {
			done = append(done, c)
		}
	}
	return done, shakedown.Join(errs...)
}

// eachErr runs fn on every container, parallelism at a time, and returns each one's error
// (nil on success), wrapped with op and the container's label.
func eachErr(ctx context.Context, op string, ctrs []Container, fn func(context.Context, *Client, Container) error) []error {
	errs := make([]error, len(ctrs))
	var g errgroup.Group
	g.SetLimit(parallelism)
	for i, c := range ctrs {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				// never asked: as it was, and not for a revert to take back
				errs[i] = shakedown.Wrap(shakedown.KindAborted, op+" "+c.Label(), fmt.Errorf("not attempted (%w): %w", err, errUnchanged))
				return nil
			}
			cl, err := ClientFor(c.Host)
			if err == nil {
				err = fn(ctx, cl, c)
			}
			if err != nil {
				errs[i] = shakedown.Wrap(shakedown.KindOf(err), op+" "+c.Label(), err)
			}
			return nil
		})
	}
	g.Wait()
	return errs
}

// apply runs a fault's change on every container and returns the containers it may have
// changed — those it succeeded on and those whose failure leaves it unknown (the engine did
// not answer, or failed inside) — with the errors of the others, joined. A container the
// engine refused to change (unchanged), or that was never asked for (the run was cancelled
// first), is left out: someone else paused, stopped or
// disconnected it meanwhile, and the fault's revert must not take that back.
//
// unsure holds those of changed whose change failed with its outcome unknown: the engine
// may still be carrying it out (a stop through its grace period, after the call was cut).
func apply(ctx context.Context, op string, ctrs []Container, fn func(context.Context, *Client, Container) error) (changed, unsure []Container, err error) {
	errs := eachErr(ctx, op, ctrs, func(ctx context.Context, cl *Client, c Container) error {
		return unchanged(fn(ctx, cl, c))
	})
	for i, c := range ctrs {
		switch {
		case errs[i] == nil:
			changed = append(changed, c)
		case !errors.Is(errs[i], errUnchanged):
			changed = append(changed, c)
			unsure = append(unsure, c)
		}
	}
	return changed, unsure, shakedown.Join(errs...)
}

// errUnchanged marks the failure of a change that was refused or never asked for: the
// container is as it was.
var errUnchanged = errors.New("left as it was")

// unchanged marks err as errUnchanged when it is the engine's refusal to change a
// container: "not modified" (stopped already) or a client error (paused already, not
// running, gone). A refusal that comes as a server error — Docker's "is not connected to
// network" (500 before API 1.44), Podman's "container state improper" (500 for a pause of a
// paused container) — is recognised by its message: the status alone would say that the
// change might have been half made.
func unchanged(err error) error {
	var ae *APIError
	if err == nil || !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.Status == http.StatusNotModified:
		return shakedown.Wrap(shakedown.KindConflict, "refused by the engine", fmt.Errorf("%w: %w", err, errUnchanged))
	case ae.Status >= 400 && ae.Status < 500,
		ae.Status >= 500 && (strings.Contains(ae.Message, "is not connected to") || strings.Contains(ae.Message, "container state improper")):
		kind := shakedown.KindOf(err)
		if kind == shakedown.KindInternal {
			kind = shakedown.KindConflict // a refusal: the container is not as the fault needs it
		}
		return shakedown.Wrap(kind, "refused by the engine", fmt.Errorf("%w: %w", err, errUnchanged))
	}
	return err
}

// check inspects every container before the fault's undo is written, and refuses those ok
// says the fault must not act on, or that are gone: it changes nothing.
func (b *base) check(ctx context.Context, op string, ok func(*Details) error) error {
	_, err := each(ctx, op, b.ctrs, func(ctx context.Context, cl *Client, c Container) error {
		d, err := inspectSame(ctx, cl, c.ID)
		if shakedown.IsKind(err, shakedown.KindNotFound) {
			return shakedown.Wrap(shakedown.KindNotFound, "gone since the target was resolved", err)
		}
		if err != nil {
			return err
		}
		return ok(d)
	})
	return err
}

// notPaused refuses a container that does not run, or that someone paused: a fault that
// stops, pauses or restarts it would take back, in its revert, what it did not do.
func notPaused(d *Details) error {
	switch {
	case d.State.Paused:
		return shakedown.Errorf(shakedown.KindConflict,
			"paused already, not by this fault: acting on it would unpause it for whoever paused it")
	case !d.State.Running || d.State.Restarting:
		return shakedown.Errorf(shakedown.KindConflict, "%s since the target was resolved, not by this fault", strings.ToLower(d.State.Status))
	}
	return nil
}

// revertEach returns a Revert that runs undo on each container, riding out an engine away
// for a moment (persist).
func revertEach(op string, ctrs []Container, undo func(context.Context, *Client, Ref) error) shakedown.Revert {
	if len(ctrs) == 0 {
		return nil
	}
	return func(ctx context.Context) error {
		_, err := each(ctx, op, ctrs, func(ctx context.Context, cl *Client, c Container) error {
			return persist(ctx, cl, func(ctx context.Context) error {
				return undo(ctx, cl, Ref{Host: c.Host, ID: c.ID, Name: c.Name})
			})
		})
		return err
	}
}

// awayFor is how long an undo tries again while the engine cannot be reached, within its
// context's deadline. (A variable for tests.)
var awayFor = 20 * time.Second

// persist calls undo until it succeeds, fails otherwise than by an engine that cannot be
// reached, or ctx ends, for as long as cl's engine has been away less than awayFor: an
// engine that restarts, or whose socket is away for a moment, must not leave in place a
// fault its revert would have taken back a second later. Undos are idempotent, so trying
// again is safe. The time away counts across undos: a replay of many undos against an
// engine that is gone waits awayFor once, not once for each. Any call the engine answers
// ends the time away; one undo still tries for no longer than awayFor from its own first
// failure, even when a call of it is answered and the next is not.
func persist(ctx context.Context, cl *Client, undo func(context.Context) error) error {
	wait := 100 * time.Millisecond
	var first time.Time
	for {
		err := undo(ctx)
		if err == nil || !shakedown.IsKind(err, shakedown.KindUnavailable) {
			cl.away(false)
			return err
		}
		since := cl.away(true)
		if first.IsZero() {
			first = time.Now()
		}
		if first.Before(since) {
			since = first
		}
		left := awayFor - time.Since(since)
		if left <= 0 {
			return err
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// ---- container.kill

type kill struct {
	base
	signal string
	via    string
}

func newKill(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	b, err := newBase(spec, targets)
	if err != nil {
		return nil, err
	}
	p, _ := spec.Params.(*KillParams)
	if p == nil {
		p = &KillParams{Signal: "KILL"}
	}
	sig, err := NormalizeSignal(p.Signal)
	if err != nil {
		return nil, err
	}
	via := p.Via
	if via == "" {
		via = "auto"
	}
	if via == "host" {
		for _, c := range b.ctrs {
			if c.PID <= 0 || c.StartTime == 0 {
				return nil, shakedown.Errorf(shakedown.KindInvalid,
					"container.kill via host: the process of container %s is not visible on this machine", c.Label())
			}
		}
	}
	return &kill{base: b, signal: sig, via: via}, nil
}

// hostSide reports whether the kill of c goes straight to its process.
func (f *kill) hostSide(c Container) bool {
	return f.via == "host" || (f.via == "auto" && c.PID > 0 && c.StartTime != 0)
}

func (f *kill) Plan() []string {
	out := make([]string, len(f.ctrs))
	for i, c := range f.ctrs {
		if f.hostSide(c) {
			out[i] = fmt.Sprintf("%s pid %d (init of container %s)", f.signal, c.PID, c.Label())
		} else {
			out[i] = f.signal + " container " + c.Label() + " through " + c.Host
		}
	}
	return out
}

func (f *kill) Undo() []shakedown.Undo { return nil }

func (f *kill) Inject(ctx context.Context) (shakedown.Revert, error) {
	_, _, err := apply(ctx, "container.kill", f.ctrs, func(ctx context.Context, cl *Client, c Container) error {
		if f.hostSide(c) {
			err := signalPID(c, f.signal)
			if f.via == "host" || !shakedown.IsKind(err, shakedown.KindPermission) {
				return err
			}
			// auto, and not allowed to signal the engine's processes: ask the engine
		}
		return cl.Kill(ctx, c.ID, f.signal)
	})
	return nil, err
}

// signalPID sends sig ("SIGKILL" or a number) to the container's init process if it is
// still the process resolved (same start time). One that is gone is KindNotFound.
func signalPID(c Container, sig string) error {
	n, ok := signalNames[strings.TrimPrefix(sig, "SIG")]
	if !ok {
		var err error
		if n, err = strconv.Atoi(sig); err != nil {
			return shakedown.Errorf(shakedown.KindInvalid, "signal %q", sig)
		}
	}
	// pinned by a pidfd, so a pid the kernel handed to another process is never signalled
	ok, err := procfs.Signal(c.PID, c.StartTime, syscall.Signal(n))
	switch {
	case errors.Is(err, syscall.EPERM):
		return shakedown.Wrap(shakedown.KindPermission, fmt.Sprintf("signal pid %d of container %s", c.PID, c.Label()), err)
	case err != nil:
		return shakedown.Wrap(shakedown.KindInternal, fmt.Sprintf("signal pid %d", c.PID), err)
	case !ok:
		if st, err := procfs.ReadStat(procfs.Root, c.PID); err == nil && st.StartTime != c.StartTime {
			return shakedown.Errorf(shakedown.KindNotFound, "process %d of container %s is gone (its pid now names another)", c.PID, c.Label())
		}
		return shakedown.Errorf(shakedown.KindNotFound, "process %d of container %s is gone", c.PID, c.Label())
	}
	return nil
}

// ---- container.stop

type stop struct {
	base
	watched
	grace time.Duration
}

func graceOf(spec *shakedown.FaultSpec) time.Duration {
	if p, ok := spec.Params.(*GraceParams); ok && p != nil {
		return p.Grace.D()
	}
	return 10 * time.Second
}

func newStop(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	b, err := newBase(spec, targets)
	if err != nil {
		return nil, err
	}
	return &stop{base: b, watched: newWatched(len(b.ctrs)), grace: graceOf(spec)}, nil
}

func (f *stop) Plan() []string { return f.plan("stop (grace " + f.grace.String() + ")") }

// Undo starts the containers again. When the run dies while the stop is under way (the
// engine goes on stopping a container through its grace period after the runner is gone),
// the start would find the container still running and do nothing, and the stop would then
// land and stay: so first, only then (Interrupt), the stop under way is ended at once.
func (f *stop) Undo() []shakedown.Undo {
	halts := f.refs(UndoHalt, "end the stop under way (SIGKILL) of")
	for i := range halts {
		halts[i].Interrupt = true
	}
	return append(halts, f.refs(UndoStart, "start")...)
}

// Prepare refuses containers that no longer run, or that someone paused: the revert's start
// would take back a stop that is not this fault's, or leave running one that was paused.
func (f *stop) Prepare(ctx context.Context) error { return f.check(ctx, "container.stop", notPaused) }

func (f *stop) Inject(ctx context.Context) (shakedown.Revert, error) {
	// A stop that failed half way may still have stopped the container: its revert starts
	// it. One that was not running any more is not this fault's to start. A stop whose call
	// was cut (the run interrupted, --timeout, no answer in time) goes on in the engine
	// through its grace period: the start would find the container still running and do
	// nothing, and the stop would land after it. So the revert first ends those stops at
	// once, as the journal's Interrupt undo does, and only then starts.
	changed, unsure, err := apply(ctx, "container.stop", f.ctrs, func(ctx context.Context, cl *Client, c Container) error {
		return cl.stop(ctx, c.ID, f.grace)
	})
	if err == nil {
		f.start("container.stop", changed, stillStopped)
	}
	return f.guard(inTurn(revertEach("end the stop under way of", unsure, halt), revertEach("start", changed, ensureStarted))), err
}

// inTurn returns a Revert that runs each of reverts (nil ones skipped) after the one
// before, every one even when one before failed, and joins their errors.
func inTurn(reverts ...shakedown.Revert) shakedown.Revert {
	var rs []shakedown.Revert
	for _, r := range reverts {
		if r != nil {
			rs = append(rs, r)
		}
	}
	switch len(rs) {
	case 0:
		return nil
	case 1:
		return rs[0]
	}
	return func(ctx context.Context) error {
		errs := make([]error, len(rs))
		for i, r := range rs {
			errs[i] = r(ctx)
		}
		return shakedown.Join(errs...)
	}
}

// ---- container.pause

type pause struct {
	base
	watched
}

func newPause(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	b, err := newBase(spec, targets)
	if err != nil {
		return nil, err
	}
	return &pause{base: b, watched: newWatched(len(b.ctrs))}, nil
}

func (f *pause) Plan() []string         { return f.plan("pause") }
func (f *pause) Undo() []shakedown.Undo { return f.refs(UndoUnpause, "unpause") }

// Prepare refuses containers that someone paused already, or that no longer run: pausing
// them would do nothing, and the revert would unpause them for whoever paused them.
func (f *pause) Prepare(ctx context.Context) error {
	return f.check(ctx, "container.pause", notPaused)
}

func (f *pause) Inject(ctx context.Context) (shakedown.Revert, error) {
	// The revert unpauses what this pause may have paused: not a container the engine
	// refused to pause because someone paused (or stopped) it meanwhile.
	changed, _, err := apply(ctx, "container.pause", f.ctrs, func(ctx context.Context, cl *Client, c Container) error {
		return cl.Pause(ctx, c.ID)
	})
	if err == nil {
		f.start("container.pause", changed, stillPaused)
	}
	return f.guard(revertEach("unpause", changed, ensureUnpaused)), err
}

// ---- container.restart

type restart struct {
	base
	grace time.Duration
}

func newRestart(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	b, err := newBase(spec, targets)
	if err != nil {
		return nil, err
	}
	return &restart{base: b, grace: graceOf(spec)}, nil
}

func (f *restart) Plan() []string { return f.plan("restart (grace " + f.grace.String() + ")") }

// Undo starts the containers: a run that dies half way through a restart must not leave
// them stopped.
func (f *restart) Undo() []shakedown.Undo { return f.refs(UndoStart, "start") }

// Prepare refuses containers that no longer run, or that someone paused: the restart would
// unpause them, and the undo would start one someone stopped.
func (f *restart) Prepare(ctx context.Context) error {
	return f.check(ctx, "container.restart", notPaused)
}

func (f *restart) Inject(ctx context.Context) (shakedown.Revert, error) {
	changed, _, err := apply(ctx, "container.restart", f.ctrs, func(ctx context.Context, cl *Client, c Container) error {
		return cl.Restart(ctx, c.ID, f.grace)
	})
	if err != nil {
		return revertEach("start", changed, ensureStarted), err
	}
	return nil, nil
}

// ---- container.disconnect

type disconnect struct {
	base
	network string
	force   bool

	mu    sync.Mutex
	links []ConnectData // one per container, filled by Prepare
}

func newDisconnect(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	b, err := newBase(spec, targets)
	if err != nil {
		return nil, err
	}
	p, _ := spec.Params.(*DisconnectParams)
	if p == nil {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "container.disconnect: network is required")
	}
	return &disconnect{base: b, network: p.Network, force: p.Force}, nil
}

func (f *disconnect) Plan() []string { return f.plan("disconnect from network " + f.network + ":") }

// Prepare records each container's aliases and address on the network, so the undo can
// rejoin it as it was. A container that is not on the network is KindConflict: the world
// is not as the experiment says (the file itself was valid), and nothing is injected.
func (f *disconnect) Prepare(ctx context.Context) error {
	links := make([]ConnectData, len(f.ctrs))
	var mu sync.Mutex
	_, err := each(ctx, "container.disconnect: read", f.ctrs, func(ctx context.Context, cl *Client, c Container) error {
		nw, err := cl.InspectNetwork(ctx, f.network)
		if err != nil {
			return err
		}
		d, err := inspectSame(ctx, cl, c.ID)
		if err != nil {
			return err
		}
		att := attachment(d, nw.Name, nw.ID)
		if att == nil {
			return shakedown.Errorf(shakedown.KindConflict, "container %s is not on network %s (now)", c.Label(), nw.Name)
		}
		cd := ConnectData{Ref: Ref{Host: c.Host, ID: c.ID, Name: c.Name}, Network: nw.Name, NetworkID: nw.ID,
			Aliases: userAliases(att.Aliases, d.ID), IPv4: att.IPAddress, IPv6: att.GlobalIPv6Address}
		if att.IPAMConfig != nil && att.IPAMConfig.IPv4Address != "" {
			cd.IPv4 = att.IPAMConfig.IPv4Address
		}
		mu.Lock()
		for i := range f.ctrs {
			if f.ctrs[i].ID == c.ID {
				links[i] = cd
			}
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.links = links
	f.mu.Unlock()
	return nil
}

// attachment returns the container's attachment to the network with this name or id.
func attachment(d *Details, name, id string) *Attachment {
	for n, a := range d.NetworkSettings.Networks {
		if a != nil && (n == name || (id != "" && a.NetworkID == id)) {
			return a
		}
	}
	return nil
}

// userAliases drops the short container id that older daemons list among the aliases: the
// daemon adds it again on its own.
func userAliases(aliases []string, id string) []string {
	var out []string
	for _, a := range aliases {
		if a != ShortID(id) && a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (f *disconnect) Undo() []shakedown.Undo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]shakedown.Undo, 0, len(f.links))
	for _, l := range f.links {
		data, _ := json.Marshal(l)
		out = append(out, shakedown.Undo{Type: UndoConnect, Data: data,
			Summary: fmt.Sprintf("connect container %s to network %s", l.label(), l.Network)})
	}
	return out
}

func (f *disconnect) Inject(ctx context.Context) (shakedown.Revert, error) {
	f.mu.Lock()
	links := f.links
	f.mu.Unlock()
	if len(links) != len(f.ctrs) {
		if err := f.Prepare(ctx); err != nil {
			return nil, err
		}
		f.mu.Lock()
		links = f.links
		f.mu.Unlock()
	}
	byID := map[string]ConnectData{}
	for _, l := range links {
		byID[l.ID] = l
	}
	// The revert rejoins what this fault may have taken off the network: not a container
	// the engine says was not on it any more (someone disconnected it meanwhile).
	changed, _, err := apply(ctx, "container.disconnect", f.ctrs, func(ctx context.Context, cl *Client, c Container) error {
		return cl.Disconnect(ctx, byID[c.ID].NetworkID, c.ID, f.force)
	})
	if len(changed) == 0 {
		return nil, err
	}
	revert := func(ctx context.Context) error {
		_, err := each(ctx, "connect", changed, func(ctx context.Context, cl *Client, c Container) error {
			return persist(ctx, cl, func(ctx context.Context) error { return ensureConnected(ctx, cl, byID[c.ID]) })
		})
		return err
	}
	return revert, err
}

// ---- undos

// inspectSame inspects the container with this id, and says it is gone (KindNotFound) when
// the engine answers with another: an engine looks a string up as a name when no container
// has it as id, so a container named after a removed one's id would take its place.
func inspectSame(ctx context.Context, cl *Client, id string) (*Details, error) {
	d, err := cl.Inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.ID != id && (len(id) < 12 || !strings.HasPrefix(d.ID, id)) {
		return nil, shakedown.Errorf(shakedown.KindNotFound, "container %s is gone (%s took its name)", ShortID(id), d.Label())
	}
	return d, nil
}

// ensureStarted starts a container unless it runs or is gone.
func ensureStarted(ctx context.Context, cl *Client, r Ref) error {
	d, err := inspectSame(ctx, cl, r.ID)
	for err == nil && !d.State.Running && stopping(d) {
		// Podman refuses to start a container it is still stopping (its grace, or a
		// kill on its way): wait for the stop to land, within the undo's bound.
		select {
		case <-ctx.Done():
			return shakedown.Wrap(shakedown.KindUnavailable, "wait for the engine to end its stop", context.Cause(ctx))
		case <-time.After(stopPoll):
		}
		d, err = inspectSame(ctx, cl, r.ID)
	}
	if shakedown.IsKind(err, shakedown.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.State.Running {
		return nil
	}
	if err := cl.Start(ctx, r.ID); err != nil && !shakedown.IsKind(err, shakedown.KindNotFound) {
		return err
	}
	return nil
}

// halt ends at once a stop the engine may still have under way for a run that died during
// its inject, or whose stop call was cut: a container that runs is killed (the fault was
// stopping it), so that the start that follows is not overtaken by the stop landing later. One that does not run, or
// is gone, is done.
func halt(ctx context.Context, cl *Client, r Ref) error {
	d, err := inspectSame(ctx, cl, r.ID)
	if shakedown.IsKind(err, shakedown.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !d.State.Running && !stopping(d) {
		return nil
	}
	err = cl.Kill(ctx, r.ID, "SIGKILL")
	if s := statusOf(err); s == http.StatusNotFound || s == http.StatusConflict {
		return nil // gone, or not running any more
	}
	return err
}

// stopping reports whether the engine says it is stopping d: Podman's status while a stop
// waits out its grace (Docker keeps such a container running until the stop lands).
func stopping(d *Details) bool { return strings.EqualFold(d.State.Status, "stopping") }

// stopPoll is how often an undo looks again at a container the engine is still stopping.
const stopPoll = 100 * time.Millisecond

// ensureUnpaused unpauses a container if it is paused and still there.
func ensureUnpaused(ctx context.Context, cl *Client, r Ref) error {
	d, err := inspectSame(ctx, cl, r.ID)
	if shakedown.IsKind(err, shakedown.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !d.State.Paused {
		return nil
	}
	err = cl.Unpause(ctx, r.ID)
	if err == nil || shakedown.IsKind(err, shakedown.KindNotFound) {
		return nil
	}
	if d2, err2 := inspectSame(ctx, cl, r.ID); err2 == nil && !d2.State.Paused {
		return nil // someone else unpaused it meanwhile
	}
	return err
}

// ensureConnected connects a container to the network again, as it was, unless it is there
// already or the container or network is gone.
func ensureConnected(ctx context.Context, cl *Client, cd ConnectData) error {
	d, err := inspectSame(ctx, cl, cd.ID)
	if shakedown.IsKind(err, shakedown.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if attachment(d, cd.Network, cd.NetworkID) != nil {
		return nil
	}
	network := cd.NetworkID
	if network == "" {
		network = cd.Network
	}
	nw, err := cl.InspectNetwork(ctx, network)
	switch {
	case shakedown.IsKind(err, shakedown.KindNotFound):
		return nil // the network is gone: there is nothing to rejoin
	case err != nil:
		return err
	case cd.NetworkID != "" && nw.ID != cd.NetworkID:
		return nil // gone too: another network answered to its id as a name
	}
	cfg := ConnectConfig{Aliases: cd.Aliases, IPv4: cd.IPv4, IPv6: cd.IPv6}
	err = cl.Connect(ctx, network, cd.ID, cfg)
	if err != nil && (cfg.IPv4 != "" || cfg.IPv6 != "") && !shakedown.IsKind(err, shakedown.KindUnavailable) {
		// a fixed address needs a network with a configured subnet, and the address may
		// be taken meanwhile: join with one the daemon picks
		cfg.IPv4, cfg.IPv6 = "", ""
		err = cl.Connect(ctx, network, cd.ID, cfg)
	}
	if err != nil {
		if d2, err2 := inspectSame(ctx, cl, cd.ID); err2 == nil && attachment(d2, cd.Network, cd.NetworkID) != nil {
			return nil
		}
		return err
	}
	return nil
}

func undoRef(f func(context.Context, *Client, Ref) error) shakedown.UndoFunc {
	return func(ctx context.Context, data json.RawMessage) error {
		var r Ref
		if err := json.Unmarshal(data, &r); err != nil || r.ID == "" || r.Host == "" {
			return shakedown.Errorf(shakedown.KindInvalid, "container undo: bad data %s", data)
		}
		cl, err := ClientFor(r.Host)
		if err != nil {
			return err
		}
		return persist(ctx, cl, func(ctx context.Context) error { return f(ctx, cl, r) })
	}
}

func undoConnect(ctx context.Context, data json.RawMessage) error {
	var cd ConnectData
	if err := json.Unmarshal(data, &cd); err != nil || cd.ID == "" || cd.Host == "" || (cd.Network == "" && cd.NetworkID == "") {
		return shakedown.Errorf(shakedown.KindInvalid, "container.connect undo: bad data %s", data)
	}
	cl, err := ClientFor(cd.Host)
	if err != nil {
		return err
	}
	return persist(ctx, cl, func(ctx context.Context) error { return ensureConnected(ctx, cl, cd) })
}

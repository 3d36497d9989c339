package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/hold"
	"github.com/shakedown-dev/shakedown/journal"
	"github.com/shakedown-dev/shakedown/remote"
)

// remoteAgentCommand is the remote side of a fault on a host reached over SSH: the runner
// stages this binary on the host and runs `remote-agent inject` there (see remote.AgentRequest
// for the conversation). It injects one fault through the same fault code as a local run,
// journaled in the host's state dir and guarded by a watchdog on the host, and holds it while
// the runner renews its lease.
func (a *app) remoteAgentCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "remote-agent",
		Short:  "The remote side of a fault on a host reached over SSH",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	var stateDir string
	inject := &cobra.Command{
		Use:         "inject",
		Short:       "Inject one fault asked for on standard input, hold it under a lease, revert it",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{onSignal: signalReverts},
		RunE: func(cmd *cobra.Command, args []string) error {
			// The runner going away must not stop the revert: it is what the lease is for.
			ctx := context.WithoutCancel(cmd.Context())
			if stateDir == "" {
				dir, err := RemoteStateDir()
				if err != nil {
					return err
				}
				stateDir = dir
			}
			real, err := resolveStateDir(stateDir) // as a run's, once
			if err != nil {
				return err
			}
			signalIgnorePipe()
			ag := &agent{app: a, stateDir: real, out: json.NewEncoder(a.stdout),
				log: slog.New(slog.NewTextHandler(a.stderr, nil))}
			return ag.main(ctx, bufio.NewReader(a.stdin))
		},
	}
	inject.Flags().StringVar(&stateDir, "state-dir", "", "the state dir on this host (default /tmp/shakedown-<uid>/state)")
	recoverCmd := &cobra.Command{
		Use:         "recover",
		Short:       "Revert what dead runs left injected on this host",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{onSignal: signalReverts},
		RunE: func(cmd *cobra.Command, args []string) error {
			if stateDir == "" {
				dir, err := RemoteStateDir()
				if err != nil {
					return err
				}
				stateDir = dir
			}
			done, failed := a.recoverJournals(context.WithoutCancel(cmd.Context()), stateDir)
			if done == 0 && !failed {
				fmt.Fprintln(a.stdout, "nothing to recover")
			}
			if failed {
				return exitError{code: shakedown.VerdictNotRestored.ExitCode()}
			}
			return nil
		},
	}
	recoverCmd.Flags().StringVar(&stateDir, "state-dir", "", "the state dir on this host (default /tmp/shakedown-<uid>/state)")
	cmd.AddCommand(inject, recoverCmd)
	return cmd
}

// RemoteStateDir returns the state dir a remote agent keeps its journals in when it is told
// none, /tmp/shakedown-<uid>/state, making /tmp/shakedown-<uid> (0700) when it is missing.
// A /tmp/shakedown-<uid> that is a link or another user's is refused.
func RemoteStateDir() (string, error) {
	state := remote.HostStateDir(strconv.Itoa(os.Geteuid()))
	base := filepath.Dir(state)
	if err := os.Mkdir(base, 0o700); err != nil && !os.IsExist(err) {
		return "", shakedown.Wrap(shakedown.KindInternal, "remote state dir", err)
	}
	own, err := ownDir(base)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindOf(err), "remote state dir", err)
	}
	if !own {
		return "", shakedown.Errorf(shakedown.KindPermission, "remote state dir: %s is not a directory of this user's own", base)
	}
	if err := os.Chmod(base, 0o700); err != nil {
		return "", shakedown.Wrap(shakedown.KindInternal, "remote state dir", err)
	}
	return state, nil
}

// agent is one remote-agent inject: one fault on this host.
type agent struct {
	*app
	stateDir string
	out      *json.Encoder
	log      *slog.Logger
}

func (ag *agent) say(ev remote.AgentEvent) { ag.out.Encode(ev) }

func (ag *agent) fail(err error) error {
	ag.say(remote.AgentEvent{Event: remote.EventError, Error: err.Error(), Kind: shakedown.KindOf(err).String()})
	return err
}

// built is a fault built on this host from a request.
type built struct {
	fault shakedown.Fault
	spec  *shakedown.FaultSpec
	hold  *hold.Hold // what the fault acts on here, as this host's registry of held faults keeps it
}

// targets names what the target resolved to on this host.
func (b *built) targets() []string {
	names := make([]string, len(b.hold.Items))
	for i, it := range b.hold.Items {
		names[i] = it.Name
	}
	return names
}

// build resolves the request's target on this host and builds its fault, changing nothing.
func (ag *agent) build(ctx context.Context, req remote.AgentRequest) (*built, error) {
	typ, ok := ag.reg.Fault(req.Type)
	if !ok {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "this host's shakedown has no fault type %q", req.Type)
	}
	kind, ok := ag.reg.Target(req.Target.Kind)
	if !ok {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "this host's shakedown has no target kind %q", req.Target.Kind)
	}
	if !slices.Contains(typ.Targets, kind.Name) {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s does not act on a %s target", typ.Name, kind.Name)
	}
	params, err := decodeParams(typ.Params, req.Params, "fault "+typ.Name)
	if err != nil {
		return nil, err
	}
	tparams, err := decodeParams(kind.Params, req.Target.Params, "target "+kind.Name)
	if err != nil {
		return nil, err
	}
	env := shakedown.Env{RunID: req.RunID, StateDir: ag.stateDir, Seed: req.Seed, DryRun: req.DryRun}
	// The SSH connection this agent was started over carries its lease: a network fault on
	// this host must not cut it (remote.Client.Run passes it through sudo).
	if c, ok := shakedown.ParseSSHConnection(os.Getenv("SSH_CONNECTION")); ok {
		env.Spare = []shakedown.TCPConn{c}
	}
	ins, err := kind.Resolve(ctx, env, tparams)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "resolve "+kind.Name+" target", err)
	}
	if len(ins) == 0 {
		return nil, shakedown.Errorf(shakedown.KindNotFound, "the %s target resolved to nothing on this host", kind.Name)
	}
	b := &built{spec: &shakedown.FaultSpec{Name: req.Fault, Type: req.Type, Target: kind.Name, Params: params,
		Duration: time.Duration(req.Duration)}}
	b.fault, err = typ.New(env, b.spec, ins)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "build "+typ.Name, err)
	}
	// The fault is held in this host's own registry, beside runs started here and agents of
	// other runners: a run on another machine must not stack a fault that cannot share.
	b.hold = ownHold(req.RunID, req.Experiment, "remote run "+req.RunID, ag.stateDir)
	b.hold.Journal = remote.JournalID(req.RunID, req.Fault)
	for _, in := range ins {
		b.hold.Items = append(b.hold.Items, hold.Item{Key: hold.Key(in), Name: cmpOr(in.Name, in.ID), Target: kind.Name,
			Fault: req.Fault, Type: req.Type, Share: req.Share, Stacks: typ.Stacks})
	}
	return b, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// decodeParams decodes raw strictly into a new parameter struct of newParams and checks it.
func decodeParams(newParams func() any, raw json.RawMessage, what string) (any, error) {
	if newParams == nil {
		return nil, nil
	}
	p := newParams()
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(p); err != nil {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: %w", what, err)
		}
	}
	if err := shakedown.ValidateParams(p); err != nil {
		return nil, shakedown.Wrap(shakedown.KindInvalid, what, err)
	}
	return p, nil
}

func (ag *agent) main(ctx context.Context, in *bufio.Reader) error {
	line, err := readLine(in, maxRequest)
	if errors.Is(err, errLineTooLong) {
		return ag.fail(shakedown.Errorf(shakedown.KindInvalid, "request on standard input: longer than %d bytes", maxRequest))
	}
	if err != nil && len(line) == 0 {
		return ag.fail(shakedown.Errorf(shakedown.KindInvalid, "no request on standard input"))
	}
	req, err := remote.ParseAgentRequest(line)
	if err != nil {
		return ag.fail(err)
	}
	b, err := ag.build(ctx, req)
	if err != nil {
		return ag.fail(err)
	}
	defer func() {
		if c, ok := b.fault.(shakedown.Closer); ok {
			c.Close()
		}
	}()
	var lines []string
	if pl, ok := b.fault.(shakedown.Planner); ok {
		lines = pl.Plan()
	}
	jid := b.hold.JournalID()
	reg := ag.holds()
	if req.DryRun {
		ag.say(remote.AgentEvent{Event: remote.EventInjected, Lines: lines, Targets: b.targets(), Journal: journal.Path(ag.stateDir, jid)})
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return ag.fail(shakedown.Wrap(shakedown.KindInternal, "find own executable for the watchdog", err))
	}
	if err := os.MkdirAll(ag.stateDir, 0o700); err != nil {
		return ag.fail(shakedown.Wrap(shakedown.KindInternal, "state dir", err))
	}
	if err := reg.Claim(b.hold); err != nil {
		return ag.fail(err)
	}
	// The hold goes once nothing of the fault is left injected; otherwise its journal keeps it
	// live until the watchdog or recover has undone the rest.
	defer func() {
		if pending, err := journal.ScanRun(ag.stateDir, jid); err == nil && len(pending) == 0 {
			reg.Release(jid)
		}
	}()
	j, err := openGuardedJournal(ctx, exe, ag.stateDir, jid, &shakedown.Experiment{Name: req.Fault, File: "remote run " + req.RunID})
	if err != nil {
		return ag.fail(err)
	}
	held, err := ag.inject(ctx, j, b, req)
	if err != nil {
		if cerr := j.Close(); cerr != nil {
			err = fmt.Errorf("%w; %v", err, cerr)
		}
		return ag.fail(err)
	}
	ag.say(remote.AgentEvent{Event: remote.EventInjected, Lines: lines, Targets: b.targets(), Journal: journal.Path(ag.stateDir, jid)})

	why := ag.hold(in, time.Duration(req.Lease))
	ag.log.Info("reverting", "fault", req.Fault, "why", why)
	rctx, cancel := context.WithTimeout(ctx, shakedown.DefaultRevertWait)
	rerr := held.revert(rctx)
	cancel()
	if jerr := j.Done(held.id, rerr); jerr != nil && rerr == nil {
		rerr = jerr
	}
	if cerr := j.Close(); cerr != nil && rerr == nil {
		rerr = cerr
	}
	ev := remote.AgentEvent{Event: remote.EventReverted}
	if rerr != nil {
		ev.Error, ev.Kind = rerr.Error(), shakedown.KindOf(rerr).String()
	}
	ag.say(ev)
	return rerr
}

// heldFault is an injected fault and its journal entry.
type heldFault struct {
	id     int
	revert shakedown.Revert
}

// inject journals the fault, then injects it; a fault that fails half way is reverted.
func (ag *agent) inject(ctx context.Context, j interface {
	Begin(string, []shakedown.Undo, time.Duration) (int, error)
	Injected(int) error
	Done(int, error) error
}, b *built, req remote.AgentRequest) (*heldFault, error) {
	if p, ok := b.fault.(shakedown.Preparer); ok {
		if err := p.Prepare(ctx); err != nil {
			return nil, err
		}
	}
	ttl := time.Duration(req.TTL)
	if ttl <= 0 {
		ttl = shakedown.TTL(time.Duration(req.Duration))
	}
	id, err := j.Begin(req.Fault, b.fault.Undo(), ttl)
	if err != nil {
		return nil, err
	}
	rev, err := b.fault.Inject(ctx)
	if jerr := j.Injected(id); jerr != nil && err == nil {
		err = jerr
	}
	if err != nil {
		var rerr error
		if rev != nil {
			rctx, cancel := context.WithTimeout(ctx, shakedown.DefaultRevertWait)
			rerr = rev(rctx)
			cancel()
		}
		j.Done(id, rerr)
		return nil, shakedown.Wrap(shakedown.KindOf(err), "inject "+req.Type, err)
	}
	if rev == nil {
		rev = func(context.Context) error { return nil }
	}
	return &heldFault{id: id, revert: rev}, nil
}

// hold holds the fault until the runner asks for the revert, its lease lapses (no renewal
// for lease) or its connection ends, and says which.
func (ag *agent) hold(in *bufio.Reader, lease time.Duration) string {
	if lease <= 0 {
		lease = remote.DefaultLease
	}
	lines := make(chan string)
	go func() { // ends with the process: standard input is never closed here
		defer close(lines)
		for {
			line, err := readLine(in, maxToken)
			switch {
			case errors.Is(err, errLineTooLong):
				continue // not a renewal, nor a revert
			case err != nil:
				return
			}
			lines <- string(line[:len(line)-1])
		}
	}()
	t := time.NewTimer(lease)
	defer t.Stop()
	for {
		select {
		case line, ok := <-lines:
			switch {
			case !ok:
				return "the runner's connection ended"
			case line == remote.AgentRevert:
				return "the runner asked"
			case line == remote.AgentRenew:
				t.Reset(lease)
			}
		case <-t.C:
			return fmt.Sprintf("the lease lapsed: no renewal for %s", lease)
		}
	}
}

// signalIgnorePipe makes a write to a closed standard output an error rather than the end
// of the process: an agent whose runner went away must live on to revert.
func signalIgnorePipe() { signal.Ignore(syscall.SIGPIPE) }

const (
	maxRequest = 1 << 20 // the most a request line may hold
	maxToken   = 1 << 10 // the most a line may hold while the fault is held (a renewal, a revert)
)

var errLineTooLong = errors.New("line too long")

// readLine reads a line of at most max bytes. A longer one is read to its end (or the
// input's) and dropped, keeping no more than max bytes meanwhile: errLineTooLong. As
// bufio.Reader.ReadBytes, it returns what it read before an error, and the error.
func readLine(in *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	over := false
	for {
		chunk, err := in.ReadSlice('\n')
		if !over && len(line)+len(chunk) > max {
			over, line = true, nil
		}
		if !over {
			line = append(line, chunk...)
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case over:
			return nil, errLineTooLong
		}
		return line, err
	}
}

package hosts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/journal"
	"github.com/shakedown-dev/shakedown/remote"
)

// startAgent is remote.StartAgent; tests put a host without SSH in its place.
var startAgent = remote.StartAgent

// remoteFault is a host fault type acting on the hosts of a hosts target: on each, a remote
// agent injects it with the host's own shakedown.
type remoteFault struct {
	spec   *shakedown.FaultSpec
	conns  []*Conn
	req    remote.AgentRequest
	binary string // the local file staged on the hosts
	limit  int

	staged []string // the staged binary on each host, by Prepare

	mu     sync.Mutex
	agents []*remote.Agent // the agents holding the fault, by host; nil where none does
	lost   chan error      // a host whose agent the runner lost hold of, for the run to report
}

// newRemote builds typ's fault for the hosts in targets. It does no I/O.
func newRemote(env shakedown.Env, spec *shakedown.FaultSpec, typ *shakedown.FaultType, targets []shakedown.Instance, opts Options) (shakedown.Fault, error) {
	f := &remoteFault{spec: spec}
	for _, in := range targets {
		c, ok := shakedown.RefAs[*Conn](in)
		if !ok || c == nil {
			return nil, shakedown.Errorf(shakedown.KindInternal, "%s: instance %s is not a host", spec.Type, in.Name)
		}
		f.conns = append(f.conns, c)
	}
	p := f.conns[0].params
	f.limit = p.Concurrency
	var target remote.AgentTarget
	switch {
	case p.Process != nil && slices.Contains(typ.Targets, "process"):
		b, err := json.Marshal(p.Process)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInternal, spec.Type, err)
		}
		target = remote.AgentTarget{Kind: "process", Params: b}
	case slices.Contains(typ.Targets, "host"):
		target = remote.AgentTarget{Kind: "host"}
	default:
		return nil, shakedown.Errorf(shakedown.KindInvalid,
			"fault %s: %s acts on processes: give target %s a process: {name | pid | pidfile | cmdline} to find them on each host",
			spec.Name, spec.Type, spec.Target)
	}
	params, err := json.Marshal(spec.Params)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, spec.Type, err)
	}
	f.req = remote.AgentRequest{RunID: env.RunID, Experiment: env.Experiment, Fault: spec.Name, Type: spec.Type, Params: params,
		Duration: remote.Millis(spec.Duration), TTL: remote.Millis(shakedown.TTL(spec.Duration)),
		Lease: remote.Millis(cmpOr(opts.Lease, remote.DefaultLease)), Seed: env.Seed, Target: target,
		Share: env.Shared[spec.Target]}
	f.binary = opts.Binary
	f.agents = make([]*remote.Agent, len(f.conns))
	f.lost = make(chan error, len(f.conns))
	f.staged = make([]string, len(f.conns))
	return f, nil
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// onHost says what the fault acts on, on each host.
func (f *remoteFault) onHost() string {
	if f.req.Target.Kind == "process" {
		return "processes " + f.conns[0].params.Process.String()
	}
	return "the host"
}

// Plan says, host by host, what would run there and where its journal would be.
func (f *remoteFault) Plan() []string {
	var out []string
	for _, c := range f.conns {
		as := "as " + cmpOr(c.Host.User, "the current user")
		uid := "<uid>"
		if c.Host.Sudo || c.Host.User == "root" {
			as += ", root by sudo"
			uid = "0"
		}
		if c.Host.User == "root" {
			as = "as root"
		}
		out = append(out, fmt.Sprintf("%s (%s): %s on %s, by shakedown remote-agent (%s); journal %s",
			c.Name, c.Addr, f.spec.Type, f.onHost(), as, journal.Path(remote.HostStateDir(uid), remote.JournalID(f.req.RunID, f.spec.Name))))
	}
	return out
}

// Prepare stages the binary on every host (reused where its SHA-256 matches).
func (f *remoteFault) Prepare(ctx context.Context) error {
	bin, err := localBinary(f.binary)
	if err != nil {
		return err
	}
	errs := fanOut(ctx, len(f.conns), f.limit, func(ctx context.Context, i int) error {
		p, err := f.conns[i].Stage(ctx, bin)
		f.staged[i] = p
		return err
	})
	return joinHosts(errs, f.name)
}

func (f *remoteFault) name(i int) string { return f.conns[i].Name }

// Undo runs `remote-agent recover` on every host: whatever the hosts' own leases and
// watchdogs did not take back, the runner's watchdog or `shakedown recover` does.
func (f *remoteFault) Undo() []shakedown.Undo {
	d := recoverData{}
	names := make([]string, len(f.conns))
	for i, c := range f.conns {
		d.Hosts = append(d.Hosts, recoverHost{Name: c.Name, Host: c.Host, Binary: f.staged[i], Local: f.binary})
		names[i] = c.Name
	}
	b, _ := json.Marshal(d)
	return []shakedown.Undo{{Type: UndoRecover, Data: b,
		Summary: fmt.Sprintf("%s: remote-agent recover on %s", f.spec.Type, strings.Join(names, ", "))}}
}

// Inject starts an agent on every host at once (up to the concurrency cap) and returns when
// each said it injected, or failed. A partial inject returns the revert of what was injected,
// and of what may have been: the hosts whose agents did not answer.
func (f *remoteFault) Inject(ctx context.Context) (shakedown.Revert, error) {
	ttl := time.Duration(f.req.TTL)
	errs := fanOut(ctx, len(f.conns), f.limit, func(ctx context.Context, i int) error {
		if f.staged[i] == "" || f.conns[i].Client == nil {
			return shakedown.Errorf(shakedown.KindInternal, "not dialled or not staged")
		}
		// A host that has not answered within the fault's TTL never will in time to matter
		// (its own watchdog takes the fault back then): it is given up on, and reverted as
		// one that may hold the fault. The TTL counts from this host's own request, not
		// from the fan-out's start: time queued behind the concurrency cap is not its.
		ctx, cancel := context.WithTimeoutCause(ctx, ttl, fmt.Errorf("no answer within the fault's TTL (%s)", ttl))
		defer cancel()
		// An agent comes back with an error too when the host may hold the fault (its
		// answer never came): the revert asks it, and hears it confirm or says it did not.
		a, _, err := startAgent(ctx, f.conns[i].Client, f.staged[i], f.req)
		if a != nil {
			f.mu.Lock()
			f.agents[i] = a
			f.mu.Unlock()
			go f.watch(i, a)
		}
		return err
	})
	err := joinHosts(errs, f.name)
	if err != nil && !f.holding() {
		return nil, err
	}
	return f.revert, err
}

// watch reports host i when the runner loses hold of its agent before releasing it.
func (f *remoteFault) watch(i int, a *remote.Agent) {
	select {
	case <-a.Lost():
		f.lost <- fmt.Errorf("host %s: lost hold of the fault (its own lease takes it back; the revert says whether the host confirms): %w",
			f.conns[i].Name, a.RenewErr())
	case <-a.Released():
	}
}

// Lost implements shakedown.Watcher.
func (f *remoteFault) Lost() <-chan error { return f.lost }

func (f *remoteFault) holding() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.agents, func(a *remote.Agent) bool { return a != nil })
}

// revert asks every agent to revert and waits for each to confirm. A host that does not
// confirm is an error of kind KindNotRestored naming it.
func (f *remoteFault) revert(ctx context.Context) error {
	f.mu.Lock()
	agents := slices.Clone(f.agents)
	clear(f.agents)
	f.mu.Unlock()
	// Every agent is asked, and let go, even once ctx has ended: Revert then reports the
	// host as not restored, and its session's end lets the host take the fault back.
	errs := fanOut(context.WithoutCancel(ctx), len(agents), f.limit, func(_ context.Context, i int) error {
		if agents[i] == nil {
			return nil
		}
		return agents[i].Revert(ctx)
	})
	return joinHosts(errs, f.name)
}

// Close lets go of agents that were never asked to revert: their hosts revert on their own.
func (f *remoteFault) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, a := range f.agents {
		if a != nil {
			a.Close()
			f.agents[i] = nil
		}
	}
	return nil
}

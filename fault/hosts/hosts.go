// Package hosts is shakedown's family of remote hosts: the `hosts` target kind, Linux
// machines reached over SSH (a list of addresses, or an inventory file whose hosts are
// selected by their labels), and the remote form of every host fault type (process,
// network, stress, disk) on them.
//
//	runner                                   each selected host (package remote)
//	  resolve: Dial every host ──────────▶   host key checked against known_hosts
//	  prepare: Stage own binary ─────────▶   /tmp/shakedown-<uid>/<sha256[:16]>/shakedown
//	  inject:  remote-agent inject ──────▶   journal + watchdog in /tmp/shakedown-<uid>/state,
//	           renew every lease/4 ──────▶   the same fault code as a local run
//	  revert:  "revert" ─────────────────▶   reverted, confirmed
//
// A host whose runner stops renewing (killed, connection lost) reverts on its own within the
// lease; a host whose agent is killed too is reverted by its watchdog; the runner's journal
// holds an undo that runs `remote-agent recover` on every host the fault touched.
package hosts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/fault/process"
	"github.com/shakedown-dev/shakedown/remote"
)

// Kind is the name of the target kind.
const Kind = "hosts"

// UndoRecover is the undo type that runs `remote-agent recover` on the hosts of a fault.
const UndoRecover = "hosts.recover"

// DefaultConcurrency caps how many hosts are dialled, staged on or injected at once.
const DefaultConcurrency = 16

// Options are the run-wide settings of the family.
type Options struct {
	// Binary is the local file staged on the hosts as their shakedown (--remote-binary, for
	// hosts of another architecture); this executable when empty.
	Binary string
	// Lease is the time to live of a fault's lease on a host; remote.DefaultLease when zero.
	Lease time.Duration
}

// Register adds the hosts target kind and its undo to r, and extends every fault type
// registered so far that acts on processes or on this host to act on hosts too. Call it
// after the host fault families are registered.
func Register(r *shakedown.Registry, opts Options) {
	r.AddTarget(shakedown.TargetKind{
		Name:    Kind,
		Summary: "Linux machines reached over SSH (addresses, or an inventory file selected by labels)",
		Params:  func() any { return &Params{} },
		Resolve: resolve,
		Connect: func(ctx context.Context, env shakedown.Env, selected []shakedown.Instance) error {
			return connect(ctx, env, selected, opts)
		},
		// Exec probes with on: run on the selected hosts (Conn.RunCommand).
		RunsCommands: true,
	})
	for _, ft := range r.Faults() {
		if !slices.Contains(ft.Targets, "process") && !slices.Contains(ft.Targets, "host") {
			continue
		}
		inner := *ft
		t := *ft
		t.Targets = append(slices.Clone(ft.Targets), Kind)
		t.New = func(env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
			if len(targets) > 0 && targets[0].Kind == Kind {
				return newRemote(env, spec, &inner, targets, opts)
			}
			return inner.New(env, spec, targets)
		}
		r.ReplaceFault(t)
	}
	r.AddUndo(UndoRecover, undoRecover)
}

// Params is the parameter set of the hosts target: the hosts (ssh or inventory) and how to
// log in to them.
type Params struct {
	SSH       []string          `json:"ssh,omitempty" doc:"host or host:port of each host (port 22 when absent)"`
	Inventory string            `json:"inventory,omitempty" doc:"an inventory file (JSON: user, identity, known_hosts, hosts with name, address and labels), instead of ssh"`
	Labels    map[string]string `json:"labels,omitempty" doc:"with inventory: only the hosts that have all these labels"`

	User                  string `json:"user,omitempty" doc:"login user (default: the inventory's, else the current user)"`
	Identity              string `json:"identity,omitempty" doc:"private key file (unencrypted); an ssh-agent ($SSH_AUTH_SOCK) is asked too"`
	KnownHosts            string `json:"known_hosts,omitempty" doc:"known_hosts file the hosts' keys must be in; required unless insecure_ignore_host_key"`
	InsecureIgnoreHostKey bool   `json:"insecure_ignore_host_key,omitempty" doc:"accept any host key (a run that does says so loudly)"`
	Sudo                  bool   `json:"sudo,omitempty" doc:"run the remote side as root with sudo -n (the user needs passwordless sudo)"`

	Process     *process.Selector `json:"process,omitempty" doc:"the processes on each host that process faults act on (one of pid, pidfile, name, cmdline)"`
	Concurrency int               `json:"concurrency,omitempty" doc:"hosts dialled, staged on and injected at once (default 16)"`
}

// Validate reports every problem of the parameters, each as a *shakedown.FieldError.
func (p *Params) Validate() error {
	var errs []error
	field := func(name string, i int, format string, args ...any) {
		errs = append(errs, &shakedown.FieldError{Field: name, Index: i, Err: fmt.Errorf(format, args...)})
	}
	switch {
	case len(p.SSH) == 0 && p.Inventory == "":
		field("ssh", -1, "give the hosts: ssh (a list of addresses) or inventory (a file)")
	case len(p.SSH) > 0 && p.Inventory != "":
		field("inventory", -1, "give ssh or inventory, not both")
	}
	seen := map[string]int{}
	for i, a := range p.SSH {
		ep, err := remote.Endpoint(a)
		if err != nil {
			field("ssh", i, "%v", err)
			continue
		}
		if j, dup := seen[ep]; dup {
			field("ssh", i, "%s is listed twice (also item %d)", ep, j)
		}
		seen[ep] = i
	}
	if err := remote.CheckUser(p.User); err != nil {
		field("user", -1, "%v", err)
	}
	if len(p.Labels) > 0 && p.Inventory == "" {
		field("labels", -1, "labels select hosts of an inventory; there is none")
	}
	if len(p.SSH) > 0 && p.KnownHosts == "" && !p.InsecureIgnoreHostKey {
		field("known_hosts", -1, "required: the file the hosts' keys are checked against (or insecure_ignore_host_key: true)")
	}
	if p.KnownHosts != "" && p.InsecureIgnoreHostKey {
		field("insecure_ignore_host_key", -1, "known_hosts is given too: say one or the other")
	}
	if p.Concurrency < 0 {
		field("concurrency", -1, "must be ≥ 1, not %d", p.Concurrency)
	}
	if s := p.Process; s != nil {
		for _, err := range shakedown.Unjoin(s.Validate()) {
			field("process", -1, "%s", strings.TrimPrefix(err.Error(), "process target: "))
		}
	}
	return errors.Join(errs...)
}

// Warnings says what people must be told loudly about these parameters: a host key check
// turned off, here or in the inventory.
func (p *Params) Warnings() []string {
	insecure := p.InsecureIgnoreHostKey
	if p.Inventory != "" {
		if inv, err := remote.ReadInventory(expand(p.Inventory)); err == nil && inv.InsecureIgnoreHostKey {
			insecure = true
		}
	}
	if !insecure {
		return nil
	}
	return []string{"host keys are NOT checked (insecure_ignore_host_key: true): anyone between here and the hosts can pose as them"}
}

// Hosts lists the hosts the parameters name (their names, as the file or the inventory
// gives them) and how to log in to each.
func (p *Params) Hosts() ([]string, []remote.Host, error) {
	hs, err := p.hosts()
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(hs))
	out := make([]remote.Host, len(hs))
	for i, h := range hs {
		names[i], out[i] = h.name, h.Host
	}
	return names, out, nil
}

// host is one host of the target, before it is dialled.
type host struct {
	name string
	remote.Host
}

// hosts lists the hosts the parameters name, with how to log in to them.
func (p *Params) hosts() ([]host, error) {
	var out []host
	if p.Inventory != "" {
		inv, err := remote.ReadInventory(expand(p.Inventory))
		if err != nil {
			return nil, err
		}
		for _, ih := range inv.Hosts {
			if !hasLabels(ih.Labels, p.Labels) {
				continue
			}
			h, _ := inv.Host(ih.Name)
			out = append(out, host{name: ih.Name, Host: p.override(h)})
		}
		return out, nil
	}
	for _, a := range p.SSH {
		out = append(out, host{name: a, Host: p.override(remote.Host{Address: a})})
	}
	return out, nil
}

// override sets what the parameters say over what an inventory says.
func (p *Params) override(h remote.Host) remote.Host {
	if p.User != "" {
		h.User = p.User
	}
	if p.Identity != "" {
		h.Identity = expand(p.Identity)
	}
	if p.KnownHosts != "" {
		h.KnownHosts, h.InsecureIgnoreHostKey = expand(p.KnownHosts), false
	}
	if p.InsecureIgnoreHostKey {
		h.InsecureIgnoreHostKey = true
	}
	if p.Sudo {
		h.Sudo = true
	}
	return h
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// expand replaces a leading ~/ with the home directory.
func expand(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return path
}

// Conn is a host of a hosts target: the Ref of the instances the target resolves to, dialled
// once the run selected it (Client). The engine closes it when the run ends.
type Conn struct {
	Name   string // as the file or the inventory names it
	Addr   string // host:port
	Host   remote.Host
	Client *remote.Client
	params *Params

	mu     sync.Mutex // held while staging: the faults of a run on one host stage once
	staged map[string]string
}

// Stage stages the local file on the host once for all the faults of the run that act on
// it, and returns its path there.
func (c *Conn) Stage(ctx context.Context, local string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.staged[local]; ok {
		return p, nil
	}
	if c.Client == nil {
		return "", shakedown.Errorf(shakedown.KindInternal, "stage on %s: not dialled", c.Name)
	}
	p, err := c.Client.Stage(ctx, local)
	if err != nil {
		return "", err
	}
	if c.staged == nil {
		c.staged = map[string]string{}
	}
	c.staged[local] = p
	return p, nil
}

// dial connects to the host, once.
func (c *Conn) dial(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Client != nil {
		return nil
	}
	cl, err := remote.Dial(ctx, c.Host)
	if err != nil {
		return err
	}
	c.Client = cl
	return nil
}

// execScript runs a command on a host for RunCommand: in the directory $1 when it is not
// empty, with the NAME=VALUE lines of its standard input added to its environment (values
// travel on standard input, not the command line, where the host's ps would show them).
const execScript = `[ -z "$1" ] || cd -- "$1" || exit 126; shift; ` +
	`while IFS= read -r kv; do export "$kv" || exit 126; done; exec "$@" </dev/null`

// RunCommand runs argv on the host as its remote side runs (with sudo when the target says
// sudo). It implements shakedown.CommandRunner for exec probes with on:.
func (c *Conn) RunCommand(ctx context.Context, argv []string, env map[string]string, dir string) (shakedown.CommandResult, error) {
	c.mu.Lock()
	cl := c.Client
	c.mu.Unlock()
	if cl == nil {
		return shakedown.CommandResult{}, shakedown.Errorf(shakedown.KindInternal, "run on %s: not dialled", c.Name)
	}
	var in strings.Builder
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if strings.ContainsAny(env[k], "\n\x00") {
			return shakedown.CommandResult{}, shakedown.Errorf(shakedown.KindInvalid, "run on %s: the value of %s has a line break or NUL, which a command on a host cannot be given", c.Name, k)
		}
		fmt.Fprintf(&in, "%s=%s\n", k, env[k])
	}
	out, err := cl.Run(ctx, append([]string{"sh", "-c", execScript, "sh", dir}, argv...), strings.NewReader(in.String()))
	var ee *remote.ExitError
	if errors.As(err, &ee) {
		return shakedown.CommandResult{Code: ee.Code, Signal: ee.Signal, Stderr: ee.Stderr}, nil
	}
	if err != nil {
		return shakedown.CommandResult{}, err
	}
	return shakedown.CommandResult{Code: out.Code, Signal: out.Signal, Stderr: out.Stderr}, nil
}

// Close closes the connection, if the host was dialled.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Client == nil {
		return nil
	}
	return c.Client.Close()
}

// resolve lists the hosts the target names, without dialling them: only those a run selects
// are dialled (connect).
func resolve(_ context.Context, _ shakedown.Env, params any) ([]shakedown.Instance, error) {
	p, err := shakedown.ParamsAs[Params](params, "hosts target")
	if err != nil {
		return nil, err
	}
	hs, err := p.hosts()
	if err != nil {
		return nil, err
	}
	out := make([]shakedown.Instance, len(hs))
	for i, h := range hs {
		addr, err := remote.HostPort(h.Address)
		if err != nil {
			return nil, err
		}
		c := &Conn{Name: h.name, Addr: addr, Host: h.Host, params: p}
		out[i] = shakedown.Instance{Kind: Kind, ID: addr, Name: h.name,
			Attrs: map[string]string{"address": addr, "user": h.User}, Ref: c}
	}
	return out, nil
}

// connect dials the selected hosts in parallel; any host that cannot be reached, or whose
// key does not verify, is an error naming it (all of them are named). Two hosts whose
// connections reach one address are one machine under two names: refused as invalid.
//
// A run (not a plan) also stages the binary of the remote side on each host now, before the
// baseline: its upload then neither counts in the time to inject nor competes with the
// baseline's probes for the connection.
//
// The connections' keepalives go every quarter of a lease: a connection that cannot carry
// one for about a lease cannot carry the lease either, and is closed, so that the run hears
// of a host it lost while the fault lasts (shakedown.Watcher) rather than at its revert.
func connect(ctx context.Context, env shakedown.Env, selected []shakedown.Instance, opts Options) error {
	conns := make([]*Conn, len(selected))
	for i, in := range selected {
		c, ok := shakedown.RefAs[*Conn](in)
		if !ok || c == nil {
			return shakedown.Errorf(shakedown.KindInternal, "hosts target: instance %s has no host", in.Name)
		}
		conns[i] = c
	}
	if len(conns) == 0 {
		return nil
	}
	bin := ""
	if !env.DryRun {
		var err error
		if bin, err = localBinary(opts.Binary); err != nil {
			return err
		}
	}
	keepalive := cmpOr(opts.Lease, remote.DefaultLease) / 4
	name := func(i int) string { return conns[i].Name }
	errs := fanOut(ctx, len(conns), conns[0].params.Concurrency, func(ctx context.Context, i int) error {
		if conns[i].Host.Keepalive == 0 {
			conns[i].Host.Keepalive = keepalive
		}
		return conns[i].dial(ctx)
	})
	if err := joinHosts(errs, name); err != nil {
		return err
	}
	if err := oneEach(conns); err != nil {
		return err
	}
	if bin == "" {
		return nil
	}
	errs = fanOut(ctx, len(conns), conns[0].params.Concurrency, func(ctx context.Context, i int) error {
		_, err := conns[i].Stage(ctx, bin)
		return err
	})
	return joinHosts(errs, name)
}

// oneEach refuses two hosts whose connections reached one address (two names of one
// machine): its faults would be injected on it twice, the second refused half way through.
func oneEach(conns []*Conn) error {
	var errs []error
	first := map[string]*Conn{}
	for _, c := range conns {
		at := c.Client.RemoteAddr().String()
		if o, dup := first[at]; dup {
			errs = append(errs, shakedown.Errorf(shakedown.KindInvalid, "hosts %s and %s are one host (both reach %s): list it once", o.Name, c.Name, at))
			continue
		}
		first[at] = c
	}
	return shakedown.Join(errs...)
}

// localBinary is the local file staged on hosts: binary (--remote-binary), or this
// executable when it is empty.
func localBinary(binary string) (string, error) {
	if binary != "" {
		return binary, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindInternal, "find own executable to stage", err)
	}
	return self, nil
}

// fanOut runs f for 0..n-1, at most limit at once (DefaultConcurrency when limit ≤ 0), and
// returns each one's error. Once ctx has ended, f is not started for the ones still waiting
// for a slot: their error says so (of kind aborted when ctx was cancelled). A step that must
// reach every host whatever ctx says (a revert) passes context.WithoutCancel(ctx).
func fanOut(ctx context.Context, n, limit int, f func(ctx context.Context, i int) error) []error {
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = notStarted(ctx)
				return
			}
			defer func() { <-sem }()
			// Both may have been ready at once: a slot taken after ctx ended is not used.
			if ctx.Err() != nil {
				errs[i] = notStarted(ctx)
				return
			}
			errs[i] = f(ctx, i)
		})
	}
	wg.Wait()
	return errs
}

// notStarted is the error of a fan-out's step that ctx ended before it began.
func notStarted(ctx context.Context) error {
	kind := shakedown.KindUnavailable
	if errors.Is(ctx.Err(), context.Canceled) {
		kind = shakedown.KindAborted
	}
	return shakedown.Wrap(kind, "not started", context.Cause(ctx))
}

// joinHosts joins the errors of a fan-out, each naming its host, as shakedown.Join does;
// nil when there are none.
func joinHosts(errs []error, name func(int) string) error {
	var all []error
	for i, err := range errs {
		if err != nil {
			all = append(all, shakedown.Wrap(shakedown.KindOf(err), "host "+name(i), err))
		}
	}
	return shakedown.Join(all...)
}

// recoverData is the argument of an UndoRecover undo.
type recoverData struct {
	Hosts []recoverHost `json:"hosts"`
}

type recoverHost struct {
	Name   string      `json:"name"`
	Host   remote.Host `json:"host"`
	Binary string      `json:"binary"`          // the staged binary on the host
	Local  string      `json:"local,omitempty"` // the local file staged, to stage again when that is gone
}

// undoRecover runs `remote-agent recover` on every host of the fault: the dead runs'
// journals there are replayed (the live ones, an agent still reverting, are left to it).
func undoRecover(ctx context.Context, raw json.RawMessage) error {
	var d recoverData
	if err := json.Unmarshal(raw, &d); err != nil {
		return shakedown.Errorf(shakedown.KindInvalid, "hosts.recover: %w", err)
	}
	errs := fanOut(ctx, len(d.Hosts), 0, func(ctx context.Context, i int) error {
		_, err := Recover(ctx, d.Hosts[i].Host, d.Hosts[i].Binary, d.Hosts[i].Local)
		return err
	})
	return joinHosts(errs, func(i int) string { return d.Hosts[i].Name })
}

// RecoverAll runs Recover on every host of hs at once (up to DefaultConcurrency), staging
// local (this executable when empty), and returns what each said and each one's error.
func RecoverAll(ctx context.Context, hs []remote.Host, local string) ([]string, []error) {
	outs := make([]string, len(hs))
	errs := fanOut(ctx, len(hs), 0, func(ctx context.Context, i int) error {
		var err error
		outs[i], err = Recover(ctx, hs[i], "", local)
		return err
	})
	return outs, errs
}

// Recover dials h and runs `binary remote-agent recover` there, which replays the journals
// that dead runs left in the host's state dir; it returns what that said. An empty binary
// stages local first (this executable when local is empty too).
func Recover(ctx context.Context, h remote.Host, binary, local string) (string, error) {
	c, err := remote.Dial(ctx, h)
	if err != nil {
		return "", err
	}
	defer c.Close()
	given := binary != ""
	if !given {
		if local == "" {
			if local, err = os.Executable(); err != nil {
				return "", shakedown.Wrap(shakedown.KindInternal, "find own executable", err)
			}
		}
		if binary, err = c.Stage(ctx, local); err != nil {
			return "", err
		}
	}
	out, err := c.Run(ctx, []string{binary, "remote-agent", "recover"}, nil)
	var missing *remote.ExitError
	if errors.As(err, &missing) && missing.Code == 127 && given {
		// The staged copy is gone (a later version replaced it): stage this one.
		c.Close()
		return Recover(ctx, h, "", local)
	}
	text := strings.TrimSpace(string(out.Stdout))
	if err != nil {
		var ee *remote.ExitError
		if errors.As(err, &ee) && ee.Code == shakedown.KindNotRestored.ExitCode() {
			return text, shakedown.Errorf(shakedown.KindNotRestored, "recover on %s: %s", c.Addr(), text)
		}
		return text, err
	}
	return text, nil
}

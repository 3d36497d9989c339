// Package network provides the host network faults — network.partition, network.loss,
// network.delay, network.bandwidth, network.reset and dns.fail — and the two targets they act
// on: netns (a named network namespace standing for a host) and host (this machine).
//
// Each fault is planned first, as a pure function of its parameters (Plan), then applied
// through netlink: nftables rules in an inet table of the run's own named
// shakedown_<run>_<fault>, and tbf qdiscs whose handle is derived from that name. Reverting
// deletes exactly that table and those qdiscs, so concurrent runs and other people's rules are
// never touched. Sweep finds what dead runs left behind.
package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// Undo types this package registers.
const (
	UndoTable = "network.table" // TableUndo: delete an nft table
	UndoQdisc = "network.qdisc" // QdiscUndo: delete root qdiscs with a handle
)

// TableUndo is the journal form of an nft table to delete.
type TableUndo struct {
	Netns string `json:"netns"` // "" for this host's namespace
	Table string `json:"table"` // inet family
}

// QdiscUndo is the journal form of root qdiscs to delete from every link of a namespace.
type QdiscUndo struct {
	Netns  string `json:"netns"`
	Handle uint16 `json:"handle"` // major number
}

// NetnsParams are the parameters of the netns target.
type NetnsParams struct {
	Name string `json:"name" required:"true" doc:"name of the network namespace, as ip netns lists it (/run/netns/NAME)"`
}

// Validate checks the parameters.
func (p *NetnsParams) Validate() error {
	var errs shakedown.FieldErrors
	if p.Name == "" || strings.ContainsAny(p.Name, "/\x00") || p.Name == "." || p.Name == ".." {
		errs.Add("name", "%q: want a plain name as ip netns lists it", p.Name)
	}
	return errs.Err()
}

// HostParams are the parameters of the host target: none.
type HostParams struct{}

// Register adds the netns and host targets, the network fault types and their undo
// functions to r.
func Register(r *shakedown.Registry) {
	r.AddTarget(shakedown.TargetKind{
		Name:    "netns",
		Summary: "a named network namespace standing for a host",
		Params:  func() any { return &NetnsParams{} },
		Resolve: resolveNetns,
	})
	r.AddTarget(shakedown.TargetKind{
		Name:    "host",
		Summary: "this machine",
		Params:  func() any { return &HostParams{} },
		Resolve: resolveHost,
	})
	targets := []string{"netns", "container", "host"}
	add := func(name, summary, doc string, params func() any) {
		r.AddFault(shakedown.FaultType{Name: name, Summary: summary, Doc: doc, Targets: targets, Root: true,
			Params: params, New: newFault(name),
			// An nft table of the run's own stacks; a root qdisc (bandwidth, netem delay) or
			// a userspace queue (delay without netem) is one per link.
			Stacks: name != "network.delay" && name != "network.bandwidth"})
	}
	add("network.partition", "drop traffic to and from cidrs (all but loopback if none)",
		"Drops matching packets in an nft table of the run's own; revert deletes the table. See docs/host-faults.md.",
		func() any { return &PartitionParams{Filter: Filter{Direction: DirBoth}} })
	add("network.loss", "drop percent of packets at random",
		"nft numgen random drops the share of matching packets; revert deletes the table.",
		func() any { return &LossParams{Filter: Filter{Direction: DirIn}} })
	add("network.delay", "add delay±jitter to packets (netem where the kernel has it, else userspace NFQUEUE)",
		"Without netem, matching packets are queued to this process and accepted after delay±jitter; if the process dies they pass undelayed.",
		func() any { return &DelayParams{Filter: Filter{Direction: DirOut}} })
	add("network.bandwidth", "limit egress to rate with a tbf qdisc on every link",
		"A root tbf qdisc on every link but loopback; a link whose root qdisc someone else set is a conflict. Egress only.",
		func() any { return &BandwidthParams{Latency: shakedown.Duration(50e6)} })
	add("network.reset", "answer TCP on ports with a reset",
		"nft reject with tcp reset for TCP to the ports; new and established connections fail at once.",
		func() any { return &ResetParams{Direction: DirBoth} })
	add("dns.fail", "make DNS queries (UDP and TCP port 53) fail",
		"Drops (timeouts) or refuses (ICMP port unreachable, TCP reset) queries leaving the target.",
		func() any { return &DNSParams{Mode: DNSDrop} })
	r.AddUndo(UndoTable, undoTable)
	r.AddUndo(UndoQdisc, undoQdisc)
}

func resolveNetns(ctx context.Context, env shakedown.Env, params any) ([]shakedown.Instance, error) {
	p, err := shakedown.ParamsAs[NetnsParams](params, "netns target")
	if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := checkNetns(p.Name); err != nil {
		return nil, err
	}
	return []shakedown.Instance{{Kind: "netns", ID: p.Name, Name: "netns " + p.Name,
		Attrs: map[string]string{"netns": p.Name}}}, nil
}

func resolveHost(ctx context.Context, env shakedown.Env, params any) ([]shakedown.Instance, error) {
	name, _ := os.Hostname()
	return []shakedown.Instance{{Kind: "host", ID: "host", Name: "this host (" + name + ")",
		Attrs: map[string]string{"netns": "", "hostname": name}}}, nil
}

// namespaceOf returns the namespace an instance stands for.
func namespaceOf(in shakedown.Instance) (string, error) {
	switch in.Kind {
	case "host":
		return "", nil
	case "netns":
		if n := in.Attrs["netns"]; n != "" {
			return n, nil
		}
		return in.ID, nil
	case "container":
		// A container's namespace is its init process's: /proc/PID/ns/net, as the container
		// family gives it, pinned to that process by its start time ("/proc/PID/ns/net@START"):
		// when the pid names another process by the time the fault is prepared, applied or
		// taken back (the container restarted, the pid came round again), the namespace is
		// gone, never that other process's.
		if p := in.Attrs["netns_path"]; isProcNetns(p) {
			if st, err := strconv.ParseUint(in.Attrs["starttime"], 10, 64); err == nil && st > 0 {
				return p + "@" + strconv.FormatUint(st, 10), nil
			}
			return p, nil
		}
		return "", shakedown.Errorf(shakedown.KindInvalid, "container %s has no network namespace on this machine (a remote engine?)", in.Name)
	}
	return "", shakedown.Errorf(shakedown.KindInvalid, "target %s is a %s; network faults act on netns, container or host", in.Name, in.Kind)
}

// Fault is one network fault on its target namespaces.
type Fault struct {
	typ    string
	name   string
	seed   uint64
	params any
	ns     []string
	table  string
	plans  []Plan
	netem  bool
	spare  []shakedown.TCPConn // connections of this host's own namespace left alone
}

func newFault(typ string) func(env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	return func(env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
		f := &Fault{typ: typ, name: spec.Name, seed: uint64(env.Seed), params: spec.Params,
			table: TableName(env.RunID, spec.Name), spare: env.Spare}
		if err := shakedown.ValidateParams(spec.Params); err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, in := range targets {
			ns, err := namespaceOf(in)
			if err != nil {
				return nil, err
			}
			if !seen[ns] {
				seen[ns] = true
				f.ns = append(f.ns, ns)
			}
		}
		if err := f.plan(); err != nil {
			return nil, err
		}
		return f, nil
	}
}

func (f *Fault) plan() error {
	f.plans = f.plans[:0]
	for _, ns := range f.ns {
		p, err := planFor(f.typ, ns, f.table, f.params, f.netem)
		if err != nil {
			return err
		}
		if ns == "" {
			p = p.Sparing(f.spare)
		}
		f.plans = append(f.plans, p)
	}
	return nil
}

// Prepare checks that every namespace exists and whether the kernel has netem. It changes
// nothing.
func (f *Fault) Prepare(ctx context.Context) error {
	for _, ns := range f.ns {
		if err := checkNetns(ns); err != nil {
			return err
		}
	}
	if _, ok := f.params.(*DelayParams); ok {
		f.netem = HaveNetem()
		return f.plan()
	}
	return nil
}

// Plans returns the fault's plans, one per namespace.
func (f *Fault) Plans() []Plan { return f.plans }

// Plan implements shakedown.Planner.
func (f *Fault) Plan() []string {
	var out []string
	for _, p := range f.plans {
		out = append(out, p.Lines()...)
	}
	return out
}

// Undo implements shakedown.Fault: per namespace, the qdisc and the table to delete.
func (f *Fault) Undo() []shakedown.Undo {
	var out []shakedown.Undo
	for _, p := range f.plans {
		if p.Qdisc != nil {
			b, _ := json.Marshal(QdiscUndo{Netns: p.Netns, Handle: p.Qdisc.Handle})
			out = append(out, shakedown.Undo{Type: UndoQdisc, Data: b,
				Summary: fmt.Sprintf("%s: delete root qdisc %x: on every link", p.where(), p.Qdisc.Handle)})
		}
		if p.Table != "" {
			b, _ := json.Marshal(TableUndo{Netns: p.Netns, Table: p.Table})
			out = append(out, shakedown.Undo{Type: UndoTable, Data: b,
				Summary: fmt.Sprintf("%s: delete nft table inet %s", p.where(), p.Table)})
		}
	}
	return out
}

// Inject applies every plan. On failure it returns a Revert for what it applied.
func (f *Fault) Inject(ctx context.Context) (shakedown.Revert, error) {
	var delayers []*Delayer
	revert := func(ctx context.Context) error {
		var errs []error
		for i := len(f.plans) - 1; i >= 0; i-- {
			errs = append(errs, Remove(f.plans[i]))
		}
		for _, d := range delayers {
			errs = append(errs, d.Stop())
		}
		return errors.Join(errs...)
	}
	for _, p := range f.plans {
		d, err := Apply(p, f.seed)
		if d != nil {
			delayers = append(delayers, d)
		}
		if err != nil {
			return revert, fmt.Errorf("inject %s: %w", f.typ, err)
		}
	}
	return revert, nil
}

func undoTable(ctx context.Context, data json.RawMessage) error {
	var u TableUndo
	if err := json.Unmarshal(data, &u); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "decode "+UndoTable, err)
	}
	if _, ok := RunOf(u.Table); !ok {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: %q is not a table of ours", UndoTable, u.Table)
	}
	return Remove(Plan{Netns: u.Netns, Table: u.Table})
}

func undoQdisc(ctx context.Context, data json.RawMessage) error {
	var u QdiscUndo
	if err := json.Unmarshal(data, &u); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "decode "+UndoQdisc, err)
	}
	if u.Handle < 0x8000 {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: handle %x is not one of ours", UndoQdisc, u.Handle)
	}
	return Remove(Plan{Netns: u.Netns, Qdisc: &QdiscPlan{Handle: u.Handle}})
}

// isProcNetns says whether name is a process's namespace path, /proc/PID/ns/net, pinned to
// the process by its start time (/proc/PID/ns/net@START) or not.
func isProcNetns(name string) bool {
	_, _, _, ok := procNetns(name)
	return ok
}

// procNetns reads a process's namespace path: the path to open, the pid, and the start time
// the process must have (0 when not pinned).
func procNetns(name string) (path string, pid int, start uint64, ok bool) {
	path, at, pinned := strings.Cut(name, "@")
	if pinned {
		var err error
		if start, err = strconv.ParseUint(at, 10, 64); err != nil || start == 0 || at != strconv.FormatUint(start, 10) {
			return "", 0, 0, false
		}
	}
	n, err := fmt.Sscanf(path, "/proc/%d/ns/net", &pid)
	if err != nil || n != 1 || pid <= 0 || path != fmt.Sprintf("/proc/%d/ns/net", pid) {
		return "", 0, 0, false
	}
	return path, pid, start, true
}

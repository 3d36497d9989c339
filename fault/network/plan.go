package network

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Prefix starts the name of every nftables table this package creates:
// "shakedown_<run>_<fault>". Sweep finds leftovers by it.
const Prefix = shakedown.ResourcePrefix

// Plan is everything one fault does in one network namespace. It is computed without I/O;
// Apply makes it so and Remove takes it back.
type Plan struct {
	Netns  string  // the namespace's name under /run/netns; "" for this host's own namespace
	Table  string  // the inet table holding Chains, or marking Qdisc as this run's
	Chains []Chain // base chains of Table, hook filter priority 0, policy accept
	Delay  *DelayPlan
	Qdisc  *QdiscPlan
}

// DelayPlan says that packets sent to QueueNum are held in this process for Delay±Jitter.
type DelayPlan struct {
	QueueNum uint16
	Delay    time.Duration
	Jitter   time.Duration
}

// QdiscPlan is a root qdisc put on every link of the namespace but loopback.
type QdiscPlan struct {
	Kind   string        // "tbf" or "netem"
	Handle uint16        // major number of the qdisc handle; derived from Table
	Rate   uint64        // tbf: bytes per second
	Burst  uint32        // tbf: bytes
	Limit  uint32        // tbf: bytes queued at most; netem: packets
	Delay  time.Duration // netem
	Jitter time.Duration // netem
}

func (p Plan) where() string {
	if p.Netns == "" {
		return "host"
	}
	return "netns " + p.Netns
}

// Lines describes the plan for people, one change a line.
func (p Plan) Lines() []string {
	w := p.where()
	var out []string
	if p.Delay != nil {
		out = append(out, fmt.Sprintf("%s: hold packets of queue %d in this process for %s±%s, then accept them (bypass: they pass undelayed if the reader is gone)",
			w, p.Delay.QueueNum, p.Delay.Delay, p.Delay.Jitter))
	}
	if p.Table != "" {
		what := ""
		if len(p.Chains) == 0 {
			what = " (empty; marks the qdisc below as this run's)"
		}
		out = append(out, fmt.Sprintf("%s: add table inet %s%s", w, p.Table, what))
	}
	for _, c := range p.Chains {
		out = append(out, fmt.Sprintf("%s:   chain %s { type filter hook %s priority filter; policy accept; }", w, c.Name, c.Name))
		for _, r := range c.Rules {
			out = append(out, fmt.Sprintf("%s:     %s", w, r))
		}
	}
	if q := p.Qdisc; q != nil && q.Kind == "netem" {
		out = append(out, fmt.Sprintf("%s: add root qdisc netem handle %x: delay %s %s limit %d on every link but lo",
			w, q.Handle, q.Delay, q.Jitter, q.Limit))
	} else if q != nil {
		out = append(out, fmt.Sprintf("%s: add root qdisc %s handle %x: rate %dbit burst %db limit %db on every link but lo",
			w, q.Kind, q.Handle, q.Rate*8, q.Burst, q.Limit))
	}
	return out
}

// Sparing returns the plan with every chain first accepting the packets of conns, so that
// the fault's rules never see them. A qdisc (bandwidth) cannot spare a connection: its
// packets wait in the bucket with the others.
func (p Plan) Sparing(conns []shakedown.TCPConn) Plan {
	if len(conns) == 0 || len(p.Chains) == 0 {
		return p
	}
	chains := make([]Chain, len(p.Chains))
	for i, c := range p.Chains {
		var rules []Rule
		for _, conn := range conns {
			r := Rule{L4: "tcp", Verdict: Accept}
			peer := netip.PrefixFrom(conn.Peer.Addr(), conn.Peer.Addr().BitLen())
			if c.Name == "input" {
				r.Saddr, r.Sport, r.Dport = peer, PortRange{conn.Peer.Port(), conn.Peer.Port()}, PortRange{conn.Local.Port(), conn.Local.Port()}
			} else {
				r.Daddr, r.Dport, r.Sport = peer, PortRange{conn.Peer.Port(), conn.Peer.Port()}, PortRange{conn.Local.Port(), conn.Local.Port()}
			}
			rules = append(rules, r)
		}
		chains[i] = Chain{Name: c.Name, Rules: append(rules, c.Rules...)}
	}
	p.Chains = chains
	return p
}

// TableName returns the table a fault of a run uses: shakedown_<run>_<fault>
// (shakedown.ResourceName).
func TableName(runID, fault string) string { return shakedown.ResourceName(runID, fault) }

// RunOf returns the run part of a table name made by TableName.
func RunOf(table string) (string, bool) { return shakedown.RunOfResource(table) }

// hash16 maps a table name to a number in [0x8000, 0xfffe], used for queue numbers and
// qdisc handles so that concurrent runs pick different ones.
func hash16(table string) uint16 {
	h := fnv.New32a()
	h.Write([]byte(table))
	v := uint16(h.Sum32()) | 0x8000
	if v == 0xffff {
		v = 0x8001
	}
	return v
}

// filterRules turns a filter into rules with the given verdict and random share.
func filterRules(f Filter, verdict Verdict, percent float64, queue uint16) []Chain {
	cidrs, _ := parseCIDRs(f.CIDRs)
	ports, _ := parsePorts(f.Ports)
	var chains []Chain
	for _, dir := range []string{DirIn, DirOut} {
		if f.Direction != dir && f.Direction != DirBoth {
			continue
		}
		c := Chain{Name: "output"}
		if dir == DirIn {
			c.Name = "input"
		}
		base := []Rule{{}}
		if len(cidrs) == 0 {
			if dir == DirIn {
				base[0].NotIif = "lo"
			} else {
				base[0].NotOif = "lo"
			}
		} else {
			base = base[:0]
			for _, p := range cidrs {
				r := Rule{}
				if dir == DirIn {
					r.Saddr = p
				} else {
					r.Daddr = p
				}
				base = append(base, r)
			}
		}
		for _, b := range base {
			b.Verdict, b.Percent, b.QueueNum = verdict, percent, queue
			if len(ports) == 0 {
				c.Rules = append(c.Rules, b)
				continue
			}
			for _, p := range ports {
				for _, l4 := range []string{"tcp", "udp"} {
					s, d := b, b
					s.L4, s.Sport = l4, p
					d.L4, d.Dport = l4, p
					c.Rules = append(c.Rules, s, d)
				}
			}
		}
		chains = append(chains, c)
	}
	return chains
}

// PlanPartition plans network.partition.
func PlanPartition(netns, table string, p *PartitionParams) Plan {
	return Plan{Netns: netns, Table: table, Chains: filterRules(p.Filter, Drop, 0, 0)}
}

// PlanLoss plans network.loss.
func PlanLoss(netns, table string, p *LossParams) Plan {
	pct := p.Percent
	if pct >= 100 {
		pct = 0 // every packet
	}
	return Plan{Netns: netns, Table: table, Chains: filterRules(p.Filter, Drop, pct, 0)}
}

// PlanDelay plans network.delay: a netem qdisc when the kernel has netem and the delay is
// for all egress traffic (netem cannot filter), else the userspace queue.
func PlanDelay(netns, table string, p *DelayParams, haveNetem bool) Plan {
	if haveNetem && len(p.CIDRs) == 0 && len(p.Ports) == 0 && p.Direction == DirOut {
		return Plan{Netns: netns, Table: table, Qdisc: &QdiscPlan{Kind: "netem", Handle: hash16(table),
			Delay: p.Delay.D(), Jitter: p.Jitter.D(), Limit: 10000}}
	}
	q := hash16(table)
	return Plan{Netns: netns, Table: table, Chains: filterRules(p.Filter, Queue, 0, q),
		Delay: &DelayPlan{QueueNum: q, Delay: p.Delay.D(), Jitter: p.Jitter.D()}}
}

// PlanReset plans network.reset: TCP to or from the ports is answered with a reset.
func PlanReset(netns, table string, p *ResetParams) Plan {
	cidrs, _ := parseCIDRs(p.CIDRs)
	ports, _ := parsePorts(p.Ports)
	var chains []Chain
	for _, dir := range []string{DirIn, DirOut} {
		if p.Direction != dir && p.Direction != DirBoth {
			continue
		}
		c := Chain{Name: "output"}
		if dir == DirIn {
			c.Name = "input"
		}
		peers := []netip.Prefix{{}}
		if len(cidrs) > 0 {
			peers = cidrs
		}
		for _, peer := range peers {
			for _, port := range ports {
				r := Rule{L4: "tcp", Dport: port, Verdict: RejectReset}
				switch {
				case peer.IsValid() && dir == DirIn:
					r.Saddr = peer
				case peer.IsValid():
					r.Daddr = peer
				case dir == DirIn:
					r.NotIif = "lo"
				default:
					r.NotOif = "lo"
				}
				c.Rules = append(c.Rules, r)
			}
		}
		chains = append(chains, c)
	}
	return Plan{Netns: netns, Table: table, Chains: chains}
}

// PlanDNS plans dns.fail. Drop discards answers arriving from port 53, so resolvers wait for
// them and time out (dropping the queries in the output hook would fail the send at once
// with EPERM instead). Refuse rejects queries leaving for port 53: the local sender's send
// fails at once (EPERM for UDP; TCP gets a reset).
func PlanDNS(netns, table string, p *DNSParams) Plan {
	servers, _ := parseCIDRs(p.Servers)
	if len(servers) == 0 {
		servers = []netip.Prefix{{}}
	}
	c := Chain{Name: "output"}
	if p.Mode == DNSDrop {
		c.Name = "input"
	}
	for _, s := range servers {
		for _, l4 := range []string{"udp", "tcp"} {
			r := Rule{L4: l4, Verdict: Drop}
			if p.Mode == DNSDrop {
				r.Saddr, r.Sport = s, PortRange{53, 53}
			} else {
				r.Daddr, r.Dport = s, PortRange{53, 53}
				r.Verdict = RejectPort
				if l4 == "tcp" {
					r.Verdict = RejectReset
				}
			}
			c.Rules = append(c.Rules, r)
		}
	}
	return Plan{Netns: netns, Table: table, Chains: []Chain{c}}
}

// PlanBandwidth plans network.bandwidth: a token bucket on the egress of every link.
func PlanBandwidth(netns, table string, p *BandwidthParams) Plan {
	rate, _ := ParseBitRate(p.Rate)
	burst := max(rate/100, 3000)
	if p.Burst != "" {
		b, _ := shakedown.ParseBytes(p.Burst)
		burst = max(b, 1600)
	}
	burst = min(burst, 1<<31)
	limit := min(uint64(float64(rate)*p.Latency.D().Seconds())+burst, 1<<31)
	return Plan{Netns: netns, Table: table, Qdisc: &QdiscPlan{Kind: "tbf", Handle: hash16(table),
		Rate: rate, Burst: uint32(burst), Limit: uint32(limit)}}
}

// planFor plans one fault type for one namespace.
func planFor(typ, netns, table string, params any, haveNetem bool) (Plan, error) {
	switch p := params.(type) {
	case *PartitionParams:
		return PlanPartition(netns, table, p), nil
	case *LossParams:
		return PlanLoss(netns, table, p), nil
	case *DelayParams:
		return PlanDelay(netns, table, p, haveNetem), nil
	case *BandwidthParams:
		return PlanBandwidth(netns, table, p), nil
	case *ResetParams:
		return PlanReset(netns, table, p), nil
	case *DNSParams:
		return PlanDNS(netns, table, p), nil
	}
	return Plan{}, shakedown.Errorf(shakedown.KindInternal, "%s: unexpected parameters %T", typ, params)
}

package network

import (
	"fmt"
	"net/netip"
	"strings"
)

// Verdict is what a rule does with a packet it matches.
type Verdict string

// The verdicts the faults use.
const (
	Drop        Verdict = "drop"
	RejectReset Verdict = "reject with tcp reset"
	RejectPort  Verdict = "reject with icmpx port-unreachable"
	Queue       Verdict = "queue" // to QueueNum, with bypass
	Accept      Verdict = "accept"
)

// Rule is one nftables rule in a form people read and tests compare: each non-zero field is
// one match, and all must hold. It is turned into netlink expressions by Exprs.
type Rule struct {
	NotIif   string       // meta iifname != NotIif
	NotOif   string       // meta oifname != NotOif
	Saddr    netip.Prefix // ip/ip6 saddr
	Daddr    netip.Prefix // ip/ip6 daddr
	L4       string       // "tcp" or "udp"
	Sport    PortRange
	Dport    PortRange
	Percent  float64 // matches this share of packets at random (0 < Percent < 100); 0 = all
	Verdict  Verdict
	QueueNum uint16 // for Queue
}

// PortRange is an inclusive range of ports; the zero value matches any port.
type PortRange struct{ Lo, Hi uint16 }

func (p PortRange) String() string {
	if p.Lo == p.Hi {
		return fmt.Sprint(p.Lo)
	}
	return fmt.Sprintf("%d-%d", p.Lo, p.Hi)
}

// randomModulus is the modulus of the random number a Percent rule draws: hundredths of a percent.
const randomModulus = 10000

// String returns the rule as nft(8) would list it.
func (r Rule) String() string {
	var b []string
	if r.NotIif != "" {
		b = append(b, fmt.Sprintf("iifname != %q", r.NotIif))
	}
	if r.NotOif != "" {
		b = append(b, fmt.Sprintf("oifname != %q", r.NotOif))
	}
	ipv := func(p netip.Prefix) string {
		if p.Addr().Is4() {
			return "ip"
		}
		return "ip6"
	}
	if r.Saddr.IsValid() {
		b = append(b, fmt.Sprintf("%s saddr %s", ipv(r.Saddr), r.Saddr))
	}
	if r.Daddr.IsValid() {
		b = append(b, fmt.Sprintf("%s daddr %s", ipv(r.Daddr), r.Daddr))
	}
	if r.L4 != "" && r.Sport == (PortRange{}) && r.Dport == (PortRange{}) {
		b = append(b, "meta l4proto "+r.L4)
	}
	if r.Sport != (PortRange{}) {
		b = append(b, fmt.Sprintf("%s sport %s", r.L4, r.Sport))
	}
	if r.Dport != (PortRange{}) {
		b = append(b, fmt.Sprintf("%s dport %s", r.L4, r.Dport))
	}
	if r.Percent > 0 {
		b = append(b, fmt.Sprintf("numgen random mod %d < %d", randomModulus, r.threshold()))
	}
	if r.Verdict == Queue {
		b = append(b, fmt.Sprintf("queue num %d bypass", r.QueueNum))
	} else {
		b = append(b, string(r.Verdict))
	}
	return strings.Join(b, " ")
}

func (r Rule) threshold() uint32 {
	return uint32(r.Percent*randomModulus/100 + 0.5)
}

// Chain is one base chain of a fault's table.
type Chain struct {
	Name  string // "input" or "output"
	Rules []Rule
}

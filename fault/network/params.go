package network

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Directions a filter applies in.
const (
	DirIn   = "in"   // packets arriving at the target
	DirOut  = "out"  // packets leaving the target
	DirBoth = "both" // both
)

// Filter narrows which packets a fault acts on. The zero value means every packet that does
// not cross the loopback interface.
type Filter struct {
	CIDRs     []string `json:"cidrs,omitempty" doc:"peers the fault applies to (IPv4 or IPv6 CIDRs or addresses); empty means every peer but loopback"`
	Ports     []string `json:"ports,omitempty" doc:"TCP and UDP ports (\"80\" or \"8000-8100\"), matched as source or destination; empty means all traffic"`
	Direction string   `json:"direction,omitempty" doc:"in, out or both"`
}

func (f *Filter) validate(errs *shakedown.FieldErrors) {
	listItems(errs, "cidrs", f.CIDRs, parseCIDRs)
	listItems(errs, "ports", f.Ports, parsePorts)
	switch f.Direction {
	case DirIn, DirOut, DirBoth:
	default:
		errs.Add("direction", "%q: want in, out or both", f.Direction)
	}
}

// listItems reports each item of a list field that parse refuses, at the item.
func listItems[T any](errs *shakedown.FieldErrors, field string, items []string, parse func([]string) ([]T, error)) {
	for i, s := range items {
		if _, err := parse([]string{s}); err != nil {
			errs.AddErr(field, i, err)
		}
	}
}

// PartitionParams are the parameters of network.partition.
type PartitionParams struct {
	Filter
}

// Validate checks the parameters.
func (p *PartitionParams) Validate() error {
	var errs shakedown.FieldErrors
	p.validate(&errs)
	return errs.Err()
}

// LossParams are the parameters of network.loss.
type LossParams struct {
	Percent float64 `json:"percent" required:"true" doc:"share of matching packets dropped, from 0.01 (a hundredth of a percent) to 100"`
	Filter
}

// Validate checks the parameters.
func (p *LossParams) Validate() error {
	var errs shakedown.FieldErrors
	checkPercent(&errs, p.Percent)
	p.validate(&errs)
	return errs.Err()
}

// DelayParams are the parameters of network.delay.
type DelayParams struct {
	Delay  shakedown.Duration `json:"delay" required:"true" doc:"added to every matching packet"`
	Jitter shakedown.Duration `json:"jitter,omitempty" doc:"each packet's delay is drawn uniformly from delay±jitter (packets may reorder)"`
	Filter
}

// Validate checks the parameters.
func (p *DelayParams) Validate() error {
	var errs shakedown.FieldErrors
	if p.Delay.D() <= 0 || p.Delay.D() > maxDelay {
		errs.Add("delay", "%s: want above 0 and at most %s", p.Delay, maxDelay)
	}
	if p.Jitter.D() > p.Delay.D() {
		errs.AddAgainst("jitter", []string{"delay"}, "%s is more than delay %s", p.Jitter, p.Delay)
	}
	p.validate(&errs)
	return errs.Err()
}

// maxDelay bounds the userspace delay: every held packet waits in the kernel's queue.
const maxDelay = 10 * time.Second

// BandwidthParams are the parameters of network.bandwidth.
type BandwidthParams struct {
	Rate    string             `json:"rate" required:"true" doc:"egress rate as tc writes it: 512kbit, 10mbit, 1gbit (bits/s) or 100kbps (bytes/s)"`
	Burst   string             `json:"burst,omitempty" doc:"bucket size in bytes (64kb, 1500); default rate×10ms, at least 3000 bytes"`
	Latency shakedown.Duration `json:"latency,omitempty" doc:"longest a packet waits in the bucket's queue before it is dropped"`
}

// Validate checks the parameters.
func (p *BandwidthParams) Validate() error {
	var errs shakedown.FieldErrors
	if _, err := ParseBitRate(p.Rate); err != nil {
		errs.AddErr("rate", -1, err)
	}
	if p.Burst != "" {
		if _, err := shakedown.ParseBytes(p.Burst); err != nil {
			errs.AddErr("burst", -1, err)
		}
	}
	if p.Latency.D() <= 0 {
		errs.Add("latency", "%s: want above 0", p.Latency)
	}
	return errs.Err()
}

// ResetParams are the parameters of network.reset.
type ResetParams struct {
	Ports     []string `json:"ports" required:"true" doc:"TCP ports whose connections are reset (\"5432\" or \"8000-8100\")"`
	CIDRs     []string `json:"cidrs,omitempty" doc:"peers the fault applies to; empty means every peer but loopback"`
	Direction string   `json:"direction,omitempty" doc:"in (connections to servers here), out (connections from here) or both"`
}

// Validate checks the parameters.
func (p *ResetParams) Validate() error {
	var errs shakedown.FieldErrors
	if len(p.Ports) == 0 {
		errs.Add("ports", "give at least one port")
	}
	f := Filter{CIDRs: p.CIDRs, Ports: p.Ports, Direction: p.Direction}
	f.validate(&errs)
	return errs.Err()
}

// DNS failure modes.
const (
	DNSDrop   = "drop"   // queries vanish; resolvers time out
	DNSRefuse = "refuse" // queries are refused at once (ICMP port unreachable, TCP reset)
)

// DNSParams are the parameters of dns.fail.
type DNSParams struct {
	Mode    string   `json:"mode,omitempty" doc:"drop (resolvers time out) or refuse (resolvers fail at once)"`
	Servers []string `json:"servers,omitempty" doc:"name servers (CIDRs or addresses) whose queries fail; empty means all"`
}

// Validate checks the parameters.
func (p *DNSParams) Validate() error {
	var errs shakedown.FieldErrors
	if p.Mode != DNSDrop && p.Mode != DNSRefuse {
		errs.Add("mode", "%q: want drop or refuse", p.Mode)
	}
	listItems(&errs, "servers", p.Servers, parseCIDRs)
	return errs.Err()
}

// minPercent is the finest share a random rule draws (one in randomModulus): a smaller one
// would round to a rule that matches nothing, a fault that injects nothing.
const minPercent = 100.0 / randomModulus

func checkPercent(errs *shakedown.FieldErrors, p float64) {
	if !(p >= minPercent && p <= 100) {
		errs.Add("percent", "%v: want %v (a hundredth of a percent) to 100", p, minPercent)
	}
}

// parseCIDRs parses CIDRs and bare addresses (a /32 or /128).
func parseCIDRs(in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, shakedown.Errorf(shakedown.KindInvalid, "cidr %q does not parse (want e.g. 10.0.0.0/8 or 10.0.0.1)", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parsePorts parses "80" and "8000-8100".
func parsePorts(in []string) ([]PortRange, error) {
	out := make([]PortRange, 0, len(in))
	for _, s := range in {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if err1 != nil || err2 != nil || a == 0 || b < a {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "port %q: want a port 1-65535 or a range like 8000-8100", s)
		}
		out = append(out, PortRange{uint16(a), uint16(b)})
	}
	return out, nil
}

// ParseBitRate parses a rate as tc(8) writes it and returns bytes per second: bit, kbit,
// mbit, gbit, tbit are bits per second; bps, kbps, mbps, gbps are bytes per second; a bare
// number is bits per second. Prefixes are decimal (k = 1000); kibit and friends are binary.
func ParseBitRate(s string) (uint64, error) {
	f, unit, err := shakedown.NumberAndUnit(s)
	if err != nil || !(f > 0) {
		return 0, fmt.Errorf("rate %q: want e.g. 1mbit, 512kbit or 100kbps", s)
	}
	mult := map[string]float64{
		"": 1.0 / 8, "bit": 1.0 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8, "tbit": 1e12 / 8,
		"kibit": 1024.0 / 8, "mibit": 1048576.0 / 8, "gibit": 1073741824.0 / 8,
		"bps": 1, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9, "kibps": 1024, "mibps": 1048576, "gibps": 1073741824,
	}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("rate %q: unknown unit %q (want bit, kbit, mbit, gbit or bps, kbps, mbps, gbps)", s, unit)
	}
	v := f * m
	if v < 1 || v > 1e13 {
		return 0, fmt.Errorf("rate %q is out of range", s)
	}
	return uint64(v), nil
}

package network

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shakedown-dev/shakedown"
)

func TestPlans(t *testing.T) {
	const tb = "shakedown_r1_f"
	q := hash16(tb)
	tests := []struct {
		name string
		plan Plan
		want []string
	}{
		{"partition cidr in", PlanPartition("a", tb, &PartitionParams{Filter{CIDRs: []string{"10.0.0.0/8", "fd00::1"}, Direction: DirIn}}), []string{
			"netns a: add table inet shakedown_r1_f",
			"netns a:   chain input { type filter hook input priority filter; policy accept; }",
			"netns a:     ip saddr 10.0.0.0/8 drop",
			"netns a:     ip6 saddr fd00::1/128 drop",
		}},
		{"partition all ports both", PlanPartition("", tb, &PartitionParams{Filter{Ports: []string{"80"}, Direction: DirBoth}}), []string{
			"host: add table inet shakedown_r1_f",
			"host:   chain input { type filter hook input priority filter; policy accept; }",
			`host:     iifname != "lo" tcp sport 80 drop`,
			`host:     iifname != "lo" tcp dport 80 drop`,
			`host:     iifname != "lo" udp sport 80 drop`,
			`host:     iifname != "lo" udp dport 80 drop`,
			"host:   chain output { type filter hook output priority filter; policy accept; }",
			`host:     oifname != "lo" tcp sport 80 drop`,
			`host:     oifname != "lo" tcp dport 80 drop`,
			`host:     oifname != "lo" udp sport 80 drop`,
			`host:     oifname != "lo" udp dport 80 drop`,
		}},
		{"loss", PlanLoss("a", tb, &LossParams{Percent: 30, Filter: Filter{CIDRs: []string{"10.1.2.3"}, Direction: DirOut}}), []string{
			"netns a: add table inet shakedown_r1_f",
			"netns a:   chain output { type filter hook output priority filter; policy accept; }",
			"netns a:     ip daddr 10.1.2.3/32 numgen random mod 10000 < 3000 drop",
		}},
		{"delay userspace", PlanDelay("a", tb, &DelayParams{Delay: shakedown.Duration(20 * time.Millisecond), Filter: Filter{Direction: DirOut}}, false), []string{
			"netns a: hold packets of queue " + itoa(int(q)) + " in this process for 20ms±0s, then accept them (bypass: they pass undelayed if the reader is gone)",
			"netns a: add table inet shakedown_r1_f",
			"netns a:   chain output { type filter hook output priority filter; policy accept; }",
			`netns a:     oifname != "lo" queue num ` + itoa(int(q)) + " bypass",
		}},
		{"delay netem", PlanDelay("a", tb, &DelayParams{Delay: shakedown.Duration(20 * time.Millisecond), Filter: Filter{Direction: DirOut}}, true), []string{
			"netns a: add table inet shakedown_r1_f (empty; marks the qdisc below as this run's)",
			"netns a: add root qdisc netem handle " + hex(q) + ": delay 20ms 0s limit 10000 on every link but lo",
		}},
		{"bandwidth", PlanBandwidth("a", tb, &BandwidthParams{Rate: "8mbit", Latency: shakedown.Duration(50 * time.Millisecond)}), []string{
			"netns a: add table inet shakedown_r1_f (empty; marks the qdisc below as this run's)",
			"netns a: add root qdisc tbf handle " + hex(q) + ": rate 8000000bit burst 10000b limit 60000b on every link but lo",
		}},
		{"reset", PlanReset("a", tb, &ResetParams{Ports: []string{"5432"}, Direction: DirIn}), []string{
			"netns a: add table inet shakedown_r1_f",
			"netns a:   chain input { type filter hook input priority filter; policy accept; }",
			`netns a:     iifname != "lo" tcp dport 5432 reject with tcp reset`,
		}},
		{"dns drop", PlanDNS("a", tb, &DNSParams{Mode: DNSDrop}), []string{
			"netns a: add table inet shakedown_r1_f",
			"netns a:   chain input { type filter hook input priority filter; policy accept; }",
			"netns a:     udp sport 53 drop",
			"netns a:     tcp sport 53 drop",
		}},
		{"dns refuse", PlanDNS("a", tb, &DNSParams{Mode: DNSRefuse, Servers: []string{"1.1.1.1"}}), []string{
			"netns a: add table inet shakedown_r1_f",
			"netns a:   chain output { type filter hook output priority filter; policy accept; }",
			"netns a:     ip daddr 1.1.1.1/32 udp dport 53 reject with icmpx port-unreachable",
			"netns a:     ip daddr 1.1.1.1/32 tcp dport 53 reject with tcp reset",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.plan.Lines()); diff != "" {
				t.Fatalf("plan lines (-want +got):\n%s", diff)
			}
			for _, c := range tt.plan.Chains {
				for _, r := range c.Rules {
					checkExprs(t, r)
				}
			}
		})
	}
}

func hex(v uint16) string { return strconv.FormatUint(uint64(v), 16) }

func TestValidate(t *testing.T) {
	bad := []interface{ Validate() error }{
		&PartitionParams{Filter{CIDRs: []string{"10.0.0.0/33"}, Direction: DirBoth}},
		&PartitionParams{Filter{CIDRs: []string{"not-an-ip"}, Direction: DirBoth}},
		&PartitionParams{Filter{Ports: []string{"0"}, Direction: DirBoth}},
		&PartitionParams{Filter{Ports: []string{"90-80"}, Direction: DirBoth}},
		&PartitionParams{Filter{Direction: "sideways"}},
		&LossParams{Percent: 0, Filter: Filter{Direction: DirIn}},
		&LossParams{Percent: 101, Filter: Filter{Direction: DirIn}},
		// Below a hundredth of a percent the random rule's threshold is 0: it would drop nothing.
		&LossParams{Percent: 0.004, Filter: Filter{Direction: DirIn}},
		&LossParams{Percent: 1e-300, Filter: Filter{Direction: DirIn}},
		&DelayParams{Delay: 0, Filter: Filter{Direction: DirOut}},
		&DelayParams{Delay: shakedown.Duration(time.Millisecond), Jitter: shakedown.Duration(2 * time.Millisecond), Filter: Filter{Direction: DirOut}},
		&BandwidthParams{Rate: "fast", Latency: shakedown.Duration(time.Second)},
		&ResetParams{Direction: DirBoth},
		&DNSParams{Mode: "maybe"},
		&NetnsParams{Name: "../etc"},
	}
	for _, p := range bad {
		if err := p.Validate(); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Validate(%+v) = %v, want kind invalid", p, err)
		}
	}
}

func TestTableNames(t *testing.T) {
	n := TableName("01HXY", "slow_cache")
	if n != "shakedown_01HXY_slow_cache" {
		t.Fatalf("TableName = %q", n)
	}
	if run, ok := RunOf(n); !ok || run != "01HXY" {
		t.Fatalf("RunOf(%q) = %q, %v", n, run, ok)
	}
	// Names that had to change to fit end in a digest, and still read back a run.
	if a, b := TableName("01H-X_y", "slow cache"), TableName("01H-X_y", "slow_cache"); a == b {
		t.Fatalf("faults slow cache and slow_cache share table %q", a)
	} else if _, ok := RunOf(a); !ok {
		t.Fatalf("RunOf(%q) reads no run", a)
	}
	for _, s := range []string{"other", "shakedown_", "shakedown_x"} {
		if _, ok := RunOf(s); ok {
			t.Errorf("RunOf(%q) claims a table of ours", s)
		}
	}
}

func TestParseBitRate(t *testing.T) {
	for in, want := range map[string]uint64{"8mbit": 1e6, "1gbit": 125e6, "100kbps": 1e5, "800": 100, "1mibit": 131072} {
		if got, err := ParseBitRate(in); err != nil || got != want {
			t.Errorf("ParseBitRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func FuzzParseBitRate(f *testing.F) {
	for _, s := range []string{"8mbit", "1.5gbit", "100kbps", "", "x", "1e400bit"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseBitRate(s); err == nil && v == 0 {
			t.Fatalf("ParseBitRate(%q) = 0 without an error", s)
		}
	})
}

func FuzzFilter(f *testing.F) {
	f.Add("10.0.0.0/8", "80-90", "both")
	f.Add("::1", "53", "in")
	f.Fuzz(func(t *testing.T, cidr, port, dir string) {
		fl := Filter{CIDRs: []string{cidr}, Ports: []string{port}, Direction: dir}
		var errs shakedown.FieldErrors
		if fl.validate(&errs); errs.Err() != nil {
			return
		}
		for _, c := range filterRules(fl, Drop, 10, 0) {
			for _, r := range c.Rules {
				checkExprs(t, r)
				_ = r.String()
			}
		}
	})
}

// A plan sparing a connection accepts its packets first in every chain, in both directions,
// and leaves a qdisc plan alone.
func TestSparing(t *testing.T) {
	conn, ok := shakedown.ParseSSHConnection("10.200.0.1 47880 10.200.0.10 22")
	if !ok {
		t.Fatal("SSH_CONNECTION does not parse")
	}
	const tb = "shakedown_r1_f"
	got := PlanPartition("", tb, &PartitionParams{Filter{Direction: DirBoth}}).Sparing([]shakedown.TCPConn{conn}).Lines()
	want := []string{
		"host: add table inet " + tb,
		"host:   chain input { type filter hook input priority filter; policy accept; }",
		"host:     ip saddr 10.200.0.1/32 tcp sport 47880 tcp dport 22 accept",
		`host:     iifname != "lo" drop`,
		"host:   chain output { type filter hook output priority filter; policy accept; }",
		"host:     ip daddr 10.200.0.1/32 tcp sport 22 tcp dport 47880 accept",
		`host:     oifname != "lo" drop`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("partition sparing a connection (-want +got):\n%s", d)
	}
	bw := PlanBandwidth("", tb, &BandwidthParams{Rate: "1mbit", Latency: shakedown.Duration(time.Second)})
	if d := cmp.Diff(bw, bw.Sparing([]shakedown.TCPConn{conn})); d != "" {
		t.Errorf("a qdisc plan changed by sparing:\n%s", d)
	}
	for _, bad := range []string{"", "10.0.0.1 1 10.0.0.2", "a 1 b 2", "10.0.0.1 x 10.0.0.2 22", "10.0.0.1 1 10.0.0.2 70000"} {
		if _, ok := shakedown.ParseSSHConnection(bad); ok {
			t.Errorf("SSH_CONNECTION %q parsed", bad)
		}
	}
	if c, ok := shakedown.ParseSSHConnection("::ffff:10.0.0.1 5 fe80::1 22"); !ok || c.Peer.Addr().String() != "10.0.0.1" || c.Local.Port() != 22 {
		t.Errorf("an IPv6 SSH_CONNECTION: %v %v", c, ok)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

package fis

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// fault is one shakedown fault an FIS action becomes.
type fault struct {
	typ      string
	with     []kv
	duration time.Duration
	oneShot  bool
	kinds    []string // the target kinds the fault type acts on
	notes    []string
	// untilEnd: the fault lasts to the end of the experiment's last action, at least a minute
	// (FIS gives it no duration; shakedown's type needs one).
	untilEnd bool
	// selectPercent, when set, narrows the target (terminate-nodegroup-instances).
	selectPercent string
}

type kv struct{ k, v string } // v is written YAML

// step is what one action is in the experiment: a fault, a check, or only time (a wait).
type step struct {
	a        *action
	fault    *fault
	check    *check        // assert-alarm-state
	skipped  string        // why it was left out (--skip-unsupported)
	duration time.Duration // how long FIS takes to complete it
}

// check is a steady-state check or expectation an action becomes.
type check struct {
	lines []string // the YAML lines of the list item, unindented; the first starts with "- "
	kind  string   // "steady_state" or "expect"
	notes []string
}

// Fault types' target kinds (shakedown faults); spec checks them again on the output.
var faultKinds = map[string][]string{
	"process.pause":     {"process"},
	"process.kill":      {"process"},
	"container.stop":    {"container"},
	"container.kill":    {"container"},
	"container.restart": {"container"},
	"pod.delete":        {"pods"},
	"node.drain":        {"node"},
	"stress.cpu":        {"process", "container", "host"},
	"stress.memory":     {"process", "container", "host"},
	"stress.io":         {"process", "container", "host"},
	"disk.fill":         {"process", "host"},
	"network.delay":     {"netns", "container", "host"},
	"network.loss":      {"netns", "container", "host"},
	"network.partition": {"netns", "container", "host"},
	"proxy.latency":     {"proxy"},
	"proxy.down":        {"proxy"},
}

// params reads an action's parameters, remembering which were read.
type params struct {
	r     *reader
	path  string
	n     *node
	notes *[]string
	read  map[string]bool
}

func (p *params) get(name string) *node {
	p.read[name] = true
	if p.n == nil {
		return nil
	}
	v := p.n.get(name)
	if v != nil && v.kind == nullNode {
		return nil
	}
	return v
}

func (p *params) str(name string) (string, bool) {
	v := p.get(name)
	if v == nil {
		return "", false
	}
	return p.r.text(v, join(p.path, name))
}

// duration reads an ISO-8601 duration (PT1M, PT30S, PT1H30M).
func (p *params) duration(name string) (time.Duration, bool) {
	v := p.get(name)
	if v == nil {
		return 0, false
	}
	s, ok := p.r.text(v, join(p.path, name))
	if !ok {
		return 0, false
	}
	d, err := isoDuration(s)
	if err != nil {
		p.r.addf(v.pos, join(p.path, name), "%v", err)
		return 0, false
	}
	return d, true
}

func isoDuration(s string) (time.Duration, error) {
	if !strings.HasPrefix(strings.ToUpper(s), "P") {
		return 0, fmt.Errorf("invalid ISO-8601 duration %q (want e.g. PT1M, PT30S, PT1H30M)", s)
	}
	d, err := shakedown.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid ISO-8601 duration %q (want e.g. PT1M, PT30S, PT1H30M)", s)
	}
	return d, nil
}

// number reads a number within [lo, hi].
func (p *params) number(name string, lo, hi float64) (string, bool) {
	v := p.get(name)
	if v == nil {
		return "", false
	}
	s, ok := p.r.text(v, join(p.path, name))
	if !ok {
		return "", false
	}
	f, err := shakedown.ParseNumber(strings.TrimSpace(s))
	if err != nil || f < lo || f > hi {
		p.r.addf(v.pos, join(p.path, name), "want a number from %g to %g, not %q", lo, hi, s)
		return "", false
	}
	return strconv.FormatFloat(f, 'f', -1, 64), true
}

// noAnalogue notes, for each parameter given, that it has no analogue here and why.
func (p *params) noAnalogue(why string, names ...string) {
	for _, name := range names {
		if v := p.get(name); v != nil {
			*p.notes = append(*p.notes, fmt.Sprintf("%s %s: no analogue here (%s)", name, flow(v), why))
		}
	}
}

// done reports every parameter the action does not take.
func (p *params) done(id string) {
	if p.n == nil {
		return
	}
	for _, k := range p.n.keys {
		if !p.read[k.str] {
			var known []string
			for n := range p.read {
				known = append(known, n)
			}
			sort.Strings(known)
			p.r.addf(k.pos, join(p.path, k.str), "%s takes no parameter %q (known: %s)", id, k.str, strings.Join(known, ", "))
		}
	}
}

func ms(s string) string { return s + "ms" }

// Parameters of FIS's in-cluster actions that choose how FIS runs its pod.
var fisPodParams = []string{"kubernetesServiceAccount", "fisPodContainerImage", "maxErrorsPercent", "fisPodLabels", "fisPodAnnotations", "fisPodSecurityPolicy"}

const fisPodWhy = "they configure the pod FIS runs its fault from; shakedown acts from where it runs"

// tr is one action being translated into a fault.
type tr struct {
	r     *reader
	a     *action
	m     *mapping
	mkind string // the kind of the target the action acts on here; "" when none or unmapped
	p     *params
	f     *fault
	notes []string
	deps  string // the name of the parameter that installs dependencies
}

func (c *tr) installDeps() {
	c.p.noAnalogue("shakedown needs nothing installed on its targets", c.deps)
}

func (c *tr) dur() {
	if d, ok := c.p.duration("duration"); ok {
		c.f.duration = d
	}
}

// faultActions translate the actions that become faults, by actionId.
var faultActions = map[string]func(*tr){
	"aws:ec2:stop-instances":                       (*tr).stopInstances,
	"aws:ec2:reboot-instances":                     (*tr).rebootInstances,
	"aws:ec2:terminate-instances":                  (*tr).rebootInstances,
	"aws:ecs:stop-task":                            (*tr).stopTask,
	"aws:ecs:task-kill-process":                    (*tr).killProcess,
	"aws:ssm:send-command/AWSFIS-Run-Kill-Process": (*tr).killProcess,
	"aws:ecs:task-cpu-stress":                      (*tr).cpuStress,
	"aws:eks:pod-cpu-stress":                       (*tr).cpuStress,
	"aws:eks:pod-memory-stress":                    (*tr).memoryStress,
	"aws:ecs:task-io-stress":                       (*tr).ioStress,
	"aws:eks:pod-io-stress":                        (*tr).ioStress,
	"aws:ecs:task-network-latency":                 (*tr).networkLatency,
	"aws:eks:pod-network-latency":                  (*tr).networkLatency,
	"aws:ecs:task-network-packet-loss":             (*tr).packetLoss,
	"aws:eks:pod-network-packet-loss":              (*tr).packetLoss,
	"aws:ecs:task-network-blackhole-port":          (*tr).blackholePort,
	"aws:eks:pod-network-blackhole-port":           (*tr).blackholePort,
	"aws:eks:pod-delete":                           (*tr).podDelete,
	"aws:eks:terminate-nodegroup-instances":        (*tr).terminateNodegroup,
	"aws:network:disrupt-connectivity":             (*tr).disruptConnectivity,
}

// translate turns one action into a step. mkind is the kind of the target it acts on here
// ("" when it takes none or its target is not mapped).
func (r *reader) translate(a *action, m *mapping, mkind string) *step {
	s := &step{a: a}
	c := &tr{r: r, a: a, m: m, mkind: mkind, f: &fault{}, deps: "installDependencies"}
	c.p = &params{r: r, path: join(a.path, "parameters"), n: a.params, notes: &c.notes, read: map[string]bool{}}
	if strings.HasPrefix(a.id, "aws:ssm:") {
		// AWSFIS-Run-Kill-Process, whose parameters are the document's
		c.p.path, c.deps = a.path, "InstallDependencies"
	}
	switch a.id {
	case "aws:fis:wait":
		d, ok := c.p.duration("duration")
		if !ok && c.p.get("duration") == nil {
			r.addf(a.n.pos, a.path, "aws:fis:wait needs a duration")
		}
		s.duration = d
		c.p.done(a.id)
		return s
	case "aws:cloudwatch:assert-alarm-state":
		s.check = r.assertAlarm(a, c.p, m)
		c.p.done(a.id)
		return s
	case "aws:ssm:send-command":
		return r.ssm(a, c.p, m, mkind)
	}
	translate, ok := faultActions[a.id]
	if !ok {
		if why, ok := unsupported(a.id); ok {
			s.skipped = why
		} else {
			s.skipped = fmt.Sprintf("%s is not an FIS action the importer knows", a.id)
		}
		return s
	}
	translate(c)
	proxied(c.f, mkind)
	f := c.f
	id := strings.SplitN(a.id, "/", 2)[0]
	c.p.done(id)
	f.kinds = faultKinds[f.typ]
	f.notes = append(c.notes, f.notes...)
	s.fault = f
	switch {
	case f.typ == "process.pause" || f.typ == "container.stop" || !f.oneShot:
		s.duration = f.duration
	}
	if !f.oneShot && f.duration == 0 && !f.untilEnd {
		r.addf(a.n.pos, a.path, "%s needs a duration", id)
	}
	return s
}

func (c *tr) stopInstances() {
	d, restart := c.p.duration("startInstancesAfterDuration")
	c.p.noAnalogue("a process or container that exits is gone, as a terminated instance is", "completeIfInstancesTerminated")
	switch c.mkind {
	case "container":
		c.f.typ, c.f.duration = "container.stop", d
		if !restart {
			c.f.typ, c.f.oneShot = "container.kill", true
			c.f.with = append(c.f.with, kv{"signal", "TERM"}, kv{"via", "api"})
			c.notes = append(c.notes, "without startInstancesAfterDuration FIS leaves the instances stopped: the containers are stopped and not started again")
		}
	case "netns", "host":
		c.f.typ, c.f.duration = "network.partition", d
		c.notes = append(c.notes, "a stopped instance is unreachable: here its network is cut for as long as FIS keeps it stopped")
		if !restart {
			c.r.addf(c.a.n.pos, c.a.path, "without startInstancesAfterDuration the instances stay stopped; a %s target stands for them by a network cut, which needs that duration", c.mkind)
		}
	default:
		if restart {
			c.f.typ, c.f.duration = "process.pause", d
			c.notes = append(c.notes, "a stopped instance answers nothing and comes back: here the processes are stopped (SIGSTOP) and continued (SIGCONT) after startInstancesAfterDuration")
		} else {
			c.f.typ, c.f.oneShot = "process.kill", true
			c.f.with = append(c.f.with, kv{"signal", "TERM"})
			c.notes = append(c.notes, "without startInstancesAfterDuration FIS leaves the instances stopped: the processes are ended (SIGTERM)")
		}
	}
}

func (c *tr) rebootInstances() {
	reboot := c.a.id == "aws:ec2:reboot-instances"
	switch c.mkind {
	case "container":
		if reboot {
			c.f.typ = "container.restart"
		} else {
			c.f.typ = "container.kill"
			c.f.with = append(c.f.with, kv{"signal", "KILL"})
		}
	case "node":
		c.f.typ = "node.drain"
	default:
		c.f.typ = "process.kill"
		if reboot {
			c.f.with = append(c.f.with, kv{"signal", "TERM"})
			c.notes = append(c.notes, "a rebooted instance's processes end and start again: here they get SIGTERM, and whatever supervises them starts them again")
		} else {
			c.f.with = append(c.f.with, kv{"signal", "KILL"})
		}
	}
	c.f.oneShot = true
}

func (c *tr) stopTask() {
	switch c.mkind {
	case "pods":
		c.f.typ = "pod.delete"
	case "process":
		c.f.typ = "process.kill"
		c.f.with = append(c.f.with, kv{"signal", "TERM"})
	default:
		c.f.typ = "container.kill"
		c.f.with = append(c.f.with, kv{"signal", "TERM"}, kv{"via", "api"})
		c.notes = append(c.notes, "a stopped task gets SIGTERM; whatever runs the containers (a restart policy, a service) is what starts them again")
	}
	c.f.oneShot = true
}

func (c *tr) killProcess() {
	name, sig := "processName", "signal"
	if strings.HasPrefix(c.a.id, "aws:ssm") {
		name, sig = "ProcessName", "Signal"
	}
	if v, ok := c.p.str(name); ok {
		c.notes = append(c.notes, fmt.Sprintf("%s %s: the mapped target chooses the processes", name, scalar(v, false)))
	} else {
		c.r.addf(c.a.n.pos, c.a.path, "%s needs %s", c.a.id, name)
	}
	signal := "KILL"
	if v, ok := c.p.str(sig); ok {
		signal = strings.TrimPrefix(strings.ToUpper(v), "SIG")
		if signal != "KILL" && signal != "TERM" {
			c.r.addf(c.p.get(sig).pos, join(c.p.path, sig), "signal %q: FIS sends SIGTERM or SIGKILL", v)
		}
	}
	c.installDeps()
	if c.mkind == "container" {
		c.f.typ = "container.kill"
	} else {
		c.f.typ = "process.kill"
	}
	c.f.with = append(c.f.with, kv{"signal", signal})
	c.f.oneShot = true
}

func (c *tr) cpuStress() {
	c.f.typ = "stress.cpu"
	c.dur()
	if v, ok := c.p.number("percent", 1, 100); ok {
		c.f.with = append(c.f.with, kv{"percent", v})
	}
	if v, ok := c.p.number("workers", 0, 1024); ok && v != "0" {
		c.f.with = append(c.f.with, kv{"cores", v})
	}
	c.installDeps()
	c.p.noAnalogue(fisPodWhy, fisPodParams...)
}

func (c *tr) memoryStress() {
	c.f.typ = "stress.memory"
	c.dur()
	c.r.memorySize(c.a, c.p, c.m, c.f, "percent")
	c.p.noAnalogue("one resident block of the size", "workers")
	c.p.noAnalogue(fisPodWhy, fisPodParams...)
}

func (c *tr) ioStress() {
	c.f.typ = "stress.io"
	c.dur()
	if v, ok := c.p.number("workers", 1, 1024); ok {
		c.f.with = append(c.f.with, kv{"workers", v})
	}
	c.p.noAnalogue("each worker writes and syncs size bytes (default 64mib) over and over", "percent")
	c.installDeps()
	c.p.noAnalogue(fisPodWhy, fisPodParams...)
}

func (c *tr) networkLatency() {
	c.f.typ = "network.delay"
	c.dur()
	delay := "200"
	if v, ok := c.p.number("delayMilliseconds", 0, 1e7); ok {
		delay = v
	}
	c.f.with = append(c.f.with, kv{"delay", ms(delay)})
	jitter := "10"
	if v, ok := c.p.number("jitterMilliseconds", 0, 1e7); ok {
		jitter = v
	}
	if jitter != "0" {
		c.f.with = append(c.f.with, kv{"jitter", ms(jitter)})
	}
	c.r.sources(c.p, "sources", c.f)
	c.f.with = append(c.f.with, kv{"direction", "out"})
	c.p.noAnalogue("every link of the target is affected", "interface")
	c.p.noAnalogue("shakedown injects in the network namespace itself", "useEcsFaultInjectionEndpoints")
	c.installDeps()
	c.p.noAnalogue(fisPodWhy, fisPodParams...)
}

func (c *tr) packetLoss() {
	c.f.typ = "network.loss"
	c.dur()
	loss := "7"
	if v, ok := c.p.number("lossPercent", 0.001, 100); ok {
		loss = v
	}
	c.f.with = append(c.f.with, kv{"percent", loss})
	c.r.sources(c.p, "sources", c.f)
	c.f.with = append(c.f.with, kv{"direction", "out"})
	c.p.noAnalogue("every link of the target is affected", "interface")
	c.p.noAnalogue("shakedown injects in the network namespace itself", "useEcsFaultInjectionEndpoints")
	c.installDeps()
	c.p.noAnalogue(fisPodWhy, fisPodParams...)
}

func (c *tr) blackholePort() {
	c.f.typ = "network.partition"
	c.dur()
	c.r.blackhole(c.p, c.f, &c.notes, "port", "protocol", "trafficType")
	c.p.noAnalogue("shakedown injects in the network namespace itself", "useEcsFaultInjectionEndpoints")
	c.installDeps()
	c.p.noAnalogue(fisPodWhy, fisPodParams...)
}

func (c *tr) podDelete() {
	c.f.typ, c.f.oneShot = "pod.delete", true
	if v, ok := c.p.number("gracePeriodSeconds", 0, 1e7); ok {
		c.f.with = append(c.f.with, kv{"grace", v + "s"})
	}
	c.p.noAnalogue(fisPodWhy, fisPodParams...)
}

func (c *tr) terminateNodegroup() {
	if v, ok := c.p.number("instanceTerminationPercentage", 1, 100); ok {
		c.f.selectPercent = v
	} else if c.p.get("instanceTerminationPercentage") == nil {
		c.r.addf(c.a.n.pos, c.a.path, "aws:eks:terminate-nodegroup-instances needs instanceTerminationPercentage")
	}
	switch c.mkind {
	case "process":
		c.f.typ = "process.kill"
		c.f.with = append(c.f.with, kv{"signal", "KILL"})
	case "container":
		c.f.typ = "container.kill"
		c.f.with = append(c.f.with, kv{"signal", "KILL"})
	default:
		c.f.typ, c.f.untilEnd = "node.drain", true
		c.notes = append(c.notes, "terminated nodes lose their pods and are replaced by the node group: here the nodes are drained (their pods evicted) to the end of the template's last action (at least 1m), and uncordoned on revert")
	}
	c.f.oneShot = c.f.typ != "node.drain"
}

func (c *tr) disruptConnectivity() {
	c.f.typ = "network.partition"
	c.dur()
	c.r.disrupt(c.a, c.p, c.m, c.f)
}

// proxied turns a network fault on a target the mapping makes a proxy (a link through the
// fault proxy) into the proxy's own: delay into proxy.latency, a cut into proxy.down. What
// chose the packets (peers, ports, direction) has no meaning on one link, and is a note.
func proxied(f *fault, mkind string) {
	if mkind != "proxy" {
		return
	}
	var with []kv
	var dropped []string
	switch f.typ {
	case "network.delay":
		f.typ = "proxy.latency"
		for _, w := range f.with {
			switch w.k {
			case "delay":
				with = append(with, kv{"latency", w.v})
			case "jitter":
				with = append(with, w)
			default:
				dropped = append(dropped, w.k+" "+w.v)
			}
		}
	case "network.partition":
		f.typ = "proxy.down"
		for _, w := range f.with {
			dropped = append(dropped, w.k+" "+w.v)
		}
	default:
		return
	}
	f.with = with
	if len(dropped) > 0 {
		f.notes = append(f.notes, "on a proxied link every connection is affected; what chose the packets has no meaning there: "+strings.Join(dropped, ", "))
	}
}

// memorySize turns FIS's share of memory into a size, with the mapping file's memory.
func (r *reader) memorySize(a *action, p *params, m *mapping, f *fault, name string) {
	v, ok := p.number(name, 1, 100)
	if !ok {
		if p.get(name) == nil {
			r.addf(a.n.pos, a.path, "%s needs %s (a share of memory)", a.id, name)
		}
		return
	}
	if m.memory == "" {
		r.addf(p.get(name).pos, join(p.path, name), "%s %s%% of memory: say how much memory the targets have here; add to the mapping file: memory: 2gib", name, v)
		return
	}
	n, unit := splitSize(m.memory)
	pct, _ := strconv.ParseFloat(v, 64)
	if n <= 0 || unit == "" {
		r.addf(shakedown.Pos{File: m.file}, "memory", "memory %q: want a size such as 2gib or 512mib", m.memory)
		return
	}
	f.with = append(f.with, kv{"size", strconv.FormatFloat(n*pct/100, 'f', -1, 64) + unit})
	f.notes = append(f.notes, fmt.Sprintf("%s %s%% of the mapping file's memory (%s)", name, v, m.memory))
}

// splitSize splits "2gib" into 2 and "gib".
func splitSize(s string) (float64, string) {
	s = strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, ""
	}
	n, err := shakedown.ParseNumber(s[:i])
	unit := s[i:]
	switch unit {
	case "kib", "mib", "gib", "kb", "mb", "gb", "k", "m", "g":
	default:
		return 0, ""
	}
	if err != nil {
		return 0, ""
	}
	return n, unit
}

// sources reads FIS's comma-separated sources (addresses, CIDRs, domains, DYNAMODB, S3)
// into cidrs; names that are not addresses have no analogue.
func (r *reader) sources(p *params, name string, f *fault) {
	v, ok := p.str(name)
	if !ok || strings.TrimSpace(v) == "" || strings.TrimSpace(v) == "0.0.0.0/0" {
		return
	}
	var cidrs []string
	for _, src := range strings.Split(v, ",") {
		src = strings.TrimSpace(src)
		if _, err := netip.ParsePrefix(src); err == nil {
			cidrs = append(cidrs, scalar(src, false))
			continue
		}
		if _, err := netip.ParseAddr(src); err == nil {
			cidrs = append(cidrs, scalar(src, false))
			continue
		}
		r.addf(p.get(name).pos, join(p.path, name), "source %q: only addresses and CIDRs have a local meaning (domains, DYNAMODB and S3 stand for cloud endpoints): write the addresses they are here", src)
	}
	if len(cidrs) > 0 {
		f.with = append(f.with, kv{"cidrs", "[" + strings.Join(cidrs, ", ") + "]"})
	}
}

// blackhole reads a port, its protocol and the traffic's direction.
func (r *reader) blackhole(p *params, f *fault, notes *[]string, port, protocol, traffic string) {
	if v, ok := p.number(port, 1, 65535); ok {
		f.with = append(f.with, kv{"ports", "[" + strconv.Quote(v) + "]"})
	} else if p.get(port) == nil {
		p.r.addf(p.n.pos, p.path, "a blackhole needs %s", port)
	}
	if v, ok := p.str(protocol); ok {
		*notes = append(*notes, fmt.Sprintf("%s %s: the ports match TCP and UDP both", protocol, scalar(v, false)))
	}
	dir := "in"
	if v, ok := p.str(traffic); ok {
		switch strings.ToLower(v) {
		case "ingress":
		case "egress":
			dir = "out"
		default:
			p.r.addf(p.get(traffic).pos, join(p.path, traffic), "%s %q: want ingress or egress", traffic, v)
		}
	}
	f.with = append(f.with, kv{"direction", dir})
}

// disrupt reads aws:network:disrupt-connectivity's scope.
func (r *reader) disrupt(a *action, p *params, m *mapping, f *fault) {
	scope := "all"
	if v, ok := p.str("scope"); ok {
		scope = v
	}
	switch scope {
	case "all":
		f.notes = append(f.notes, "scope all: every peer but loopback")
	case "prefix-list":
		v, ok := p.str("prefixListIdentifier")
		if !ok {
			r.addf(a.n.pos, a.path, "scope prefix-list needs prefixListIdentifier")
			return
		}
		cidrs, found := m.prefixLists[v]
		if !found {
			r.addf(p.get("prefixListIdentifier").pos, join(p.path, "prefixListIdentifier"),
				"no mapping for prefix list %q; add to the mapping file's prefix_lists: %s: [10.0.0.0/8]", v, scalar(v, false))
			return
		}
		f.with = append(f.with, kv{"cidrs", flow(cidrs)})
		f.notes = append(f.notes, fmt.Sprintf("prefix list %s: the CIDRs the mapping file gives", v))
	default:
		r.addf(p.get("scope").pos, join(p.path, "scope"), "scope %q stands for cloud endpoints (availability zones, S3, DynamoDB, the VPC…) with no local meaning; use scope all, or prefix-list with the mapping file's prefix_lists", scope)
	}
	p.get("prefixListIdentifier")
}

// assertAlarm turns aws:cloudwatch:assert-alarm-state into a check: alarms that must be OK
// are a steady-state check; alarms that must be in ALARM, an expectation that their alert
// fires.
func (r *reader) assertAlarm(a *action, p *params, m *mapping) *check {
	arns := p.get("alarmArns")
	states, _ := p.str("alarmStates")
	if arns == nil || states == "" {
		r.addf(a.n.pos, a.path, "aws:cloudwatch:assert-alarm-state needs alarmArns and alarmStates")
		return nil
	}
	var list []*node
	switch {
	case arns.kind == scalarNode && arns.ref == "":
		for _, s := range strings.Split(arns.str, ",") {
			list = append(list, &node{kind: scalarNode, pos: arns.pos, str: strings.TrimSpace(s)})
		}
	case arns.kind == scalarNode:
		list = []*node{arns}
	case arns.kind == seqNode:
		list = arns.items
	}
	c := &check{kind: "steady_state"}
	wantAlarm := false
	for _, st := range strings.Split(states, ",") {
		switch strings.TrimSpace(st) {
		case "OK":
		case "ALARM":
			wantAlarm = true
		case "INSUFFICIENT_DATA":
			c.notes = append(c.notes, "INSUFFICIENT_DATA: no analogue (a probe that cannot answer fails)")
		default:
			r.addf(p.get("alarmStates").pos, join(p.path, "alarmStates"), "alarm state %q: want OK, ALARM or INSUFFICIENT_DATA", st)
		}
	}
	if wantAlarm {
		c.kind = "expect"
	}
	for _, alarm := range list {
		key, body, try := m.alarm(alarm)
		if body == nil {
			r.addf(alarm.pos, join(p.path, "alarmArns"), "no mapping for alarm %s; add to the mapping file's alarms: %s: {alert: {prometheus: \"http://127.0.0.1:9090\", name: NAME}}", scalar(alarm.str, false), scalar(try, false))
			continue
		}
		name := alarmName(alarm)
		if wantAlarm {
			al := body.get("alert")
			if al == nil {
				r.addf(body.pos, "alarms."+key, "aws:cloudwatch:assert-alarm-state wants this alarm in ALARM: map it to an alert (alert: {prometheus: URL, name: NAME})")
				continue
			}
			c.lines = append(c.lines, "- name: "+literal(name+" fires"), "  alert: "+flow(al), "  fires_within: 1m")
			c.notes = append(c.notes, "FIS asserts the state once; here the alert must fire within 1m of the injection (change fires_within as needed)")
			continue
		}
		c.lines = append(c.lines, checkLines(name+" is OK", body)...)
		c.notes = append(c.notes, "FIS asserts the state once, when the action starts; here it holds throughout")
	}
	return c
}

// checkLines writes a mapped alarm as a check (a list item): an alert becomes the query of
// its firing series, which must be none.
func checkLines(name string, body *node) []string {
	written := literal(name)
	if n := body.get("name"); n != nil && n.kind == scalarNode {
		written = flow(n) // the mapping file's, as it wrote it
	} else if al := body.get("alert"); al != nil && al.get("name") != nil {
		written = literal(name + " (" + al.get("name").str + " fires)")
	}
	lines := []string{"- name: " + written}
	if al := body.get("alert"); al != nil {
		url, alert := al.get("prometheus"), al.get("name")
		if url == nil || alert == nil {
			return lines // the mapping file's problem, reported with it: nothing is written
		}
		sel := fmt.Sprintf("alertname=%q,alertstate=\"firing\"", alert.str)
		if labels := al.get("labels"); labels != nil {
			for i, k := range labels.keys {
				sel += fmt.Sprintf(",%s=%q", k.str, labels.vals[i].str)
			}
		}
		lines = append(lines,
			"  prometheus:",
			"    url: "+flow(url),
			"    query: "+scalar("count(ALERTS{"+sel+"}) or vector(0)", false),
			"    max: 0")
		return lines
	}
	for i, k := range body.keys {
		if k.str == "name" {
			continue
		}
		lines = append(lines, "  "+scalar(k.str, false)+": "+flow(body.vals[i]))
	}
	return lines
}

// ssm translates aws:ssm:send-command with one of FIS's own documents (AWSFIS-Run-*).
func (r *reader) ssm(a *action, p *params, m *mapping, mkind string) *step {
	s := &step{a: a}
	arnNode := p.get("documentArn")
	var arn string
	switch {
	case arnNode == nil:
		r.addf(a.n.pos, a.path, "aws:ssm:send-command needs documentArn")
		return s
	case arnNode.kind == scalarNode && strings.HasPrefix(arnNode.ref, "sub:"):
		arn = arnNode.str // !Sub arn:aws:ssm:${AWS::Region}::document/NAME names its document
	default:
		var ok bool
		if arn, ok = p.r.text(arnNode, join(p.path, "documentArn")); !ok {
			return s
		}
	}
	doc := arn
	if i := strings.LastIndex(arn, "document/"); i >= 0 {
		doc = arn[i+len("document/"):]
	}
	p.get("documentVersion")
	actionDur, _ := p.duration("duration")
	// The document's parameters: a JSON string in the template.
	dp := &node{kind: mapNode, pos: a.n.pos}
	if v := p.get("documentParameters"); v != nil {
		dp = r.docParams(v, join(p.path, "documentParameters"))
	}
	p.done("aws:ssm:send-command")
	if !ssmDocs[doc] {
		s.skipped = fmt.Sprintf("document %s is not one of FIS's own AWSFIS-Run-* documents: what its commands do is not known here (an exec fault can run them)", doc)
		return s
	}
	out := r.translateDoc(a, doc, dp, join(p.path, "documentParameters"), m, mkind)
	if out.fault != nil && out.fault.duration == 0 && actionDur > 0 && !out.fault.oneShot {
		out.fault.duration, out.duration = actionDur, actionDur
	}
	return out
}

// ssmDocs are FIS's own SSM documents the importer translates.
var ssmDocs = map[string]bool{
	"AWSFIS-Run-CPU-Stress":                  true,
	"AWSFIS-Run-Memory-Stress":               true,
	"AWSFIS-Run-IO-Stress":                   true,
	"AWSFIS-Run-Disk-Fill":                   true,
	"AWSFIS-Run-Kill-Process":                true,
	"AWSFIS-Run-Network-Latency":             true,
	"AWSFIS-Run-Network-Latency-Sources":     true,
	"AWSFIS-Run-Network-Packet-Loss":         true,
	"AWSFIS-Run-Network-Packet-Loss-Sources": true,
	"AWSFIS-Run-Network-Blackhole-Port":      true,
}

// docParams decodes documentParameters, a JSON object in a string, into a mapping whose
// values are strings; its problems are placed at the string.
func (r *reader) docParams(v *node, path string) *node {
	out := &node{kind: mapNode, pos: v.pos}
	if v.kind == mapNode {
		return v // a template written by hand may give the object itself
	}
	s, ok := r.text(v, path)
	if !ok {
		return out
	}
	var raw map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		r.addf(v.pos, path, "documentParameters is not a JSON object: %v", err)
		return out
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var val string
		switch x := raw[k].(type) {
		case string:
			val = x
		case json.Number:
			val = x.String()
		case bool:
			val = strconv.FormatBool(x)
		default:
			r.addf(v.pos, join(path, k), "want a string or a number, not %T", x)
			continue
		}
		out.keys = append(out.keys, &node{kind: scalarNode, pos: v.pos, str: k})
		out.vals = append(out.vals, &node{kind: scalarNode, pos: v.pos, str: val})
	}
	return out
}

// translateDoc translates one AWSFIS-Run-* document's parameters.
func (r *reader) translateDoc(a *action, doc string, dp *node, path string, m *mapping, mkind string) *step {
	s := &step{a: a}
	var notes []string
	p := &params{r: r, path: path, n: dp, notes: &notes, read: map[string]bool{}}
	f := &fault{}
	secs := func() {
		if v, ok := p.number("DurationSeconds", 1, 1e7); ok {
			d, _ := strconv.ParseFloat(v, 64)
			f.duration = time.Duration(d * float64(time.Second))
		}
	}
	if doc != "AWSFIS-Run-Kill-Process" {
		p.noAnalogue("shakedown needs nothing installed on its targets", "InstallDependencies")
	}
	switch doc {
	case "AWSFIS-Run-CPU-Stress":
		f.typ = "stress.cpu"
		secs()
		if v, ok := p.number("LoadPercent", 1, 100); ok {
			f.with = append(f.with, kv{"percent", v})
		}
		if v, ok := p.number("CPU", 0, 1024); ok && v != "0" {
			f.with = append(f.with, kv{"cores", v})
		}
	case "AWSFIS-Run-Memory-Stress":
		f.typ = "stress.memory"
		secs()
		r.memorySize(a, p, m, f, "Percent")
		p.noAnalogue("one resident block of the size", "Workers")
	case "AWSFIS-Run-IO-Stress":
		f.typ = "stress.io"
		secs()
		if v, ok := p.number("Workers", 1, 1024); ok {
			f.with = append(f.with, kv{"workers", v})
		}
		p.noAnalogue("each worker writes and syncs size bytes (default 64mib) over and over", "Percent")
	case "AWSFIS-Run-Disk-Fill":
		f.typ = "disk.fill"
		secs()
		path := m.fillPath
		if path == "" {
			path = "/tmp"
		}
		f.with = append(f.with, kv{"path", scalar(path, false)})
		if v, ok := p.number("Percent", 1, 100); ok {
			f.with = append(f.with, kv{"percent", v})
		} else if p.get("Percent") == nil {
			r.addf(a.n.pos, path, "AWSFIS-Run-Disk-Fill needs Percent")
		}
		notes = append(notes, "FIS fills the root volume; here the filesystem of "+path+" (fill_path in the mapping file), never past keep_free")
	case "AWSFIS-Run-Kill-Process":
		sub := &action{name: a.name, path: path, n: a.n, id: "aws:ssm:send-command/AWSFIS-Run-Kill-Process", params: dp}
		out := r.translate(sub, m, mkind)
		out.a = a
		return out
	case "AWSFIS-Run-Network-Latency", "AWSFIS-Run-Network-Latency-Sources":
		f.typ = "network.delay"
		secs()
		delay := "200"
		if v, ok := p.number("DelayMilliseconds", 0, 1e7); ok {
			delay = v
		}
		f.with = append(f.with, kv{"delay", ms(delay)})
		if v, ok := p.number("JitterMilliseconds", 0, 1e7); ok && v != "0" {
			f.with = append(f.with, kv{"jitter", ms(v)})
		}
		r.sources(p, "Sources", f)
		f.with = append(f.with, kv{"direction", r.traffic(p, "TrafficType", "out")})
		p.noAnalogue("every link of the target is affected", "Interface")
	case "AWSFIS-Run-Network-Packet-Loss", "AWSFIS-Run-Network-Packet-Loss-Sources":
		f.typ = "network.loss"
		secs()
		loss := "7"
		if v, ok := p.number("LossPercent", 0.001, 100); ok {
			loss = v
		}
		f.with = append(f.with, kv{"percent", loss})
		r.sources(p, "Sources", f)
		f.with = append(f.with, kv{"direction", r.traffic(p, "TrafficType", "out")})
		p.noAnalogue("every link of the target is affected", "Interface")
	case "AWSFIS-Run-Network-Blackhole-Port":
		f.typ = "network.partition"
		secs()
		r.blackhole(p, f, &notes, "Port", "Protocol", "TrafficType")
	}
	p.done(doc)
	proxied(f, mkind)
	f.kinds = faultKinds[f.typ]
	f.notes = append(notes, f.notes...)
	s.fault = f
	s.duration = f.duration
	if f.duration == 0 {
		r.addf(a.n.pos, a.path, "%s needs DurationSeconds (or the action's duration)", doc)
	}
	return s
}

// traffic reads a TrafficType (ingress, egress) as a direction.
func (r *reader) traffic(p *params, name, def string) string {
	v, ok := p.str(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "ingress":
		return "in"
	case "egress":
		return "out"
	}
	p.r.addf(p.get(name).pos, join(p.path, name), "%s %q: want ingress or egress", name, v)
	return def
}

// supported are the actions translate knows.
var supported = map[string]bool{
	"aws:fis:wait": true, "aws:cloudwatch:assert-alarm-state": true,
	"aws:ec2:stop-instances": true, "aws:ec2:reboot-instances": true, "aws:ec2:terminate-instances": true,
	"aws:ecs:stop-task": true, "aws:ecs:task-kill-process": true, "aws:ecs:task-cpu-stress": true,
	"aws:ecs:task-io-stress": true, "aws:ecs:task-network-latency": true, "aws:ecs:task-network-packet-loss": true,
	"aws:ecs:task-network-blackhole-port": true, "aws:eks:pod-delete": true, "aws:eks:pod-cpu-stress": true,
	"aws:eks:pod-memory-stress": true, "aws:eks:pod-io-stress": true, "aws:eks:pod-network-latency": true,
	"aws:eks:pod-network-packet-loss": true, "aws:eks:pod-network-blackhole-port": true,
	"aws:eks:terminate-nodegroup-instances": true, "aws:network:disrupt-connectivity": true,
	"aws:ssm:send-command": true,
}

// leftOutAction tells whether an action has no translation (unsupported, unknown, or an SSM
// document not FIS's own): its target needs no mapping.
func leftOutAction(a *action) bool {
	if !supported[a.id] {
		return true
	}
	if a.id != "aws:ssm:send-command" || a.params == nil {
		return false
	}
	arn := a.params.get("documentArn")
	if arn == nil || arn.kind != scalarNode {
		return false
	}
	doc := arn.str
	if i := strings.LastIndex(doc, "document/"); i >= 0 {
		doc = doc[i+len("document/"):]
	}
	return !ssmDocs[doc]
}

// unsupported says why an FIS action has no local meaning.
func unsupported(id string) (string, bool) {
	for _, u := range unsupportedActions {
		if strings.HasPrefix(id, u.prefix) {
			return fmt.Sprintf("%s %s", id, u.why), true
		}
	}
	return "", false
}

var unsupportedActions = []struct{ prefix, why string }{
	{"aws:fis:inject-api-", "injects errors into the AWS API calls of an IAM role: nothing here calls AWS (for your own HTTP dependencies, http.abort on a proxy target answers errors)"},
	{"aws:ec2:send-spot-instance-interruptions", "interrupts Spot capacity, which only EC2 has"},
	{"aws:ec2:api-", "injects errors into EC2's API"},
	{"aws:ec2:asg-insufficient-instance-capacity-error", "makes an Auto Scaling group fail to launch, which only EC2 does"},
	{"aws:rds:", "fails over or reboots a managed database: run the database here and kill or cut it (process.kill, network.partition)"},
	{"aws:elasticache:", "interrupts a managed cache's availability zone: run the cache here and kill or cut it"},
	{"aws:memorydb:", "interrupts a managed database's availability zone"},
	{"aws:s3:", "pauses S3 replication, which only S3 does"},
	{"aws:dynamodb:", "pauses DynamoDB global table replication, which only DynamoDB does"},
	{"aws:dsql:", "disrupts Aurora DSQL, which only AWS runs"},
	{"aws:ebs:", "pauses EBS volume I/O, which only EBS does (process.freeze holds a process's I/O)"},
	{"aws:arc:", "shifts traffic between availability zones with Application Recovery Controller"},
	{"aws:network:route-table-disrupt-cross-region-connectivity", "cuts traffic between AWS regions"},
	{"aws:network:transit-gateway-disrupt-cross-region-connectivity", "cuts traffic between AWS regions"},
	{"aws:directconnect:", "disrupts a Direct Connect link"},
	{"aws:lambda:", "injects into Lambda invocations, which only Lambda runs"},
	{"aws:kinesis", "disrupts a Kinesis stream"},
	{"aws:ecs:drain-container-instances", "drains ECS container instances, which only ECS schedules"},
	{"aws:eks:inject-kubernetes-custom-resource", "creates a Chaos Mesh or Litmus resource: run that tool's experiment with it"},
	{"aws:fis:", "is an FIS control the importer does not know"},
}

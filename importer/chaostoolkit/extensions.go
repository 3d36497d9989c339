package chaostoolkit

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

// extension translates one Python function of a Chaos Toolkit extension: it adds faults or
// targets to the plan, ends a fault an earlier action began, or only lets time pass.
type extension struct {
	becomes string   // what it becomes, for the table of the help and the README
	args    []string // the arguments it reads (secrets and configuration are Chaos Toolkit's)
	do      func(p *planner, c *call)
}

// Extension is one Python function the importer translates, and what it becomes.
type Extension struct {
	Module, Func, Becomes string
}

// Extensions lists the Python functions the importer translates, by module and function,
// for the command's help and the README.
func Extensions() []Extension {
	var out []Extension
	for k, e := range table {
		i := strings.LastIndex(k, ".")
		out = append(out, Extension{Module: k[:i], Func: k[i+1:], Becomes: e.becomes})
	}
	slices.SortFunc(out, func(a, b Extension) int { return strings.Compare(a.Module+"."+a.Func, b.Module+"."+b.Func) })
	return out
}

var toxicArgs = []string{"for_proxy", "toxic_name"}

// table is the translation table of Python functions, by module and function name. A module
// of chaostoolkit-toxiproxy is also found under its first name, toxiproxy.
var table = map[string]extension{
	"chaostoxi.toxic.actions.create_toxic": {"proxy.<toxic_type> (latency, bandwidth, slow_close, timeout, slicer, limit_data; reset_peer → proxy.reset)", append(toxicArgs, "toxic_type", "stream", "toxicity", "attributes"), createToxic},
	"chaostoxi.toxic.actions.create_latency_toxic": {"proxy.latency (milliseconds)", append(toxicArgs, "latency", "jitter"), func(p *planner, c *call) {
		p.toxic(c, "latency", []kv{{"latency", c.millis("latency", true)}, {"jitter", c.millis("jitter", false)}})
	}},
	"chaostoxi.toxic.actions.create_bandwith_degradation_toxic": {"proxy.bandwidth", append(toxicArgs, "rate"), func(p *planner, c *call) {
		p.toxic(c, "bandwidth", []kv{{"rate", c.number("rate", true)}})
	}},
	"chaostoxi.toxic.actions.create_slow_connection_close_toxic": {"proxy.slow_close", append(toxicArgs, "delay"), func(p *planner, c *call) {
		p.toxic(c, "slow_close", []kv{{"delay", c.millis("delay", true)}})
	}},
	"chaostoxi.toxic.actions.create_timeout_toxic": {"proxy.timeout", append(toxicArgs, "timeout"), func(p *planner, c *call) {
		p.toxic(c, "timeout", []kv{{"timeout", c.millis("timeout", true)}})
	}},
	"chaostoxi.toxic.actions.create_slicer_toxic": {"proxy.slicer (delay in microseconds)", append(toxicArgs, "average_size", "size_variation", "delay"), func(p *planner, c *call) {
		p.toxic(c, "slicer", []kv{{"average_size", c.number("average_size", true)}, {"size_variation", c.number("size_variation", true)}, {"delay", c.micros("delay", true)}})
	}},
	"chaostoxi.toxic.actions.create_limiter_toxic": {"proxy.limit_data", append(toxicArgs, "bytes_limit"), func(p *planner, c *call) {
		p.toxic(c, "limit_data", []kv{{"bytes", c.number("bytes_limit", true)}})
	}},
	"chaostoxi.toxic.actions.delete_toxic": {"the end of that toxic's fault", toxicArgs, func(p *planner, c *call) {
		p.end(c, "toxic:"+c.text("for_proxy", true)+"/"+c.text("toxic_name", true))
	}},
	"chaostoxi.proxy.actions.create_proxy": {"an inline proxy target (listen_port must be given)", []string{"proxy_name", "upstream_host", "upstream_port", "listen_host", "listen_port", "enabled"}, createProxy},
	"chaostoxi.proxy.actions.disable_proxy": {"proxy.down", []string{"proxy_name"}, func(p *planner, c *call) {
		name := c.text("proxy_name", true)
		p.held(c, "proxy.down", p.proxyTarget(c, name), nil, "proxy:"+name)
	}},
	"chaostoxi.proxy.actions.enable_proxy": {"the end of proxy.down", []string{"proxy_name"}, func(p *planner, c *call) {
		p.end(c, "proxy:"+c.text("proxy_name", true))
	}},
	"chaostoxi.proxy.actions.delete_proxy": {"nothing, as a rollback of create_proxy", []string{"proxy_name"}, func(p *planner, c *call) {
		name := c.text("proxy_name", true)
		if _, inline := p.proxies[name]; !inline || !p.rollingBack {
			c.a.v.Addf("delete_proxy of %s: only the rollback of a proxy the experiment created has a meaning here (the run closes its own proxies)", name)
			return
		}
		p.note(c, "the inline proxy "+safeName(name)+" is closed by the run itself")
	}},
	"chaosk8s.pod.actions.terminate_pods": {"pod.delete on a pods target (label selector; all, qty, mode → select)", []string{"label_selector", "name_pattern", "all", "rand", "mode", "qty", "grace_period", "ns", "order"}, terminatePods},
	"chaosk8s.pod.actions.delete_pods":    {"pod.delete on a pods target", []string{"name", "ns", "label_selector"}, terminatePods},
	"chaosk8s.node.actions.cordon_node": {"node.cordon on a node target", []string{"name", "label_selector"}, func(p *planner, c *call) {
		p.held(c, "node.cordon", p.nodeTarget(c, ""), nil, "node:"+c.text("name", false)+"/"+c.text("label_selector", false))
	}},
	"chaosk8s.node.actions.drain_nodes": {"node.drain (count → select, timeout → wait)", []string{"name", "label_selector", "delete_pods_with_local_storage", "timeout", "count", "pod_label_selector", "pod_namespace"}, drainNodes},
	"chaosk8s.node.actions.uncordon_node": {"the end of node.cordon or node.drain", []string{"name", "label_selector"}, func(p *planner, c *call) {
		p.end(c, "node:"+c.text("name", false)+"/"+c.text("label_selector", false))
	}},
	"chaosk8s.deployment.actions.scale_deployment": {"deployment.scale (reverted to the count it had)", []string{"name", "replicas", "ns"}, scaleDeployment},
	"chaosaddons.utils.idle.idle_for": {"a pause", []string{"duration"}, func(p *planner, c *call) {
		v, given := c.arg("duration", true)
		if !given {
			return
		}
		if d, ok := p.r.seconds(v); ok {
			p.wait(c, d)
		}
	}},
}

// call is one call of a Python function of the table.
type call struct {
	a    *activity
	r    *reader
	fn   string
	args map[string]spec.Field
}

func (c *call) arg(k string, required bool) (spec.Value, bool) {
	f, ok := c.args[k]
	if !ok || f.Value.Null() {
		if required {
			c.a.prov.v.Addf("%s needs the argument %s", c.fn, k)
		}
		return spec.Value{}, false
	}
	return f.Value, true
}

// text reads a string argument with its ${vars}.
func (c *call) text(k string, required bool) string {
	v, ok := c.arg(k, required)
	if !ok {
		return ""
	}
	s, _ := c.r.subst(v)
	return s
}

// number reads a number argument: written as it is, or a ${var}.
func (c *call) number(k string, required bool) string {
	v, ok := c.arg(k, required)
	if !ok {
		return ""
	}
	switch v.Kind() {
	case "int", "float":
		s, _ := v.String()
		return s
	case "string":
		s, _ := c.r.subst(v)
		if varPrefix(s) == len(s) && s != "" {
			return str(s)
		}
	}
	c.r.addf(v, "%s: want a number", k)
	return ""
}

// millis reads a number of milliseconds as a duration.
func (c *call) millis(k string, required bool) string { return c.unit(k, required, "ms") }

// micros reads a number of microseconds as a duration.
func (c *call) micros(k string, required bool) string { return c.unit(k, required, "us") }

func (c *call) unit(k string, required bool, unit string) string {
	n := c.number(k, required)
	if n == "" {
		return ""
	}
	if strings.HasPrefix(n, `"`) {
		return strconv.Quote(strings.Trim(n, `"`) + unit)
	}
	return n + unit
}

// boolean reads a true or false argument.
func (c *call) boolean(k string) (val, given bool) {
	v, ok := c.arg(k, false)
	if !ok {
		return false, false
	}
	if v.Kind() != "bool" {
		c.r.addf(v, "%s: want true or false", k)
		return false, false
	}
	s, _ := v.String()
	return s == "true", true
}

// refusePython says why a Python provider has no translation: by module and function, with
// the table's functions of that module, or its modules.
func (r *reader) refusePython(a *activity, as string) {
	p := a.prov
	key := p.module + "." + p.fn
	var same []string
	for _, e := range Extensions() {
		if e.Module == pyModule(p.module) {
			same = append(same, e.Func)
		}
	}
	hint := "shakedown translates the functions of chaostoxi (chaostoolkit-toxiproxy), chaosk8s (chaostoolkit-kubernetes) and chaosaddons listed by shakedown import chaostoolkit --help; write it as an http or process provider, or as the shakedown fault or check it stands for"
	if len(same) > 0 {
		hint = "of " + pyModule(p.module) + ", shakedown translates " + strings.Join(same, ", ")
	}
	if _, ok := table[pyModule(p.module)+"."+p.fn]; ok && as == "a check" {
		hint = "it is an action: it becomes a fault, not a check"
	}
	r.addf(p.v, "Python function %s (module %s, func %s) has no translation as %s: %s", key, p.module, p.fn, as, hint)
}

// pyModule is the module's name in the table: chaostoolkit-toxiproxy's first name,
// toxiproxy, is chaostoxi.
func pyModule(m string) string {
	if rest, ok := strings.CutPrefix(m, "toxiproxy."); ok {
		return "chaostoxi." + rest
	}
	return m
}

// python translates a Python action by the table.
func (p *planner) python(a *activity) {
	pr := a.prov
	ext, ok := table[pyModule(pr.module)+"."+pr.fn]
	if !ok {
		p.r.refusePython(a, "a fault")
		return
	}
	for k, f := range pr.args {
		if !slices.Contains(ext.args, k) {
			f.KeyAddf("unknown argument %q of %s.%s (it takes %s)", k, pr.module, pr.fn, strings.Join(ext.args, ", "))
		}
	}
	ext.do(p, &call{a: a, r: p.r, fn: pr.module + "." + pr.fn, args: pr.args})
}

var toxicTypes = map[string][]string{
	"latency": {"latency", "jitter"}, "bandwidth": {"rate"}, "slow_close": {"delay"},
	"timeout": {"timeout"}, "slicer": {"average_size", "size_variation", "delay"},
	"limit_data": {"bytes"}, "reset_peer": {"timeout"},
}

func createToxic(p *planner, c *call) {
	typ := c.text("toxic_type", true)
	want, ok := toxicTypes[typ]
	if !ok {
		if v, given := c.arg("toxic_type", false); given {
			names := make([]string, 0, len(toxicTypes))
			for k := range toxicTypes {
				names = append(names, k)
			}
			sort.Strings(names)
			c.r.addf(v, "toxic type %q: want one of %s", typ, strings.Join(names, ", "))
		}
		return
	}
	var with []kv
	if v, ok := c.arg("attributes", false); ok {
		fs, _ := v.Mapping()
		for _, f := range fs {
			if !slices.Contains(want, f.Key) {
				f.KeyAddf("attribute %q of a %s toxic: want %s", f.Key, typ, strings.Join(want, ", "))
				continue
			}
			sub := &call{a: c.a, r: c.r, fn: c.fn, args: map[string]spec.Field{f.Key: f}}
			val := sub.number(f.Key, true)
			switch {
			case f.Key == "delay" && typ == "slicer":
				val = sub.micros(f.Key, true)
			case f.Key == "latency" || f.Key == "jitter" || f.Key == "delay" || f.Key == "timeout":
				val = sub.millis(f.Key, true)
			}
			with = append(with, kv{f.Key, val})
		}
	}
	if typ == "reset_peer" {
		typ = "reset"
	}
	if v, ok := c.arg("stream", false); ok {
		s, _ := c.r.subst(v)
		if s != "upstream" && s != "downstream" {
			c.r.addf(v, "stream is upstream or downstream, not %q", s)
		}
		with = append(with, kv{"stream", str(s)})
	}
	if _, ok := c.arg("toxicity", false); ok {
		with = append(with, kv{"toxicity", c.number("toxicity", true)})
	}
	p.toxic(c, typ, with)
}

func createProxy(p *planner, c *call) {
	name := c.text("proxy_name", true)
	host, port := c.text("upstream_host", true), c.number("upstream_port", true)
	lhost := c.text("listen_host", false)
	if lhost == "" {
		lhost = "0.0.0.0"
	}
	lport := c.number("listen_port", false)
	if v, ok := c.arg("listen_port", false); !ok || lport == "0" {
		at := c.a.prov.v
		if ok {
			at = v
		}
		c.r.addf(at, "create_proxy with listen_port 0 (its default) lets Toxiproxy pick a port and tells Chaos Toolkit's configuration; here the proxy needs a listen_port its clients know")
		return
	}
	if en, given := c.boolean("enabled"); given && !en {
		c.r.addf(c.args["enabled"].Value, "a proxy created disabled: use disable_proxy after create_proxy")
		return
	}
	if name == "" || host == "" || port == "" {
		return
	}
	if _, dup := p.proxies[name]; dup {
		c.r.addf(c.a.v, "the proxy %s is created twice", name)
		return
	}
	addr := func(h, port string) string { return strings.Trim(h, `"`) + ":" + strings.Trim(port, `"`) }
	tname := p.target(name, fmt.Sprintf("Chaos Toolkit proxy %s, created by action %s (line %d); the run opens and closes it", name, c.a.name, c.a.line),
		"proxy: "+flowMap([]kv{{"listen", str(addr(lhost, lport))}, {"upstream", str(addr(host, port))}}))
	p.proxies[name] = tname
	p.note(c, "the inline proxy "+tname+" listens for the whole run, from the baseline on")
}

// proxyTarget names the target of a Toxiproxy proxy: the experiment's own (create_proxy), or
// one of a running proxy daemon (a `shakedown proxy`, which speaks Toxiproxy's API) at the
// configuration's toxiproxy_host and toxiproxy_port.
func (p *planner) proxyTarget(c *call, name string) string {
	if name == "" {
		return ""
	}
	if t, ok := p.proxies[name]; ok {
		return t
	}
	if p.r.vars["toxiproxy_host"] == nil {
		c.a.prov.v.Addf("%s acts on the Toxiproxy proxy %s, which the experiment does not create: its configuration needs toxiproxy_host (and toxiproxy_port, default 8474), the API it lives in", c.fn, name)
		return ""
	}
	p.r.use("toxiproxy_host")
	port := "8474"
	if p.r.vars["toxiproxy_port"] != nil {
		p.r.use("toxiproxy_port")
		port = "${toxiproxy_port}"
	}
	t := p.target(name, fmt.Sprintf("Chaos Toolkit proxy %s of the Toxiproxy API at toxiproxy_host: here a `shakedown proxy --api` daemon's, which speaks the same API", name),
		"proxy: "+flowMap([]kv{{"api", str("http://${toxiproxy_host}:" + port)}, {"name", str(name)}}))
	p.proxies[name] = t
	return t
}

// labels reads a Kubernetes label selector of equalities: a=b,c==d.
func labels(c *call, k string) (map[string]string, bool) {
	s := c.text(k, false)
	if s == "" {
		return nil, true
	}
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		key, val, ok := strings.Cut(part, "=")
		val = strings.TrimPrefix(val, "=")
		if !ok || strings.HasSuffix(key, "!") || key == "" || strings.ContainsAny(key+val, " ()") {
			c.r.addf(c.args[k].Value, "label selector %q: shakedown's targets take equalities (a=b,c=d), not %q", s, part)
			return nil, false
		}
		out[strings.TrimSpace(key)] = strings.TrimSpace(val)
	}
	return out, true
}

func labelMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kvs := make([]kv, len(keys))
	for i, k := range keys {
		kvs[i] = kv{k, str(m[k])}
	}
	return flowMap(kvs)
}

func terminatePods(p *planner, c *call) {
	for _, k := range []string{"name_pattern", "name"} {
		if v, ok := c.arg(k, false); ok {
			c.r.addf(v, "%s picks pods by a regexp on their names; shakedown's pods targets select by labels and fields", k)
			return
		}
	}
	ls, ok := labels(c, "label_selector")
	if !ok {
		return
	}
	ns := c.text("ns", false)
	if ns == "" {
		ns = "default"
	}
	body := []kv{{"namespace", str(ns)}}
	if len(ls) > 0 {
		body = append(body, kv{"labels", labelMap(ls)})
	}
	sel := "count(1)"
	all, _ := c.boolean("all")
	mode := c.text("mode", false)
	qty := c.number("qty", false)
	switch {
	case all:
		sel = "all"
	case mode == "percentage" && qty != "":
		sel = "percent(" + qty + ")"
	case mode == "" || mode == "fixed":
		if qty != "" {
			sel = "count(" + qty + ")"
		}
	default:
		c.r.addf(c.args["mode"].Value, "mode is fixed or percentage, not %q", mode)
		return
	}
	var notes []string
	if rnd, _ := c.boolean("rand"); !rnd && !all {
		notes = append(notes, "Chaos Toolkit takes the first pods (rand false); the run picks them at random, with a seed it records")
	}
	if o := c.text("order", false); o != "" && o != "alphabetic" {
		notes = append(notes, "order "+o+": the run picks the pods at random, with a seed it records")
	}
	target := p.target(c.a.name, fmt.Sprintf("pods of action %s (line %d)", c.a.name, c.a.line), "pods: "+flowMap(body), "select: "+sel)
	var with []kv
	if g := c.number("grace_period", false); g != "" && !strings.HasPrefix(g, "-") {
		with = append(with, kv{"grace", g + "s"})
	}
	f := p.oneShot(c.a, "pod.delete", target, with)
	f.notes = append(f.notes, notes...)
}

// nodeTarget names the target of nodes by name or label selector.
func (p *planner) nodeTarget(c *call, sel string) string {
	name := c.text("name", false)
	ls, ok := labels(c, "label_selector")
	if !ok {
		return ""
	}
	var body []kv
	if name != "" {
		body = append(body, kv{"name", str(name)})
	}
	if len(ls) > 0 {
		body = append(body, kv{"labels", labelMap(ls)})
	}
	lines := []string{"node: " + flowMap(body)}
	if sel != "" {
		lines = append(lines, "select: "+sel)
	}
	return p.target(c.a.name, fmt.Sprintf("nodes of action %s (line %d)", c.a.name, c.a.line), lines...)
}

func drainNodes(p *planner, c *call) {
	if v, ok := c.arg("pod_label_selector", false); ok {
		c.r.addf(v, "pod_label_selector picks the nodes that run some pods; shakedown's node targets select by name and labels")
		return
	}
	sel := ""
	if n := c.number("count", false); n != "" {
		sel = "count(" + n + ")"
	}
	var with []kv
	if t := c.number("timeout", false); t != "" {
		with = append(with, kv{"wait", t + "s"})
	}
	f := p.held(c, "node.drain", p.nodeTarget(c, sel), with, "node:"+c.text("name", false)+"/"+c.text("label_selector", false))
	if f != nil {
		if local, _ := c.boolean("delete_pods_with_local_storage"); local {
			f.notes = append(f.notes, "delete_pods_with_local_storage: the drain evicts every pod but a DaemonSet's, local storage or not")
		}
	}
}

func scaleDeployment(p *planner, c *call) {
	name := c.text("name", true)
	ns := c.text("ns", false)
	if ns == "" {
		ns = "default"
	}
	replicas := c.number("replicas", true)
	if name == "" || replicas == "" {
		return
	}
	t := p.target(name, fmt.Sprintf("Deployment %s of action %s (line %d)", name, c.a.name, c.a.line),
		"deployment: "+flowMap([]kv{{"namespace", str(ns)}, {"name", str(name)}}))
	p.held(c, "deployment.scale", t, []kv{{"replicas", replicas}}, "deployment:"+ns+"/"+name)
}

// wait lets time pass, as a pause does.
func (p *planner) wait(c *call, d time.Duration) {
	if p.now > maxMethod {
		return
	}
	p.now += d
	p.note(c, "idle for "+shakedown.FormatDuration(d)+": the next faults start that much later")
}

package chaostoolkit

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/importer"
)

// The method's time line. Chaos Toolkit runs the method's activities one after the other,
// pausing before and after each as its pauses say, and does not wait for a background one.
// Its actions change the system until something undoes them: a later action (delete_toxic),
// or the rollbacks, which run once the method and the hypothesis after it are done.
//
// Here each activity has a nominal time: the pauses before it summed, as if each activity
// took no time. A fault starts after the last one-shot fault before it (after:), so that
// the method's order holds whatever its commands take, plus the pauses between them
// (delay:). A fault that lasts (a toxic, a disabled proxy, a cordon) is held until the
// nominal time of what ends it, or to the end of the method; the last one-shot fault holds
// the inject phase to the end of the method, so that the run observes the system for the
// pauses Chaos Toolkit waited. The rollbacks of http and process actions become the reverts
// of the exec faults, the first rollback that of the last fault: shakedown reverts last in,
// first out, so they run in the rollbacks' order.

// defaultHold is how long a fault that lasts is held when the method gives it no time at all.
const defaultHold = 10 * time.Second

// fault is one fault of the output.
type fault struct {
	name    string
	a       *activity
	typ     string
	target  string
	with    []kv
	inject  []string // exec
	timeout time.Duration
	revert  []string // exec: the argv of its rollback
	oneShot bool
	start   time.Duration // nominal
	end     time.Duration // nominal; for a fault that lasts, when it ends (-1: the method's end)
	key     string        // what ends it: "toxic:proxy/name", "proxy:name", "node:…", "deployment:…"
	notes   []string
	after   *fault
	delay   time.Duration
	dur     time.Duration
	noop    bool // a rollback with no action to revert: its inject does nothing
}

// planner builds the faults and targets of the method and the rollbacks.
type planner struct {
	r           *reader
	x           *experiment
	now         time.Duration
	anchor      *fault // the last one-shot fault of the method, not in the background
	faults      []*fault
	open        map[string]*fault
	proxies     map[string]string // Chaos Toolkit proxy name → target name
	targetNames names
	faultNames  names
	rollingBack bool
	cur         *activity // the activity being translated
	tooLong     bool
}

func (r *reader) plan(x *experiment, method, rollbacks []*activity) {
	p := &planner{r: r, x: x, open: map[string]*fault{}, proxies: map[string]string{},
		targetNames: names{}, faultNames: names{}}
	for _, a := range method {
		p.activity(a)
	}
	end := p.now
	p.rollingBack = true
	var execRollbacks []*activity
	for _, a := range rollbacks {
		if a.prov == nil {
			continue
		}
		if a.kind == "probe" {
			x.comments = append(x.comments, fmt.Sprintf("Chaos Toolkit rollback probe %s (line %d): %s: a probe among the rollbacks only records its output; kept out", a.name, a.line, a.prov.describe()))
			continue
		}
		switch a.prov.typ {
		case "python":
			p.cur = a
			p.python(a)
		default:
			execRollbacks = append(execRollbacks, a)
		}
	}
	p.rollbacks(execRollbacks)
	p.times(end)
	x.faults = p.faults
	if len(p.faults) == 0 && len(r.probs) == 0 {
		r.probs = append(r.probs, problemAt(r, method, "nothing is left to inject: the method has no action shakedown translates into a fault"))
	}
}

func (p *planner) activity(a *activity) {
	p.cur = a
	if a.prov == nil || p.tooLong {
		return
	}
	start := p.now + a.before
	if !a.background {
		p.now = start
	}
	switch {
	case a.kind == "probe" && a.prov.typ == "python":
		p.r.refusePython(a, "a probe of the method")
	case a.kind == "probe":
		tol := ""
		if a.hasTol {
			tol = ", tolerance " + shape(a.tolerance)
		}
		p.x.comments = append(p.x.comments, fmt.Sprintf("Chaos Toolkit method probe %s (line %d, at %s): %s%s: the method's probes only record their output; the steady_state checks watch the whole run",
			a.name, a.line, shakedown.FormatDuration(start), a.prov.describe(), tol))
	case a.prov.typ == "python":
		p.python(a)
	default:
		p.execFault(a, start)
	}
	if !a.background {
		p.now += a.after
	}
	if p.now > maxMethod && !p.tooLong {
		p.tooLong = true
		p.r.addf(a.v, "the method's pauses add up to more than %s", shakedown.FormatDuration(maxMethod))
	}
}

// maxMethod bounds the method's time line, so that its sums cannot overflow.
const maxMethod = 7 * 24 * time.Hour

// add places a new fault at the time of the activity being translated.
func (p *planner) add(f *fault) *fault {
	a := p.cur
	f.a = a
	f.name = p.faultNames.take(a.name)
	f.start = p.now
	if a.background {
		f.start = p.now + a.before
	}
	f.after = p.anchor
	if p.anchor != nil {
		f.delay = f.start - p.anchor.start
	} else {
		f.delay = f.start
	}
	if f.oneShot && !a.background {
		p.anchor = f
	}
	if a.background {
		f.notes = append(f.notes, "background: Chaos Toolkit does not wait for it; here no fault waits for it either")
	}
	p.faults = append(p.faults, f)
	return f
}

func (p *planner) oneShot(a *activity, typ, target string, with []kv) *fault {
	if p.rollingBack {
		p.r.addf(a.v, "a rollback that injects (%s) has no meaning here: the run reverts what it injected", typ)
		return &fault{}
	}
	if target == "" {
		return &fault{}
	}
	return p.add(&fault{typ: typ, target: target, with: with, oneShot: true})
}

// held adds a fault that lasts until what ends it (key).
func (p *planner) held(c *call, typ, target string, with []kv, key string) *fault {
	if p.rollingBack {
		p.r.addf(c.a.v, "a rollback that injects (%s) has no meaning here: the run reverts what it injected", typ)
		return nil
	}
	if target == "" {
		return nil
	}
	if prev := p.open[key]; prev != nil {
		p.r.addf(c.a.v, "%s again while action %s (line %d) still holds it", typ, prev.a.name, prev.a.line)
		return nil
	}
	f := p.add(&fault{typ: typ, target: target, with: with, end: -1, key: key})
	p.open[key] = f
	return f
}

func (p *planner) toxic(c *call, typ string, with []kv) {
	proxy, name := c.text("for_proxy", true), c.text("toxic_name", true)
	var kept []kv
	for _, w := range with {
		if w.v != "" {
			kept = append(kept, w)
		}
	}
	if f := p.held(c, "proxy."+typ, p.proxyTarget(c, proxy), kept, "toxic:"+proxy+"/"+name); f != nil {
		f.notes = append(f.notes, "toxic "+name+" on proxy "+proxy)
	}
}

// end ends the fault key names: now in the method, at the method's end in the rollbacks.
func (p *planner) end(c *call, key string) {
	f := p.open[key]
	if f == nil {
		c.a.v.Addf("%s undoes what no action of the method did before it", c.fn)
		return
	}
	delete(p.open, key)
	if p.rollingBack {
		f.notes = append(f.notes, fmt.Sprintf("its rollback %s (line %d) is the revert shakedown does itself, at the end of the method", c.a.name, c.a.line))
		return
	}
	f.end = p.now
	f.notes = append(f.notes, fmt.Sprintf("action %s (line %d, at %s) ends it: shakedown reverts it itself", c.a.name, c.a.line, shakedown.FormatDuration(p.now)))
}

// note says, at the fault of the activity or in the trailing comments, what an action
// became.
func (p *planner) note(c *call, text string) {
	p.x.comments = append(p.x.comments, fmt.Sprintf("Chaos Toolkit action %s (line %d): %s: %s", c.a.name, c.a.line, c.fn, text))
}

// target adds a target block and returns its name.
func (p *planner) target(name, what string, lines ...string) string {
	t := p.targetNames.take(name)
	var b strings.Builder
	b.WriteString("  " + str(t) + ":\n")
	importer.Comment(&b, "    ", what)
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	p.x.targets = append(p.x.targets, b.String())
	return t
}

// execFault makes an exec fault of an http or process action.
func (p *planner) execFault(a *activity, start time.Duration) {
	argv, notes := command(a)
	if p.rollingBack {
		return
	}
	f := p.add(&fault{typ: "exec", inject: argv, timeout: a.prov.timeout, oneShot: true})
	f.notes = append(notes, f.notes...)
	if a.background && a.prov.timeout == 0 {
		f.notes = append(f.notes, "no timeout: Chaos Toolkit lets it run, the exec fault stops its command after 30s (with: timeout)")
	}
}

// command is the argv an http or process activity runs.
func command(a *activity) ([]string, []string) {
	pr := a.prov
	notes := append([]string(nil), pr.notes...)
	if pr.typ == "process" {
		return pr.argv, notes
	}
	argv := []string{"curl", "-sS", "-o", "/dev/null", "--fail"}
	notes = append(notes, "sent with curl, which fails on a status of 400 or more (Chaos Toolkit only warns)")
	if pr.method != "GET" {
		argv = append(argv, "-X", pr.method)
	}
	if pr.insecure {
		argv = append(argv, "--insecure")
	}
	for _, h := range pr.headers {
		argv = append(argv, "-H", h.k+": "+h.v)
	}
	if pr.timeout > 0 {
		argv = append(argv, "--max-time", strconv.FormatFloat(pr.timeout.Seconds(), 'f', -1, 64))
	}
	if len(pr.body) > 0 && pr.jsonBody {
		m := make([]string, len(pr.body))
		for i, b := range pr.body {
			k, _ := jsonString(b.k)
			m[i] = k + ": " + pr.bodyJSON[i]
		}
		argv = append(argv, "--data-raw", "{"+strings.Join(m, ", ")+"}")
	} else {
		for _, b := range pr.body {
			argv = append(argv, "--data-urlencode", b.k+"="+b.v)
		}
	}
	return append(argv, pr.url), notes
}

// rollbacks makes the http and process rollbacks the reverts of the method's exec faults,
// the first rollback the last fault's, so that shakedown's last-in-first-out order is theirs;
// those left over revert faults that inject nothing, injected before the method's.
func (p *planner) rollbacks(rbs []*activity) {
	var execs []*fault
	for _, f := range p.faults {
		if f.typ == "exec" {
			execs = append(execs, f)
		}
	}
	i := 0
	for j := len(execs) - 1; j >= 0 && i < len(rbs); j-- {
		rb := rbs[i]
		argv, notes := command(rb)
		execs[j].revert = argv
		execs[j].notes = append(execs[j].notes, fmt.Sprintf("revert: Chaos Toolkit rollback %s (line %d): %s", rb.name, rb.line, rb.prov.describe()))
		for _, n := range notes {
			execs[j].notes = append(execs[j].notes, "rollback: "+n)
		}
		i++
	}
	var prev *fault
	var noops []*fault // in the order they inject: the last rollback first
	for k := len(rbs) - 1; k >= i; k-- {
		rb := rbs[k]
		argv, notes := command(rb)
		f := &fault{a: rb, name: p.faultNames.take("rollback-" + rb.name), typ: "exec", inject: []string{"true"}, revert: argv, oneShot: true, noop: true, after: prev}
		f.notes = append([]string{fmt.Sprintf("Chaos Toolkit rollback %s (line %d): %s; no action is left for it to revert, so it reverts a fault that injects nothing, before the method's", rb.name, rb.line, rb.prov.describe())}, notes...)
		prev = f
		noops = append(noops, f)
	}
	p.faults = append(noops, p.faults...)
	if prev != nil {
		for _, f := range p.faults {
			if !f.noop && f.after == nil {
				f.after = prev
			}
		}
	}
}

// times sets each fault's duration: a fault that lasts is held to its end, the last one-shot
// fault to the method's end.
func (p *planner) times(end time.Duration) {
	last := end
	for _, f := range p.faults {
		if f.noop || f.oneShot {
			continue
		}
		e := f.end
		if e < 0 {
			e = end
		}
		f.dur = e - f.start
		if f.dur <= 0 {
			f.dur = defaultHold
			f.notes = append(f.notes, "the method gives it no time before its end: held for "+shakedown.FormatDuration(defaultHold)+" here")
		}
		last = max(last, f.start+f.dur)
	}
	if p.anchor == nil || p.anchor.start >= end {
		return
	}
	for _, f := range p.faults {
		if f.after == p.anchor {
			if last < end || f.start+f.dur < end {
				p.x.comments = append(p.x.comments, fmt.Sprintf("the method's last %s after fault %s is not held here: faults start after it", shakedown.FormatDuration(end-p.anchor.start), p.anchor.name))
			}
			return
		}
	}
	p.anchor.dur = end - p.anchor.start
	p.anchor.notes = append(p.anchor.notes, "held "+shakedown.FormatDuration(p.anchor.dur)+", to the end of the method, so that the run observes the system for the pauses Chaos Toolkit waited")
}

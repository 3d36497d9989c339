package report

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// RedrawInterval is how often, at most, the live view on a terminal is redrawn.
const RedrawInterval = 100 * time.Millisecond

// defaultWidth is the width of the live view when the terminal's is unknown.
const defaultWidth = 100

// Progress renders run events as they come.
//
// Not on a terminal (tty false) it writes exactly one plain line per event, with no escape
// sequences:
//
//	12:03:04.123 checkout-tolerates-slow-cache inject slow-cache: injected
//
// On a terminal it keeps a live view at the bottom, redrawn in place at most every
// RedrawInterval: for each run the experiment, the current phase with a countdown, each
// fault's state, each check's state with its last observed value, each load's last summary
// and the expectations. Milestones (phases, injects, reverts, stop conditions, the end)
// scroll above it as plain lines, and a run that ends leaves a static summary.
//
// NewProgress starts a goroutine for the terminal view; the caller must call Close, which
// stops it, waits for it and draws the final state. Event and Close are safe for
// concurrent use.
type Progress struct {
	w     io.Writer
	tty   bool
	now   func() time.Time // the clock for countdowns; tests replace it
	width func() int       // the terminal's width in columns, 0 if unknown

	mu      sync.Mutex
	err     error // the first write error, returned by Close
	closed  bool
	runs    []*runView // runs still live, in the order they started
	byKey   map[string]*runView
	ended   map[string]bool // runs whose run.end came; later events of theirs get no view
	pending []string        // lines to print above the live view at the next redraw
	frame   []string        // the live view as last drawn
	redraws int             // how many times the live view was drawn, for tests

	stop chan struct{} // closed by Close to stop the redraw loop
	done chan struct{} // closed by the redraw loop when it returns
}

// NewProgress returns a Progress writing to w; tty says whether w is a terminal that
// understands ANSI escape sequences. The caller must Close it.
func NewProgress(w io.Writer, tty bool) *Progress {
	p := &Progress{
		w:     w,
		tty:   tty,
		now:   time.Now,
		width: func() int { return terminalWidth(w) },
		byKey: map[string]*runView{},
		ended: map[string]bool{},
	}
	if tty {
		p.stop = make(chan struct{})
		p.done = make(chan struct{})
		go p.loop()
	}
	return p
}

// Event renders one event: at once as a plain line, or at the next redraw on a terminal.
func (p *Progress) Event(e shakedown.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rv := p.view(e)
	line := plainLine(e, rv.phase, p.now)
	news := rv.news(e)
	rv.apply(e, p.now())
	if !p.tty || p.closed {
		// A log gets a check's line only when its state changes or a phase begins, not on
		// every sample: a check sampled every 100 ms would bury everything else.
		if news {
			p.write(line + "\n")
		}
		if e.Kind == shakedown.EventRunEnd {
			p.forget(rv)
		}
		return
	}
	if milestone(e.Kind) {
		p.pending = append(p.pending, line)
	}
	if e.Kind == shakedown.EventRunEnd {
		p.pending = append(p.pending, rv.render(p.now(), true)...)
		p.forget(rv)
	}
}

// Close stops the live view, draws what is left as static text, and returns the first
// error met writing. Events that come after Close are written as plain lines.
func (p *Progress) Close() error {
	p.mu.Lock()
	if p.closed {
		defer p.mu.Unlock()
		return p.err
	}
	p.closed = true
	p.mu.Unlock()
	if !p.tty {
		return p.errNow()
	}
	close(p.stop)
	<-p.done

	p.mu.Lock()
	defer p.mu.Unlock()
	// Runs that never ended stay on screen as they were last seen, without the countdown.
	for _, rv := range p.runs {
		p.pending = append(p.pending, rv.render(p.now(), true)...)
	}
	p.runs, p.byKey = nil, map[string]*runView{}
	p.redraw(true)
	return p.err
}

func (p *Progress) errNow() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Progress) loop() {
	defer close(p.done)
	t := time.NewTicker(RedrawInterval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.redraw(false)
			p.mu.Unlock()
		}
	}
}

// redraw replaces the live view on screen with the pending lines and the current view,
// when anything changed. With final, it leaves no live view behind. p.mu must be held.
func (p *Progress) redraw(final bool) {
	width := p.width()
	if width <= 0 {
		width = defaultWidth
	}
	var frame []string
	if !final {
		now := p.now()
		for _, rv := range p.runs {
			frame = append(frame, rv.render(now, false)...)
		}
	}
	for i, l := range frame {
		frame[i] = clip(l, width-1) // a wrapped line would break the cursor arithmetic
	}
	if len(p.pending) == 0 && slices.Equal(frame, p.frame) {
		return
	}
	var b bytes.Buffer
	if n := len(p.frame); n > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\r\x1b[J", n) // up to the view's first line, clear to the end
	}
	for _, l := range p.pending {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	for _, l := range frame {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	p.pending = p.pending[:0]
	p.frame = frame
	p.redraws++
	p.write(b.String())
}

// write writes s, keeping the first error. p.mu must be held.
func (p *Progress) write(s string) {
	if p.err != nil {
		return
	}
	if _, err := io.WriteString(p.w, s); err != nil {
		p.err = shakedown.Wrap(shakedown.KindInternal, "write progress", err)
	}
}

// view returns the state of the run e belongs to, making it on first sight.
func (p *Progress) view(e shakedown.Event) *runView {
	key := e.Run
	if key == "" {
		key = e.Experiment
	}
	rv := p.byKey[key]
	if rv == nil && p.ended[key] {
		return &runView{key: key, experiment: e.Experiment} // scratch, not shown
	}
	if rv == nil {
		rv = &runView{key: key, experiment: e.Experiment}
		p.byKey[key] = rv
		p.runs = append(p.runs, rv)
	}
	if rv.experiment == "" {
		rv.experiment = e.Experiment
	}
	return rv
}

func (p *Progress) forget(rv *runView) {
	delete(p.byKey, rv.key)
	p.ended[rv.key] = true
	for i, r := range p.runs {
		if r == rv {
			p.runs = append(p.runs[:i:i], p.runs[i+1:]...)
			break
		}
	}
}

// milestone says whether an event of kind k is kept in the scrollback on a terminal. The
// others (check samples, load seconds) only update the live view.
func milestone(k shakedown.EventKind) bool {
	switch k {
	case shakedown.EventCheck, shakedown.EventLoad:
		return false
	default:
		return true
	}
}

// runView is what the live view knows of one run.
type runView struct {
	key        string
	experiment string
	phase      shakedown.Phase
	phaseAt    time.Time     // when the phase event arrived, by Progress.now
	phaseLen   time.Duration // 0 when open-ended
	faults     []*item
	checks     []*item
	loads      []*item
	expects    []*item
	stops      []*item
	ended      bool
	logged     map[string]string    // check name → "phase/state" of its last line in a log
	loadLogged map[string]time.Time // load name → time of its last line in a log
	verdict    shakedown.Verdict
	reason     string
}

// LoadLogEvery is how often a log (not a terminal) shows a load's one-second summary.
const LoadLogEvery = 10 * time.Second

// news reports whether e tells something a log should show: anything but a check sample
// whose state is the same as in the check's last line of this phase.
func (rv *runView) news(e shakedown.Event) bool {
	if e.Kind == shakedown.EventLoad {
		// A load says how it did every second; a log shows that every LoadLogEvery.
		if rv.loadLogged == nil {
			rv.loadLogged = map[string]time.Time{}
		}
		if last, ok := rv.loadLogged[e.Name]; ok && e.Time.Sub(last) < LoadLogEvery {
			return false
		}
		rv.loadLogged[e.Name] = e.Time
		return true
	}
	if e.Kind != shakedown.EventCheck {
		return true
	}
	state := "holding"
	if !e.Held {
		state = "BREACHED"
	}
	key := e.Name
	if rv.logged == nil {
		rv.logged = map[string]string{}
	}
	phase := e.Phase
	if phase == "" {
		phase = rv.phase
	}
	mark := string(phase) + "/" + state
	if rv.logged[key] == mark {
		return false
	}
	rv.logged[key] = mark
	return true
}

// item is one named line of the live view.
type item struct {
	name, state, detail string
}

func upsert(list *[]*item, name string) *item {
	for _, it := range *list {
		if it.name == name {
			return it
		}
	}
	it := &item{name: name}
	*list = append(*list, it)
	return it
}

func (rv *runView) apply(e shakedown.Event, now time.Time) {
	name := oneLine(e.Name)
	switch e.Kind {
	case shakedown.EventPhase:
		rv.phase, rv.phaseAt, rv.phaseLen = e.Phase, now, e.Remaining
	case shakedown.EventInject:
		it := upsert(&rv.faults, name)
		it.state, it.detail = "injected", ""
		if e.Err != "" {
			it.state, it.detail = "inject failed", oneLine(e.Err)
		}
	case shakedown.EventRevert:
		it := upsert(&rv.faults, name)
		it.state, it.detail = "reverted", oneLine(e.Detail)
		if e.Err != "" {
			it.state, it.detail = "REVERT FAILED", oneLine(e.Err)
		}
	case shakedown.EventCheck:
		it := upsert(&rv.checks, name)
		it.state, it.detail = "holding", oneLine(e.Detail)
		if !e.Held {
			it.state = "BREACHED"
		}
		if e.Err != "" {
			it.detail = joinNonEmpty(", ", it.detail, oneLine(e.Err))
		}
	case shakedown.EventLoad:
		it := upsert(&rv.loads, name)
		it.detail = oneLine(e.Detail)
	case shakedown.EventExpect:
		it := upsert(&rv.expects, name)
		it.state, it.detail = "met", oneLine(e.Detail)
		if !e.Held {
			it.state = "not met"
		}
	case shakedown.EventStop:
		it := upsert(&rv.stops, name)
		it.state, it.detail = "fired", joinNonEmpty(", ", oneLine(e.Detail), oneLine(e.Err))
	case shakedown.EventRunEnd:
		rv.ended, rv.verdict, rv.reason = true, e.Verdict, oneLine(e.Detail)
	}
	if e.Phase != "" && e.Kind != shakedown.EventPhase && rv.phase == "" {
		rv.phase = e.Phase
	}
}

// render draws the run's part of the live view; final drops the countdown and heads the
// block with the verdict when the run ended.
func (rv *runView) render(now time.Time, final bool) []string {
	var out []string
	name := rv.experiment
	if name == "" {
		name = rv.key
	}
	name = oneLine(name)
	switch {
	case final && rv.ended:
		head := Status(rv.verdict) + " " + name
		if rv.verdict != "" {
			head += fmt.Sprintf(" (exit %d)", rv.verdict.ExitCode())
		}
		if rv.reason != "" {
			head += ": " + rv.reason
		}
		out = append(out, head)
	case final:
		out = append(out, name+"  stopped in "+orDash(string(rv.phase)))
	default:
		head := name + "  " + orDash(string(rv.phase))
		if rv.phase != "" {
			head += "  " + countdown(now.Sub(rv.phaseAt), rv.phaseLen)
		}
		out = append(out, head)
	}
	sections := []struct {
		kind  string
		items []*item
	}{{"fault", rv.faults}, {"check", rv.checks}, {"load", rv.loads}, {"expect", rv.expects}, {"stop", rv.stops}}
	w := 0
	for _, sec := range sections {
		for _, it := range sec.items {
			w = max(w, len([]rune(clip(it.name, planNameMaxLen))))
		}
	}
	for _, sec := range sections {
		for _, it := range sec.items {
			s := fmt.Sprintf("  %-6s %s", sec.kind, pad(clip(it.name, planNameMaxLen), w))
			if it.state != "" {
				s += "  " + it.state
			}
			if it.detail != "" {
				s += "  " + it.detail
			}
			out = append(out, strings.TrimRight(s, " "))
		}
	}
	return out
}

// countdown says how long is left of a phase of length total after elapsed, or how long it
// has run when its length is unknown.
func countdown(elapsed, total time.Duration) string {
	if total <= 0 {
		return clock(elapsed) + " elapsed"
	}
	left := total - elapsed
	if left < 0 {
		left = 0
	}
	// Round up, so that the count reaches 0:00 when the phase is due to end.
	return clock(left+time.Second-1) + " left"
}

// clock writes d as m:ss, whole seconds truncated.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// plainLine is the one line an event prints: time, experiment, phase, what happened.
func plainLine(e shakedown.Event, current shakedown.Phase, now func() time.Time) string {
	t := e.Time
	if t.IsZero() {
		t = now()
	}
	exp := oneLine(e.Experiment)
	if exp == "" {
		exp = orDash(oneLine(e.Run))
	}
	phase := e.Phase
	if phase == "" {
		phase = current
	}
	ph := oneLine(string(phase))
	name := oneLine(e.Name)
	detail := oneLine(e.Detail)
	errText := oneLine(e.Err)

	var body string
	switch e.Kind {
	case shakedown.EventRunStart:
		body = joinNonEmpty(" ", "start:", detail)
		if e.Run != "" {
			body += " (run " + oneLine(e.Run) + ")"
		}
	case shakedown.EventTargets:
		body = "targets " + name + ": " + orDash(detail)
		if errText != "" {
			body = "targets " + name + ": cannot be used: " + errText
			errText = ""
		}
	case shakedown.EventPhase:
		body = orDash(oneLine(string(e.Phase))) + ": started"
		if e.Remaining > 0 {
			body += ", lasts " + fmtDur(e.Remaining)
		}
	case shakedown.EventInject:
		body = joinNonEmpty(" ", ph, name+": injected")
		if errText != "" {
			body = joinNonEmpty(" ", ph, name+": inject failed: "+errText)
			errText = ""
		}
	case shakedown.EventRevert:
		body = joinNonEmpty(" ", ph, name+": "+joinNonEmpty(", ", "reverted", detail))
		if errText != "" {
			body = joinNonEmpty(" ", ph, name+": revert failed: "+errText)
			errText = ""
		}
	case shakedown.EventCheck:
		state := "holding"
		if !e.Held {
			state = "breached"
		}
		body = joinNonEmpty(" ", ph, name+": "+joinNonEmpty(", ", state, detail))
	case shakedown.EventStop:
		body = joinNonEmpty(" ", ph, name+": "+joinNonEmpty(", ", "stop condition fired", detail))
	case shakedown.EventExpect:
		state := "met"
		if !e.Held {
			state = "not met"
		}
		body = joinNonEmpty(" ", ph, name+": "+joinNonEmpty(", ", state, detail))
	case shakedown.EventLoad:
		body = joinNonEmpty(" ", ph, name+": "+orDash(detail))
	case shakedown.EventRunEnd:
		body = "end: " + Status(e.Verdict)
		if e.Verdict != "" {
			body += fmt.Sprintf(" (exit %d)", e.Verdict.ExitCode())
		}
		if detail != "" {
			body += ": " + detail
		}
	case shakedown.EventLog:
		body = joinNonEmpty(" ", ph, joinNonEmpty(": ", name, orDash(detail)))
	default:
		body = joinNonEmpty(" ", ph, oneLine(string(e.Kind)), joinNonEmpty(": ", name, detail))
	}
	if errText != "" {
		body += ": error: " + errText
	}
	return t.Format("15:04:05.000") + " " + exp + " " + body
}

func joinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, s := range parts {
		if s != "" {
			keep = append(keep, s)
		}
	}
	return strings.Join(keep, sep)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

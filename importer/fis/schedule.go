package fis

import "time"

// timed is when a fault starts: after the faults of after have been injected, and delay
// later.
type timed struct {
	after []string
	delay time.Duration
}

// schedule turns the actions' startAfter into the faults' after and delay. FIS starts an
// action when those it names have completed; shakedown starts a fault delay after those of
// its after have been injected. So the start of every action is computed from the start of
// the experiment (an action completes its duration after it starts), a fault's after is the
// faults it waits for (through waits, checks and left-out actions), and its delay what is
// left between the latest of their starts and its own.
func (r *reader) schedule(t *template, steps map[string]*step) map[string]timed {
	start := map[string]time.Duration{}
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(a *action) time.Duration
	visit = func(a *action) time.Duration {
		switch state[a.name] {
		case 1:
			r.addf(a.n.pos, join(a.path, "startAfter"), "startAfter goes round in a circle through %s", a.name)
			state[a.name] = 2
			return 0
		case 2:
			return start[a.name]
		}
		state[a.name] = 1
		var at time.Duration
		for _, p := range a.startAfter {
			s, ok := r.text(p, join(a.path, "startAfter"))
			if !ok {
				continue
			}
			ps := steps[s]
			if ps == nil {
				r.addf(p.pos, join(a.path, "startAfter"), "no action %q in the template", s)
				continue
			}
			if end := visit(ps.a) + ps.duration; end > at {
				at = end
			}
		}
		state[a.name] = 2
		start[a.name] = at
		return at
	}
	for _, a := range t.actions {
		visit(a)
	}
	// The faults an action waits for, through the actions that are no faults.
	var preds func(a *action, seen map[string]bool) []string
	preds = func(a *action, seen map[string]bool) []string {
		var out []string
		for _, p := range a.startAfter {
			ps := steps[p.str]
			if ps == nil || seen[p.str] {
				continue
			}
			seen[p.str] = true
			if ps.fault != nil && ps.skipped == "" {
				out = append(out, p.str)
				continue
			}
			out = append(out, preds(ps.a, seen)...)
		}
		return out
	}
	var end time.Duration
	for _, a := range t.actions {
		if s := steps[a.name]; s != nil {
			end = max(end, start[a.name]+s.duration)
		}
	}
	out := map[string]timed{}
	for _, a := range t.actions {
		s := steps[a.name]
		if s == nil || s.fault == nil {
			continue
		}
		tm := timed{after: preds(a, map[string]bool{})}
		var latest time.Duration
		for _, p := range tm.after {
			latest = max(latest, start[p])
		}
		tm.delay = start[a.name] - latest
		if s.fault.untilEnd {
			s.fault.duration = max(end-start[a.name], time.Minute)
		}
		out[a.name] = tm
	}
	return out
}

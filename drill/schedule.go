// Package drill runs experiments on a schedule, as drills that re-prove the same hypotheses
// every few hours: it reads the schedule file, works out when each drill is due, runs the
// due ones (one at a time per lock) through a function the caller gives, keeps their state
// for the dashboard, and tells the notify URLs of a drill whose verdict is not passed.
//
//	schedule file ─▶ Load ─▶ Schedule ─▶ Scheduler.Run ─┬─▶ Run (the caller's: the engine, as `run`)
//	                                                    ├─▶ Notifier (a run not passed)
//	                                                    └─▶ State (the dashboard)
package drill

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

// MinEvery is the shortest interval a drill may be run at.
const MinEvery = time.Second

// Schedule is a schedule file: the drills it lists.
type Schedule struct {
	File   string
	Drills []*Drill
}

// Drill is one entry of a schedule: which experiments run, when, under which lock, and whom
// a verdict not passed is told.
type Drill struct {
	// Name names the drill in logs, the dashboard and notifications; by default it is
	// Experiments as written in the file. Names are unique in a schedule.
	Name string
	// Experiments is the experiment file or folder (a suite) the drill runs, relative to the
	// schedule file's folder unless absolute.
	Experiments string
	// Every or Cron says when the drill is due: every so long from when the scheduler
	// starts, or at the times of a cron expression (standard five fields, or a descriptor
	// such as @hourly), in the machine's local time zone. Exactly one is set.
	Every time.Duration
	Cron  string
	// Lock is the lock the drill's runs take in the history store (as run --lock does): two
	// drills with the same lock never run at once, nor a drill and a run --lock of that
	// name elsewhere. Empty: the drill takes no lock.
	Lock string
	// Notify are the http or https URLs told of a run whose verdict is not passed.
	Notify []string
	Pos    shakedown.Pos // where the drill is in the file

	cron cron.Schedule
}

// Next returns when the drill is next due after the time it was last due, t.
func (d *Drill) Next(t time.Time) time.Time {
	if d.cron != nil {
		return d.cron.Next(t)
	}
	return t.Add(d.Every)
}

// When says when the drill is due, for people: "every 2h" or "cron 0 3 * * *".
func (d *Drill) When() string {
	if d.Cron != "" {
		return "cron " + d.Cron
	}
	return "every " + d.Every.String()
}

var fields = []string{"name", "experiments", "every", "cron", "lock", "notify"}

// LoadFile reads the schedule file at path the way experiment files are read (spec.ReadDoc:
// a regular file of at most spec.MaxFileSize bytes, YAML or JSON). Every problem of the file
// is reported at once, each with its line, column and field path: the error is then of kind
// KindInvalid and wraps spec.Problems.
func LoadFile(path string) (*Schedule, error) {
	doc, err := spec.ReadDoc(path, "schedule")
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInvalid, "schedule "+path, err)
	}
	return decode(path, doc)
}

// Load decodes data, the content of the schedule file path, as LoadFile does.
func Load(path string, data []byte) (*Schedule, error) {
	return decode(path, spec.ParseDoc(path, "schedule", data))
}

// decode reads a schedule from doc:
//
//	drills:
//	  - name: nightly-cache
//	    experiments: experiments/slow-cache.yaml
//	    cron: "0 3 * * *"
//	    lock: staging
//	    notify: [https://hooks.slack.com/services/…]
func decode(path string, doc *spec.Doc) (*Schedule, error) {
	s := &Schedule{File: path}
	root, ok := doc.Root()
	if ok {
		top, ok := root.Fields([]string{"drills"}, "drills")
		if ok {
			if f, ok := top["drills"]; ok {
				s.Drills = decodeDrills(filepath.Dir(path), f.Value)
			}
		}
	}
	if err := doc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func decodeDrills(dir string, v spec.Value) []*Drill {
	items, ok := v.List()
	if !ok {
		return nil
	}
	if len(items) == 0 && !v.Null() {
		v.Addf("the schedule lists no drill")
	}
	var out []*Drill
	seen := map[string]spec.Value{}
	for _, it := range items {
		d := decodeDrill(dir, it)
		if d == nil {
			continue
		}
		if first, dup := seen[d.Name]; dup {
			it.Addf("a second drill named %q (the first is at line %d): give each its own name:", d.Name, first.Pos().Line)
			continue
		}
		seen[d.Name] = it
		out = append(out, d)
	}
	return out
}

// decodeDrill reads one entry; nil when it is not a mapping.
func decodeDrill(dir string, it spec.Value) *Drill {
	fs, ok := it.Fields(fields, "experiments")
	if !ok {
		return nil
	}
	d := &Drill{Pos: it.Pos()}
	if f, ok := fs["experiments"]; ok {
		if p, ok := f.Value.String(); ok && p != "" {
			d.Experiments = filepath.Clean(p)
			if !filepath.IsAbs(p) {
				d.Experiments = filepath.Join(dir, p)
			}
			d.Name = p
		}
	}
	if f, ok := fs["name"]; ok {
		if n, ok := f.Value.String(); ok && !f.Value.Null() {
			if strings.TrimSpace(n) == "" || strings.ContainsAny(n, "\n\r\t") || len(n) > 128 {
				f.Value.Addf("name %q must be 1 to 128 characters on one line", n)
			}
			d.Name = n
		}
	}
	when(d, it, fs)
	if f, ok := fs["lock"]; ok {
		d.Lock, _ = f.Value.Lock()
	}
	if f, ok := fs["notify"]; ok {
		d.Notify = notifyURLs(f.Value)
	}
	return d
}

// when reads every: or cron:, exactly one of them.
func when(d *Drill, it spec.Value, fs map[string]spec.Field) {
	every, hasEvery := fs["every"]
	crn, hasCron := fs["cron"]
	switch {
	case hasEvery && hasCron:
		crn.KeyAddf("a drill is due either every: or by cron:, not both")
	case !hasEvery && !hasCron:
		it.Addf("a drill needs every: DURATION or cron: \"EXPRESSION\" to say when it is due")
	case hasEvery:
		v, ok := every.Value.Duration()
		if ok && v < MinEvery {
			every.Value.Addf("every must be at least %s, not %s", MinEvery, v)
		}
		d.Every = v
	default:
		expr, ok := crn.Value.String()
		if !ok {
			return
		}
		s, err := parseCron(expr)
		if err == nil && s.Next(time.Now()).IsZero() {
			err = errors.New("it is never due (no such date in the next five years)")
		}
		if err != nil {
			crn.Value.Addf("cron %q: %v (want five fields, minute hour day-of-month month day-of-week, or a descriptor such as @hourly)", expr, err)
			return
		}
		d.Cron, d.cron = expr, s
	}
}

// notifyURLs reads the notify list: http or https URLs.
func notifyURLs(v spec.Value) []string {
	items, ok := v.List()
	if !ok {
		return nil
	}
	var out []string
	for _, it := range items {
		if u, ok := it.HTTPURL(); ok {
			out = append(out, u)
		}
	}
	return out
}

// parseCron parses a standard cron expression (five fields, or a descriptor). A time zone
// prefix is refused: cron v3.0.1 panics on some ("TZ=0"), and a drill's times are the
// machine's.
func parseCron(expr string) (s cron.Schedule, err error) {
	if t := strings.TrimSpace(expr); strings.HasPrefix(t, "TZ=") || strings.HasPrefix(t, "CRON_TZ=") {
		return nil, errors.New("a time zone prefix is not supported: the machine's local time is used")
	}
	// "@every D" is every: D in cron's words, and held to the same minimum: cron itself
	// would quietly run a shorter interval every second.
	if rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "@every "); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(rest)); err == nil && d < MinEvery {
			return nil, fmt.Errorf("@every must be at least %s, not %s", MinEvery, d)
		}
	}
	defer func() {
		if recover() != nil {
			s, err = nil, errors.New("not a cron expression")
		}
	}()
	s, err = cron.ParseStandard(expr)
	if spec, ok := s.(*cron.SpecSchedule); ok {
		s = wallClock{spec}
	}
	return s, err
}

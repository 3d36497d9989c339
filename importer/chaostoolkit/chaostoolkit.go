// Package chaostoolkit imports Chaos Toolkit experiments: it translates an experiment (JSON or
// YAML) into a shakedown experiment file.
//
//	configuration, secrets ──▶ ${vars} (their values said in the header, secrets never)
//	steady-state-hypothesis ──(http and process probes, their tolerances)──▶ steady_state
//	method ──(http and process actions; the extension table for Python)──▶ faults, timed
//	rollbacks ──▶ the reverts of those faults
//
// It is a pure translation: it reads the bytes it is given and returns the experiment's YAML,
// or every problem of the file at once with its position. Nothing of the experiment is
// dropped silently: what has no analogue here is said in a comment of the output, and what
// the importer does not understand, or cannot translate (a Python function outside its table,
// a tolerance with no check to match it), is a problem.
package chaostoolkit

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

// Result is the experiment imported from one Chaos Toolkit experiment.
type Result struct {
	Name string // the experiment's name
	YAML []byte
	// Vars are the values the experiment gave its ${vars} (configuration, inline secrets,
	// environment defaults), for validating the result; Unset names those it gave none.
	Vars  map[string]string
	Unset []string
}

// Import translates the Chaos Toolkit experiment file (named file, holding data). The error,
// when there is one, is a *shakedown.Error of kind KindInvalid wrapping spec.Problems.
func Import(file string, data []byte) (*Result, error) {
	doc := spec.ParseDoc(file, "Chaos Toolkit experiment", data)
	root, ok := doc.Root()
	if !ok {
		return nil, doc.Err()
	}
	r := &reader{file: file, vars: map[string]*variable{}}
	x := r.experiment(root)
	if probs := append(doc.Problems(), r.probs...); len(probs) > 0 {
		return nil, invalid(probs)
	}
	res := &Result{Name: x.name, YAML: []byte(r.write(x)), Vars: map[string]string{}}
	for _, name := range r.used {
		v := r.vars[name]
		if v.known {
			res.Vars[name] = v.value
		} else {
			res.Unset = append(res.Unset, name)
		}
	}
	return res, nil
}

func invalid(probs spec.Problems) error {
	slices.SortStableFunc(probs, func(a, b spec.Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return &shakedown.Error{Kind: shakedown.KindInvalid, Err: probs}
}

// reader reads one experiment and collects what it becomes, and the problems the Doc does not
// record itself (those of meaning rather than of form).
type reader struct {
	file  string
	probs spec.Problems
	vars  map[string]*variable
	used  []string // the ${vars} the output uses, in order of first use
	notes []string // header comments
}

func (r *reader) addf(v spec.Value, format string, args ...any) {
	r.probs = append(r.probs, spec.Problem{Pos: v.Pos(), Path: v.Path(), Msg: fmt.Sprintf(format, args...)})
}

// experiment is what the file becomes.
type experiment struct {
	name, description string
	checks            []string // YAML blocks of steady_state
	faults            []*fault
	targets           []string // YAML blocks
	comments          []string // trailing comments: what was kept only as a comment
}

var topFields = []string{"version", "title", "description", "tags", "contributions", "configuration",
	"secrets", "controls", "steady-state-hypothesis", "method", "rollbacks", "extensions", "runtime"}

func (r *reader) experiment(root spec.Value) *experiment {
	fs, ok := root.Fields(topFields, "title", "method")
	if !ok {
		return nil
	}
	x := &experiment{}
	title := r.text(fs, "title")
	x.description = title
	if d := r.text(fs, "description"); d != "" && d != title {
		x.description = strings.TrimSpace(title + ": " + d)
	}
	x.name = experimentName(title, r.file)
	if f, ok := fs["version"]; ok {
		f.Value.String() // any version: the format did not change in ways that matter here
	}
	if f, ok := fs["tags"]; ok {
		var tags []string
		items, _ := f.Value.List()
		for _, it := range items {
			if s, ok := r.scalar(it); ok {
				tags = append(tags, s)
			}
		}
		if len(tags) > 0 {
			r.notes = append(r.notes, "tags: "+strings.Join(tags, ", "))
		}
	}
	if f, ok := fs["contributions"]; ok {
		r.contributions(f.Value)
	}
	if f, ok := fs["controls"]; ok {
		r.controls(f.Value, "the experiment")
	}
	if f, ok := fs["extensions"]; ok {
		items, _ := f.Value.List()
		for _, it := range items {
			r.notes = append(r.notes, fmt.Sprintf("extension (line %d) kept out: extensions carry data for the tools that read them", it.Pos().Line))
		}
	}
	if f, ok := fs["runtime"]; ok {
		r.runtime(f.Value)
	}
	if f, ok := fs["configuration"]; ok {
		r.configuration(f.Value)
	}
	if f, ok := fs["secrets"]; ok {
		r.secrets(f.Value)
	}
	acts := map[string]*activity{} // by name, for refs
	if f, ok := fs["steady-state-hypothesis"]; ok {
		x.checks = r.hypothesis(f.Value, acts)
	}
	var method, rollbacks []*activity
	if f, ok := fs["method"]; ok {
		method = r.activities(f.Value, acts, "method")
		if items, _ := f.Value.List(); len(items) == 0 && !f.Value.Null() && f.Value.Kind() == "list" {
			r.addf(f.Value, "the method needs at least one activity")
		}
	}
	if f, ok := fs["rollbacks"]; ok {
		rollbacks = r.activities(f.Value, acts, "rollbacks")
	}
	r.plan(x, method, rollbacks)
	r.unused()
	return x
}

// text reads an optional string field; "" when absent.
func (r *reader) text(fs map[string]spec.Field, k string) string {
	f, ok := fs[k]
	if !ok {
		return ""
	}
	s, _ := r.scalar(f.Value)
	return s
}

// scalar reads a string, number or boolean as its text; a mapping or list is a problem.
func (r *reader) scalar(v spec.Value) (string, bool) {
	switch v.Kind() {
	case "mapping", "list":
		r.addf(v, "want a value, not a %s", v.Kind())
		return "", false
	}
	return v.String()
}

// experimentName makes the experiment's name: lower case, from the title, or the file's name.
func experimentName(title, file string) string {
	src := cmp.Or(title, strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)))
	s := strings.ToLower(safeName(src))
	s = strings.TrimLeft(s, "._-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "._-")
	}
	if s == "" || s == "x" {
		s = "imported-chaostoolkit-experiment"
	}
	return s
}

func (r *reader) contributions(v spec.Value) {
	fs, ok := v.Mapping()
	if !ok {
		return
	}
	var parts []string
	for _, f := range fs {
		s, ok := r.scalar(f.Value)
		if !ok {
			continue
		}
		switch s {
		case "high", "medium", "low", "none":
		default:
			r.addf(f.Value, "a contribution is high, medium, low or none, not %q", s)
		}
		parts = append(parts, f.Key+" "+s)
	}
	if len(parts) > 0 {
		r.notes = append(r.notes, "contributions: "+strings.Join(parts, ", "))
	}
}

// controls notes the controls of a level: Python run around the experiment, kept out.
func (r *reader) controls(v spec.Value, level string) {
	items, ok := v.List()
	if !ok {
		return
	}
	for _, it := range items {
		fs, ok := it.Fields([]string{"name", "provider", "scope", "automatic"}, "name", "provider")
		if !ok {
			continue
		}
		name := r.text(fs, "name")
		mod := ""
		if p, ok := fs["provider"]; ok {
			pf, _ := p.Value.Fields([]string{"type", "module", "arguments", "secrets"}, "type")
			mod = r.text(pf, "module")
		}
		r.notes = append(r.notes, fmt.Sprintf("control %s (%s, line %d) of %s kept out: controls run Python around the experiment; shakedown's own events, records and reports stand for them",
			name, cmp.Or(mod, "no module"), it.Pos().Line, level))
	}
}

func (r *reader) runtime(v spec.Value) {
	fs, ok := v.Fields([]string{"hypothesis", "rollbacks"})
	if !ok {
		return
	}
	for _, k := range []string{"hypothesis", "rollbacks"} {
		f, ok := fs[k]
		if !ok {
			continue
		}
		sf, ok := f.Value.Fields([]string{"strategy", "freq", "fail_fast"})
		if !ok {
			continue
		}
		s := r.text(sf, "strategy")
		switch {
		case k == "hypothesis":
			r.notes = append(r.notes, fmt.Sprintf("runtime hypothesis strategy %q (line %d): here the checks are sampled throughout the run whatever it says", s, f.Value.Pos().Line))
		default:
			r.notes = append(r.notes, fmt.Sprintf("runtime rollbacks strategy %q (line %d): here every fault is reverted on every path whatever it says", s, f.Value.Pos().Line))
		}
	}
}

// unused says which keys of the configuration and the secrets nothing imported uses.
func (r *reader) unused() {
	var names []string
	for name, v := range r.vars {
		if v.source != "" && !slices.Contains(r.used, name) && !strings.HasPrefix(v.source, "not declared") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		r.notes = append(r.notes, "unused here: "+name+", "+r.vars[name].source)
	}
}

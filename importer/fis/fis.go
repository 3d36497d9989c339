// Package fis imports AWS Fault Injection Service experiment templates: it translates a
// template — the API's JSON (bare, or as get-experiment-template prints it) or a CloudFormation
// AWS::FIS::ExperimentTemplate resource in YAML or JSON — into a shakedown experiment file.
//
//	template ─▶ targets ──(mapping file: what each cloud identity is here)──▶ targets
//	         ─▶ actions ──(the action table: actionId → fault type, parameters)──▶ faults, checks
//	         ─▶ stopConditions ──(mapping file: alarms)──▶ stop_if
//
// It is a pure translation: it reads the bytes it is given and returns the experiment's
// YAML, or every problem of both files at once with its position. Nothing of the template is
// dropped silently: what has no analogue here is said in a comment of the output, and what
// the importer does not understand is a problem.
package fis

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/importer"
	"github.com/shakedown-dev/shakedown/spec"
)

// Options change how a template is imported.
type Options struct {
	// SkipUnsupported keeps an action with no local meaning as a comment of the output
	// instead of refusing the template.
	SkipUnsupported bool
}

// Result is one experiment imported from one template.
type Result struct {
	Name     string // the experiment's name
	Resource string // the template's CloudFormation logical id; "" for the API's form
	YAML     []byte
	// Vars are the values of the ${vars} the secrets of the mapping file became, for
	// validating the result.
	Vars map[string]string
}

// Import translates the template file (named file, holding data) with the mapping file
// (mapFile, mapData; none when mapData is nil). A CloudFormation template with several
// experiment templates gives one Result each. The error, when there is one, is a
// *shakedown.Error of kind KindInvalid wrapping the spec.Problems of both files.
func Import(file string, data []byte, mapFile string, mapData []byte, opt Options) ([]Result, error) {
	var probs spec.Problems
	root, err := parse(file, data, "FIS experiment template", &probs)
	var mroot *node
	mr := &reader{file: mapFile}
	if mapData != nil {
		mroot, _ = parse(mapFile, mapData, "mapping", &probs)
	}
	m := mr.mapping(mroot)
	probs = append(probs, mr.probs...)
	if err != nil || root == nil {
		return nil, invalid(probs)
	}
	r := &reader{file: file}
	docs := r.documents(root)
	var out []Result
	for _, t := range docs {
		res := r.experiment(t, m, file, mapFile, opt)
		if res != nil {
			out = append(out, *res)
		}
	}
	probs = append(probs, r.probs...)
	if len(probs) > 0 {
		return nil, invalid(probs)
	}
	return out, nil
}

func parse(file string, data []byte, what string, probs *spec.Problems) (*node, error) {
	body, err := spec.Parse(file, data, what)
	if err != nil {
		var ps spec.Problems
		if errors.As(err, &ps) {
			*probs = append(*probs, ps...)
		} else {
			*probs = append(*probs, spec.Problem{Pos: shakedown.Pos{File: file}, Msg: err.Error()})
		}
		return nil, err
	}
	r := &reader{file: file}
	n := r.convert(body, "")
	*probs = append(*probs, r.probs...)
	if len(r.probs) > 0 {
		return nil, fmt.Errorf("%s: not read", file)
	}
	return n, nil
}

func invalid(probs spec.Problems) error {
	slices.SortStableFunc(probs, func(a, b spec.Problem) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return &shakedown.Error{Kind: shakedown.KindInvalid, Err: probs}
}

// add writes one step of the template into the experiment: a fault, a check, or a note.
func (b *built) add(t *template, s *step, timing map[string]timed) {
	a := s.a
	switch {
	case s.skipped != "":
		b.skipped = append(b.skipped, fmt.Sprintf("FIS action %s (line %d) left out: %s", a.name, a.n.pos.Line, s.skipped))
	case s.fault != nil && a.target != "":
		b.faults = append(b.faults, faultBlock(a, s.fault, timing[a.name]))
	case s.check != nil:
		var sb strings.Builder
		importer.Comment(&sb, "  ", fmt.Sprintf("FIS action %s: %s (line %d)", a.name, a.id, a.n.pos.Line))
		for _, n := range s.check.notes {
			importer.Comment(&sb, "  ", n)
		}
		for _, l := range s.check.lines {
			sb.WriteString("  " + l + "\n")
		}
		if s.check.kind == "expect" {
			b.expect = append(b.expect, sb.String())
		} else {
			b.steady = append(b.steady, sb.String())
		}
	case a.id == "aws:fis:wait":
		t.notes = append(t.notes, fmt.Sprintf("wait %s (line %d) of %s: the faults after it are delayed by it", a.name, a.n.pos.Line, shakedown.FormatDuration(s.duration)))
	}
}

// mapTargets finds what each FIS target an imported action uses is here: its mapping, its
// target kind and its select, by the target's name. Each unmapped target is a problem that
// shows the line to add to the mapping file.
func (r *reader) mapTargets(t *template, m *mapping, mapFile string) (maps map[string]*mapped, kinds, selects map[string]string) {
	used := map[string]bool{}
	for _, a := range t.actions {
		if a.target != "" && !leftOutAction(a) {
			used[a.target] = true
		}
	}
	maps, kinds, selects = map[string]*mapped{}, map[string]string{}, map[string]string{}
	for _, tg := range t.targets {
		if !used[tg.name] {
			t.notes = append(t.notes, fmt.Sprintf("FIS target %s (line %d: %s) is used by no action imported", tg.name, tg.n.pos.Line, describe(tg)))
			continue
		}
		mp, missing := m.lookup(tg)
		if mp == nil {
			for _, k := range missing {
				r.addf(tg.key.pos, tg.path, "no mapping for FIS target %s (%s); add this line under targets: in the mapping file%s: %s",
					tg.name, describe(tg), inFile(mapFile), suggestion(k, tg))
			}
			continue
		}
		maps[tg.name], kinds[tg.name] = mp, mp.kind
		if tg.selection == nil {
			continue
		}
		if s, ok := r.text(tg.selection, join(tg.path, "selectionMode")); ok {
			sel, err := selection(s)
			if err != nil {
				r.addf(tg.selection.pos, join(tg.path, "selectionMode"), "%v", err)
			}
			selects[tg.name] = sel
		}
	}
	return maps, kinds, selects
}

// built is the experiment being written.
type built struct {
	targets []string // YAML blocks, in the template's order
	faults  []string
	steady  []string
	stopIf  []string
	expect  []string
	skipped []string
}

var nameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeName makes a target or fault name of an FIS name.
func safeName(s string) string {
	s = strings.Trim(nameChars.ReplaceAllString(s, "-"), "-")
	if s == "" {
		return "x"
	}
	return s
}

// experimentName makes the experiment's name: lower case, from the template's Name tag, its
// logical id, or the file's name.
func experimentName(t *template, file string) string {
	src := cmp.Or(t.tagName, t.resource, strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)))
	s := strings.ToLower(safeName(src))
	s = strings.TrimLeft(s, "._-")
	if s == "" || s == "x" {
		s = "imported-fis-experiment"
	}
	return s
}

func (r *reader) experiment(t *template, m *mapping, file, mapFile string, opt Options) *Result {
	before := len(r.probs)
	b := &built{}
	targets := map[string]*target{}
	for _, tg := range t.targets {
		targets[tg.name] = tg
	}
	maps, kinds, selects := r.mapTargets(t, m, mapFile)
	// Actions: each a fault, a check, or only time.
	steps := map[string]*step{}
	var order []*step
	for _, a := range t.actions {
		if a.target != "" && targets[a.target] == nil {
			r.addf(a.targetNode.pos, join(a.path, "targets"), "no target %q in the template", a.target)
		}
		s := r.translate(a, m, kinds[a.target])
		steps[a.name] = s
		order = append(order, s)
		if s.skipped != "" {
			if !opt.SkipUnsupported {
				pos := a.n.pos
				if a.idNode != nil {
					pos = a.idNode.pos
				}
				r.addf(pos, join(a.path, "actionId"), "unsupported: %s (--skip-unsupported keeps it as a comment)", s.skipped)
			}
			continue
		}
		if s.fault == nil {
			continue
		}
		f := s.fault
		if a.target == "" {
			r.addf(a.n.pos, a.path, "%s acts on a target; the action names none", a.id)
			continue
		}
		if mk := kinds[a.target]; mk != "" && !contains(f.kinds, mk) {
			mp := maps[a.target]
			r.addf(a.n.pos, a.path, "%s becomes %s here, which acts on a %s target; the mapping file (%s) makes %s a %s target",
				a.id, f.typ, strings.Join(f.kinds, " or "), mp.key, a.target, mk)
		}
		if f.selectPercent != "" {
			if cur := selects[a.target]; cur != "" && cur != "all" {
				f.notes = append(f.notes, fmt.Sprintf("instanceTerminationPercentage %s: the target keeps its selectionMode (%s)", f.selectPercent, cur))
			} else {
				selects[a.target] = "percent(" + f.selectPercent + ")"
				f.notes = append(f.notes, fmt.Sprintf("instanceTerminationPercentage %s: the target selects percent(%s)", f.selectPercent, f.selectPercent))
			}
		}
	}
	timing := r.schedule(t, steps)
	for _, tg := range t.targets {
		mp := maps[tg.name]
		if mp == nil {
			continue
		}
		b.targets = append(b.targets, targetBlock(tg, mp, selects[tg.name], mapFile))
	}
	for _, s := range order {
		b.add(t, s, timing)
	}
	r.stopConditions(t, m, b, mapFile)
	if len(r.probs) > before {
		return nil
	}
	if len(b.faults) == 0 && len(t.actions) > 0 {
		r.addf(shakedown.Pos{}, "", "nothing is left to inject: every action of the template was left out")
		return nil
	}
	name := experimentName(t, file)
	yaml, vars := write(t, b, m, name, file, mapFile)
	return &Result{Name: name, Resource: t.resource, YAML: []byte(yaml), Vars: vars}
}

func inFile(f string) string {
	if f == "" {
		return " (--map FILE)"
	}
	return " " + f
}

// describe says what an FIS target is in the cloud, for a message.
func describe(t *target) string {
	parts := []string{cmp.Or(t.resourceType, "no resourceType")}
	for _, a := range t.arns {
		parts = append(parts, cmp.Or(a.ref, a.str))
	}
	if len(t.tags) > 0 {
		parts = append(parts, "tags "+strings.Join(t.tags, ","))
	}
	if len(t.filters) > 0 {
		parts = append(parts, "filters "+strings.Join(t.filters, " "))
	}
	if t.params != nil {
		var ps []string
		for i, k := range t.params.keys {
			ps = append(ps, k.str+"="+flow(t.params.vals[i]))
		}
		parts = append(parts, "parameters "+strings.Join(ps, " "))
	}
	return strings.Join(parts, ", ")
}

var selectionRE = regexp.MustCompile(`^(?i:(ALL)|(COUNT|PERCENT)\(\s*([0-9]+)\s*\))$`)

// selection turns selectionMode (ALL, COUNT(n), PERCENT(n)) into a target's select.
func selection(s string) (string, error) {
	m := selectionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return "", fmt.Errorf("selectionMode %q: want ALL, COUNT(n) or PERCENT(n)", s)
	}
	if m[1] != "" {
		return "all", nil
	}
	sel := strings.ToLower(m[2]) + "(" + strings.TrimLeft(m[3], "0") + ")"
	if _, err := shakedown.ParseSelection(sel); err != nil {
		return "", fmt.Errorf("selectionMode %q: %v", s, err)
	}
	return sel, nil
}

func targetBlock(t *target, mp *mapped, sel, mapFile string) string {
	var sb strings.Builder
	sb.WriteString("  " + scalar(safeName(t.name), false) + ":\n")
	importer.Comment(&sb, "    ", fmt.Sprintf("FIS target %s: %s", t.name, describe(t)))
	importer.Comment(&sb, "    ", fmt.Sprintf("mapped by %s in %s", scalar(mp.key, false), cmp.Or(mapFile, "the mapping file")))
	hasSelect := false
	for i, k := range mp.body.keys {
		if k.str == "select" {
			hasSelect = true
		}
		sb.WriteString("    " + scalar(k.str, false) + ": " + flow(mp.body.vals[i]) + "\n")
	}
	switch {
	case hasSelect && sel != "" && sel != "all":
		importer.Comment(&sb, "    ", "selectionMode "+sel+": the mapping file's select is kept")
	case !hasSelect && sel != "" && sel != "all":
		sb.WriteString("    select: " + sel + "\n")
	}
	return sb.String()
}

func faultBlock(a *action, f *fault, tm timed) string {
	var sb strings.Builder
	sb.WriteString("  - name: " + scalar(safeName(a.name), false) + "\n")
	importer.Comment(&sb, "    ", fmt.Sprintf("FIS action %s: %s (line %d)", a.name, a.id, a.n.pos.Line))
	if a.description != "" {
		importer.Comment(&sb, "    ", "description: "+a.description)
	}
	for _, n := range f.notes {
		importer.Comment(&sb, "    ", n)
	}
	sb.WriteString("    type: " + f.typ + "\n")
	sb.WriteString("    target: " + scalar(safeName(a.target), false) + "\n")
	if len(f.with) > 0 {
		parts := make([]string, len(f.with))
		for i, w := range f.with {
			parts[i] = w.k + ": " + w.v
		}
		sb.WriteString("    with: {" + strings.Join(parts, ", ") + "}\n")
	}
	if f.duration > 0 {
		sb.WriteString("    duration: " + shakedown.FormatDuration(f.duration) + "\n")
	}
	if len(tm.after) > 0 {
		names := make([]string, len(tm.after))
		for i, n := range tm.after {
			names[i] = scalar(safeName(n), false)
		}
		sb.WriteString("    after: [" + strings.Join(names, ", ") + "]\n")
	}
	if tm.delay > 0 {
		sb.WriteString("    delay: " + shakedown.FormatDuration(tm.delay) + "\n")
	}
	return sb.String()
}

// stopConditions maps each CloudWatch alarm to a stop_if check.
func (r *reader) stopConditions(t *template, m *mapping, b *built, mapFile string) {
	for i, sc := range t.stops {
		path := fmt.Sprintf("%s[%d]", join(t.path, "stopConditions"), i)
		src := sc.get("source")
		if src == nil {
			src = sc.get("Source")
		}
		val := sc.get("value")
		if val == nil {
			val = sc.get("Value")
		}
		s, _ := r.text(src, join(path, "source"))
		switch s {
		case "":
		case "none":
			t.notes = append(t.notes, "stop condition none: the run still stops when a stop_if check breaks, and on a signal")
		case "aws:cloudwatch:alarm":
			if val == nil || val.kind != scalarNode {
				r.addf(sc.pos, path, "an alarm stop condition needs a value (the alarm's ARN)")
				continue
			}
			key, body, try := m.alarm(val)
			if body == nil {
				r.addf(val.pos, join(path, "value"), "no mapping for alarm %s; add this line under alarms: in the mapping file%s: %s: {alert: {prometheus: \"http://127.0.0.1:9090\", name: NAME}}",
					cmp.Or(val.ref, val.str), inFile(mapFile), scalar(try, false))
				continue
			}
			var sb strings.Builder
			importer.Comment(&sb, "  ", fmt.Sprintf("FIS stop condition: CloudWatch alarm %s (line %d), mapped by %s in %s", cmp.Or(val.ref, val.str), val.pos.Line, scalar(key, false), cmp.Or(mapFile, "the mapping file")))
			for _, l := range checkLines(alarmName(val), body) {
				sb.WriteString("  " + l + "\n")
			}
			b.stopIf = append(b.stopIf, sb.String())
		default:
			r.addf(src.pos, join(path, "source"), "stop condition source %q: want aws:cloudwatch:alarm or none", s)
		}
	}
}

// alarmName names the check a CloudWatch alarm becomes: by the alarm's name, or the logical
// id of the resource a reference names.
func alarmName(v *node) string {
	name := v.str
	switch {
	case v.ref != "":
		name = strings.TrimSuffix(v.str, ".Arn")
	case strings.Contains(v.str, ":alarm:"):
		name = v.str[strings.LastIndex(v.str, ":alarm:")+len(":alarm:"):]
	}
	return "CloudWatch alarm " + name
}

// write assembles the experiment file, and returns the values of the secrets of the mapping
// file it uses.
func write(t *template, b *built, m *mapping, name, file, mapFile string) (string, map[string]string) {
	var head, sb strings.Builder
	from := filepath.Base(file)
	if t.resource != "" {
		from += ", resource " + t.resource
	}
	importer.Comment(&head, "", "Imported by `shakedown import fis` from the AWS FIS experiment template "+from)
	if mapFile != "" {
		importer.Comment(&head, "", "with the mapping file "+filepath.Base(mapFile)+".")
	}
	for _, n := range t.notes {
		importer.Comment(&head, "", n)
	}
	sb.WriteString("version: 1\n")
	sb.WriteString("name: " + scalar(name, false) + "\n")
	if t.description != "" {
		sb.WriteString("description: " + literal(t.description) + "\n")
	}
	sb.WriteString("labels: {imported-from: fis}\n")
	importer.Section(&sb, "targets", b.targets)
	importer.Section(&sb, "steady_state", b.steady)
	importer.Section(&sb, "faults", b.faults)
	importer.Section(&sb, "stop_if", b.stopIf)
	importer.Section(&sb, "expect", b.expect)
	if len(b.skipped) > 0 {
		sb.WriteString("\n")
		for _, s := range b.skipped {
			importer.Comment(&sb, "", s)
		}
	}
	vars := m.secretsOf(&head, sb.String())
	return head.String() + sb.String(), vars
}

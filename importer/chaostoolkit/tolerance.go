package chaostoolkit

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/importer"
	"github.com/shakedown-dev/shakedown/spec"
)

// hypothesis reads the steady-state hypothesis: each probe a check.
func (r *reader) hypothesis(v spec.Value, acts map[string]*activity) []string {
	fs, ok := v.Fields([]string{"title", "probes", "controls"}, "title")
	if !ok {
		return nil
	}
	if t := r.text(fs, "title"); t != "" {
		r.notes = append(r.notes, "steady-state hypothesis: "+t)
	}
	if f, ok := fs["controls"]; ok {
		r.controls(f.Value, "the hypothesis")
	}
	f, ok := fs["probes"]
	if !ok {
		return nil
	}
	var checks []string
	taken := names{}
	for _, a := range r.activities(f.Value, acts, "hypothesis") {
		if a.kind == "action" {
			r.addf(a.v, "the hypothesis holds probes, not actions")
			continue
		}
		if !a.hasTol {
			r.addf(a.v, "a probe of the hypothesis needs a tolerance")
			continue
		}
		if a.prov == nil {
			continue
		}
		if c := r.check(a, taken.take(a.name)); c != "" {
			checks = append(checks, c)
		}
	}
	return checks
}

// check makes one steady_state item of a probe and its tolerance.
func (r *reader) check(a *activity, name string) string {
	p := a.prov
	var probe string
	notes := append([]string(nil), p.notes...)
	switch p.typ {
	case "http":
		probe = r.httpCheck(a, &notes)
	case "process":
		probe = r.execCheck(a, &notes)
	case "python":
		r.refusePython(a, "a check")
		return ""
	}
	if probe == "" {
		return ""
	}
	if a.before > 0 || a.after > 0 || a.background {
		notes = append(notes, "its pauses and background have no meaning for a check, which is sampled every interval")
	}
	var b strings.Builder
	b.WriteString("  - name: " + str(name) + "\n")
	importer.Comment(&b, "    ", fmt.Sprintf("Chaos Toolkit probe %s (line %d): %s, tolerance %s", a.name, a.line, p.describe(), shape(a.tolerance)))
	for _, n := range notes {
		importer.Comment(&b, "    ", n)
	}
	b.WriteString("    " + probe + "\n")
	if p.timeout > 0 {
		b.WriteString("    timeout: " + shakedown.FormatDuration(p.timeout) + "\n")
	}
	return b.String()
}

// shape writes a tolerance for a comment, as the file gave it.
func shape(v spec.Value) string {
	switch v.Kind() {
	case "list":
		items, _ := v.List()
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = shape(it)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case "mapping":
		fs, _ := v.Mapping()
		parts := make([]string, len(fs))
		for i, f := range fs {
			parts[i] = f.Key + ": " + shape(f.Value)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case "string":
		s, _ := v.String()
		return strconv.Quote(s)
	}
	s, _ := v.String()
	return s
}

// tolerance is what a tolerance asks, read.
type tolerance struct {
	kind   string // int, list, range, regex, jsonpath, other
	ints   []int  // int: one; list: the values; range: [lo, hi]
	target string // range, regex, jsonpath
	regexp string // regex: the pattern; jsonpath: the body regexp it becomes
	notes  []string
}

// readTolerance reads a tolerance; ok is false, after a problem, when it cannot be read.
func (r *reader) readTolerance(v spec.Value) (t tolerance, ok bool) {
	switch v.Kind() {
	case "int":
		n, ok := r.integer(v)
		return tolerance{kind: "int", ints: []int{n}}, ok
	case "list":
		items, _ := v.List()
		t.kind = "list"
		return r.integers(t, items)
	case "mapping":
		return r.objectTolerance(v)
	}
	t.kind = "other"
	return t, true
}

// integers adds items to t's ints when every one is a whole number; t is "other" when one is
// not a number of that kind (a decimal, a string), as no status or exit code is.
func (r *reader) integers(t tolerance, items []spec.Value) (tolerance, bool) {
	for _, it := range items {
		if it.Kind() != "int" {
			t.kind = "other"
			return t, true
		}
		n, ok := r.integer(it)
		if !ok {
			return t, false
		}
		t.ints = append(t.ints, n)
	}
	return t, true
}

func (r *reader) integer(v spec.Value) (int, bool) {
	s, _ := v.String()
	n, err := shakedown.ParseInteger(s)
	if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
		r.addf(v, "want a whole number, not %s", s)
		return 0, false
	}
	return int(n), true
}

func (r *reader) objectTolerance(v spec.Value) (t tolerance, ok bool) {
	kfs, _ := v.Mapping()
	typ := ""
	var typV spec.Value
	for _, f := range kfs {
		if f.Key == "type" {
			typ, _ = f.Value.String()
			typV = f.Value
		}
	}
	switch typ {
	case "range":
		fs, ok := v.Fields([]string{"type", "range", "target"}, "range")
		if !ok {
			return t, false
		}
		t.kind, t.target = "range", r.text(fs, "target")
		f, ok := fs["range"]
		if !ok {
			return t, false
		}
		items, _ := f.Value.List()
		if len(items) != 2 {
			r.addf(f.Value, "a range is [lower, upper]")
			return t, false
		}
		return r.integers(t, items) // a range of decimals is "other": no status or exit code is one
	case "regex":
		fs, ok := v.Fields([]string{"type", "pattern", "target"}, "pattern")
		if !ok {
			return t, false
		}
		t.kind, t.target = "regex", r.text(fs, "target")
		f, ok := fs["pattern"]
		if !ok {
			return t, false
		}
		t.regexp, _ = r.subst(f.Value)
		if !strings.Contains(t.regexp, "${") {
			if _, err := regexp.Compile(t.regexp); err != nil {
				r.addf(f.Value, "pattern %q is not a regexp shakedown reads (Go's RE2 syntax, close to Python's without lookarounds and backreferences): %v", t.regexp, err)
				return t, false
			}
		}
		return t, true
	case "jsonpath":
		return r.jsonPath(v)
	case "probe":
		r.addf(typV, "a tolerance of type probe runs a function on the probe's value; shakedown has none to run: write the check as an http, tcp, exec or prometheus probe")
		return t, false
	}
	if typV.Path() == "" {
		r.addf(v, "a tolerance object needs a type: range, regex, jsonpath or probe")
	} else {
		r.addf(typV, "tolerance type %q: want range, regex, jsonpath or probe", typ)
	}
	return t, false
}

// simplePath is the JSON path the importer turns into a body regexp: $.a.b or a.b, names
// only.
var simplePath = regexp.MustCompile(`^(\$\.)?([A-Za-z_][A-Za-z0-9_-]*\.)*([A-Za-z_][A-Za-z0-9_-]*)$`)

// jsonPath reads a jsonpath tolerance. Its path and expect become a regexp on the body: the
// last key of the path, and the value expected, as JSON writes them.
func (r *reader) jsonPath(v spec.Value) (t tolerance, ok bool) {
	fs, ok := v.Fields([]string{"type", "path", "expect", "count", "target"}, "path")
	if !ok {
		return t, false
	}
	t.kind, t.target = "jsonpath", r.text(fs, "target")
	f, ok := fs["path"]
	if !ok {
		return t, false
	}
	path, _ := r.scalar(f.Value)
	m := simplePath.FindStringSubmatch(strings.TrimSpace(path))
	if m == nil {
		r.addf(f.Value, "JSON path %q: the importer reads paths of names only ($.a.b); an http check matches a regexp on the body: write body_regexp yourself", path)
		return t, false
	}
	if c, ok := fs["count"]; ok {
		r.addf(c.Value, "count: an http check cannot count the values a JSON path matches")
		return t, false
	}
	key := m[3]
	value := ""
	if e, ok := fs["expect"]; ok {
		ev := e.Value
		if ev.Kind() == "list" {
			items, _ := ev.List()
			if len(items) != 1 {
				r.addf(ev, "expect: an http check matches one value, not a list of %d", len(items))
				return t, false
			}
			ev = items[0]
		}
		s, _ := ev.String()
		switch ev.Kind() {
		case "string":
			b, _ := jsonString(s)
			value = regexp.QuoteMeta(b)
		case "int", "float", "bool", "null":
			value = regexp.QuoteMeta(s) + `\s*[,}\]]`
		default:
			r.addf(ev, "expect: an http check matches a value, not a %s", ev.Kind())
			return t, false
		}
		if strings.Contains(s, "${") {
			r.addf(ev, "expect: a ${var} cannot be part of a regexp")
			return t, false
		}
	}
	t.regexp = regexp.QuoteMeta(`"`+key+`"`) + `\s*:`
	if value != "" {
		t.regexp += `\s*` + value
	}
	t.notes = append(t.notes, fmt.Sprintf("JSON path %s: a regexp on the body finds the key %q (at any depth) and its value", path, key))
	return t, true
}

// jsonString writes s as JSON does.
func jsonString(s string) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// httpCheck writes the http probe of a check.
func (r *reader) httpCheck(a *activity, notes *[]string) string {
	p := a.prov
	t, ok := r.readTolerance(a.tolerance)
	if !ok {
		return ""
	}
	status, body := "", ""
	switch {
	case t.kind == "int":
		status = strconv.Itoa(t.ints[0])
	case t.kind == "list" && len(t.ints) == 1:
		status = strconv.Itoa(t.ints[0])
	case t.kind == "range" && t.target == "status" && t.ints[0] == t.ints[1]:
		status = strconv.Itoa(t.ints[0])
	case t.kind == "range" && t.target == "status" && t.ints[0] == 200 && t.ints[1] == 299:
		status = "0"
		*notes = append(*notes, "status 0: any 2xx")
	case (t.kind == "regex" || t.kind == "jsonpath") && t.target == "body":
		status, body = "0", t.regexp
		*notes = append(*notes, t.notes...)
		*notes = append(*notes, "Chaos Toolkit's "+t.kind+" tolerance reads only the body; the check also wants a 2xx status (status 0)")
	case t.kind == "regex" || t.kind == "jsonpath":
		r.addf(a.tolerance, "a %s tolerance on an http probe needs target: body (the probe's value is {status, headers, body})", t.kind)
		return ""
	default:
		r.addf(a.tolerance, "tolerance %s: an http check wants one status (200, [200], a range [200, 299] or [N, N] with target: status) or a regex or jsonpath on target: body", shape(a.tolerance))
		return ""
	}
	if n, _ := strconv.Atoi(status); n != 0 && (n < 100 || n > 599) {
		r.addf(a.tolerance, "status %d is not an HTTP status", n)
		return ""
	}
	if len(p.body) > 0 {
		r.addf(p.v, "an http check sends no body: a %s with arguments has no analogue", p.method)
		return ""
	}
	if p.insecure {
		*notes = append(*notes, "verify_tls false: shakedown always verifies TLS")
	}
	kvs := []kv{{"url", str(p.url)}}
	if p.method != "GET" {
		kvs = append(kvs, kv{"method", str(p.method)})
	}
	kvs = append(kvs, kv{"status", status})
	if body != "" {
		kvs = append(kvs, kv{"body_regexp", str(body)})
	}
	if len(p.headers) > 0 {
		hs := make([]kv, len(p.headers))
		for i, h := range p.headers {
			hs[i] = kv{h.k, str(h.v)}
		}
		kvs = append(kvs, kv{"headers", flowMap(hs)})
	}
	return "http: " + flowMap(kvs)
}

// execCheck writes the exec probe of a check. An exec check holds when its command exits 0:
// a tolerance on another exit status, or on the output, wraps the command in sh -c, its
// arguments passed as they are ("$@"), never spliced into the script.
func (r *reader) execCheck(a *activity, notes *[]string) string {
	p := a.prov
	t, ok := r.readTolerance(a.tolerance)
	if !ok {
		return ""
	}
	argv := p.argv
	wrap := func(script string, pre ...string) {
		argv = append(append([]string{"sh", "-c", script, "sh"}, pre...), p.argv...)
	}
	switch {
	case (t.kind == "int" || t.kind == "list" && len(t.ints) == 1) && t.ints[0] == 0:
	case t.kind == "int" || t.kind == "list" && len(t.ints) == 1:
		wrap(fmt.Sprintf(`"$@"; test $? -eq %d`, t.ints[0]))
		*notes = append(*notes, fmt.Sprintf("an exec check holds when its command exits 0: sh -c tests for exit status %d", t.ints[0]))
	case t.kind == "list" && len(t.ints) > 1:
		alts := make([]string, len(t.ints))
		for i, n := range t.ints {
			alts[i] = strconv.Itoa(n)
		}
		wrap(fmt.Sprintf(`"$@"; case $? in %s) exit 0;; esac; exit 1`, strings.Join(alts, "|")))
		*notes = append(*notes, "an exec check holds when its command exits 0: sh -c tests for exit status "+strings.Join(alts, ", "))
	case t.kind == "range" && t.target == "status":
		wrap(fmt.Sprintf(`"$@"; s=$?; test $s -ge %d && test $s -le %d`, t.ints[0], t.ints[1]))
		*notes = append(*notes, fmt.Sprintf("an exec check holds when its command exits 0: sh -c tests for an exit status from %d to %d", t.ints[0], t.ints[1]))
	case t.kind == "regex" && (t.target == "stdout" || t.target == "stderr"):
		script := `p=$1; shift; "$@" 2>/dev/null | grep -Pzq -e "$p"`
		if t.target == "stderr" {
			script = `p=$1; shift; "$@" 2>&1 >/dev/null | grep -Pzq -e "$p"`
		}
		wrap(script, t.regexp)
		*notes = append(*notes, "an exec check holds when its command exits 0: grep -P (Perl regexps, as close to Python's as grep has) searches the "+t.target+" whatever the exit status, as Chaos Toolkit's regex tolerance does")
	case t.kind == "regex":
		r.addf(a.tolerance, "a regex tolerance on a process probe needs target: stdout or stderr (the probe's value is {status, stdout, stderr})")
		return ""
	default:
		r.addf(a.tolerance, "tolerance %s: an exec check wants an exit status (0, [0, 1], a range with target: status) or a regex on target: stdout or stderr", shape(a.tolerance))
		return ""
	}
	return "exec: " + flowMap([]kv{{"command", list(argv)}})
}

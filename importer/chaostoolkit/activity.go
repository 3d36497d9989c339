package chaostoolkit

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
	"github.com/shakedown-dev/shakedown/spec"
)

// activity is a probe or an action of the hypothesis, the method or the rollbacks.
type activity struct {
	v          spec.Value
	name       string
	kind       string // probe or action
	line       int
	prov       *provider
	background bool
	before     time.Duration
	after      time.Duration
	tolerance  spec.Value
	hasTol     bool
	ref        bool // written as {ref: name}: the activity it names, again
}

// provider is how an activity runs: an HTTP request, a process, or a Python function.
type provider struct {
	v   spec.Value
	typ string
	// http
	url, method string
	headers     []kv     // raw values
	body        []kv     // raw values: the form or JSON body of a request other than GET
	bodyJSON    []string // the same values as JSON writes them: numbers, booleans and null as they are
	jsonBody    bool
	insecure    bool
	// process
	argv  []string
	shell bool // arguments as a string with shell syntax: argv is [sh -c line]
	// http and process
	timeout time.Duration
	notes   []string
	// python
	module, fn string
	args       map[string]spec.Field
}

var activityFields = []string{"type", "name", "provider", "tolerance", "background", "pauses",
	"controls", "secrets", "configuration", "ref", "timeout"}

// activities reads a list of activities; each named one is recorded in acts for refs.
func (r *reader) activities(v spec.Value, acts map[string]*activity, section string) []*activity {
	items, ok := v.List()
	if !ok {
		return nil
	}
	var out []*activity
	for _, it := range items {
		if a := r.activity(it, acts, section); a != nil {
			out = append(out, a)
		}
	}
	return out
}

func (r *reader) activity(v spec.Value, acts map[string]*activity, section string) *activity {
	fs, ok := v.Fields(activityFields)
	if !ok {
		return nil
	}
	if f, ok := fs["ref"]; ok {
		for k, other := range fs {
			if k != "ref" {
				other.KeyAddf("a ref names another activity and holds nothing else")
			}
		}
		name, _ := r.scalar(f.Value)
		a := acts[name]
		if a == nil {
			r.addf(f.Value, "no activity is called %q before this ref", name)
			return nil
		}
		cp := *a
		cp.v, cp.line, cp.ref = v, v.Pos().Line, true
		return &cp
	}
	for _, k := range []string{"type", "name", "provider"} {
		if _, ok := fs[k]; !ok {
			r.addf(v, "%s is required", k)
		}
	}
	a := &activity{v: v, line: v.Pos().Line}
	a.name = r.text(fs, "name")
	a.kind = r.text(fs, "type")
	switch a.kind {
	case "probe", "action", "":
	default:
		r.addf(fs["type"].Value, "an activity's type is probe or action, not %q", a.kind)
	}
	if f, ok := fs["provider"]; ok {
		a.prov = r.provider(f.Value)
	}
	if f, ok := fs["tolerance"]; ok {
		a.tolerance, a.hasTol = f.Value, true
	}
	if f, ok := fs["background"]; ok {
		if f.Value.Kind() != "bool" {
			r.addf(f.Value, "background is true or false")
		} else {
			s, _ := f.Value.String()
			a.background = s == "true"
		}
	}
	if f, ok := fs["pauses"]; ok {
		pf, _ := f.Value.Fields([]string{"before", "after"})
		if p, ok := pf["before"]; ok {
			a.before, _ = r.seconds(p.Value)
		}
		if p, ok := pf["after"]; ok {
			a.after, _ = r.seconds(p.Value)
		}
	}
	if f, ok := fs["timeout"]; ok && a.prov != nil && a.prov.typ != "python" && a.prov.timeout == 0 {
		a.prov.timeout, _ = r.seconds(f.Value)
	}
	if f, ok := fs["controls"]; ok {
		r.controls(f.Value, "activity "+a.name)
	}
	if a.name != "" {
		acts[a.name] = a
	}
	return a
}

// seconds reads a number of seconds.
func (r *reader) seconds(v spec.Value) (time.Duration, bool) {
	k := v.Kind()
	if k != "int" && k != "float" {
		r.addf(v, "want a number of seconds, not %s", v.Kind())
		return 0, false
	}
	s, _ := v.String()
	f, err := shakedown.ParseNumber(s)
	if err != nil || f < 0 || f > 365*24*3600 {
		r.addf(v, "want a number of seconds from 0 to a year, not %s", s)
		return 0, false
	}
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond), true
}

func (r *reader) provider(v spec.Value) *provider {
	p := &provider{v: v}
	kfs, ok := v.Mapping()
	if !ok {
		return nil
	}
	for _, f := range kfs {
		if f.Key == "type" {
			p.typ, _ = r.scalar(f.Value)
		}
	}
	switch p.typ {
	case "http":
		r.httpProvider(p)
	case "process":
		r.processProvider(p)
	case "python":
		fs, _ := v.Fields([]string{"type", "module", "func", "arguments", "secrets"}, "module", "func")
		p.module, p.fn = r.text(fs, "module"), r.text(fs, "func")
		p.args = map[string]spec.Field{}
		if f, ok := fs["arguments"]; ok {
			afs, _ := f.Value.Mapping()
			for _, af := range afs {
				p.args[af.Key] = af
			}
		}
	case "":
		r.addf(v, "a provider needs a type: http, process or python")
		return nil
	default:
		r.addf(v, "provider type %q: want http, process or python", p.typ)
		return nil
	}
	return p
}

func (r *reader) httpProvider(p *provider) {
	fs, ok := p.v.Fields([]string{"type", "url", "method", "headers", "arguments", "timeout",
		"expected_status", "verify_tls", "max_retries", "secrets"}, "url")
	if !ok {
		return
	}
	if f, ok := fs["url"]; ok {
		p.url, _ = r.subst(f.Value)
		if !strings.Contains(p.url, "${") {
			if _, err := endpoint.HTTPURL(p.url); err != nil {
				r.addf(f.Value, "%v", err)
			}
		}
		p.url = r.hideURL(f.Value, p.url)
	}
	p.method = "GET"
	if f, ok := fs["method"]; ok {
		m, _ := r.scalar(f.Value)
		p.method = strings.ToUpper(m)
		if !endpoint.Token(p.method) {
			r.addf(f.Value, "bad HTTP method %q", m)
		}
	}
	if f, ok := fs["headers"]; ok {
		hs, _ := f.Value.Mapping()
		for _, h := range hs {
			val, ok := r.subst(h.Value)
			if err := endpoint.Header(h.Key, val); err != nil {
				h.KeyAddf("%v", err)
				continue
			}
			if ok {
				val = r.hideHeader(h.Value, h.Key, val)
				p.headers = append(p.headers, kv{h.Key, val})
				if strings.EqualFold(h.Key, "Content-Type") && strings.HasPrefix(strings.ToLower(val), "application/json") {
					p.jsonBody = true
				}
			}
		}
	}
	if f, ok := fs["arguments"]; ok && !f.Value.Null() {
		afs, ok := f.Value.Mapping()
		if ok {
			for _, af := range afs {
				s, ok := r.subst(af.Value)
				if !ok {
					continue
				}
				p.body = append(p.body, kv{af.Key, s})
				switch af.Value.Kind() {
				case "int", "float", "bool":
					p.bodyJSON = append(p.bodyJSON, strings.ToLower(s))
				case "null":
					p.bodyJSON = append(p.bodyJSON, "null")
				default:
					b, _ := jsonString(s)
					p.bodyJSON = append(p.bodyJSON, b)
				}
			}
		}
	}
	if p.method == "GET" && len(p.body) > 0 {
		q := make([]string, len(p.body))
		for i, a := range p.body {
			q[i] = escapeQuery(a.k) + "=" + escapeQuery(a.v)
		}
		sep := "?"
		if strings.Contains(p.url, "?") {
			sep = "&"
		}
		p.url += sep + strings.Join(q, "&")
		p.notes = append(p.notes, "its arguments are the URL's query, as Chaos Toolkit sends them with GET")
		p.body = nil
	}
	if f, ok := fs["timeout"]; ok {
		if f.Value.Kind() == "list" {
			items, _ := f.Value.List()
			if len(items) != 2 {
				r.addf(f.Value, "a timeout list is [connect, read] in seconds")
			} else {
				c, ok1 := r.seconds(items[0])
				rd, ok2 := r.seconds(items[1])
				if ok1 && ok2 {
					p.timeout = c + rd
					p.notes = append(p.notes, fmt.Sprintf("timeout [%s connect, %s read] is %s in all here", shakedown.FormatDuration(c), shakedown.FormatDuration(rd), shakedown.FormatDuration(p.timeout)))
				}
			}
		} else {
			p.timeout, _ = r.seconds(f.Value)
		}
	}
	if f, ok := fs["expected_status"]; ok {
		s, _ := r.scalar(f.Value)
		p.notes = append(p.notes, "expected_status "+s+": the tolerance decides here, as in Chaos Toolkit today")
	}
	if f, ok := fs["verify_tls"]; ok {
		if s, _ := f.Value.String(); s == "false" {
			p.insecure = true
		}
	}
	if f, ok := fs["max_retries"]; ok {
		s, _ := r.scalar(f.Value)
		p.notes = append(p.notes, "max_retries "+s+": a check samples again every interval instead")
	}
}

// escapeQuery escapes a query key or value, its ${vars} kept as they are.
func escapeQuery(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range varRef.FindAllStringIndex(s, -1) {
		b.WriteString(url.QueryEscape(s[last:m[0]]))
		b.WriteString(s[m[0]:m[1]])
		last = m[1]
	}
	b.WriteString(url.QueryEscape(s[last:]))
	return b.String()
}

func (r *reader) processProvider(p *provider) {
	fs, ok := p.v.Fields([]string{"type", "path", "arguments", "timeout", "secrets"}, "path")
	if !ok {
		return
	}
	path := ""
	if f, ok := fs["path"]; ok {
		path, _ = r.subst(f.Value)
		if path == "" {
			r.addf(f.Value, "a process needs a path")
		}
		if strings.HasPrefix(path, "~") {
			p.notes = append(p.notes, "its path starts with ~, which Chaos Toolkit expands and shakedown does not: write the path out")
		}
	}
	p.argv = []string{path}
	if f, ok := fs["arguments"]; ok {
		switch f.Value.Kind() {
		case "list":
			items, _ := f.Value.List()
			for _, it := range items {
				if s, ok := r.argument(it); ok && s != "" {
					p.argv = append(p.argv, s)
				}
			}
		case "mapping":
			afs, _ := f.Value.Mapping()
			for _, af := range afs {
				if af.Key != "" {
					p.argv = append(p.argv, af.Key)
				}
				if s, ok := r.argument(af.Value); ok && s != "" {
					p.argv = append(p.argv, s)
				}
			}
		case "null":
		default:
			line, _ := r.subst(f.Value)
			words, plain := splitWords(line)
			if plain {
				p.argv = append(p.argv, words...)
			} else {
				p.argv = []string{"sh", "-c", path + " " + line}
				p.shell = true
				p.notes = append(p.notes, "its arguments are a string with shell syntax, which Chaos Toolkit runs through a shell: kept as sh -c")
			}
		}
	}
	if f, ok := fs["arguments"]; ok {
		for i, a := range p.argv[1:] {
			p.argv[i+1] = r.hideURLs(f.Value, a)
		}
	}
	if f, ok := fs["timeout"]; ok {
		p.timeout, _ = r.seconds(f.Value)
	}
}

// argument reads one process argument as Python's str() writes it.
func (r *reader) argument(v spec.Value) (string, bool) {
	switch v.Kind() {
	case "null":
		return "", true
	case "bool":
		s, _ := v.String()
		if s == "true" {
			return "True", true
		}
		return "False", true
	}
	return r.subst(v)
}

// splitWords splits a command line into words as a POSIX shell does when it has no shell
// syntax but quotes and backslashes; plain is false when it has some (pipes, redirections,
// variables other than ${name}, globs, substitutions, comments), so that only a shell can
// run it as Chaos Toolkit did.
func splitWords(s string) (words []string, plain bool) {
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, false
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
					i++
					w.WriteByte(s[i])
				case s[i] == '`':
					return nil, false
				case s[i] == '$':
					n := varPrefix(s[i:])
					if n == 0 {
						return nil, false
					}
					w.WriteString(s[i : i+n])
					i += n - 1
				default:
					w.WriteByte(s[i])
				}
			}
			if i >= len(s) {
				return nil, false
			}
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, false
			}
			i++
			if s[i] != '\n' {
				w.WriteByte(s[i])
				inWord = true
			}
		case c == '$':
			n := varPrefix(s[i:])
			if n == 0 {
				return nil, false
			}
			w.WriteString(s[i : i+n])
			i += n - 1
			inWord = true
		case strings.IndexByte("|&;<>()`*?[", c) >= 0:
			return nil, false
		case (c == '#' || c == '~') && !inWord:
			return nil, false
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, true
}

// varPrefix returns the length of the ${name} s starts with, 0 when it starts with none.
func varPrefix(s string) int {
	if !strings.HasPrefix(s, "${") {
		return 0
	}
	j := strings.IndexByte(s, '}')
	if j < 0 || !varName.MatchString(s[2:j]) {
		return 0
	}
	return j + 1
}

// describe says what a provider runs, for a comment.
func (p *provider) describe() string {
	switch p.typ {
	case "http":
		return p.method + " " + p.url
	case "process":
		if p.shell {
			return "process " + p.argv[2]
		}
		return "process " + strings.Join(p.argv, " ")
	case "python":
		return "python " + p.module + "." + p.fn
	}
	return p.typ
}

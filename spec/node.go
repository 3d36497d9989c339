package spec

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// maxAliases bounds how many aliases one file may expand, so that a small file cannot make
// the decoder walk an exponential tree.
const maxAliases = 10000

// maxDepth bounds how deep generic values (parameters of type any) may nest, aliases
// followed.
const maxDepth = MaxDepth

// decoder walks the AST of one file and collects problems.
type decoder struct {
	file    string
	what    string // what a file holds, for messages: "experiment" when empty
	vars    map[string]string
	reg     *shakedown.Registry
	probs   Problems
	anchors map[string]ast.Node
	aliases int
	// size is the file's size with its aliases and ${vars} expanded so far; it stays within
	// MaxFileSize.
	size     int
	sizeSaid bool // the problem of ${vars} past MaxFileSize is recorded
	// dangling holds the aliases already reported as naming no anchor: a value is resolved
	// by every check that looks at it, and its problem is reported once.
	dangling map[*ast.AliasNode]bool
	// kinds are the experiment's targets' kinds by name ("" when unknown), for references
	// to targets outside faults (an exec probe's on:).
	kinds map[string]string
}

// noun is what a file holds: "experiment", or what a Doc says.
func (d *decoder) noun() string { return cmp.Or(d.what, "experiment") }

// article is the noun with its indefinite article: "an experiment", "a schedule".
func (d *decoder) article() string {
	n := d.noun()
	if strings.IndexByte("aeiou", n[0]) >= 0 {
		return "an " + n
	}
	return "a " + n
}

// entry is one key of a mapping with its value.
type entry struct {
	key  string
	kn   ast.Node // the key's node, for positions
	val  ast.Node // nil never: a missing value is a *ast.NullNode
	path string   // the value's field path
}

func (d *decoder) pos(n ast.Node) shakedown.Pos {
	p := shakedown.Pos{File: d.file}
	for n != nil {
		switch m := n.(type) {
		case *ast.MappingNode:
			// A block mapping's token is its first ':'; point at its first key instead.
			// A flow mapping's token is its '{'.
			if len(m.Values) > 0 && !m.IsFlowStyle {
				n = m.Values[0].Key
				continue
			}
		case *ast.MappingValueNode:
			n = m.Key
			continue
		case *ast.MappingKeyNode:
			if m.Value != nil {
				n = m.Value
				continue
			}
		}
		break
	}
	if n == nil {
		return p
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		p.Line, p.Col = tk.Position.Line, tk.Position.Column
	}
	return p
}

// addf records a problem at node n (the whole file when n is nil). Values it quotes (%q) are
// cut short, and so are errors: a message points at a value, it does not repeat a page of it.
func (d *decoder) addf(n ast.Node, path, format string, args ...any) {
	verbs := verbsOf(format)
	for i, a := range args {
		switch v := a.(type) {
		case string:
			if i < len(verbs) && verbs[i] == 'q' {
				args[i] = clip(v, 80)
			}
		case error:
			args[i] = clip(v.Error(), 200)
		}
	}
	d.probs = append(d.probs, Problem{Pos: d.pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// verbsOf returns the verb of each operand of a format, in order.
func verbsOf(format string) []byte {
	var verbs []byte
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		// Flags, width and precision come before the verb; a * takes an operand of its own.
		for i++; i < len(format) && strings.IndexByte("+-# 0123456789.*", format[i]) >= 0; i++ {
			if format[i] == '*' {
				verbs = append(verbs, '*')
			}
		}
		if i < len(format) && format[i] != '%' {
			verbs = append(verbs, format[i])
		}
	}
	return verbs
}

// clip returns s, or its first bytes and "…" when it is longer than n bytes.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// parse parses src and returns the body of its single document, or nil after recording why
// there is none. A file past the limits (MaxFileSize, MaxNodes, MaxDepth) is refused before
// the parser sees it, and one whose aliases expand past them after.
func (d *decoder) parse(src []byte) ast.Node {
	if len(src) > MaxFileSize {
		d.tooLarge(src)
		return nil
	}
	// YAML (and JSON read as YAML) may start with a byte order mark; it is no part of the
	// text, and columns on the first line are counted after it, as an editor shows them.
	src = bytes.TrimPrefix(src, []byte("\ufeff"))
	tks := lexer.Tokenize(string(src))
	nodes, ok := d.guard(tks)
	if !ok {
		return nil
	}
	f, err := parser.Parse(tks, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			p := shakedown.Pos{File: d.file}
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				p.Line, p.Col = tk.Position.Line, tk.Position.Column
			}
			d.probs = append(d.probs, Problem{Pos: p, Msg: ye.GetMessage()})
		} else {
			d.probs = append(d.probs, Problem{Pos: shakedown.Pos{File: d.file}, Msg: err.Error()})
		}
		return nil
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			d.addf(doc.Body, "", "a file holds one %s; this is a second YAML document", d.noun())
			continue
		}
		body = doc.Body
	}
	if body == nil {
		d.addf(nil, "", "the file holds no %s", d.noun())
		return nil
	}
	d.anchors = map[string]ast.Node{}
	d.dangling = map[*ast.AliasNode]bool{}
	if !d.depthOK(body, 0) {
		return nil
	}
	body = numbers(body)
	d.collectAnchors(body, 0)
	if !d.expansion(body, nodes, len(src)) {
		return nil
	}
	return body
}

// numbers returns n with every plain scalar that is a decimal number (ParseNumber) made a
// number node, as YAML 1.2 and JSON read it: goccy/go-yaml leaves an exponent without a
// point (1e3, 15E-1) a string. A quoted "1e3", and one tagged !!str, stay strings; keys are
// left as they are. depthOK has bounded how deep n goes.
func numbers(n ast.Node) ast.Node {
	switch m := n.(type) {
	case *ast.StringNode:
		if m.Token != nil && m.Token.Type == token.StringType {
			if f, err := shakedown.ParseNumber(m.Value); err == nil && m.Value == m.Token.Value {
				return &ast.FloatNode{BaseNode: m.BaseNode, Token: m.Token, Value: f}
			}
		}
	case *ast.AnchorNode:
		m.Value = numbers(m.Value)
	case *ast.TagNode:
		if m.Start == nil || m.Start.Value != "!!str" {
			m.Value = numbers(m.Value)
		}
	case *ast.MappingNode:
		for _, v := range m.Values {
			numbers(v)
		}
	case *ast.MappingValueNode:
		m.Value = numbers(m.Value)
	case *ast.SequenceNode:
		for i, v := range m.Values {
			m.Values[i] = numbers(v)
		}
	}
	return n
}

func (d *decoder) collectAnchors(n ast.Node, depth int) {
	if n == nil || depth > 10000 {
		return
	}
	switch m := n.(type) {
	case *ast.AnchorNode:
		if m.Name != nil {
			d.anchors[m.Name.GetToken().Value] = m.Value
		}
		d.collectAnchors(m.Value, depth+1)
	case *ast.TagNode:
		d.collectAnchors(m.Value, depth+1)
	case *ast.MappingNode:
		for _, v := range m.Values {
			d.collectAnchors(v, depth+1)
		}
	case *ast.MappingValueNode:
		d.collectAnchors(m.Key, depth+1)
		d.collectAnchors(m.Value, depth+1)
	case *ast.MappingKeyNode:
		d.collectAnchors(m.Value, depth+1)
	case *ast.SequenceNode:
		for _, v := range m.Values {
			d.collectAnchors(v, depth+1)
		}
	}
}

// resolve follows anchors, aliases and tags to the node that holds the value. It returns
// nil, after recording a problem, for an alias that names no anchor.
func (d *decoder) resolve(n ast.Node, path string) ast.Node {
	for i := 0; ; i++ {
		switch m := n.(type) {
		case *ast.AnchorNode:
			n = m.Value
		case *ast.TagNode:
			if !d.plainTag(m, path) {
				return nil
			}
			n = m.Value
		case *ast.AliasNode:
			name := ""
			if m.Value != nil {
				name = m.Value.GetToken().Value
			}
			d.aliases++
			if d.aliases > maxAliases {
				if d.aliases == maxAliases+1 {
					d.addf(m, path, "too many aliases (more than %d)", maxAliases)
				}
				return nil
			}
			v, ok := d.anchors[name]
			if !ok || i > 100 {
				if !d.dangling[m] {
					d.dangling[m] = true
					d.addf(m, path, "alias *%s names no anchor", name)
				}
				return nil
			}
			n = v
		default:
			return n
		}
	}
}

// coreTags are the tags a file may carry, each with the kinds of value it agrees with: they
// say what the value is already, so the decoder may ignore them. Any other tag (!!binary,
// !!timestamp, !!set, a local !tag) would change the value or ask for a type shakedown does
// not have, and a tag that disagrees with its value (!!str 123) would ask for a conversion
// the decoder does not make: both are refused rather than dropped.
var coreTags = map[string]func(ast.Node) bool{
	"str": func(n ast.Node) bool {
		_, s := n.(*ast.StringNode)
		_, l := n.(*ast.LiteralNode)
		return s || l
	},
	"int": func(n ast.Node) bool { _, ok := n.(*ast.IntegerNode); return ok },
	"float": func(n ast.Node) bool {
		switch n.(type) {
		case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
			return true
		}
		return false
	},
	"bool": func(n ast.Node) bool { _, ok := n.(*ast.BoolNode); return ok },
	"null": func(n ast.Node) bool { _, ok := n.(*ast.NullNode); return ok },
	"map":  func(n ast.Node) bool { _, ok := n.(*ast.MappingNode); return ok },
	"seq":  func(n ast.Node) bool { _, ok := n.(*ast.SequenceNode); return ok },
}

// plainTag says whether tag m is one of coreTags, on a value of its kind; it records a
// problem when it is not.
func (d *decoder) plainTag(m *ast.TagNode, path string) bool {
	if err := CheckTag(m); err != nil {
		d.addf(m, path, "%v", err)
		return false
	}
	return true
}

// CheckTag returns an error saying why when YAML tag m is not one shakedown may look through:
// one of the core tags !!str, !!int, !!float, !!bool, !!null, !!seq and !!map, on a value of
// the kind it names. Other tags would change the value or ask for a type or a conversion that
// shakedown does not make, so a reader refuses them rather than drop them.
func CheckTag(m *ast.TagNode) error {
	tag := ""
	if m.Start != nil {
		tag = m.Start.Value
	}
	name, ok := strings.CutPrefix(tag, "!!")
	if !ok {
		name, ok = strings.CutPrefix(tag, "!<tag:yaml.org,2002:")
		name, ok = strings.CutSuffix(name, ">")
	}
	agrees, core := coreTags[name]
	if !ok || !core {
		return fmt.Errorf("tag %s is not supported: only !!str, !!int, !!float, !!bool, !!null, !!seq and !!map, on a value of that kind", tag)
	}
	v := m.Value
	for {
		a, ok := v.(*ast.AnchorNode)
		if !ok {
			break
		}
		v = a.Value
	}
	if v == nil {
		v = ast.Null(m.GetToken())
	}
	if !agrees(v) {
		return fmt.Errorf("tag %s does not match the value, %s: shakedown converts no value; remove the tag", tag, kindName(v))
	}
	return nil
}

func isNull(n ast.Node) bool {
	_, ok := n.(*ast.NullNode)
	return n == nil || ok
}

// kindName says what a node is, for messages.
func kindName(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "nothing"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "true or false"
	default:
		return "a string"
	}
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// child returns the path of key under path.
func child(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// mapping returns the entries of a mapping node in file order, with merge keys (<<) applied
// and duplicate keys reported. A null node is an empty mapping. ok is false, after recording
// a problem, when n is not a mapping.
func (d *decoder) mapping(n ast.Node, path string) (entries []entry, ok bool) {
	n = d.resolve(n, path)
	if n == nil {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	m, isMap := n.(*ast.MappingNode)
	if !isMap {
		d.addf(n, path, "want a mapping, not %s", kindName(n))
		return nil, false
	}
	// Each key is read once: reading it records its problem, if it has one.
	explicit := map[string]ast.Node{}
	keys := make([]string, len(m.Values))
	good := make([]bool, len(m.Values))
	for i, mv := range m.Values {
		if _, merge := mv.Key.(*ast.MergeKeyNode); merge {
			continue
		}
		if keys[i], good[i] = d.keyText(mv.Key, path); good[i] {
			k := keys[i]
			if first, dup := explicit[k]; dup {
				d.addf(mv.Key, child(path, k), "duplicate key %q (first at line %d)", k, d.pos(first).Line)
				continue
			}
			explicit[k] = mv.Key
		}
	}
	seen := map[string]bool{}
	for i, mv := range m.Values {
		if _, merge := mv.Key.(*ast.MergeKeyNode); merge {
			for _, e := range d.merged(mv.Value, path) {
				if _, over := explicit[e.key]; !over && !seen[e.key] {
					seen[e.key] = true
					entries = append(entries, e)
				}
			}
			continue
		}
		k := keys[i]
		if !good[i] || explicit[k] != mv.Key {
			continue
		}
		val := mv.Value
		if val == nil {
			val = ast.Null(mv.GetToken())
		}
		entries = append(entries, entry{key: k, kn: mv.Key, val: val, path: child(path, k)})
	}
	return entries, true
}

// merged returns the entries a merge key brings in: those of a mapping, or of a list of
// mappings, the first ones winning.
func (d *decoder) merged(v ast.Node, path string) []entry {
	v = d.resolve(v, path)
	if s, ok := v.(*ast.SequenceNode); ok {
		var out []entry
		seen := map[string]bool{}
		for _, x := range s.Values {
			es, _ := d.mapping(x, path)
			for _, e := range es {
				if !seen[e.key] {
					seen[e.key] = true
					out = append(out, e)
				}
			}
		}
		return out
	}
	es, _ := d.mapping(v, path)
	return es
}

func (d *decoder) keyText(k ast.Node, path string) (string, bool) {
	n := d.resolve(k, path)
	if mk, ok := n.(*ast.MappingKeyNode); ok {
		n = d.resolve(mk.Value, path)
	}
	switch m := n.(type) {
	case nil:
		return "", false
	case *ast.StringNode:
		return m.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return m.GetToken().Value, true
	}
	d.addf(k, path, "a key must be a plain string, not %s", kindName(n))
	return "", false
}

// fields checks the keys of entries against known and returns them by key. Unknown keys are
// problems.
func (d *decoder) fields(es []entry, known ...string) map[string]entry {
	out := make(map[string]entry, len(es))
	for _, e := range es {
		if !slices.Contains(known, e.key) {
			d.addf(e.kn, e.path, "unknown field %q%s", e.key, hint(e.key, known, "want one of "+strings.Join(known, ", ")))
			continue
		}
		out[e.key] = e
	}
	return out
}

// seq returns the items of a list node. A null node is an empty list.
func (d *decoder) seq(n ast.Node, path string) ([]ast.Node, bool) {
	n = d.resolve(n, path)
	if n == nil {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		d.addf(n, path, "want a list, not %s", kindName(n))
		return nil, false
	}
	return s.Values, true
}

// str returns the text of a scalar with ${vars} filled in. A null node gives "".
func (d *decoder) str(n ast.Node, path string) (string, bool) {
	n = d.resolve(n, path)
	switch m := n.(type) {
	case nil:
		return "", false
	case *ast.NullNode:
		return "", true
	case *ast.StringNode:
		return d.expand(m, m.Value, path)
	case *ast.LiteralNode:
		if m.Value == nil {
			return "", true
		}
		return d.expand(m, m.Value.Value, path)
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return m.GetToken().Value, true
	}
	d.addf(n, path, "want a string, not %s", kindName(n))
	return "", false
}

// expand fills the ${vars} of s, found at node n. The text they add counts towards
// MaxFileSize, as the text aliases stand for does: the file's whole expansion shares one
// budget, expanding stops where it runs out, and the problem is recorded once.
func (d *decoder) expand(n ast.Node, s, path string) (string, bool) {
	if d.sizeSaid && strings.Contains(s, "${") {
		return "", false
	}
	out, err := expandVars(s, d.vars, MaxFileSize-d.size+len(s))
	if errors.Is(err, errExpandedTooLarge) {
		d.sizeSaid = true
		d.addf(n, path, "variables expand the file to more than %s, the most %s file may hold", userfile.Size(MaxFileSize), d.article())
		return "", false
	}
	if err != nil {
		d.addf(n, path, "%v", err)
		return "", false
	}
	d.size += max(len(out)-len(s), 0)
	return out, true
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// CheckVarName reports, as an error of KindInvalid, a variable name no ${name} can refer to.
func CheckVarName(name string) error {
	if !varName.MatchString(name) {
		return shakedown.Errorf(shakedown.KindInvalid, "invalid variable name %q: letters, digits, '_', '.' and '-', starting with a letter or '_'", clip(name, 80))
	}
	return nil
}

// errExpandedTooLarge is expandVars's answer when the text would grow past its limit.
var errExpandedTooLarge = errors.New("expanded text too large")

// expandVars replaces each ${key} of s by vars[key]; "$${" stands for a literal "${". It
// returns errExpandedTooLarge, having built no more than limit bytes, when the result would be
// longer than limit.
func expandVars(s string, vars map[string]string, limit int) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	var unset []string
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return "", fmt.Errorf("unterminated ${ (write $${ for a literal ${)")
			}
			key := s[i+2 : i+j]
			if !varName.MatchString(key) {
				return "", fmt.Errorf("invalid variable name %q in ${%s}", key, key)
			}
			v, ok := vars[key]
			if !ok {
				unset = append(unset, key)
			}
			if b.Len()+len(v) > limit {
				return "", errExpandedTooLarge
			}
			b.WriteString(v)
			i += j + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	if len(unset) > 0 {
		return "", fmt.Errorf("variable %s not set (pass --var %s=VALUE)", strings.Join(unset, ", "), unset[0])
	}
	return b.String(), nil
}

// required records a problem when a required field is missing. A field whose alias names no
// anchor is not missing: that problem is reported already.
func (d *decoder) required(fs map[string]entry, at ast.Node, path string, keys ...string) {
	for _, k := range keys {
		e, ok := fs[k]
		if !ok {
			d.addf(at, child(path, k), "%s is required", k)
		} else if v := d.resolve(e.val, e.path); v != nil && isNull(v) {
			d.addf(e.kn, child(path, k), "%s is required", k)
		}
	}
}

// duration reads a duration: Go style, ISO-8601, or the number 0.
func (d *decoder) duration(n ast.Node, path string) (time.Duration, bool) {
	n = d.resolve(n, path)
	switch m := n.(type) {
	case nil:
		return 0, false
	case *ast.IntegerNode, *ast.FloatNode:
		if f, err := shakedown.ParseNumber(m.GetToken().Value); err == nil && f == 0 {
			return 0, true
		}
		if iv, ok := m.(*ast.IntegerNode); ok && fmt.Sprint(iv.Value) == "0" {
			return 0, true
		}
		d.addf(n, path, "a duration needs a unit: write %ss or %sms, not %s", m.GetToken().Value, m.GetToken().Value, m.GetToken().Value)
		return 0, false
	case *ast.MappingNode, *ast.SequenceNode, *ast.BoolNode:
		d.addf(n, path, "want a duration such as 30s, not %s", kindName(n))
		return 0, false
	}
	s, ok := d.str(n, path)
	if !ok {
		return 0, false
	}
	v, err := shakedown.ParseDuration(s)
	if err != nil {
		d.addf(n, path, "%v", err)
		return 0, false
	}
	return v, true
}

// numeral returns the text of a number node, or of a string holding ${vars} once they are
// filled in, for ParseNumber or ParseInteger; want says what the field wants, for messages.
func (d *decoder) numeral(n ast.Node, path, want string) (string, bool) {
	switch m := n.(type) {
	case nil:
		return "", false
	case *ast.IntegerNode, *ast.FloatNode:
		return m.GetToken().Value, true
	case *ast.StringNode:
		if strings.Contains(m.Value, "${") {
			s, ok := d.str(n, path)
			return strings.TrimSpace(s), ok
		}
	case *ast.InfinityNode, *ast.NanNode:
		d.addf(n, path, "want a finite number, not %s", n.GetToken().Value)
		return "", false
	}
	d.addf(n, path, "want %s, not %s", want, kindName(n))
	return "", false
}

// integer reads a whole number, written in decimal digits or as a number whose value is
// whole (1e3, 2.0: JSON Schema's integers); a string holding ${vars} is accepted once filled in.
func (d *decoder) integer(n ast.Node, path string) (int64, bool) {
	n = d.resolve(n, path)
	s, ok := d.numeral(n, path, "a whole number")
	if !ok {
		return 0, false
	}
	if v, err := shakedown.ParseInteger(s); err == nil {
		return v, true
	}
	f, err := shakedown.ParseNumber(s)
	switch {
	case err != nil:
		d.addf(n, path, "want a whole number in decimal digits, not %q", s)
	case f != math.Trunc(f):
		d.addf(n, path, "want a whole number, not %s", s)
	case math.Abs(f) > 1<<53:
		d.addf(n, path, "number %s is too large", s)
	default:
		return int64(f), true
	}
	return 0, false
}

// number reads a finite decimal number; a string holding ${vars} is accepted once filled in.
func (d *decoder) number(n ast.Node, path string) (float64, bool) {
	n = d.resolve(n, path)
	s, ok := d.numeral(n, path, "a number")
	if !ok {
		return 0, false
	}
	v, err := shakedown.ParseNumber(s)
	if err != nil {
		d.addf(n, path, "want a decimal number, not %q", s)
		return 0, false
	}
	return v, true
}

// boolean reads true or false; a string holding ${vars} is accepted once filled in.
func (d *decoder) boolean(n ast.Node, path string) (bool, bool) {
	n = d.resolve(n, path)
	switch m := n.(type) {
	case nil:
		return false, false
	case *ast.BoolNode:
		return m.Value, true
	case *ast.StringNode:
		if strings.Contains(m.Value, "${") {
			s, ok := d.str(n, path)
			if !ok {
				return false, false
			}
			v, err := strconv.ParseBool(strings.TrimSpace(s))
			if err != nil {
				d.addf(n, path, "want true or false, not %q", s)
				return false, false
			}
			return v, true
		}
	}
	d.addf(n, path, "want true or false, not %s", kindName(n))
	return false, false
}

// stringMap reads a mapping of strings to strings.
func (d *decoder) stringMap(n ast.Node, path string) map[string]string {
	es, ok := d.mapping(n, path)
	if !ok || len(es) == 0 {
		return nil
	}
	out := make(map[string]string, len(es))
	for _, e := range es {
		if s, ok := d.str(e.val, e.path); ok {
			out[e.key] = s
		}
	}
	return out
}

// headers reads a mapping of HTTP header names to values, each a header that can be sent
// as it is written (endpoint.Header).
func (d *decoder) headers(n ast.Node, path string) map[string]string {
	es, ok := d.mapping(n, path)
	if !ok || len(es) == 0 {
		return nil
	}
	out := make(map[string]string, len(es))
	for _, e := range es {
		s, ok := d.str(e.val, e.path)
		if !ok {
			continue
		}
		if err := endpoint.Header(e.key, s); err != nil {
			at := e.val
			if !endpoint.Token(e.key) {
				at = e.kn
			}
			d.addf(at, e.path, "%v", err)
			continue
		}
		out[e.key] = s
	}
	return out
}

// httpURL reads an http or https URL.
func (d *decoder) httpURL(n ast.Node, path string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	return d.checkHTTPURL(n, path, s)
}

// checkHTTPURL says, at node n, when s is not an http or https URL.
func (d *decoder) checkHTTPURL(n ast.Node, path, s string) (string, bool) {
	if _, err := endpoint.HTTPURL(s); err != nil {
		d.addf(n, path, "%v", err)
		return "", false
	}
	return s, true
}

package fis

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

// kind is what a node of a document is.
type kind int

const (
	nullNode kind = iota
	scalarNode
	mapNode
	seqNode
)

func (k kind) String() string {
	switch k {
	case scalarNode:
		return "a value"
	case mapNode:
		return "a mapping"
	case seqNode:
		return "a list"
	}
	return "nothing"
}

// node is one node of a parsed document, reduced to what the importer reads: mappings
// (keys in order), lists, scalars as their text, and CloudFormation references.
type node struct {
	kind  kind
	pos   shakedown.Pos
	str   string // a scalar's text
	plain bool   // a scalar written without quotes (a number, a boolean, a word)
	// ref is a CloudFormation reference ("ref:Name", "getatt:Name.Arn", "sub:…",
	// "importvalue:…") when the node is one, in its short (!Ref) or long (Ref:, Fn::GetAtt:)
	// form; the mapping file maps it.
	ref   string
	keys  []*node // a mapping's keys (scalars), in order
	vals  []*node // a mapping's values
	items []*node // a list's items
}

// get returns the value of key k of a mapping, nil when absent.
func (n *node) get(k string) *node {
	if n == nil || n.kind != mapNode {
		return nil
	}
	for i, key := range n.keys {
		if key.str == k {
			return n.vals[i]
		}
	}
	return nil
}

// reader turns a parsed document into nodes, and collects the problems of a file.
type reader struct {
	file  string
	probs spec.Problems
	// written maps a field path as the importer names it (camelCase) to the key the file
	// wrote (CloudFormation capitalises it), so that problems name what the user reads.
	written map[string]string
}

func (r *reader) addf(pos shakedown.Pos, path, format string, args ...any) {
	if pos.File == "" {
		pos.File = r.file
	}
	path = r.asWritten(path)
	r.probs = append(r.probs, spec.Problem{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (r *reader) posOf(n ast.Node) shakedown.Pos {
	p := shakedown.Pos{File: r.file}
	if n == nil {
		return p
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 && !m.IsFlowStyle {
		return r.posOf(m.Values[0].Key)
	}
	if mv, ok := n.(*ast.MappingValueNode); ok {
		return r.posOf(mv.Key)
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		p.Line, p.Col = tk.Position.Line, tk.Position.Column
	}
	return p
}

// convert turns an AST node (spec.Parse bounded its size and depth) into a node.
func (r *reader) convert(n ast.Node, path string) *node {
	pos := r.posOf(n)
	switch m := n.(type) {
	case nil, *ast.NullNode:
		return &node{kind: nullNode, pos: pos}
	case *ast.AnchorNode:
		return r.convert(m.Value, path)
	case *ast.AliasNode:
		r.addf(pos, path, "aliases are not read by the importer: write the value out")
		return &node{kind: nullNode, pos: pos}
	case *ast.TagNode:
		return r.tagged(m, path)
	case *ast.MappingNode:
		out := &node{kind: mapNode, pos: pos}
		seen := map[string]bool{}
		for _, mv := range m.Values {
			if _, merge := mv.Key.(*ast.MergeKeyNode); merge {
				r.addf(r.posOf(mv.Key), path, "merge keys (<<) are not read by the importer: write the keys out")
				continue
			}
			k := r.convert(mv.Key, path)
			if k.kind != scalarNode {
				r.addf(k.pos, path, "a key must be a plain value, not %s", k.kind)
				continue
			}
			if seen[k.str] {
				r.addf(k.pos, join(path, k.str), "duplicate key %q", k.str)
				continue
			}
			seen[k.str] = true
			out.keys = append(out.keys, k)
			out.vals = append(out.vals, r.convert(mv.Value, join(path, k.str)))
		}
		return r.longRef(out, path)
	case *ast.MappingValueNode:
		return r.convert(&ast.MappingNode{Values: []*ast.MappingValueNode{m}}, path)
	case *ast.MappingKeyNode:
		return r.convert(m.Value, path)
	case *ast.SequenceNode:
		out := &node{kind: seqNode, pos: pos}
		for i, v := range m.Values {
			out.items = append(out.items, r.convert(v, fmt.Sprintf("%s[%d]", path, i)))
		}
		return out
	case *ast.StringNode:
		return &node{kind: scalarNode, pos: pos, str: m.Value}
	case *ast.LiteralNode:
		s := ""
		if m.Value != nil {
			s = m.Value.Value
		}
		return &node{kind: scalarNode, pos: pos, str: s}
	case ast.ScalarNode:
		s := ""
		if tk := n.GetToken(); tk != nil {
			s = tk.Value
		}
		return &node{kind: scalarNode, pos: pos, str: s, plain: true}
	}
	r.addf(pos, path, "cannot read this node (%s)", n.Type())
	return &node{kind: nullNode, pos: pos}
}

// tagged reads a YAML tag: CloudFormation's short forms of its functions (!Ref, !GetAtt,
// !Sub, !ImportValue) become references; YAML's core tags (!!str) are looked
// through, as spec.CheckTag allows them; other YAML tags are refused.
func (r *reader) tagged(m *ast.TagNode, path string) *node {
	tag := ""
	if m.Start != nil {
		tag = m.Start.Value
	}
	if strings.HasPrefix(tag, "!!") || strings.HasPrefix(tag, "!<") {
		if err := spec.CheckTag(m); err != nil {
			r.addf(r.posOf(m), path, "%v", err)
			return &node{kind: nullNode, pos: r.posOf(m)}
		}
		return r.convert(m.Value, path)
	}
	v := r.convert(m.Value, path)
	fn := strings.TrimPrefix(tag, "!")
	return r.reference(fn, v, path)
}

// longRef turns the long forms of CloudFormation's functions ({Ref: X}, {Fn::GetAtt: [X,
// Arn]}) into references; any other mapping is returned as it is.
func (r *reader) longRef(n *node, path string) *node {
	if len(n.keys) != 1 {
		return n
	}
	k := n.keys[0].str
	switch {
	case k == "Ref":
		return r.reference("Ref", n.vals[0], path)
	case strings.HasPrefix(k, "Fn::"):
		ref := r.reference(strings.TrimPrefix(k, "Fn::"), n.vals[0], path)
		ref.pos = n.pos
		return ref
	}
	return n
}

// reference makes the reference node of CloudFormation function fn applied to v.
func (r *reader) reference(fn string, v *node, path string) *node {
	out := &node{kind: scalarNode, pos: v.pos}
	switch fn {
	case "Ref", "Sub", "ImportValue":
		if v.kind == seqNode && fn == "Sub" && len(v.items) > 0 && v.items[0].kind == scalarNode {
			v = v.items[0] // [template, {variables}]: the template names it
		}
		if v.kind != scalarNode || v.ref != "" {
			r.addf(v.pos, path, "!%s of %s is not read by the importer: give it a value", fn, v.kind)
			return &node{kind: nullNode, pos: v.pos}
		}
		out.ref = strings.ToLower(fn) + ":" + v.str
		out.str = v.str
	case "GetAtt":
		s := v.str
		if v.kind == seqNode {
			var parts []string
			for _, it := range v.items {
				if it.kind != scalarNode || it.ref != "" {
					r.addf(it.pos, path, "!GetAtt of a computed name is not read by the importer: give it a value")
					return &node{kind: nullNode, pos: v.pos}
				}
				parts = append(parts, it.str)
			}
			s = strings.Join(parts, ".")
		} else if v.kind != scalarNode || v.ref != "" {
			r.addf(v.pos, path, "!GetAtt of %s is not read by the importer: give it a value", v.kind)
			return &node{kind: nullNode, pos: v.pos}
		}
		out.ref = "getatt:" + s
		out.str = s
	default:
		r.addf(v.pos, path, "CloudFormation function %s is not read by the importer: give the value, or a !Ref, !GetAtt or !Sub the mapping file maps", fn)
		return &node{kind: nullNode, pos: v.pos}
	}
	return out
}

// asWritten rewrites each key of path the file wrote otherwise.
func (r *reader) asWritten(path string) string {
	if len(r.written) == 0 || path == "" {
		return path
	}
	segs := strings.Split(path, ".")
	prefix := "" // canonical, as the keys of written are
	for i, s := range segs {
		base, index, _ := strings.Cut(s, "[")
		if w, ok := r.written[join(prefix, base)]; ok {
			segs[i] = w
			if index != "" {
				segs[i] += "[" + index
			}
		}
		prefix = join(prefix, s)
	}
	return strings.Join(segs, ".")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

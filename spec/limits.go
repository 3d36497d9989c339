package spec

import (
	"fmt"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// Limits on one experiment file, far above what a real experiment comes near (a few
// kilobytes, a few hundred nodes, six or seven levels deep) and low enough that the worst file
// within them is decoded in a fraction of a second and some tens of megabytes.
//
// The YAML library (goccy/go-yaml v1.19.2) bounds nothing itself. Its parser recurses once
// per level of nesting and once per key of a block mapping, copies each level's path from its
// parent's and a mapping's keys once per key: 80 KB of "[" took it 2.5 GB, 100,000 keys 90 s,
// and 50 MB of "[" 6 GB before it died. Its scanner is linear in its input, though, and the
// parser's work is bounded by the scanner's tokens. So the limits guard the parser from in
// front, on bytes and tokens, and check the tree it builds behind it:
//
//	bytes ─▶ size ─▶ scanner ─tokens─▶ nodes, depth ─▶ parser ─tree─▶ depth, aliases expanded ─▶ decoder
//
// The node count bounds the parser's work; the depth measured on tokens refuses the usual
// deep files before the parser pays for them; the tree is measured again because the parser
// nests some things their columns do not show.
const (
	// MaxFileSize is the most bytes an experiment file may hold.
	MaxFileSize = 256 << 10
	// MaxNodes is the most nodes a file may hold: every key, value, list item, anchor, tag
	// and piece of punctuation ("-", ":", ",", brackets, "---") counts one (they are the
	// scanner's tokens), and comments none. Aliases count as the nodes they stand for.
	MaxNodes = 10000
	// MaxDepth is how deep the mappings and lists of a file may nest: the top one is the
	// first level, each one inside another one level deeper.
	MaxDepth = 64
)

// tooLarge records that src, the first MaxFileSize bytes of a file, is not all of it: the
// problem is where the limit fell.
func (d *decoder) tooLarge(src []byte) {
	line, col := 1, 1
	for i := 0; i < len(src) && i < MaxFileSize; {
		r, n := utf8.DecodeRune(src[i:])
		switch {
		case r == '\r' && i+1 < len(src) && src[i+1] == '\n':
			// one line end; the '\n' ends the line
		case r == '\n' || r == '\r':
			line, col = line+1, 1
		default:
			col++
		}
		i += n
	}
	d.probs = append(d.probs, Problem{Pos: shakedown.Pos{File: d.file, Line: line, Col: col},
		Msg: "the file is larger than " + userfile.Size(MaxFileSize) + ", the most " + d.article() + " file may hold"})
}

// guard checks a file's tokens against MaxNodes and MaxDepth and returns how many nodes they
// make. ok is false, after recording a problem at the first token past a limit, when they do
// not keep within them.
func (d *decoder) guard(tks token.Tokens) (nodes int, ok bool) {
	nodes, depth, past := measure(tks)
	switch {
	case past == nil:
		return nodes, true
	case nodes > MaxNodes:
		d.tokenProblem(past, fmt.Sprintf("the file holds more than %d nodes, the most %s may have", MaxNodes, d.article()))
	case depth > MaxDepth:
		d.tokenProblem(past, fmt.Sprintf("nested more than %d levels deep, the deepest %s may go", MaxDepth, d.article()))
	}
	return nodes, false
}

// measure counts the nodes of a file's tokens and how deep they nest, stopping at the first
// token past MaxNodes or MaxDepth, which it returns as past.
//
// Depth counts open flow collections ("[", "{") and, outside them, block collections: a
// "-", "?" or key that starts a line, or follows a "-" on its line ("- - x", "- a: b"), at a
// column deeper than the collection it is in. (A "?" marks a key of the mapping it is in,
// so what follows it on its line is no deeper.) Some nest at the column of what holds them:
// a list under a key that ends its line ("a:\n- x") and, the parser being lenient, a
// mapping under a "-" that ends its line ("-\nk: v"). The tree the parser builds is measured
// again (depthOK) for what this misses (a node on the line after its tag, say), once the node
// count has bounded what building it costs; FuzzMeasure holds this to never saying more than
// the tree.
func measure(tks token.Tokens) (nodes, depth int, past *token.Token) {
	var (
		flow    int        // open flow collections
		block   []level    // the open block collections, by column
		line    = -1       // of the previous token
		first   bool       // no token but anchors and tags came before on this line
		compact bool       // the previous token was a "-" on this line, in block context
		ended   token.Type // what the previous line ended with
		last    token.Type // the last token that is no comment, anchor or tag
		at      int        // the column of what came before a node on its line: anchors, tags, "---"
		// nested and endedAt: the column of the last "-", "?" or key of this line and of the
		// previous one
		nested, endedAt int
	)
	for i, tk := range tks {
		if tk.Type == token.CommentType || tk.Position == nil {
			continue
		}
		if nodes++; nodes > MaxNodes {
			return nodes, depth, tk
		}
		if tk.Position.Line != line {
			line, first, compact, at = tk.Position.Line, true, false, 0
			ended, endedAt, nested = last, nested, 0
			if ended == token.MappingKeyType {
				at = endedAt // the parser takes what follows a "?" for the key it marks
			}
		}
		switch tk.Type {
		case token.DocumentHeaderType, token.DocumentEndType:
			block = block[:0] // the next document
		}
		name := i > 0 && (tks[i-1].Type == token.AnchorType || tks[i-1].Type == token.AliasType)
		decoration := tk.Type == token.AnchorType || tk.Type == token.TagType ||
			tk.Type == token.DocumentHeaderType || tk.Type == token.DocumentEndType || name
		if decoration && !name && at == 0 {
			at = tk.Position.Column
		}
		if !decoration {
			switch {
			case flow != 0 || !(first || compact) || !startsBlock(tks, i):
			case at > 0:
				// Where the parser puts a node written after its anchor, its tag or "---"
				// depends on more than columns: it closes what is deeper than those, and
				// opens nothing that the tree's depth would not find.
				block = closeDeeper(block, at)
			default:
				c := tk.Position.Column
				block = nest(block, tk, first && endedAt == c, ended)
				nested = c
			}
			at = 0
			first = false
			compact = flow == 0 && tk.Type == token.SequenceEntryType
			last = tk.Type
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		}
		if depth = max(depth, len(block)+flow); depth > MaxDepth {
			return nodes, depth, tk
		}
	}
	return nodes, depth, nil
}

// level is an open block collection: the column of its items, and how it nests.
type level struct {
	col  int
	kind int
}

// How a block collection nests in what holds it: deeper, or at its column.
const (
	indented     = iota
	listUnderKey // "a:\n- x"
	mapUnderItem // "-\nk: v"
)

// nest updates the open block collections for tk, a "-", "?" or key at the start of its line
// or after a "-" on it; under is whether it starts its line at the column of the last "-",
// "?" or key of the line before, which ended with ended.
func nest(block []level, tk *token.Token, under bool, ended token.Type) []level {
	c := tk.Position.Column
	block = closeDeeper(block, c)
	top := func() level {
		if len(block) == 0 {
			return level{col: -1}
		}
		return block[len(block)-1]
	}
	isKey := tk.Type != token.SequenceEntryType
	switch {
	case !isKey && under && ended == token.MappingValueType && top().col == c:
		return append(block, level{c, listUnderKey})
	case isKey && under && ended == token.SequenceEntryType && top().col == c:
		return append(block, level{c, mapUnderItem})
	case isKey:
		// A key after a list under a key is the next key of that key's mapping.
		for len(block) > 0 && top().col == c && top().kind == listUnderKey {
			block = block[:len(block)-1]
		}
	}
	if top().col < c {
		block = append(block, level{c, indented})
	}
	return block
}

// closeDeeper closes the block collections deeper than column c.
func closeDeeper(block []level, c int) []level {
	for len(block) > 0 && block[len(block)-1].col > c {
		block = block[:len(block)-1]
	}
	return block
}

// startsBlock tells whether tks[i] is an item of a block collection: a "-", a "?" or a key.
func startsBlock(tks token.Tokens, i int) bool {
	switch tks[i].Type {
	case token.SequenceEntryType, token.MappingKeyType:
		return true
	case token.AliasType:
		i++ // an alias and its name are one node
	}
	if i >= len(tks) {
		return false
	}
	if i > 0 && (tks[i-1].Type == token.LiteralType || tks[i-1].Type == token.FoldedType) {
		return false // the text of a block scalar
	}
	for _, next := range tks[i+1:] {
		if next.Type != token.CommentType {
			// A key's ":" is on its line.
			return next.Type == token.MappingValueType && next.Position.Line == tks[i].Position.Line
		}
	}
	return false
}

// depthOK checks the depth of the tree the parser built, which has bounded work since its
// tokens keep within MaxNodes: it returns false, after recording a problem at the first
// collection nested more than MaxDepth deep, when one is.
func (d *decoder) depthOK(n ast.Node, depth int) bool {
	switch n.(type) {
	case *ast.MappingNode, *ast.SequenceNode:
		if depth++; depth > MaxDepth {
			d.addf(n, "", "nested more than %d levels deep, the deepest %s may go", MaxDepth, d.article())
			return false
		}
	}
	for _, c := range children(n) {
		if !d.depthOK(c, depth) {
			return false
		}
	}
	return true
}

func (d *decoder) tokenProblem(tk *token.Token, msg string) {
	d.probs = append(d.probs, Problem{Pos: shakedown.Pos{File: d.file, Line: tk.Position.Line, Col: tk.Position.Column}, Msg: msg})
}

// extent is how much of a file a node stands for, with its aliases expanded.
type extent struct{ nodes, bytes int }

func (x extent) plus(y extent) extent {
	// Saturating: the expansion of a few aliases of aliases overflows any integer.
	return extent{min(x.nodes+y.nodes, MaxNodes+1), min(x.bytes+y.bytes, MaxFileSize+1)}
}

// expansion checks that the file, with its aliases expanded, keeps within MaxNodes and
// MaxFileSize: each alias counts as the nodes and the bytes of text it stands for, added to
// the file's own (nodes and size). It returns false after recording a problem at the first
// alias past a limit, or at an alias inside the node it names, whose expansion never ends.
//
// The decoder follows aliases wherever they are, so that a file of a few hundred bytes
// ("billion laughs") can stand for billions of nodes; after this check it stands for no more
// than a file within the limits could hold written out.
func (d *decoder) expansion(body ast.Node, nodes, size int) bool {
	e := &expander{d: d, memo: map[ast.Node]extent{}, open: map[ast.Node]bool{}, total: extent{nodes, size}}
	e.walk(body, 0)
	d.size = e.total.bytes
	return !e.failed
}

type expander struct {
	d      *decoder
	memo   map[ast.Node]extent // expanded extent of anchored nodes
	open   map[ast.Node]bool   // anchored nodes being measured
	total  extent
	failed bool
}

// walk adds the expansion of each alias in n, in file order, to the total.
func (e *expander) walk(n ast.Node, depth int) {
	if e.failed || n == nil || depth > 2*MaxDepth+8 {
		return
	}
	if a, ok := n.(*ast.AliasNode); ok {
		x := e.extent(a, 0)
		if e.failed {
			return
		}
		e.total = e.total.plus(x)
		switch {
		case e.total.nodes > MaxNodes:
			e.fail(a, "aliases expand the file to more than %d nodes, the most %s may have", MaxNodes, e.d.article())
		case e.total.bytes > MaxFileSize:
			e.fail(a, "aliases expand the file to more than %s, the most %s file may hold", userfile.Size(MaxFileSize), e.d.article())
		}
		return
	}
	for _, c := range children(n) {
		e.walk(c, depth+1)
	}
}

// extent measures n with its aliases expanded, remembering what each anchored node
// measures.
func (e *expander) extent(n ast.Node, depth int) extent {
	if e.failed || n == nil || depth > 2*MaxDepth+8 {
		return extent{}
	}
	var x extent
	switch m := n.(type) {
	case *ast.AliasNode:
		name := ""
		if m.Value != nil {
			name = m.Value.GetToken().Value
		}
		target, ok := e.d.anchors[name]
		if !ok || target == nil {
			return extent{nodes: 1} // reported by the decoder
		}
		if x, ok := e.memo[target]; ok {
			return x
		}
		if e.open[target] {
			e.fail(m, "alias *%s is inside the node it names, so it never ends", name)
			return extent{}
		}
		e.open[target] = true
		// The alias is a hop, not a level: the depth starts again in the anchored node.
		x = e.extent(target, 0)
		delete(e.open, target)
		e.memo[target] = x
		return x
	case *ast.MappingNode, *ast.SequenceNode:
		x = extent{nodes: 1}
	case *ast.StringNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode,
		*ast.InfinityNode, *ast.NanNode, *ast.MergeKeyNode:
		x = extent{nodes: 1, bytes: len(m.GetToken().Value)}
	case *ast.LiteralNode:
		x = extent{nodes: 1}
		if m.Value != nil {
			x.bytes = len(m.Value.Value)
		}
	}
	for _, c := range children(n) {
		x = x.plus(e.extent(c, depth+1))
	}
	return x
}

func (e *expander) fail(n ast.Node, format string, args ...any) {
	e.failed = true
	e.d.addf(n, "", format, args...)
}

// children returns the nodes n holds, in file order.
func children(n ast.Node) []ast.Node {
	switch m := n.(type) {
	case *ast.AnchorNode:
		return []ast.Node{m.Value}
	case *ast.TagNode:
		return []ast.Node{m.Value}
	case *ast.MappingNode:
		out := make([]ast.Node, len(m.Values))
		for i, v := range m.Values {
			out[i] = v
		}
		return out
	case *ast.MappingValueNode:
		return []ast.Node{m.Key, m.Value}
	case *ast.MappingKeyNode:
		return []ast.Node{m.Value}
	case *ast.SequenceNode:
		return m.Values
	}
	return nil
}

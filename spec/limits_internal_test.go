package spec

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// FuzzMeasure holds measure to being a first look that never says more than the tree will:
// the depth it measures is never above that of the collections the parser builds, so that
// it refuses no file that depthOK would let through.
func FuzzMeasure(f *testing.F) {
	for _, s := range []string{
		"a:\n- b:\n  - c:\n    - d\n",
		"- - - - x\n",
		"? ? ? x\n",
		"a: [b, {c: [d]}]\n",
		"a:\n  [\n b,\n  c]\n",
		"a: &x\n  b: *x\n",
		"- !t\n  - &a\n    - x\n",
		"? - a\n  - b\n: - c\n",
		"a: |\n  x\n  y\nb:\n  - c\n",
		"---\na:\n  b\n---\n- c\n",
		"{a: {b: {c: d}}}",
		"a:\n  b:\n    c:\n  d:\n    e:\n      f: g\n",
		strings.Repeat("[", 70) + strings.Repeat("]", 70),
		strings.Repeat("- ", 40) + "x\n",
		"-\n0:\n-\n0:\n",
		"-\n0: 1\n1: 2\n",
		"a:\n- x\nb:\n- y\n",
		"- !t\n- x\n",
		"a: &x\n- y\n",
		"- &0\n-\n",
		"*a : b\n",
		"--- - a\n... - b\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tks := lexer.Tokenize(src)
		_, depth, past := measure(tks)
		if past != nil {
			return
		}
		for i := 1; i < len(tks); i++ {
			if tks[i].Type == token.DocumentHeaderType && tks[i-1].Type == token.DocumentHeaderType {
				return // the parser drops what follows two "---" in a row: its tree is not all
			}
		}
		file, err := parser.Parse(tks, 0, parser.AllowDuplicateMapKey())
		if err != nil {
			return
		}
		deepest := 0
		for _, doc := range file.Docs {
			if doc != nil {
				deepest = max(deepest, treeDepth(doc.Body, 0))
			}
		}
		if depth > deepest {
			t.Fatalf("measured depth %d, but the collections of the tree are %d deep:\n%q", depth, deepest, src)
		}
	})
}

// treeDepth is how deep the collections of n nest.
func treeDepth(n ast.Node, depth int) int {
	if n == nil || depth > 10000 {
		return 0
	}
	level := 0
	switch n.(type) {
	case *ast.MappingNode, *ast.SequenceNode:
		level = 1
	}
	deepest := 0
	for _, c := range children(n) {
		deepest = max(deepest, treeDepth(c, depth+1))
	}
	return level + deepest
}

// TestAddfClips: a quoted value is cut short in a message; the message's own text is not.
func TestAddfClips(t *testing.T) {
	if got, want := string(verbsOf("a %q %5.2f %% %*d %v %")), "qf*dv"; got != want {
		t.Errorf("verbsOf = %q, want %q", got, want)
	}
	d := &decoder{file: "f.yaml"}
	long := strings.Repeat("é", 1000)
	d.addf(nil, "", "unknown %q (want %s)", long, long)
	msg := d.probs[0].Msg
	if want := `unknown "` + strings.Repeat("é", 40) + `…" (want ` + long + ")"; msg != want {
		t.Errorf("message %.200q…, want %.200q…", msg, want)
	}
}

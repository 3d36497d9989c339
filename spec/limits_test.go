package spec_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
	"github.com/shakedown-dev/shakedown/spec"
)

// pathological files, each small (a few hundred kilobytes at most) and each, without the
// limits, costing the YAML parser or the decoder gigabytes, minutes or its stack.
func pathological() []struct {
	name      string
	src       string
	vars      map[string]string
	line, col int // where the one problem is; 0: anywhere
} {
	deepBlock := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%sa:\n", strings.Repeat("  ", i))
		}
		return b.String()
	}
	items := func(n int) string { return strings.Repeat("- x\n", n) }
	// keys(n) puts 8 tokens before the labels, then 3 a key: the (MaxNodes+1)th token is
	// keyAt's.
	keys := func(n int) string {
		var b strings.Builder
		b.WriteString("version: 1\nname: x\nlabels:\n")
		for i := range n {
			fmt.Fprintf(&b, "  k%d: v\n", i)
		}
		return b.String()
	}
	// The classic "billion laughs": nine levels of nine aliases each.
	laughs := "version: 1\nname: x\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
	for i := 1; i < 9; i++ {
		laughs += fmt.Sprintf("l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), ", "))
	}
	laughs += "faults: [{name: f, type: exec, duration: 1s, with: {inject: [x], extra: *l8}}]\n"
	// One wide anchor, aliased many times: each alias is cheap, their sum is not.
	wide := "version: 1\nname: x\nw: &w [" + strings.TrimSuffix(strings.Repeat("x, ", 2000), ", ") + "]\n" +
		"faults: [{name: f, type: exec, duration: 1s, with: {inject: [x], extra: [" + strings.TrimSuffix(strings.Repeat("*w, ", 1000), ", ") + "]}}]\n"
	// Merge keys expand too.
	merges := "version: 1\nname: x\nm0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n"
	for i := 1; i < 8; i++ {
		merges += fmt.Sprintf("m%d: &m%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("{<<: *m%d}, ", i-1), 8), ", "))
	}
	big := strings.Repeat("x", 100<<10)
	fault := "faults: [{name: f, type: exec, duration: 1s, with: {inject: [x]}}]\n"
	manyVars := "version: 1\nname: x\nlabels:\n"
	for i := range 2000 {
		manyVars += fmt.Sprintf("  k%d: \"%s\"\n", i, strings.Repeat("${big}", 10))
	}
	manyVars += fault
	i, r := (spec.MaxNodes+1-9)/3, (spec.MaxNodes+1-9)%3
	keyLine, keyCol := 4+i, 3+[]int{0, len(fmt.Sprint("k", i)), len(fmt.Sprint("k", i)) + 2}[r]
	return []struct {
		name      string
		src       string
		vars      map[string]string
		line, col int
	}{
		// The examples: 40,000 nested "[" (80 KB of JSON took 2.5 GB), a 200 KB one
		// (15 GB, 41 s), 100,000 keys under labels (90 s).
		{name: "nested flow", src: strings.Repeat("[", 40000), line: 1, col: 65},
		{name: "nested flow closed", src: strings.Repeat("[", 100000) + strings.Repeat("]", 100000), line: 1, col: 65},
		{name: "nested flow maps", src: strings.Repeat(`{"a":`, 40000), line: 1, col: 5*64 + 1},
		{name: "keys under labels", src: keys(100000)},
		{name: "fewer keys under labels", src: keys(20000), line: keyLine, col: keyCol},
		{name: "nested block", src: deepBlock(100), line: 65, col: 129},
		{name: "nested compact lists", src: strings.Repeat("- ", 100000), line: 1, col: 129},
		{name: "complex keys", src: strings.Repeat("? ", 100000), line: 1, col: 2*spec.MaxNodes + 1},
		// The parser nests these though their columns do not.
		{name: "nested at one column", src: strings.Repeat("-\n0:\n", 3300), line: 65, col: 1},
		{name: "many items", src: items(20000), line: spec.MaxNodes/2 + 1, col: 1},
		{name: "many documents", src: strings.Repeat("---\na: 1\n", 20000), line: 2*(spec.MaxNodes/4) + 1, col: 1},
		{name: "many empty documents", src: strings.Repeat("---\n", spec.MaxNodes+1), line: spec.MaxNodes + 1, col: 1},
		{name: "long file", src: "description: " + strings.Repeat("x", spec.MaxFileSize), line: 1, col: spec.MaxFileSize + 1},
		{name: "long file of lines", src: strings.Repeat("#\n", spec.MaxFileSize/2+1), line: spec.MaxFileSize/2 + 1, col: 1},
		{name: "billion laughs", src: laughs},
		{name: "wide alias", src: wide},
		{name: "merge keys", src: merges},
		{name: "alias inside its anchor", src: "version: 1\nname: x\nfaults: &f [{name: f, type: exec, duration: 1s, with: {inject: [x], extra: *f}}]\n", line: 3, col: 76},
		{name: "variables", src: "version: 1\nname: x\nlabels: {a: '${big}', b: '${big}', c: '${big}'}\nfaults: [{name: f, type: exec, duration: 1s, with: {inject: [x]}}]\n",
			vars: map[string]string{"big": big}, line: 3, col: 39},
		// One string repeating a variable: the expansion stops at the limit, not after
		// building gigabytes of it.
		{name: "one string of variables", src: "version: 1\nname: x\ndescription: \"" + strings.Repeat("${big}", 20000) + "\"\n" + fault,
			vars: map[string]string{"big": big}, line: 3, col: 14},
		// Many strings past the limit: each is left unexpanded once the limit is reported.
		{name: "many strings of variables", src: manyVars, vars: map[string]string{"big": big}, line: 4, col: 7},
	}
}

// TestLimits: each pathological file is refused with one positioned problem, having cost
// little memory to refuse.
func TestLimits(t *testing.T) {
	reg := testRegistry()
	for _, tc := range pathological() {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := spec.Load("f.yaml", []byte(tc.src), tc.vars, reg)
			runtime.ReadMemStats(&after)
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("Load: error %v, want kind invalid", err)
			}
			var ps spec.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load: error %v is not Problems", err)
			}
			if len(ps) != 1 {
				t.Fatalf("Load: %d problems, want 1:\n%.2000v", len(ps), ps)
			}
			p := ps[0]
			t.Logf("%.300s", p)
			if p.Pos.Line == 0 || p.Pos.File != "f.yaml" {
				t.Errorf("problem %.300s is not positioned in f.yaml", p)
			}
			if tc.line != 0 && (p.Pos.Line != tc.line || p.Pos.Col != tc.col) {
				t.Errorf("problem at %d:%d, want %d:%d: %.300s", p.Pos.Line, p.Pos.Col, tc.line, tc.col, p)
			}
			if len(p.Msg) > 300 {
				t.Errorf("problem message of %d bytes; long values must be cut short", len(p.Msg))
			}
			const budget = 128 << 20
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > budget {
				t.Errorf("Load allocated %d MiB, want at most %d MiB", alloc>>20, budget>>20)
			}
		})
	}
}

// TestWithinLimits: files close to the limits load.
func TestWithinLimits(t *testing.T) {
	labels := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "  k%d: v\n", i)
		}
		return b.String()
	}
	reg := testRegistry()
	fault := "faults: [{name: f, type: exec, duration: 1s, with: {inject: [x]}}]\n"
	deep := "version: 1\nname: x\n" + "faults: [{name: f, type: exec, duration: 1s, with: {inject: [x], extra: " +
		strings.Repeat("[", spec.MaxDepth-6) + strings.Repeat("]", spec.MaxDepth-6) + "}}]\n"
	for name, src := range map[string]string{
		"long description": "version: 1\nname: x\n" + fault + "description: " + strings.Repeat("x", spec.MaxFileSize-100) + "\n",
		"deep extra":       deep,
		"many labels":      "version: 1\nname: x\n" + fault + "labels:\n" + labels((spec.MaxNodes-60)/3),
		"comments":         "version: 1\nname: x\n" + fault + strings.Repeat("# a comment is no node\n", (spec.MaxFileSize-200)/23),
		"one alias":        "version: 1\nname: x\ntargets: &t {}\nfaults: [{name: f, type: exec, duration: 1s, with: {inject: &i [x], revert: *i}}]\n",
	} {
		if _, err := spec.Load("f.yaml", []byte(src), nil, reg); err != nil {
			t.Errorf("%s: %.500v", name, err)
		}
	}
}

// TestLoadFileNotRegular: LoadFile refuses what is not a regular file without blocking on
// it, and a file larger than the limit with the place the limit fell.
func TestLoadFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("description: "+strings.Repeat("x", spec.MaxFileSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero", dir} {
		_, err := spec.LoadFile(path, nil, testRegistry())
		if !shakedown.IsKind(err, shakedown.KindInvalid) || !errors.Is(err, userfile.ErrNotRegular) {
			t.Errorf("LoadFile(%s) = %v, want kind invalid, not a regular file", path, err)
		}
	}
	_, err := spec.LoadFile(big, nil, testRegistry())
	var ps spec.Problems
	if !shakedown.IsKind(err, shakedown.KindInvalid) || !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("LoadFile(%s): %v, want one problem of kind invalid", big, err)
	}
	if p := ps[0].Pos; p.File != big || p.Line != 1 || p.Col != spec.MaxFileSize+1 {
		t.Errorf("LoadFile(%s): problem at %v, want %s:1:%d", big, p, big, spec.MaxFileSize+1)
	}
}

// BenchmarkLoadPathological: what refusing each pathological file costs.
func BenchmarkLoadPathological(b *testing.B) {
	reg := testRegistry()
	for _, tc := range pathological() {
		b.Run(strings.ReplaceAll(tc.name, " ", "-"), func(b *testing.B) {
			src := []byte(tc.src)
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := spec.Load("f.yaml", src, tc.vars, reg); err == nil {
					b.Fatal("loaded")
				}
			}
		})
	}
}

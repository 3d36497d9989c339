package spec_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(withFault("steady_state: [{name: a, metric: shop.errors, max: '${m}'}]")))
	f.Add([]byte(withFault("gate: {min_runs: 3, tolerance: '${m}', floors: {ms: 1, ratio: 0.5}, ignore: ['*.errors during inject']}")))
	f.Add([]byte(withFault("load: {x: {url: 'http://bob:hunter2/xx@h:99999/', rate: 1, headers: {'Bad Header': x, X-A: \"a\\r\\nB: c\"}}}")))
	f.Add([]byte(withFault("expect: [{name: x, alert: {prometheus: 'http://:0', name: A}, fires_within: 1m}]")))
	for _, v := range []string{"'NaN%'", "Inf%", "+Inf", "NaNx baseline", "baseline - Inf%", "1_0%", "-5%", "150%", "1e3", "'1e3'", "0x1p-2"} {
		f.Add([]byte(withFault("steady_state: [{name: a, metric: shop.errors, max: " + v + "}]")))
	}
	f.Add([]byte(`{"version": 1e0, "name": "t", "blast_radius": {"max_targets": 1E1, "max_percent": 15e-1}, "faults": [{"name": "f", "type": "exec", "delay": "2000000h"}]}`))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("version: 1\nfaults:\n  - <<: [*x, *y]\n"))
	f.Add([]byte(""))
	// Past the limits, or at them: deep, wide, self-referring and expanding files.
	for _, s := range []string{
		strings.Repeat("[", spec.MaxDepth+1),
		strings.Repeat(`{"a":`, spec.MaxDepth+1),
		strings.Repeat("- ", spec.MaxDepth+1),
		strings.Repeat("-\n0:\n", spec.MaxDepth),
		strings.Repeat("? ", 100),
		strings.Repeat("---\na: 1\n", 100),
		"a: &a [*a, *a]\n",
		"a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nd: [*c, *c, *c]\n",
		"m: &m {a: 1}\nn: &n [{<<: *m}, {<<: *m}]\no: [{<<: *n}]\n",
		withFault("description: ${m}${m}${m}"),
		withFault("description: " + strings.Repeat("${m}", 5000)),
		"\t[\n\t\t[\n",
		"\ufeff" + withFault("description: !!str x"),
		withFault("labels: {a: !!binary dA==, b: !foo x, c: !!str 1}", "description: !<tag:yaml.org,2002:str> x"),
		withFault("  - {name: g, type: exec, duration: 1s, with: {inject: [x, ~, null]}}"),
	} {
		f.Add([]byte(s))
	}
	reg := testRegistry()
	vars := map[string]string{"m": "1%"}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := spec.Load("f.yaml", data, vars, reg)
		if err == nil {
			if x == nil || len(x.Faults) == 0 || x.Name == "" {
				t.Fatalf("Load accepted an experiment without name or faults: %+v", x)
			}
			return
		}
		if !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Fatalf("error kind %v, want invalid: %v", shakedown.KindOf(err), err)
		}
		var ps spec.Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("error is not a list of problems: %v", err)
		}
		// The parser also ends lines at a lone \r.
		nlines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) + 1
		for _, p := range ps {
			switch {
			case p.Msg == "":
				t.Errorf("problem without a message: %#v", p)
			case p.Pos.Line == 0 && p.Path != "":
				t.Errorf("problem of a field without a line: %#v", p)
			case p.Pos.Line > nlines+1:
				t.Errorf("problem beyond the end of the file (%d lines): %#v", nlines, p)
			}
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	data, err := os.ReadFile("testdata/design.yaml")
	if err != nil {
		b.Fatal(err)
	}
	reg := testRegistry()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := spec.Load("design.yaml", data, nil, reg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadProblems(b *testing.B) {
	data := []byte(with(
		"faults:",
		"  - {name: a, type: proxy.latency, target: web, with: {jitter: 5, toxicity: high}}",
		"  - {name: a, type: nuke, after: [a, b]}",
	))
	reg := testRegistry()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := spec.Load("bad.yaml", data, nil, reg); err == nil {
			b.Fatal("no problems")
		}
	}
}

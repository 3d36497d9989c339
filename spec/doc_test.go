package spec_test

import (
	"testing"

	"github.com/shakedown-dev/shakedown/spec"
)

// TestValueKind checks what Kind says of each value, aliases followed: a reader of another
// tool's files tells 200 from "200" by it.
func TestValueKind(t *testing.T) {
	doc := spec.ParseDoc("k.yaml", "thing", []byte(`{"m": {"a": 1}, "l": [1], "s": "200", "i": 200, "f": 1.5, "b": true, "n": null, "p": plain, "inf": .inf, "e": 1e3, "E": -15E-1, "q": "1e3", "t": !!str 1e3, "h": 0x1p3}`))
	root, ok := doc.Root()
	if !ok {
		t.Fatal(doc.Err())
	}
	fs, _ := root.Mapping()
	want := map[string]string{"m": "mapping", "l": "list", "s": "string", "i": "int", "f": "float", "b": "bool", "n": "null", "p": "string", "inf": "float",
		"e": "float", "E": "float", "q": "string", "t": "string", "h": "string"}
	for _, f := range fs {
		if got := f.Value.Kind(); got != want[f.Key] {
			t.Errorf("Kind of %s = %q, want %q", f.Key, got, want[f.Key])
		}
	}
	if len(fs) != len(want) {
		t.Errorf("%d fields, want %d", len(fs), len(want))
	}
	alias := spec.ParseDoc("a.yaml", "thing", []byte("x: &n 3\ny: *n\n"))
	root, _ = alias.Root()
	fs, _ = root.Mapping()
	if got := fs[1].Value.Kind(); got != "int" {
		t.Errorf("Kind of an alias of 3 = %q, want int", got)
	}
}

package spec

import "testing"

// TestFieldOf reads the field and item back from paths child and index make.
func TestFieldOf(t *testing.T) {
	const set = "faults[2].with"
	cases := []struct {
		path string
		key  string
		item int
		ok   bool
	}{
		{child(set, "delay"), "delay", -1, true},
		{index(child(set, "ports"), 3), "ports", 3, true},
		{child(index(child(set, "hosts"), 1), "addr"), "hosts", 1, true},
		{child(child(set, "env"), "HOME"), "env", -1, true},
		{child(child(set, "env"), "a b"), "env", -1, true},
		{child(set, "a.b"), "a.b", -1, true},
		{index(child(set, `x"]y`), 0), `x"]y`, 0, true},
		{child(set, "") + "[1]", "", 1, true},
		{set, "", -1, false},
		{"faults[2].without", "", -1, false},
		{"faults[1].with.delay", "", -1, false},
		{"", "", -1, false},
		{set + `["broken`, "", -1, false},
	}
	for _, c := range cases {
		key, item, ok := fieldOf(c.path, set)
		if key != c.key || item != c.item || ok != c.ok {
			t.Errorf("fieldOf(%q) = %q, %d, %v; want %q, %d, %v", c.path, key, item, ok, c.key, c.item, c.ok)
		}
	}
}

package network

import "testing"

// checkExprs checks that a rule has netlink expressions in both queue encodings.
func checkExprs(t *testing.T, r Rule) {
	t.Helper()
	if len(r.Exprs(queueNative)) == 0 || len(r.Exprs(queueXT)) == 0 {
		t.Fatalf("rule %q has no expressions", r)
	}
}

package shakedown

import (
	"strings"
	"testing"
)

func TestResourceNameKeepsPlainNames(t *testing.T) {
	if got, want := ResourceName("01HXY", "slow_cache"), "shakedown_01HXY_slow_cache"; got != want {
		t.Errorf("ResourceName(01HXY, slow_cache) = %q, want %q", got, want)
	}
}

// TestResourceNameIsOneToOne: different faults of a run, and different runs, never share a
// name, whatever punctuation, length or look-alike digest their names hold; every name is
// short enough and reads back its run.
func TestResourceNameIsOneToOne(t *testing.T) {
	long := strings.Repeat("a", 250)
	runs := []string{"01HXY", "01H-XY", "01H_XY", "01HXY0000000000000000", strings.Repeat("R", 64)}
	faults := []string{"slow-db", "slow_db", "slow.db", "slow__db", "slowdb", "a", "A", long, long + "b", long[:190] + "c",
		"slow_db_" + strings.Repeat("0", 16), "x_0123456789abcdef", ""}
	seen := map[string]string{}
	for _, run := range runs {
		for _, f := range faults {
			n := ResourceName(run, f)
			in := run + " / " + f
			if other, dup := seen[n]; dup {
				t.Errorf("ResourceName(%s) = ResourceName(%s) = %q", in, other, n)
			}
			seen[n] = in
			if len(n) > maxResourceName {
				t.Errorf("ResourceName(%s) is %d bytes, want at most %d", in, len(n), maxResourceName)
			}
			if r, ok := RunOfResource(n); !ok || strings.ContainsAny(r, "_-.") {
				t.Errorf("RunOfResource(%q) = %q, %v", n, r, ok)
			}
			if strings.IndexFunc(n, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_')
			}) >= 0 {
				t.Errorf("ResourceName(%s) = %q: want letters, digits and underscores only", in, n)
			}
		}
	}
	// The same input gives the same name: a replayed undo finds what the inject made.
	if ResourceName("01H-XY", "slow-db") != ResourceName("01H-XY", "slow-db") {
		t.Error("ResourceName is not a function of its input")
	}
}

package words

import "testing"

func TestSome(t *testing.T) {
	for _, c := range []struct {
		items []string
		n     int
		want  string
	}{
		{nil, 3, ""},
		{[]string{"a"}, 3, "a"},
		{[]string{"a", "b", "c"}, 3, "a, b, c"},
		{[]string{"a", "b", "c", "d", "e"}, 3, "a, b, c and 2 more"},
	} {
		if got := Some(c.items, c.n); got != c.want {
			t.Errorf("Some(%q, %d) = %q, want %q", c.items, c.n, got, c.want)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 hosts", 1: "1 host", 2: "2 hosts"} {
		if got := Count(n, "host"); got != want {
			t.Errorf("Count(%d, host) = %q, want %q", n, got, want)
		}
	}
}

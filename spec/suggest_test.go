package spec

import "testing"

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"process.kil", "process.kill", 1},
		{"ab", "ba", 1}, {"latnecy", "latency", 1}, {"héllo", "hello", 1},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"process.kill", "process.pause", "proxy.latency", "web", "db"}
	for _, tt := range []struct{ got, want string }{
		{"process.kil", ` (did you mean "process.kill"?)`},
		{"proxy.latnecy", ` (did you mean "proxy.latency"?)`},
		{"webb", ` (did you mean "web"?)`},
		{"dbx", ` (did you mean "db"?)`},
		{"network.loss", ""}, // nothing close
		{"x", ""},            // one letter is not a misspelling of two
		{"process.kill", ""}, // not unknown at all
	} {
		if got := suggest(tt.got, known); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.got, got, tt.want)
		}
	}
	if got := suggest("whit", []string{"name", "type", "target", "with", "duration"}); got != ` (did you mean "with"?)` {
		t.Errorf("suggest(whit) among a fault's fields = %q, want with", got)
	}
	if got := suggest("ab", []string{"aa", "bb"}); got != "" {
		t.Errorf("two equally close names: %q, want no suggestion", got)
	}
}

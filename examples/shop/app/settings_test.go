package app

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSettings(t *testing.T) {
	tests := []struct {
		in      string
		want    []Setting
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "# c\n\na = 1\nb=\"x y\"\n", want: []Setting{{"a", "1", 3}, {"b", "x y", 4}}},
		{in: "cache_timeout = 50ms # not a comment", want: []Setting{{"cache_timeout", "50ms # not a comment", 1}}},
		{in: "novalue\n", wantErr: true},
		{in: "=1\n", wantErr: true},
		{in: "a b = 1\n", wantErr: true},
		{in: "a=1\na=2\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseSettings([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseSettings(%q): error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" && !tt.wantErr {
			t.Errorf("ParseSettings(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func FuzzParseSettings(f *testing.F) {
	f.Add([]byte("a = 1\n# c\nb=\"2\"\n"))
	f.Add([]byte("x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseSettings(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, s := range got {
			if s.Key == "" || seen[s.Key] || strings.ContainsAny(s.Key, " =\n") {
				t.Fatalf("bad setting %+v from %q", s, b)
			}
			seen[s.Key] = true
		}
	})
}

package shakedown_test

import (
	"testing"

	"github.com/shakedown-dev/shakedown"
)

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, é and 日本", "plain text, é and 日本"},
		{"evil\x1b[2J\nPASSED", `evil\x1b[2J\nPASSED`},
		{"a\rb\tc\x07\x7f", `a\rb\tc\a\x7f`},
		{"\u0085 \u2028 \u202e \u2066", `\u0085 \u2028 \u202e \u2066`},
		{"bad \xff byte", `bad \ufffd byte`},
	} {
		got := shakedown.Printable(tc.in)
		if got != tc.want {
			t.Errorf("Printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if shakedown.HasUnprintable(got) {
			t.Errorf("Printable(%q) = %q still has unprintable characters", tc.in, got)
		}
		if shakedown.HasUnprintable(tc.in) != (got != tc.in) {
			t.Errorf("HasUnprintable(%q) = %v, but Printable changes it: %v", tc.in, shakedown.HasUnprintable(tc.in), got != tc.in)
		}
	}
}

func TestDisplayable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, é and 日本\tand\r\nlines", "plain text, é and 日本\tand\r\nlines"},
		{"evil\x1b[2J\x1b]0;title\x07PASSED", "evilPASSED"},
		{"a\x00b\x07c\x7fd\u0085e", "a b c d e"},
		{"\u2028 \u202egnp.exe \u2066", "   gnp.exe  "},
		{"bad \xff byte", "bad   byte"},
	} {
		got := shakedown.Displayable(tc.in)
		if got != tc.want {
			t.Errorf("Displayable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

package shakedown

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// ExperimentName is what an experiment may be called: lower-case letters, digits, '.', '_'
// and '-', starting with a letter or a digit. Experiment files and imported run records are
// held to it alike.
var ExperimentName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// RunIDPattern is what a run id may be: letters, digits, '_' and '-', starting with a letter
// or a digit, at most 64 characters. The runs this tool makes have 26 lower-case Crockford
// base32 characters (a ULID); records written by other tools may carry ids of their own,
// but never a path, a space or a control character.
var RunIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Printable returns s with every character a terminal would act on rather than show —
// control characters (escape, carriage return, newline…), the Unicode line and paragraph
// separators and the bidirectional overrides — written as a Go escape (\x1b, \n, \u202e),
// so that text stored by someone else (a run record, an experiment's name) cannot move the
// cursor, recolour the screen or forge a line of output. Other text is returned as it is.
func Printable(s string) string {
	if strings.IndexFunc(s, Unprintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == unicode.ReplacementChar {
			b.WriteString(`\ufffd`)
			continue
		}
		if Unprintable(r) {
			q := strconv.QuoteRune(r) // '\x1b', '\n', '\u202e'
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// HasUnprintable says whether Printable would change s.
func HasUnprintable(s string) bool { return strings.IndexFunc(s, Unprintable) >= 0 }

// Unprintable says whether r is a character Printable escapes: a control character, the
// line or paragraph separator, a bidirectional override or embedding, or the replacement
// character that stands for bytes that were not UTF-8. Every writer of text for a terminal
// or a summary uses it to decide what to neutralize.
func Unprintable(r rune) bool {
	switch {
	case unicode.IsControl(r), r == unicode.ReplacementChar:
		return true
	case r == '\u2028', r == '\u2029':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

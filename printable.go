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

// StripEscapes removes ANSI escape sequences: CSI (ESC [ … final byte), OSC (ESC ] … BEL or
// ESC \) and two-byte escapes. A lone ESC is left for the caller to replace.
func StripEscapes(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != 0x1b || i+1 >= len(s) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i + 1
		switch s[i+1] {
		default: // ESC and one printable byte
			if s[i+1] >= 0x20 && s[i+1] <= 0x7e {
				j = i + 2
			}
		case '[': // parameters and intermediates, then a final byte in @–~
			j = i + 2
			for j < len(s) && s[j] >= 0x20 && s[j] <= 0x3f {
				j++
			}
			for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
				j++
			}
			if j < len(s) && s[j] >= 0x40 && s[j] <= 0x7e {
				j++
			}
		case ']': // up to BEL or ST
			j = i + 2
			for j < len(s) && s[j] != 0x07 && !(s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\') {
				j++
			}
			switch {
			case j < len(s) && s[j] == 0x07:
				j++
			case j < len(s):
				j += 2
			}
		}
		i = j
	}
	return b.String()
}

// Displayable returns text bound for a page (an HTML report, a dashboard page, an SVG): its
// ANSI escape sequences dropped and every other character Unprintable says a terminal would
// act on — control characters, line separators, bidirectional overrides that reorder what a
// reader sees, the replacement character — made a space, but tab, newline and carriage
// return, which markup takes as white space. A page's writer passes the whole page through it
// once, so that no field, present or future, can carry such a character into it; the page's
// own markup, styles and scripts hold none (so their Content-Security-Policy hashes hold).
func Displayable(s string) string {
	if strings.IndexFunc(s, displayUnprintable) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if displayUnprintable(r) {
			return ' '
		}
		return r
	}, StripEscapes(s))
}

func displayUnprintable(r rune) bool { return Unprintable(r) && r != '\t' && r != '\n' && r != '\r' }

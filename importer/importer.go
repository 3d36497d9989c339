// Package importer holds what the importers of other tools' experiments (importer/fis,
// importer/chaostoolkit) share in the files they write: comments that cannot break out of
// their line, durations written as an experiment file writes them, and the ${vars} the
// secrets of their input become.
package importer

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// Comment writes text as comment lines at indent, one per line of text, control characters
// and Unicode line breaks made spaces so that no text of the input ends its comment.
func Comment(b *strings.Builder, indent, text string) {
	for _, line := range strings.Split(text, "\n") {
		b.WriteString(indent)
		b.WriteString("# ")
		b.WriteString(strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' {
				return ' '
			}
			return r
		}, line))
		b.WriteString("\n")
	}
}

// Section writes a top-level section of an experiment file, key and its blocks in order;
// nothing when it has none.
func Section(b *strings.Builder, key string, blocks []string) {
	if len(blocks) == 0 {
		return
	}
	b.WriteString("\n" + key + ":\n")
	for _, bl := range blocks {
		b.WriteString(bl)
	}
}

// varChars is what a variable's name may not hold.
var varChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// SecretVar names the ${var} a secret read at line of the input becomes, after key (what
// holds it: a header's name, "password"), made unique among those taken already.
func SecretVar(key string, line int, taken func(string) bool) string {
	base := fmt.Sprintf("%s_line%d", varChars.ReplaceAllString(key, "_"), line)
	if c := base[0]; !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
		base = "_" + base
	}
	name := base
	for i := 2; taken(name); i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}

// Credential splits the value of a credential header into its scheme and the credential
// ("Bearer", "abc" of "Bearer abc"); scheme is "" when it has none.
func Credential(v string) (scheme, cred string) {
	s, c, ok := strings.Cut(v, " ")
	if !ok || s == "" || c == "" || strings.Contains(s, "=") || strings.Contains(c, " ") {
		return "", v
	}
	return s, c
}

// HideCredential returns v, a credential-like value (a header's), with its credential
// written by hide and its scheme kept ("Bearer " + hide("abc") for "Bearer abc").
func HideCredential(v string, hide func(cred string) string) string {
	if scheme, cred := Credential(v); scheme != "" {
		return scheme + " " + hide(cred)
	}
	return hide(v)
}

// URLSecret returns the replace function of ReplaceURLSecrets that writes each secret of a
// URL with hide: key is "password" or the query parameter's name, what says which it is
// ("password of the URL", "token parameter of the URL").
func URLSecret(hide func(key, what, secret string) string) func(what, secret string) string {
	return func(key, secret string) string {
		if key == "password" {
			return hide(key, "password of the URL", secret)
		}
		return hide(key, key+" parameter of the URL", secret)
	}
}

// urlWord is a URL among the words of a value.
var urlWord = regexp.MustCompile(`\S*://\S*`)

// ReplaceURLSecrets replaces, in each URL among the words of s, its password and the values
// of its credential-like query parameters by what replace returns for them, as
// shakedown.ReplaceURLSecrets does.
func ReplaceURLSecrets(s string, replace func(what, secret string) string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlWord.ReplaceAllStringFunc(s, func(u string) string { return shakedown.ReplaceURLSecrets(u, replace) })
}

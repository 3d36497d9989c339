// Package importer holds what the importers of other tools' experiments (importer/fis,
// importer/chaostoolkit) share in the files they write: comments that cannot break out of
// their line, and durations written as an experiment file writes them.
package importer

import (
	"strings"
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

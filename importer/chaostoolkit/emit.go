package chaostoolkit

import (
	"regexp"
	"strconv"
	"strings"
)

// plainSafe is what may be written without quotes in a block or flow context.
var plainSafe = regexp.MustCompile(`^[A-Za-z0-9_/][A-Za-z0-9_./%+-]*$`)

// looksTyped is what YAML would read as something other than a string.
var looksTyped = regexp.MustCompile(`^(?i:true|false|yes|no|on|off|y|n|null|~|[-+]?[0-9][0-9_]*(\.[0-9]*)?([eE][-+]?[0-9]+)?|0x[0-9a-f]+|0o[0-7]+|[-+]?\.(inf|nan))$`)

// str writes s as a YAML string: plain when it reads back as the same string, else
// double-quoted.
func str(s string) string {
	if plainSafe.MatchString(s) && !looksTyped.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// list writes strings as a flow list.
func list(ss []string) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = str(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// kv is one key of a flow mapping, its value already written.
type kv struct{ k, v string }

// flowMap writes keys as a flow mapping.
func flowMap(kvs []kv) string {
	parts := make([]string, len(kvs))
	for i, p := range kvs {
		parts[i] = str(p.k) + ": " + p.v
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

var nameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeName makes a target, fault or check name of a Chaos Toolkit name.
func safeName(s string) string {
	s = strings.Trim(nameChars.ReplaceAllString(s, "-"), "-._")
	if len(s) > 100 {
		s = strings.Trim(s[:100], "-._")
	}
	if s == "" {
		return "x"
	}
	return s
}

// names hands out names that are unique within one section.
type names map[string]bool

func (ns names) take(s string) string {
	base := safeName(s)
	n := base
	for i := 2; ns[n]; i++ {
		n = base + "-" + strconv.Itoa(i)
	}
	ns[n] = true
	return n
}

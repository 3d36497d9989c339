package fis

import (
	"regexp"
	"strconv"
	"strings"
)

// plainSafe is what may be written without quotes in a block or flow context.
var plainSafe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./%+-]*$`)

// looksTyped is what YAML would read as something other than a string.
var looksTyped = regexp.MustCompile(`^(?i:true|false|yes|no|on|off|y|n|null|~|[-+]?[0-9][0-9_]*(\.[0-9]*)?([eE][-+]?[0-9]+)?|0x[0-9a-f]+|0o[0-7]+|[-+]?\.(inf|nan))$`)

// scalar writes s as a YAML scalar: as it is when it was written plain (a number, a
// boolean) or reads back as the same string, else double-quoted.
func scalar(s string, plain bool) string {
	if plain && s != "" && plainSafe.MatchString(s) {
		return s
	}
	if plainSafe.MatchString(s) && !looksTyped.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

// literal writes text of the template as a YAML scalar of the experiment, with its "${"
// written "$${" so that --var leaves it as it is (a CloudFormation !Sub's ${AWS::Region}).
func literal(s string) string {
	return scalar(strings.ReplaceAll(s, "${", "$${"), false)
}

// flow writes n as flow YAML: {k: v, …}, [a, …], scalars.
func flow(n *node) string {
	switch n.kind {
	case mapNode:
		parts := make([]string, len(n.keys))
		for i, k := range n.keys {
			parts[i] = scalar(k.str, false) + ": " + flow(n.vals[i])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case seqNode:
		parts := make([]string, len(n.items))
		for i, it := range n.items {
			parts[i] = flow(it)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case scalarNode:
		return scalar(n.str, n.plain)
	}
	return "null"
}

// Package words holds the few helpers that turn lists into the tool's English: a long list
// shown as its first items and how many more there are.
package words

import (
	"fmt"
	"strings"
)

// Some joins up to n of items with commas and says how many more there are:
// "a, b, c and 4 more". An empty list is "".
func Some(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

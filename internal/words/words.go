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

// Plural is the "s" that follows a count of n: "" for 1, else "s".
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Count says n of word, with the plural's s when n is not 1: "1 host", "3 hosts".
func Count(n int, word string) string { return fmt.Sprintf("%d %s%s", n, word, Plural(n)) }

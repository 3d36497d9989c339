package spec

import (
	"fmt"
	"unicode/utf8"
)

// maxEdits is the most edits a suggestion may be away from what was written.
const maxEdits = 3

// suggest returns ` (did you mean "x"?)` when exactly one of known is a likely misspelling
// of got — a few edits away, relative to its length — and "" otherwise.
func suggest(got string, known []string) string {
	best, bestD, ties := "", -1, 0
	n := utf8.RuneCountInString(got)
	for _, k := range known {
		if k == got {
			return ""
		}
		// Names that differ in length by more than the most edits ever suggested are further
		// apart than that: no need to count (a long value would cost its length times k's).
		d := maxEdits + 1
		if m := utf8.RuneCountInString(k); n-m <= maxEdits && m-n <= maxEdits {
			d = editDistance(got, k)
		}
		switch {
		case bestD < 0 || d < bestD:
			best, bestD, ties = k, d, 1
		case d == bestD:
			ties++
		}
	}
	if bestD < 0 || ties > 1 || bestD > max(1, min(maxEdits, (n+2)/3)) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, counted in runes, with a swap of
// two neighbours counted as one edit (the optimal string alignment distance).
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	prev2 := make([]int, len(y)+1)
	prev := make([]int, len(y)+1)
	cur := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(y)]
}

// hint follows a "no such name" message: the likely misspelling it is of, when there is
// one, and otherwise what it may be (want).
func hint(got string, known []string, want string) string {
	if s := suggest(got, known); s != "" {
		return s
	}
	return " (" + want + ")"
}

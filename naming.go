package shakedown

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// ResourcePrefix starts the name of everything a run creates on a host (nft tables, qdisc
// markers, cgroups, stressors, fill files), so that `shakedown recover --sweep` can find what
// a dead run left when no journal survived.
const ResourcePrefix = "shakedown_"

// maxResourceName bounds a resource name: nft tables, cgroups and file names take it.
const maxResourceName = 200

// ResourceName returns the name of what a fault of a run creates: shakedown_<run>_<fault>,
// with the run in letters and digits (so that RunOfResource can read it back) and the fault
// in letters, digits and underscores, at most 200 bytes. Two runs, or two faults of one run,
// never share a name: a part that had to change to fit (fault names "slow-db" and "slow_db",
// or two long names alike in their first 180 bytes) ends in a digest of what it stood for
// instead, and so does one that only looks as if it had changed. Otherwise one fault's revert
// would take back the other's table, stressors, fill file or cgroup.
func ResourceName(runID, fault string) string {
	alnum := func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' }
	run := resourcePart(runID, alnum, -1, "", maxResourceName/2)
	room := maxResourceName - len(ResourcePrefix) - len(run) - 1
	f := resourcePart(fault, func(r rune) bool { return alnum(r) || r == '_' }, '_', "_", room)
	return ResourcePrefix + run + "_" + f
}

// digestLen is the length of the hexadecimal digest resourcePart ends a changed part with.
const digestLen = 16

// resourcePart returns s when every rune of it passes keep, it fits in limit bytes and it does
// not end in sep and digestLen lowercase hexadecimal digits; otherwise s with each rune that
// does not pass keep replaced by repl (or dropped, when repl is -1), cut to fit in limit bytes, then sep and
// a 64-bit digest of s. Different strings give different parts (but for a collision of the
// digest).
func resourcePart(s string, keep func(rune) bool, repl rune, sep string, limit int) string {
	clean := strings.IndexFunc(s, func(r rune) bool { return !keep(r) }) < 0
	if clean && len(s) <= limit && !looksDigested(s, sep) {
		return s
	}
	kept := strings.Map(func(r rune) rune {
		if keep(r) {
			return r
		}
		return repl
	}, s)
	h := fnv.New64a()
	h.Write([]byte(s))
	tail := fmt.Sprintf("%s%0*x", sep, digestLen, h.Sum64())
	if n := limit - len(tail); len(kept) > n {
		kept = kept[:max(n, 0)]
	}
	return kept + tail
}

// looksDigested reports whether s ends as resourcePart ends a part it changed.
func looksDigested(s, sep string) bool {
	if len(s) < len(sep)+digestLen || !strings.HasSuffix(s[:len(s)-digestLen], sep) {
		return false
	}
	return strings.TrimLeft(s[len(s)-digestLen:], "0123456789abcdef") == ""
}

// RunOfResource returns the run part of a name made by ResourceName.
func RunOfResource(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, ResourcePrefix)
	if !ok {
		return "", false
	}
	run, _, ok := strings.Cut(rest, "_")
	return run, ok && run != ""
}

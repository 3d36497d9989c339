package shakedown

import "strings"

// ResourcePrefix starts the name of everything a run creates on a host (nft tables, qdisc
// markers, cgroups, stressors, fill files), so that `shakedown recover --sweep` can find what
// a dead run left when no journal survived.
const ResourcePrefix = "shakedown_"

// ResourceName returns the name of what a fault of a run creates: shakedown_<run>_<fault>,
// with the run reduced to letters and digits (so that RunOfResource can read it back) and
// the fault to letters, digits and underscores, at most 200 bytes.
func ResourceName(runID, fault string) string {
	run := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, runID)
	f := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, fault)
	name := ResourcePrefix + run + "_" + f
	if len(name) > 200 {
		name = name[:200]
	}
	return name
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

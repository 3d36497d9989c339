package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

// TestCatalogParamsThatDoNotDecode gives each parameter of every fault type, target kind and
// probe type of the catalog a value that does not decode, alone and all together: a file's
// every problem is reported, so the parameters' Validate runs on a set whose other values
// hold their defaults. It must not panic, and every problem has its place.
func TestCatalogParamsThatDoNotDecode(t *testing.T) {
	bad := []string{`{x: [1]}`, `[{x: 1}]`}
	// each parameter bad alone, then all of them
	sets := func(params func() any) []string {
		var names []string
		for _, p := range spec.Params(params) {
			if !strings.Contains(p.Name, ".") {
				names = append(names, strconv.Quote(p.Name))
			}
		}
		if len(names) == 0 {
			return nil
		}
		var out []string
		for _, b := range bad {
			all := make([]string, len(names))
			for i, n := range names {
				out = append(out, "{"+n+": "+b+"}")
				all[i] = n + ": " + b
			}
			out = append(out, "{"+strings.Join(all, ", ")+"}")
		}
		return out
	}
	eachCatalogParams(t, sets, true)
}

// TestCatalogParamsLeftOut: every fault type, target kind and probe given an empty parameter
// set, so that each required parameter is missing while Validate still runs on the rest, is
// loaded or refused with every problem at a place, never a panic.
func TestCatalogParamsLeftOut(t *testing.T) {
	eachCatalogParams(t, func(func() any) []string { return []string{"{}"} }, false)
}

// eachCatalogParams loads, for every fault type, target kind and probe of the catalog, a file
// that gives it each parameter set sets returns, and checks that every problem has its place
// and a message; with invalid, that the file is refused.
func eachCatalogParams(t *testing.T, sets func(params func() any) []string, invalid bool) {
	reg := Registry()
	load := func(t *testing.T, src string) {
		t.Helper()
		_, err := spec.Load("c.yaml", []byte(src), nil, reg)
		if err == nil && !invalid {
			return
		}
		if !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Fatalf("Load(%s): %v, want an invalid file", src, err)
		}
		var ps spec.Problems
		if !errors.As(err, &ps) {
			t.Fatalf("Load(%s): %v, want problems", src, err)
		}
		for _, p := range ps {
			if p.Pos.Line == 0 || p.Msg == "" {
				t.Errorf("Load(%s): problem without a place or a message: %#v", src, p)
			}
		}
	}
	const fault = "faults: [{name: f, type: exec, with: {inject: [x]}, duration: 1s}]\n"
	for _, ft := range reg.Faults() {
		for _, with := range sets(ft.Params) {
			t.Run(ft.Name, func(t *testing.T) {
				load(t, fmt.Sprintf("version: 1\nname: c\nfaults: [{name: f, type: %s, target: t, with: %s, duration: 1s}]\n", ft.Name, with))
			})
		}
	}
	for _, k := range reg.Targets() {
		for _, params := range sets(k.Params) {
			t.Run("target "+k.Name, func(t *testing.T) {
				load(t, fmt.Sprintf("version: 1\nname: c\ntargets: {t: {%s: %s}}\n%s", k.Name, params, fault))
			})
		}
	}
	for _, p := range reg.Probes() {
		for _, params := range sets(p.Params) {
			t.Run("probe "+p.Name, func(t *testing.T) {
				load(t, fmt.Sprintf("version: 1\nname: c\nsteady_state: [{name: s, %s: %s}]\n%s", p.Name, params, fault))
			})
		}
	}
}

package spec_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNumbers: every number a file holds is read by one strict decimal parse. NaN, the
// infinities, underscores and hexadecimal are refused where the problem is; an exponent
// written without a point (1e3) is a number, as in JSON and YAML 1.2, unless it is quoted;
// a percentage of errors lies within [0, 100].
func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		line string // line 16 of a file; the problem, if any, is at the first bad
		bad  string // the text the problem points at; "" when the line is valid
		path string
	}{
		{"steady_state: [{name: e, metric: shop.errors, max: 'NaN%'}]", "'NaN%'", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: 'Inf%'}]", "'Inf%'", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: nan}]", "nan", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: +Inf}]", "+Inf", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: Infinity}]", "Infinity", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: .nan}]", ".nan", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: NaNx baseline}]", "NaNx", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: Infx baseline}]", "Infx", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: baseline + NaN%}]", "baseline", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: baseline - Inf%}]", "baseline", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: 1_0%}]", "1_0%", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: -5%}]", "-5%", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: 150%}]", "150%", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: 1.5}]", "1.5", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, min: 1e3}]", "1e3", "steady_state[0].min"},
		{"steady_state: [{name: e, metric: shop.errors, max: baseline + 2}]", "baseline", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.latency.p99, max: 0x1p-2}]", "0x1p-2", "steady_state[0].max"},
		{"steady_state: [{name: e, metric: shop.errors, max: 100%}]", "", ""},
		{"steady_state: [{name: e, metric: shop.errors, max: baseline + 5%}]", "", ""},
		{"steady_state: [{name: e, metric: shop.errors, max: 2x baseline}]", "", ""},
		{"steady_state: [{name: e, metric: shop.throughput, min: 1e1/s}]", "", ""},
		{"gate: {floors: {ms: 1e3}}", "", ""},
		{"gate: {floors: {ms: 15E-1}}", "", ""},
		{"gate: {floors: {ms: '1e3'}}", "'1e3'", "gate.floors.ms"},
		{"gate: {floors: {ms: 0x10}}", "0x10", "gate.floors.ms"},
		{"gate: {floors: {ms: 1_000}}", "1_000", "gate.floors.ms"},
		{"gate: {floors: {ms: .inf}}", ".inf", "gate.floors.ms"},
		{"gate: {floors: {ms: '${nan}'}}", "'${nan}'", "gate.floors.ms"},
		{"gate: {floors: {ms: '${hex}'}}", "'${hex}'", "gate.floors.ms"},
		{"blast_radius: {max_targets: 1e1}", "", ""},
		{"blast_radius: {max_targets: 1.5e0}", "1.5e0", "blast_radius.max_targets"},
		{"blast_radius: {max_targets: 0x10}", "0x10", "blast_radius.max_targets"},
		{"blast_radius: {max_targets: '${under}'}", "'${under}'", "blast_radius.max_targets"},
		{"blast_radius: {max_targets: 1e30}", "1e30", "blast_radius.max_targets"},
		{"blast_radius: {max_percent: 5e1}", "", ""},
		{"blast_radius: {max_percent: 1e9}", "1e9", "blast_radius.max_percent"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			vars := map[string]string{"nan": "NaN", "hex": "0x10", "under": "1_0"}
			got := problemsOf(t, "n.yaml", withFault(tc.line), vars)
			var want []at
			if tc.bad != "" {
				want = []at{{16, strings.Index(tc.line, tc.bad) + 1, tc.path}}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSchedule: a fault's delay and duration, its after: chain counted, end within
// shakedown.MaxSchedule of the inject phase's start, and a phase lasts at most as long; the
// problem is at the delay or duration that goes past, once per chain.
func TestSchedule(t *testing.T) {
	type place struct {
		line int    // of the faults, from 1
		at   string // the text the problem points at, on that line
		path string
	}
	for _, tc := range []struct {
		name   string
		faults []string
		want   []place
	}{
		{"within", []string{
			"  - {name: a, type: process.kill, target: web, delay: 400h, duration: 300h}",
			"  - {name: b, type: process.kill, target: web, after: [a], delay: 300h, duration: 20h}",
		}, nil},
		{"wrapping", []string{
			"  - {name: a, type: process.kill, target: web, delay: 2000000h}",
			"  - {name: b, type: process.kill, target: web, after: [a], delay: 2000000h, duration: 1s}",
			"  - {name: c, type: process.kill, target: web, duration: 1500000h, delay: 1100000h}",
		}, []place{{1, "2000000h", "faults[0].delay"}, {3, "1100000h", "faults[2].delay"}}},
		{"a chain", []string{
			"  - {name: a, type: process.kill, target: web, delay: 400h, duration: 1s}",
			"  - {name: b, type: process.kill, target: web, after: [a], delay: 300h, duration: 30h}",
			"  - {name: c, type: process.kill, target: web, after: [a], delay: 400h}",
		}, []place{{2, "30h", "faults[1].duration"}, {3, "400h", "faults[2].delay"}}},
		{"a cycle", []string{
			"  - {name: a, type: process.kill, target: web, after: [b], delay: 700h}",
			"  - {name: b, type: process.kill, target: web, after: [a], delay: 700h}",
		}, []place{{2, "a]", "faults[1].after[0]"}}},
		{"phases", []string{
			"  - {name: a, type: process.kill, target: web}",
			"phases: {baseline: 721h, recovery: 720h}",
		}, []place{{2, "721h", "phases.baseline"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []at
			for _, p := range tc.want {
				want = append(want, at{len(head) + 1 + p.line, strings.Index(tc.faults[p.line-1], p.at) + 1, p.path})
			}
			src := with(append([]string{"faults:"}, tc.faults...)...)
			if diff := cmp.Diff(want, problemsOf(t, tc.name+".yaml", src, nil)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJSONExponents: JSON's numbers with an exponent are numbers, where a whole number is
// wanted too when their value is whole.
func TestJSONExponents(t *testing.T) {
	src := `{"version": 1e0, "name": "t", "blast_radius": {"max_targets": 2E1, "max_percent": 15e-1},
 "targets": {"web": {"process": {"name": "x"}}},
 "faults": [{"name": "f", "type": "process.pause", "target": "web", "duration": "1s"}]}
`
	if got := problemsOf(t, "e.json", src, nil); got != nil {
		t.Errorf("problems %v, want none", got)
	}
}

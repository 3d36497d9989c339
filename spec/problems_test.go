package spec_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shakedown-dev/shakedown/spec"
)

// at is where a problem is expected: line, column and field path.
type at struct {
	Line, Col int
	Path      string
}

func problemsOf(t *testing.T, name string, src string, vars map[string]string) []at {
	t.Helper()
	_, err := spec.Load(name, []byte(src), vars, testRegistry())
	if err == nil {
		return nil
	}
	var ps spec.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load(%s) error %v is not Problems", name, err)
	}
	var got []at
	srcLines := strings.Split(src, "\n")
	var shown strings.Builder
	for _, p := range ps {
		if p.Pos.Line > 0 && p.Pos.Line <= len(srcLines) && p.Pos.Col > 0 && p.Pos.Col <= len(srcLines[p.Pos.Line-1]) {
			rest := srcLines[p.Pos.Line-1][p.Pos.Col-1:]
			shown.WriteString(fmt.Sprintf("%d:%d %s  «%.12s»  %s\n", p.Pos.Line, p.Pos.Col, p.Path, rest, p.Msg))
		} else {
			shown.WriteString(fmt.Sprintf("%d:%d %s  %s\n", p.Pos.Line, p.Pos.Col, p.Path, p.Msg))
		}
		if p.Msg == "" {
			t.Errorf("Load(%s): problem at %v has no message", name, p.Pos)
		}
		if p.Pos.File != name {
			t.Errorf("Load(%s): problem names file %q", name, p.Pos.File)
		}
		got = append(got, at{p.Pos.Line, p.Pos.Col, p.Path})
	}
	t.Logf("%s:\n%s", name, shown.String())
	return got
}

// lines joins lines into a file, so that line numbers in the cases can be read off.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

// head is a valid start that the cases build on: lines 1-10.
var head = []string{
	"version: 1",             // 1
	"name: t",                // 2
	"targets:",               // 3
	"  web:",                 // 4
	"    process: {name: x}", // 5
	"  cache:",               // 6
	"    proxy: {listen: 127.0.0.1:1, upstream: 127.0.0.1:2}", // 7
	"load:",   // 8
	"  shop:", // 9
	"    {url: 'http://127.0.0.1:1/', rate: 10}", // 10
}

func with(ls ...string) string { return lines(append(append([]string{}, head...), ls...)...) }

// oneFault is a valid faults section: lines 11-15 after head.
var oneFault = []string{
	"faults:",                 // 11
	"  - name: f",             // 12
	"    type: process.pause", // 13
	"    target: web",         // 14
	"    duration: 1s",        // 15
}

func withFault(ls ...string) string { return with(append(append([]string{}, oneFault...), ls...)...) }

func TestValidVariants(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
	}{
		{"base", withFault()},
		{"lock", withFault("lock: eu-west/staging_2")},
		{"checks sampled rarely, with no recovery judged or in the baseline only", withFault(
			"phases: {baseline: 1s, recovery: 0s}",
			"steady_state:",
			"  - {name: a, metric: shop.errors, max: 1%, every: 24h}",
			"  - {name: b, metric: shop.errors, max: 1%, every: 5s, phases: [baseline]}",
		)},
		{"one-shot without duration", with(
			"faults:",
			"  - {name: k, type: process.kill, target: web, with: {restart: [a, b]}}",
		)},
		{"no-target fault", with(
			"faults:",
			"  - name: e",
			"    type: exec",
			"    duration: 5s",
			"    with:",
			"      inject: [touch, /tmp/x]",
			"      env: {A: b}",
			"      limits: {cpu: 3, timeout: 2s}",
			"      extra: {a: [1, 2.5, true, null, x]}",
		)},
		{"anchors and merge keys", lines(
			"version: 1",
			"name: t",
			"targets:",
			"  web: {process: {name: x}}",
			"faults:",
			"  - &f1",
			"    name: a",
			"    type: process.pause",
			"    target: web",
			"    duration: 1s",
			"  - <<: *f1",
			"    name: b",
			"    after: [a]",
		)},
		{"checks of every shape", withFault(
			"steady_state:",
			"  - {name: a, metric: shop.latency.p99, max: 2x baseline, min: 1ms}",
			"  - {name: b, metric: shop.errors, max: 0.05, window: 3 of 5, phases: [inject, recovery]}",
			"  - {name: c, metric: shop.throughput, min: baseline - 10/s}",
			"  - {name: d, tcp: {address: '127.0.0.1:1'}, every: PT2S, for: 0}",
			"stop_if:",
			"  - {name: a, metric: shop.latency.max, max: baseline + 50ms}",
			"phases: {baseline: 1m, recovery: PT1M}",
			"blast_radius: {max_targets: 2, max_percent: 50}",
			"expect:",
			"  - {name: x, alert: {alertmanager: 'http://127.0.0.1:9093', name: A, labels: {a: b}}, resolves_within: 1m}",
			"  - {name: y, http: {url: 'http://127.0.0.1:1/'}, recovers_within: 30s}",
		)},
		{"byte order mark", "\ufeff" + withFault()},
		{"core tags", withFault("  - {name: g, type: exec, duration: 1s, with: {inject: !!seq [x, !!str 'y']}}",
			"description: !!str a", "labels: !!map {a: !!str b, !!str c: !!str 'd'}",
			"blast_radius: {max_targets: !!int 2, max_percent: !!float 50.0}",
			"stop_if: !!seq [{name: s, tcp: {address: !!str '127.0.0.1:1'}, for: !!str 0s}]", "phases: {baseline: !!null ~}")},
		{"empty optional sections", withFault(
			"steady_state:",
			"stop_if: []",
			"expect: []",
			"labels: {}",
			"description:",
		)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := problemsOf(t, tc.name+".yaml", tc.src, nil); got != nil {
				t.Errorf("Load(%s) gave problems %v, want none", tc.name, got)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		vars map[string]string
		want []at
	}{
		{
			name: "empty file",
			src:  "",
			want: []at{{0, 0, ""}},
		},
		{
			name: "only a comment",
			src:  "# nothing\n",
			want: []at{{0, 0, ""}},
		},
		{
			name: "syntax error",
			src:  "version: 1\nname: [t\n",
			want: []at{{2, 7, ""}},
		},
		{
			name: "not a mapping",
			src:  "- a\n- b\n",
			want: []at{{1, 1, ""}},
		},
		{
			name: "two documents",
			src:  withFault("---", "a: 1"),
			want: []at{{17, 1, ""}},
		},
		{
			// Tags other than the core ones that agree with their value are refused, not
			// dropped; so is a list item left empty.
			name: "tags and empty items",
			src: withFault("  - {name: g, type: exec, duration: 1s, with: {inject: [x, ~], revert: !!seq [x, !local y]}}",
				"description: !foo a", "labels: {a: !!binary dHJ1ZQ==, b: !!str 12, c: !!str ok}"),
			want: []at{{16, 60, "faults[1].with.inject[1]"}, {16, 81, "faults[1].with.revert[1]"}, {17, 14, "description"}, {18, 13, "labels.a"}, {18, 34, "labels.b"}},
		},
		{
			// A bad key is one problem, wherever its mapping is.
			name: "keys that are no strings",
			src:  withFault("labels: {~: x}", "~: y", "blast_radius: {~: z}"),
			want: []at{{16, 10, "labels"}, {17, 1, ""}, {18, 16, "blast_radius"}},
		},
		{
			name: "top level",
			src: lines(
				"version: 2",  // 1
				"colour: red", // 2
				"name: Bad Name",
				"labels: [a]",
			),
			want: []at{
				{1, 1, "faults"},
				{1, 10, "version"},
				{2, 1, "colour"},
				{3, 7, "name"},
				{4, 9, "labels"},
			},
		},
		{
			name: "duplicate keys",
			src: withFault(
				"name: u", // 16
				"load:",   // 17
				"labels:", // 18
				"  a: b",  // 19
				"  a: c",  // 20
				"stop_if: [{name: s, metric: shop.errors, max: 1%, max: 2%}]", // 21
			),
			want: []at{{16, 1, "name"}, {17, 1, "load"}, {20, 3, "labels.a"}, {21, 51, "stop_if[0].max"}},
		},
		{
			name: "targets",
			src: lines(
				"version: 1",
				"name: t",
				"targets:",
				"  none: {select: all}", // 4
				"  two: {process: {pid: 1}, proxy: {api: a, name: b}}", // 5
				"  odd: {pod: {}}",                    // 6
				"  sel: {host: {}, select: count(0)}", // 7
				"  bad name: {host: {a: 1}}",          // 8
				"  p: {process: {pid: 1, name: x}}",   // 9
				"  q: {process: {pid: x, size: 3}}",   // 10
				"  r: [a]",                            // 11
				"faults: [{name: f, type: exec, with: {inject: [x]}, duration: 1s}]",
			),
			want: []at{
				{4, 3, "targets.none"},
				{5, 28, "targets.two.proxy"},
				{6, 9, "targets.odd.pod"},
				{7, 27, "targets.sel.select"},
				{8, 3, `targets["bad name"]`},
				{8, 21, `targets["bad name"].host.a`},
				{9, 7, "targets.p.process"},
				{10, 22, "targets.q.process.pid"},
				{10, 25, "targets.q.process.size"},
				{11, 6, "targets.r"},
			},
		},
		{
			name: "loads",
			src: lines(append(append(head[:7:7], oneFault...), // 1-12
				"load:",          // 13
				"  a: {rate: 0}", // 14
				"  b: {url: 'ftp://x/', rate: 5/d, method: 'GE T', timeout: 5, ramp: 0, headers: {a: [b]}}", // 15
				"  c.d: {url: 'http://x/', rate: 1}", // 16
				"  e: {url: 'http://${host}/', rate: '${rate}', timeout: '${t}', body: '$${x}', extra: 1}", // 17
			)...),
			vars: map[string]string{"rate": "0/s"},
			want: []at{
				{14, 6, "load.a.url"},
				{14, 13, "load.a.rate"},
				{15, 12, "load.b.url"},
				{15, 30, "load.b.rate"},
				{15, 43, "load.b.method"},
				{15, 60, "load.b.timeout"},
				{15, 85, "load.b.headers.a"},
				{16, 3, `load["c.d"]`},
				{17, 12, "load.e.url"},
				{17, 37, "load.e.rate"},
				{17, 57, "load.e.timeout"},
				{17, 80, "load.e.extra"},
			},
		},
		{
			name: "addresses and headers that cannot be sent",
			src: lines(append(append(head[:7:7], oneFault...), // 1-12
				"load:", // 13
				"  a: {url: 'http://127.0.0.1:99999/', rate: 1}",                                                       // 14
				"  b: {url: 'http://:80/', rate: 1}",                                                                   // 15
				"  c: {url: 'http://bob:${pw}@h/', rate: 1}",                                                           // 16
				"  d: {url: 'http://h/', rate: 1, headers: {'Bad Header': x, X-A: \"a\\r\\nInjected: yes\", X-B: ok}}", // 17
				"expect:", // 18
				"  - {name: x, alert: {prometheus: 'http://127.0.0.1:0', name: A}, fires_within: 1m}", // 19
			)...),
			vars: map[string]string{"pw": "hunter2/xx"},
			want: []at{
				{14, 12, "load.a.url"},
				{15, 12, "load.b.url"},
				{16, 12, "load.c.url"},
				{17, 44, `load.d.headers["Bad Header"]`},
				{17, 66, "load.d.headers.X-A"},
				{19, 35, "expect[0].alert.prometheus"},
			},
		},
		{
			name: "steady-state checks sampled too rarely for the recovery",
			src: withFault(
				"phases: {baseline: 500ms, recovery: 500ms}", // 16
				"steady_state:", // 17
				"  - {name: a, metric: shop.errors, max: 1%, every: 24h}",                            // 18: every is a day
				"  - {name: b, metric: shop.errors, max: 1%}",                                        // 19: the default second outlasts the recovery
				"  - {name: c, metric: shop.errors, max: 1%, every: 1s, phases: [baseline, inject]}", // 20: judged in no recovery
				"  - {name: d, tcp: {address: '127.0.0.1:1'}, every: 500ms}",                         // 21: no shorter than the recovery
				"  - {name: e, metric: shop.errors, max: 1%, every: 100ms}",                          // 22
				"  - {name: g, metric: shop.errors, max: 1%, every: nope}",                           // 23: its own problem only
				"stop_if:", // 24
				"  - {name: s, metric: shop.errors, max: 50%, every: 24h}", // 25: stop conditions are not held to it
			),
			want: []at{
				{18, 52, "steady_state[0].every"},
				{19, 5, "steady_state[1]"},
				{21, 53, "steady_state[3].every"},
				{23, 52, "steady_state[5].every"},
			},
		},
		{
			name: "metric checks",
			src: withFault(
				"steady_state:", // 16
				"  - {name: a, metric: shop.errors, max: 400ms}",                                                // 17
				"  - {name: a, metric: nope.errors, max: 1%}",                                                   // 18
				"  - {name: c, metric: shop.latency.p42, max: 1s}",                                              // 19
				"  - {name: d, metric: shop.latency.p99}",                                                       // 20
				"  - {name: e, metric: shop.throughput, min: baseline + 1s, max: 2x baseline}",                  // 21
				"  - {name: f, metric: shop.errors, min: 5%, max: 1%}",                                          // 22
				"  - {name: g, metric: shop.errors, max: lots}",                                                 // 23
				"  - {metric: shop.errors, max: 1%, window: 5 of 3, every: 0, phases: [inject, later, inject]}", // 24
				"  - {name: h, metric: shop.errors, max: 1%, tcp: {address: x}}",                                // 25
				"  - {name: i}", // 26
				"  - {name: j, http: {url: 'http://x/'}, max: 1%, tcp: {address: x}}", // 27
				"  - {name: k, ping: {}}", // 28
			),
			want: []at{
				{17, 41, "steady_state[0].max"},
				{18, 12, "steady_state[1].name"},
				{18, 23, "steady_state[1].metric"},
				{19, 23, "steady_state[2].metric"},
				{20, 5, "steady_state[3]"},
				{21, 45, "steady_state[4].min"},
				{22, 41, "steady_state[5].min"},
				{23, 41, "steady_state[6].max"},
				{24, 5, "steady_state[7].name"},
				{24, 44, "steady_state[7].window"},
				{24, 59, "steady_state[7].every"},
				{24, 79, "steady_state[7].phases[1]"},
				{24, 86, "steady_state[7].phases[2]"},
				{25, 45, "steady_state[8].tcp"},
				{26, 5, "steady_state[9]"},
				{27, 41, "steady_state[10].max"},
				{27, 50, "steady_state[10].tcp"},
				{28, 15, "steady_state[11].ping"},
			},
		},
		{
			name: "faults",
			src: with(
				"faults:",                 // 11
				"  - name: a",             // 12
				"    type: proxy.latency", // 13
				"    target: web",         // 14
				"    with: {jitter: 5, toxicity: high, colour: red}", // 15
				"    duration: 0s",                     // 16
				"  - name: b",                          // 17
				"    type: proxy.latency",              // 18
				"    target: cache",                    // 19
				"    with: {latency: 1s, toxicity: 2}", // 20
				"  - {name: a, type: process.pause, target: nowhere, duration: 30}",                      // 21
				"  - {name: c, type: process.pause, duration: 1m, with: {x: 1}}",                         // 22
				"  - {name: d, type: exec, target: web, duration: 1m}",                                   // 23
				"  - {name: e, type: nuke, target: web}",                                                 // 24
				"  - {type: process.kill, target: web, with: {restart: a}}",                              // 25
				"  - {name: 'f g', type: process.kill, target: cache, after: [f g, zz, e, e], delay: x}", // 26
				"  - [a]", // 27
				"  - {name: h, type: process.kill, target: web, after: i, when: now}", // 28
			),
			want: []at{
				{14, 13, "faults[0].target"},
				{15, 11, "faults[0].with.latency"},
				{15, 20, "faults[0].with.jitter"},
				{15, 33, "faults[0].with.toxicity"},
				{15, 39, "faults[0].with.colour"},
				{16, 15, "faults[0].duration"},
				{17, 5, "faults[1].duration"},
				{20, 5, "faults[1].with"},
				{21, 12, "faults[2].name"},
				{21, 44, "faults[2].target"},
				{21, 63, "faults[2].duration"},
				{22, 5, "faults[3].target"},
				{22, 57, "faults[3].with.x"},
				{23, 5, "faults[4].with.inject"},
				{23, 27, "faults[4].target"},
				{24, 21, "faults[5].type"},
				{25, 5, "faults[6].name"},
				{25, 55, "faults[6].with.restart"},
				{26, 12, "faults[7].name"},
				{26, 47, "faults[7].target"},
				{26, 62, "faults[7].after[0]"},
				{26, 67, "faults[7].after[1]"},
				{26, 74, "faults[7].after[3]"},
				{26, 85, "faults[7].delay"},
				{27, 5, "faults[8]"},
				{28, 55, "faults[9].after"},
				{28, 58, "faults[9].when"},
			},
		},
		{
			name: "after cycles",
			src: with(
				"faults:", // 11
				"  - {name: a, type: process.kill, target: web, after: [c]}",    // 12
				"  - {name: b, type: process.kill, target: web, after: [a]}",    // 13
				"  - {name: c, type: process.kill, target: web, after: [b, d]}", // 14
				"  - {name: d, type: process.kill, target: web, after: [d]}",    // 15
				"  - {name: e, type: process.kill, target: web, after: [f]}",    // 16
				"  - {name: f, type: process.kill, target: web, after: [e]}",    // 17
			),
			want: []at{
				{13, 56, "faults[1].after[0]"},
				{15, 56, "faults[3].after[0]"},
				{17, 56, "faults[5].after[0]"},
			},
		},
		{
			name: "expectations",
			src: withFault(
				"expect:", // 16
				"  - {name: a, alert: {prometheus: 'http://p', alertmanager: 'http://a', name: A}, fires_within: 1m}", // 17
				"  - {name: b, alert: {name: A}}", // 18
				"  - {name: c, alert: {prometheus: 'p:9090'}, fires_within: 1m, recovers_within: 2m}",                    // 19
				"  - {name: d, http: {url: 'http://x/'}, fires_within: 1m}",                                              // 20
				"  - {name: e, http: {url: 'http://x/'}, alert: {prometheus: 'http://p', name: A}, recovers_within: 1s}", // 21
				"  - {name: f}", // 22
				"  - {name: g, tcp: {}, recovers_within: 0}",                                           // 23
				"  - {name: h, alert: {prometheus: 'http://p', name: A, for: 1}, resolves_within: 10}", // 24
				"  - {name: i, alert: {prometheus: 'http://p', name: ' '}, fires_within: 1m}",          // 25
			),
			want: []at{
				{17, 47, "expect[0].alert.alertmanager"},
				{18, 5, "expect[1]"},
				{18, 15, "expect[1].alert"},
				{19, 22, "expect[2].alert.name"},
				{19, 35, "expect[2].alert.prometheus"},
				{19, 64, "expect[2].recovers_within"},
				{20, 5, "expect[3].recovers_within"},
				{20, 41, "expect[3].fires_within"},
				{21, 15, "expect[4].http"},
				{22, 5, "expect[5]"},
				{23, 20, "expect[6].tcp.address"},
				{23, 41, "expect[6].recovers_within"},
				{24, 56, "expect[7].alert.for"},
				{24, 82, "expect[7].resolves_within"},
				{25, 53, "expect[8].alert.name"},
			},
		},
		{
			name: "phases and blast radius",
			src: withFault(
				"phases: {baseline: 0, recovery: 10, during: 1s}",  // 16
				"blast_radius: {max_targets: 0, max_percent: 101}", // 17
				"description: {a: b}",                              // 18
				"labels: {a: [b]}",                                 // 19
			),
			want: []at{
				{16, 33, "phases.recovery"},
				{16, 37, "phases.during"},
				{17, 29, "blast_radius.max_targets"},
				{17, 45, "blast_radius.max_percent"},
				{18, 14, "description"},
				{19, 13, "labels.a"},
			},
		},
		{
			name: "lock",
			src: withFault(
				"lock: 'staging env'", // 16
			),
			want: []at{
				{16, 7, "lock"},
			},
		},
		{
			name: "lock not a string",
			src: withFault(
				"lock: [staging]", // 16
			),
			want: []at{
				{16, 7, "lock"},
			},
		},
		{
			name: "aliases",
			src: withFault(
				"description: *nowhere", // 16
			),
			want: []at{
				{16, 14, "description"},
			},
		},
		{
			name: "an alias that names no anchor, once",
			src: with(
				"faults:", // 11
				"  - {name: f, type: *t, target: web, duration: 1s}", // 12
				"steady_state:",                  // 13
				"  - {name: c, http: {url: *u}}", // 14
			),
			want: []at{
				{12, 21, "faults[0].type"},
				{14, 27, "steady_state[0].http.url"},
			},
		},
		{
			name: "variables",
			src: lines(
				"version: '${v}'",                          // 1
				"name: ${name}",                            // 2
				"description: ${a} ${b} $${c} ${",          // 3
				"targets: {w: {process: {pid: '${pid}'}}}", // 4
				"faults: [{name: f, type: process.pause, target: w, duration: '${d}'}]", // 5
				"labels: {x: '${bad name}'}", // 6
			),
			vars: map[string]string{"v": "1", "name": "Upper", "pid": "x", "d": "-1s"},
			want: []at{
				{2, 7, "name"},
				{3, 14, "description"},
				{4, 30, "targets.w.process.pid"},
				{5, 62, "faults[0].duration"},
				{6, 13, "labels.x"},
			},
		},
		{
			name: "no faults",
			src:  lines(head[:2]...) + "faults: []\n",
			want: []at{
				{3, 1, "faults"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problemsOf(t, tc.name+".yaml", tc.src, tc.vars)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Load(%s) problems (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

// TestJSONProblems checks that positions in JSON files, tab-indented or not, point at the
// offending tokens.
func TestJSONProblems(t *testing.T) {
	src := "{\n" + // 1
		"\t\"version\": 2,\n" + // 2
		"\t\"name\": \"t\",\n" + // 3
		"\t\"targets\": {\"web\": {\"process\": {\"pid\": \"x\"}}},\n" + // 4
		"\t\"faults\": [\n" + // 5
		"\t\t{\"name\": \"f\", \"type\": \"process.pause\", \"target\": \"web\", \"duration\": 10, \"with\": {}},\n" + // 6
		"\t\t{\"name\": \"f\", \"type\": \"process.pause\", \"target\": \"web\", \"duration\": \"1s\", \"colour\": \"red\"}\n" + // 7
		"\t]\n" + // 8
		"}\n"
	for _, tc := range []struct{ name, src string }{
		{"tabs.json", src},
		{"spaces.json", strings.ReplaceAll(src, "\t", " ")},
		{"tabs-no-extension", src},
	} {
		got := problemsOf(t, tc.name, tc.src, nil)
		want := []at{{2, 13, "version"}, {4, 41, "targets.web.process.pid"}, {6, 71, "faults[0].duration"},
			{7, 12, "faults[1].name"}, {7, 77, "faults[1].colour"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Load(%s) problems (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestProblemsSuggestSpellings: a name a letter or two from a known one is answered with the
// known one, wherever names are looked up.
func TestProblemsSuggestSpellings(t *testing.T) {
	src := lines(
		"version: 1",
		"name: t",
		"targets:",
		"  web: {proces: {name: x}}",
		"  cache: {proxy: {listen: 127.0.0.1:1, upstream: 127.0.0.1:2}}",
		"load:",
		"  checkout: {url: http://127.0.0.1:1/, rate: 5/s, timout: 1s}",
		"steady_state:",
		"  - {name: a, metric: checkuot.errors, max: 1%}",
		"  - {name: b, metric: checkout.latncy.p99, max: 1s}",
		"faults:",
		"  - {name: slow, type: proxy.latncy, target: cache, duration: 1s}",
		"  - {name: g, type: proxy.latency, target: cahce, after: [slwo], duration: 1s, whit: {}}",
		"  - {name: h, type: proxy.latency, target: cache, duration: 1s, with: {latancy: 1s}}",
		"  - {name: i, type: nope, target: cahe}",
	)
	_, err := spec.Load("typos.yaml", []byte(src), nil, testRegistry())
	var ps spec.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load: %v, want Problems", err)
	}
	var msgs []string
	for _, p := range ps {
		msgs = append(msgs, p.Path+": "+p.Msg)
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`targets.web.proces: unknown target kind "proces" (did you mean "process"?)`,
		`load.checkout.timout: unknown field "timout" (did you mean "timeout"?)`,
		`steady_state[0].metric: metric checkuot.errors names no declared load "checkuot" (did you mean "checkout"?)`,
		`steady_state[1].metric: unknown metric "checkout.latncy.p99" (did you mean "checkout.latency.p99"?)`,
		`faults[0].type: unknown fault type "proxy.latncy" (did you mean "proxy.latency"?)`,
		`faults[1].target: target "cahce" is not declared under targets (did you mean "cache"?)`,
		`faults[1].after[0]: no fault is called "slwo" (did you mean "slow"?)`,
		`faults[1].whit: unknown field "whit" (did you mean "with"?)`,
		`faults[2].with.latancy: unknown parameter "latancy" (did you mean "latency"?)`,
		// the target is looked up even when the fault type is unknown
		`faults[3].target: target "cahe" is not declared under targets (did you mean "cache"?)`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no problem %q in:\n%s", want, all)
		}
	}
}

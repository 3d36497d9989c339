package spec_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

type nested struct {
	Inner string `json:"inner" doc:"inside"`
}

type catalogParams struct {
	Latency  shakedown.Duration `json:"latency" required:"true" doc:"added delay"`
	Wait     time.Duration      `json:"wait"`
	Rate     shakedown.Rate     `json:"rate"`
	Select   shakedown.Selection
	Signal   string            `json:"signal,omitempty" doc:"signal to send"`
	Count    int               `json:"count"`
	Ratio    float64           `json:"ratio"`
	On       bool              `json:"on"`
	Argv     []string          `json:"argv"`
	Env      map[string]string `json:"env"`
	Sub      *nested           `json:"sub"`
	Skipped  string            `json:"-"`
	internal int               //lint:ignore U1000 an unexported field: Params must leave it out
}

func TestParams(t *testing.T) {
	got := spec.Params(func() any {
		return &catalogParams{Latency: shakedown.Duration(200 * time.Millisecond), Wait: time.Second, Rate: 5,
			Select: shakedown.Selection{Mode: shakedown.SelectCount, Count: 2}, Signal: "KILL", Count: 3,
			Ratio: 0.5, On: true, Argv: []string{"a", "b"}, Env: map[string]string{"A": "b"}}
	})
	want := []spec.Param{
		{Name: "latency", Type: "duration", Default: "200ms", Doc: "added delay", Required: true},
		{Name: "wait", Type: "duration", Default: "1s"},
		{Name: "rate", Type: "rate", Default: "5/s"},
		{Name: "Select", Type: "selection", Default: "count(2)"},
		{Name: "signal", Type: "string", Default: "KILL", Doc: "signal to send"},
		{Name: "count", Type: "int", Default: "3"},
		{Name: "ratio", Type: "number", Default: "0.5"},
		{Name: "on", Type: "bool", Default: "true"},
		{Name: "argv", Type: "[]string", Default: `["a","b"]`},
		{Name: "env", Type: "map[string]string", Default: `{"A":"b"}`},
		{Name: "sub", Type: "object"},
		{Name: "sub.inner", Type: "string", Doc: "inside"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Params (-want +got):\n%s", diff)
	}
	for _, f := range []func() any{nil, func() any { return nil }} {
		if got := spec.Params(f); got != nil {
			t.Errorf("Params(no struct) = %v, want nil", got)
		}
	}
}

// TestParamsDecode decodes every supported field type from a file.
func TestParamsDecode(t *testing.T) {
	reg := shakedown.NewRegistry()
	reg.AddFault(shakedown.FaultType{Name: "all", New: testRegistryNewFault,
		Params: func() any { return &catalogParams{Signal: "KILL", Count: 7} }})
	src := lines(
		"version: 1",
		"name: p",
		"faults:",
		"  - name: f",
		"    type: all",
		"    duration: 1s",
		"    with:",
		"      latency: PT0.5S",
		"      wait: 0",
		"      rate: 3000/m",
		"      Select: percent(50)",
		"      ratio: 1",
		"      on: true",
		"      argv: [x, 'y z']",
		"      env: {K: v, N: 1}",
		"      sub: {inner: deep}",
	)
	x, err := spec.Load("p.yaml", []byte(src), nil, reg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &catalogParams{Latency: shakedown.Duration(500 * time.Millisecond), Rate: 50,
		Select: shakedown.Selection{Mode: shakedown.SelectPercent, Percent: 50}, Signal: "KILL", Count: 7,
		Ratio: 1, On: true, Argv: []string{"x", "y z"}, Env: map[string]string{"K": "v", "N": "1"},
		Sub: &nested{Inner: "deep"}}
	if diff := cmp.Diff(want, x.Faults[0].Params, cmp.AllowUnexported(catalogParams{})); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
}

type typedParams struct {
	Small  int8                `json:"small"`
	Count  uint                `json:"count"`
	On     bool                `json:"on"`
	Ratio  float32             `json:"ratio"`
	Argv   []string            `json:"argv"`
	Env    map[string]string   `json:"env"`
	Sub    *nested             `json:"sub"`
	Rate   shakedown.Rate      `json:"rate"`
	Window shakedown.NofM      `json:"window"`
	Max    shakedown.Tolerance `json:"max"`
}

func TestParamsDecodeProblems(t *testing.T) {
	reg := shakedown.NewRegistry()
	reg.AddFault(shakedown.FaultType{Name: "typed", OneShot: true, New: testRegistryNewFault,
		Params: func() any { return &typedParams{} }})
	src := lines(
		"version: 1",
		"name: p",
		"faults:",
		"  - name: f",
		"    type: typed",
		"    with:",
		"      small: 300",                // 7
		"      count: -1",                 // 8
		"      on: yes",                   // 9
		"      ratio: .nan",               // 10
		"      argv: [a, [b]]",            // 11
		"      env: {a: {b: c}}",          // 12
		"      sub: {inner: x, outer: y}", // 13
		"      rate: fast",                // 14
		"      window: [1, 2]",            // 15
		"      max: lots",                 // 16
	)
	_, err := spec.Load("p.yaml", []byte(src), nil, reg)
	var ps spec.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load: %v, want problems", err)
	}
	var got []at
	for _, p := range ps {
		got = append(got, at{p.Pos.Line, p.Pos.Col, p.Path})
	}
	want := []at{
		{7, 14, "faults[0].with.small"},
		{8, 14, "faults[0].with.count"},
		{9, 11, "faults[0].with.on"},
		{10, 14, "faults[0].with.ratio"},
		{11, 17, "faults[0].with.argv[1]"},
		{12, 16, "faults[0].with.env.a"},
		{13, 23, "faults[0].with.sub.outer"},
		{14, 13, "faults[0].with.rate"},
		{15, 15, "faults[0].with.window"},
		{16, 12, "faults[0].with.max"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
	}
}

func TestMergeKeys(t *testing.T) {
	src := lines(
		"version: 1",
		"name: t",
		"targets:",
		"  web: {process: &p {name: x}}",
		"  api: {process: *p}",
		"faults:",
		"  - &f1",
		"    name: a",
		"    type: process.pause",
		"    target: web",
		"    duration: 1s",
		"  - <<: *f1",
		"    name: b",
		"    target: api",
		"    after: [a]",
	)
	x, err := spec.Load("m.yaml", []byte(src), nil, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	b := x.Faults[1]
	got := []any{b.Name, b.Type, b.Target, b.Duration, b.After, x.Targets[1].Params}
	want := []any{"b", "process.pause", "api", time.Second, []string{"a"}, &processParams{Name: "x"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged fault (-want +got):\n%s", diff)
	}
}

// rangeParams check their values as a fault type's do: each problem at its field, and one of
// the whole set.
type rangeParams struct {
	Delay   shakedown.Duration `json:"delay" required:"true"`
	Jitter  shakedown.Duration `json:"jitter"`
	Percent float64            `json:"percent"`
	Ports   []int              `json:"ports"`
	Mode    string             `json:"mode"`
	Env     map[string]int     `json:"env"`
}

func (p *rangeParams) Validate() error {
	var errs shakedown.FieldErrors
	if p.Delay.D() <= 0 {
		errs.Add("delay", "want above 0")
	}
	if p.Jitter > p.Delay {
		errs.AddAgainst("jitter", []string{"delay"}, "more than delay")
	}
	if !(p.Percent > 0 && p.Percent <= 100) {
		errs.Add("percent", "want above 0 and at most 100")
	}
	for i, port := range p.Ports {
		if port < 1 || port > 65535 {
			errs.AddItem("ports", i, "want 1-65535")
		}
	}
	if len(p.Ports) > 3 {
		errs.Add("ports", "at most three")
	}
	if p.Mode != "drop" {
		errs.Add("mode", "want drop")
	}
	for k, v := range p.Env {
		if v < 0 {
			errs.Add("env", "%s: want 0 or more", k)
		}
	}
	if p.Mode == "" && p.Percent == 0 {
		errs.Whole("give mode or percent")
	}
	return errs.Err()
}

// TestParamsEveryProblem: a parameter set with values that do not decode still has its other
// values checked, so that every problem of a file is said at once, each at its place. What
// the check says of a value that did not decode (it holds its default, not the file's value)
// is left out, and so is a problem that compares a value with one that did not decode, or a
// problem of the set as a whole then.
func TestParamsEveryProblem(t *testing.T) {
	reg := shakedown.NewRegistry()
	reg.AddFault(shakedown.FaultType{Name: "ranged", New: testRegistryNewFault,
		Params: func() any { return &rangeParams{Mode: "drop", Percent: 50} }})
	cases := []struct {
		name string
		src  string
		want []at
	}{{
		name: "several in one fault",
		src: lines(
			"version: 1",
			"name: p",
			"faults:",
			"  - name: f",
			"    type: ranged",
			"    duration: 1s",
			"    with:",
			"      delay: soon", // 8: does not decode; jitter is not compared with it
			"      jitter: 1s",
			"      percent: 150",             // 10: out of range
			"      ports: [80, 0, x, 70000]", // 11: [1] and [3] out of range, [2] does not decode
			"      mode: burn",               // 12: out of range
			"      env: {a: -1}",             // 13: out of range
		),
		want: []at{
			{8, 14, "faults[0].with.delay"},
			{10, 16, "faults[0].with.percent"},
			{11, 19, "faults[0].with.ports[1]"},
			{11, 22, "faults[0].with.ports[2]"},
			{11, 25, "faults[0].with.ports[3]"},
			{12, 13, "faults[0].with.mode"},
			{13, 12, "faults[0].with.env"},
		},
	}, {
		name: "across faults",
		src: lines(
			"version: 1",
			"name: p",
			"faults:",
			"  - {name: a, type: ranged, duration: 1s, with: {delay: 1s, percent: x, mode: burn}}",
			"  - {name: b, type: ranged, duration: 1s, with: {delay: [1s], percent: 0, ports: [1, 2, 3, 4]}}",
			"  - {name: c, type: ranged, duration: 1s, with: {percent: -1, mode: '', jitter: 1s}}",
		),
		want: []at{
			{4, 70, "faults[0].with.percent"},
			{4, 79, "faults[0].with.mode"},
			{5, 57, "faults[1].with.delay"},
			{5, 72, "faults[1].with.percent"},
			{5, 82, "faults[1].with.ports"},
			{6, 49, "faults[2].with.delay"},
			{6, 59, "faults[2].with.percent"},
			{6, 69, "faults[2].with.mode"},
		},
	}, {
		name: "the set does not decode",
		src: lines(
			"version: 1",
			"name: p",
			"faults:",
			"  - {name: a, type: ranged, duration: 1s, with: [1]}",
		),
		want: []at{{4, 49, "faults[0].with"}},
	}, {
		name: "a whole problem of a clean set",
		src: lines(
			"version: 1",
			"name: p",
			"faults:",
			"  - {name: a, type: ranged, duration: 1s, with: {delay: 1s, percent: 0, mode: '', jitter: 2s}}",
		),
		want: []at{
			{4, 43, "faults[0].with"},
			{4, 70, "faults[0].with.percent"},
			{4, 79, "faults[0].with.mode"},
			{4, 91, "faults[0].with.jitter"},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := spec.Load("p.yaml", []byte(c.src), nil, reg)
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("Load: %v, want an invalid file", err)
			}
			var ps spec.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Load: %v, want problems", err)
			}
			var got []at
			for _, p := range ps {
				got = append(got, at{p.Pos.Line, p.Pos.Col, p.Path})
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
}

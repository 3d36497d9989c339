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

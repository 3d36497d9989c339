package spec_test

import (
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
	internal int
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

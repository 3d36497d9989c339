package spec_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

// fleetParams reports each of its problems as a *shakedown.FieldError, as the hosts target does.
type fleetParams struct {
	Addrs []string `json:"addrs,omitempty"`
	Key   string   `json:"key,omitempty"`
}

func (p *fleetParams) Validate() error {
	var errs []error
	for i, a := range p.Addrs {
		if a == "bad" {
			errs = append(errs, &shakedown.FieldError{Field: "addrs", Index: i, Err: fmt.Errorf("bad address")})
		}
	}
	if p.Key == "" {
		errs = append(errs, &shakedown.FieldError{Field: "key", Index: -1, Err: fmt.Errorf("required")})
	}
	if len(p.Addrs) > 2 {
		errs = append(errs, errors.New("at most two addresses"))
	}
	return errors.Join(errs...)
}

// TestFieldErrorsAtTheirFields: a Validate method's FieldErrors are each reported at the
// field (and list item) they name; one for a field the file leaves out, and any other error,
// at the parameters.
func TestFieldErrorsAtTheirFields(t *testing.T) {
	reg := testRegistry()
	reg.AddTarget(shakedown.TargetKind{Name: "fleet", Params: func() any { return &fleetParams{} },
		Resolve: func(context.Context, shakedown.Env, any) ([]shakedown.Instance, error) { return nil, nil }})
	src := lines(
		"version: 1",                  // 1
		"name: t",                     // 2
		"targets:",                    // 3
		"  web:",                      // 4
		"    fleet:",                  // 5
		"      addrs: [ok, bad, bad]", // 6
		"faults:",                     // 7
		"  - {name: f, type: exec, with: {inject: [a], revert: [b]}, duration: 1s}", // 8
	)
	_, err := spec.Load("f.yaml", []byte(src), nil, reg)
	var ps spec.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load: %v, want problems", err)
	}
	type at struct {
		Line, Col int
		Path, Msg string
	}
	var got []at
	for _, p := range ps {
		got = append(got, at{p.Pos.Line, p.Pos.Col, p.Path, p.Msg})
	}
	want := []at{
		{5, 5, "targets.web.fleet.key", "required"},
		{5, 5, "targets.web.fleet", "at most two addresses"},
		{6, 19, "targets.web.fleet.addrs[1]", "bad address"},
		{6, 24, "targets.web.fleet.addrs[2]", "bad address"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

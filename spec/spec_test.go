package spec_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

func tol(t *testing.T, s string) *shakedown.Tolerance {
	t.Helper()
	v, err := shakedown.ParseTolerance(s)
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

// designExperiment is what testdata/design.yaml (DESIGN §3) decodes to, positions aside.
func designExperiment(t *testing.T) *shakedown.Experiment {
	return &shakedown.Experiment{
		Version:     1,
		Name:        "checkout-tolerates-slow-cache",
		Description: "With 200 ms added to every cache call, checkout p99 stays under 400 ms.",
		Labels:      map[string]string{"team": "shop"},
		Targets: []*shakedown.TargetSpec{
			{Name: "cache", Kind: "proxy", Params: &proxyParams{Listen: "127.0.0.1:16379", Upstream: "127.0.0.1:6379"}},
			{Name: "web", Kind: "process", Params: &processParams{Name: "shop-web"},
				Select: shakedown.Selection{Mode: shakedown.SelectCount, Count: 1}},
		},
		Loads: []*shakedown.LoadSpec{{Name: "checkout", URL: "http://127.0.0.1:8080/checkout", Rate: 50, Timeout: 2 * time.Second}},
		SteadyState: []*shakedown.Check{
			{Name: "checkout p99 under 400ms", Metric: "checkout.latency.p99", Max: tol(t, "400ms"), Every: time.Second},
			{Name: "checkout errors under 1%", Metric: "checkout.errors", Max: tol(t, "1%"), Every: time.Second},
			{Name: "healthz answers", Every: time.Second, Probe: &shakedown.ProbeSpec{Type: "http",
				Params: &httpParams{URL: "http://127.0.0.1:8080/healthz", Method: "GET", Status: 200}}},
		},
		Baseline: 20 * time.Second,
		Recovery: 30 * time.Second,
		Faults: []*shakedown.FaultSpec{
			{Name: "slow-cache", Type: "proxy.latency", Target: "cache", Duration: time.Minute,
				Params: &latencyParams{Latency: shakedown.Duration(200 * time.Millisecond),
					Jitter: shakedown.Duration(20 * time.Millisecond), Toxicity: 1, Stream: "downstream"}},
			{Name: "pause-one-web", Type: "process.pause", Target: "web", After: []string{"slow-cache"}, Duration: 10 * time.Second},
		},
		StopIf: []*shakedown.Check{
			{Name: "error storm", Metric: "checkout.errors", Max: tol(t, "20%"), For: 5 * time.Second, Every: time.Second},
		},
		Expect: []*shakedown.Expectation{{Name: "cache alert fires",
			Alert:       &shakedown.AlertSpec{Prometheus: "http://127.0.0.1:9090", Name: "CacheSlow"},
			FiresWithin: time.Minute, ResolvesWithin: 2 * time.Minute}},
	}
}

var ignorePos = cmpopts.IgnoreTypes(shakedown.Pos{})

func TestDesignExample(t *testing.T) {
	reg := testRegistry()
	for _, file := range []string{"testdata/design.yaml", "testdata/design.json"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := spec.LoadFile(file, nil, reg)
			if err != nil {
				t.Fatalf("LoadFile(%s): %v", file, err)
			}
			want := designExperiment(t)
			want.File = file
			sum := sha256.Sum256(data)
			want.SHA256 = hex.EncodeToString(sum[:])
			if diff := cmp.Diff(want, got, ignorePos); diff != "" {
				t.Errorf("LoadFile(%s) mismatch (-want +got):\n%s", file, diff)
			}
		})
	}
}

// TestByteOrderMark: a file that starts with a UTF-8 byte order mark, as some editors write
// it, loads as the file without it; positions on its first line are counted after the mark.
func TestByteOrderMark(t *testing.T) {
	reg := testRegistry()
	for _, file := range []string{"testdata/design.yaml", "testdata/design.json"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := spec.Load(file, data, nil, reg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := spec.Load(file, append([]byte("\ufeff"), data...), nil, reg)
		if err != nil {
			t.Fatalf("Load(%s with a byte order mark): %v", file, err)
		}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(shakedown.Experiment{}, "SHA256")); diff != "" {
			t.Errorf("Load(%s with a byte order mark) (-without +with):\n%s", file, diff)
		}
	}
	if got := problemsOf(t, "b.yaml", "\ufeffcolour: red\n"+strings.Join(head[:2], "\n")+"\n", nil); len(got) == 0 || got[0] != (at{1, 1, "colour"}) {
		t.Errorf("problems %v, want the first at 1:1 colour", got)
	}
}

func TestDesignPositions(t *testing.T) {
	x, err := spec.LoadFile("testdata/design.yaml", nil, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]shakedown.Pos{
		"target web":    x.Targets[1].Pos,
		"load":          x.Loads[0].Pos,
		"check healthz": x.SteadyState[2].Pos,
		"fault pause":   x.Faults[1].Pos,
		"stop_if":       x.StopIf[0].Pos,
		"expect":        x.Expect[0].Pos,
	}
	f := "testdata/design.yaml"
	want := map[string]shakedown.Pos{
		"target web":    {File: f, Line: 9, Col: 3},
		"load":          {File: f, Line: 14, Col: 3},
		"check healthz": {File: f, Line: 26, Col: 5},
		"fault pause":   {File: f, Line: 40, Col: 5},
		"stop_if":       {File: f, Line: 47, Col: 5},
		"expect":        {File: f, Line: 53, Col: 5},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
}

func TestErrorKind(t *testing.T) {
	_, err := spec.Load("x.yaml", []byte("version: 2\n"), nil, testRegistry())
	if got := shakedown.KindOf(err); got != shakedown.KindInvalid {
		t.Errorf("KindOf = %v, want invalid", got)
	}
	if !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("IsKind(invalid) = false")
	}
	var ps spec.Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("errors.As(Problems) failed for %v", err)
	}
	_, err = spec.LoadFile(filepath.Join(t.TempDir(), "missing.yaml"), nil, testRegistry())
	if !shakedown.IsKind(err, shakedown.KindInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(missing) = %v, want invalid wrapping ErrNotExist", err)
	}
}

func TestProblemError(t *testing.T) {
	for _, tc := range []struct {
		p    spec.Problem
		want string
	}{
		{spec.Problem{Pos: shakedown.Pos{File: "a.yaml", Line: 3, Col: 5}, Path: "faults[0].type", Msg: "bad"}, "a.yaml:3:5: faults[0].type: bad"},
		{spec.Problem{Pos: shakedown.Pos{File: "a.yaml", Line: 3, Col: 5}, Msg: "bad"}, "a.yaml:3:5: bad"},
		{spec.Problem{Pos: shakedown.Pos{File: "a.yaml"}, Msg: "empty"}, "a.yaml: empty"},
	} {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("%#v.Error() = %q, want %q", tc.p, got, tc.want)
		}
	}
}

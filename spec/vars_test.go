package spec_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

func TestVars(t *testing.T) {
	src := lines(
		"version: ${version}",
		"name: shop-${env}",
		"description: costs $${price} in ${env}",
		"targets:",
		"  web: {process: {pid: '${pid}'}, select: '${sel}'}",
		"load:",
		"  l: {url: 'http://${host}/x', rate: '${rate}', headers: {X-Env: '${env}'}}",
		"faults:",
		"  - {name: f, type: process.pause, target: web, duration: '${d}'}",
		"steady_state:",
		"  - {name: '${env} errors', metric: l.errors, max: '${max}'}",
	)
	vars := map[string]string{"version": "1", "env": "staging", "pid": "42", "sel": "count(1)",
		"host": "127.0.0.1:8080", "rate": "20/s", "d": "PT1M", "max": "2%"}
	x, err := spec.Load("v.yaml", []byte(src), vars, testRegistry())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sum := sha256.Sum256([]byte(src))
	if x.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 = %s, want the hash of the bytes before substitution", x.SHA256)
	}
	got := struct {
		Name, Description, URL, Header, Check string
		PID                                   int
		Sel                                   shakedown.Selection
		Rate                                  shakedown.Rate
		Duration                              time.Duration
		Max                                   float64
	}{x.Name, x.Description, x.Loads[0].URL, x.Loads[0].Headers["X-Env"], x.SteadyState[0].Name,
		x.Targets[0].Params.(*processParams).PID, x.Targets[0].Select, x.Loads[0].Rate, x.Faults[0].Duration,
		x.SteadyState[0].Max.Value}
	want := got
	want.Name, want.Description = "shop-staging", "costs ${price} in staging"
	want.URL, want.Header, want.Check = "http://127.0.0.1:8080/x", "staging", "staging errors"
	want.PID, want.Sel, want.Rate, want.Duration, want.Max = 42, shakedown.Selection{Mode: shakedown.SelectCount, Count: 1}, 20, time.Minute, 0.02
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("substituted values (-want +got):\n%s", diff)
	}

	// The same file without the variables names each unset one where it is used.
	missing := problemsOf(t, "v.yaml", src, nil)
	wantMissing := []at{{1, 10, "version"}, {2, 7, "name"}, {3, 14, "description"}, {5, 24, "targets.web.process.pid"},
		{5, 43, "targets.web.select"}, {7, 12, "load.l.url"}, {7, 38, "load.l.rate"}, {7, 66, "load.l.headers.X-Env"},
		{9, 59, "faults[0].duration"}, {11, 12, "steady_state[0].name"}, {11, 52, "steady_state[0].max"}}
	if diff := cmp.Diff(wantMissing, missing); diff != "" {
		t.Errorf("problems without vars (-want +got):\n%s", diff)
	}
}

// A problem that quotes a value a secret field also holds (one variable filled into both)
// shows it masked: the file's secrets are known to no one else before it loads.
func TestProblemsHideTheFilesSecrets(t *testing.T) {
	const token = "hunter2-SECRET"
	for _, header := range []string{"'${tok}'", "'Bearer ${tok}'"} {
		src := lines(
			"version: 1",
			"name: t",
			"targets:",
			"  web: {process: {pid: 42}}",
			"load:",
			"  l: {url: 'http://127.0.0.1:1/x', rate: 10/s, headers: {Authorization: "+header+"}}",
			"faults:",
			"  - {name: f, type: process.pause, target: web, duration: 1s}",
			"steady_state:",
			"  - {name: errors, metric: l.errors, max: 1%, every: '${tok}'}",
		)
		_, err := spec.Load("s.yaml", []byte(src), map[string]string{"tok": token}, testRegistry())
		var ps spec.Problems
		if !errors.As(err, &ps) || len(ps) != 1 {
			t.Fatalf("Authorization %s: Load = %v, want one problem (the interval)", header, err)
		}
		if msg := ps[0].Error(); strings.Contains(msg, token) || !strings.Contains(msg, shakedown.Redacted) {
			t.Errorf("Authorization %s: the problem reads %q, want the token masked", header, msg)
		}
	}
}

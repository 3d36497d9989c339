package spec_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/spec"
)

func compileSchema(t *testing.T, reg *shakedown.Registry) *jsonschema.Schema {
	t.Helper()
	b, err := spec.Schema(reg)
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(spec.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(spec.SchemaID)
	if err != nil {
		t.Fatalf("Schema does not compile: %v", err)
	}
	return sch
}

// instance converts a YAML (or JSON) experiment to the value a JSON Schema validates.
func instance(t *testing.T, src string) any {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(src))
	if err != nil {
		t.Fatalf("YAMLToJSON: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatalf("UnmarshalJSON: %v", err)
	}
	return v
}

func TestSchemaAcceptsWhatLoadAccepts(t *testing.T) {
	reg := testRegistry()
	sch := compileSchema(t, reg)
	files := map[string]string{}
	for _, f := range []string{"testdata/design.yaml", "testdata/design.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(b)
	}
	files["base"] = withFault()
	files["one-shot"] = with("faults:", "  - {name: k, type: process.kill, target: web, with: {restart: [a, b]}}")
	files["no-params with"] = withFault("    with: {}")
	files["checks"] = withFault(
		"steady_state:",
		"  - {name: a, metric: shop.latency.p99, max: 2x baseline, min: 1ms, every: PT2S, for: 0}",
		"  - {name: b, metric: shop.errors, max: 0.05, window: 3 of 5, phases: [inject, recovery]}",
		"  - {name: d, tcp: {address: '127.0.0.1:1'}}",
		"phases: {baseline: 1m, recovery: 30s}",
		"blast_radius: {max_targets: 2, max_percent: 50}",
		"gate: {min_runs: 5, max_runs: 10, tolerance: 25%, floors: {ms: 5, ratio: 0.01, rps: 1, number: 0}, ignore: ['*.throughput']}",
		"expect:",
		"  - {name: x, alert: {alertmanager: 'http://127.0.0.1:9093', name: A, labels: {a: b}}, resolves_within: 1m}",
		"  - {name: y, http: {url: 'http://127.0.0.1:1/'}, recovers_within: 30s}",
	)
	for name, src := range files {
		if _, err := spec.Load(name, []byte(src), nil, reg); err != nil {
			t.Errorf("Load(%s): %v", name, err)
		}
		if err := sch.Validate(instance(t, src)); err != nil {
			t.Errorf("schema refuses %s, which Load accepts: %v", name, err)
		}
	}
}

func TestSchemaRefuses(t *testing.T) {
	reg := testRegistry()
	sch := compileSchema(t, reg)
	design, err := os.ReadFile("testdata/design.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, src string }{
		{"unknown fault type", strings.Replace(string(design), "type: process.pause", "type: process.nuke", 1)},
		{"unknown parameter", strings.Replace(string(design), "jitter: 20ms", "jitters: 20ms", 1)},
		{"missing duration", strings.Replace(string(design), "    duration: 10s\n", "", 1)},
		{"unknown target kind", strings.Replace(string(design), "process: {name: shop-web}", "pod: {name: shop-web}", 1)},
		{"unknown top-level field", string(design) + "colour: red\n"},
		{"unknown gate field", string(design) + "gate: {window: 3}\n"},
		{"negative gate floor", string(design) + "gate: {floors: {ms: -1}}\n"},
		{"bad duration", strings.Replace(string(design), "baseline: 20s", "baseline: 20 seconds", 1)},
		{"no faults", strings.Split(string(design), "faults:")[0] + "faults: []\n"},
		{"metric without bounds", with("steady_state: [{name: a, metric: shop.errors}]", "faults: [{name: f, type: process.kill, target: web}]")},
		{"unknown metric", with("steady_state: [{name: a, metric: shop.latency.p42, max: 1s}]", "faults: [{name: f, type: process.kill, target: web}]")},
		{"bad experiment name", strings.Replace(string(design), "name: ", "name: Upper-", 1)},
	} {
		if _, err := spec.Load(tc.name, []byte(tc.src), nil, reg); err == nil {
			t.Errorf("Load(%s) accepts it; the case is meant to be invalid", tc.name)
		}
		if err := sch.Validate(instance(t, tc.src)); err == nil {
			t.Errorf("schema accepts %s", tc.name)
		}
	}
}

func TestSchemaEmptyRegistry(t *testing.T) {
	sch := compileSchema(t, shakedown.NewRegistry())
	if err := sch.Validate(instance(t, "version: 1\nname: a\nfaults: [{name: f, type: exec}]\n")); err == nil {
		t.Errorf("schema of an empty registry accepts a fault")
	}
}

func TestSchemaDefaultsAndDocs(t *testing.T) {
	b, err := spec.Schema(testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	// Find the proxy.latency branch and read its toxicity parameter.
	branches := s["$defs"].(map[string]any)["fault"].(map[string]any)["oneOf"].([]any)
	var with map[string]any
	for _, br := range branches {
		props := br.(map[string]any)["properties"].(map[string]any)
		if props["type"].(map[string]any)["const"] == "proxy.latency" {
			with = props["with"].(map[string]any)
		}
	}
	if with == nil {
		t.Fatal("no proxy.latency branch")
	}
	props := with["properties"].(map[string]any)
	tox := props["toxicity"].(map[string]any)
	if tox["default"] != 1.0 || tox["description"] != "fraction of connections affected" || tox["type"] != "number" {
		t.Errorf("toxicity schema = %v", tox)
	}
	if got := with["required"]; len(got.([]any)) != 1 || got.([]any)[0] != "latency" {
		t.Errorf("required = %v, want [latency]", got)
	}
	if props["latency"].(map[string]any)["$ref"] != "#/$defs/duration" {
		t.Errorf("latency schema = %v, want a duration ref", props["latency"])
	}
}

package fis_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/cli"
	"github.com/shakedown-dev/shakedown/importer/fis"
	"github.com/shakedown-dev/shakedown/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// vars fill the ${vars} of the mapping files for validation.
var vars = map[string]string{"state": "/tmp/shop", "prometheus": "http://127.0.0.1:9090"}

// TestGolden imports each template of testdata (and the workshop's of examples/fis) with its
// mapping file, compares the result with its golden file, and validates it.
func TestGolden(t *testing.T) {
	type golden struct{ name, template, mapFile, golden string }
	cases := []golden{
		// The README shows this one: examples/fis holds it beside its template.
		{"workshop-cloudformation", "../../examples/fis/workshop.yaml", "../../examples/fis/shop-map.yaml", "../../examples/fis/stop-one-instance.yaml"},
		{"workshop-api", "../../examples/fis/workshop.json", "../../examples/fis/shop-map.yaml", ""},
	}
	files, _ := filepath.Glob("testdata/*.map.yaml")
	for _, m := range files {
		base := strings.TrimSuffix(m, ".map.yaml")
		for _, ext := range []string{".json", ".yaml"} {
			if _, err := os.Stat(base + ext); err == nil {
				cases = append(cases, golden{filepath.Base(base), base + ext, m, ""})
			}
		}
	}
	reg := cli.Registry()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := os.ReadFile(c.template)
			if err != nil {
				t.Fatal(err)
			}
			mdata, err := os.ReadFile(c.mapFile)
			if err != nil {
				t.Fatal(err)
			}
			opt := fis.Options{SkipUnsupported: strings.HasPrefix(c.name, "skip")}
			res, err := fis.Import(filepath.Base(c.template), data, filepath.Base(c.mapFile), mdata, opt)
			if err != nil {
				t.Fatalf("import %s: %v", c.template, err)
			}
			if len(res) != 1 {
				t.Fatalf("import %s: %d experiments, want 1", c.template, len(res))
			}
			got := res[0].YAML
			// A byte order mark before either file changes nothing.
			bom := []byte("\ufeff")
			if res2, err := fis.Import(filepath.Base(c.template), append(bom, data...), filepath.Base(c.mapFile), append(bom, mdata...), opt); err != nil {
				t.Errorf("import %s with byte order marks: %v", c.template, err)
			} else if diff := cmp.Diff(string(got), string(res2[0].YAML)); diff != "" {
				t.Errorf("import %s with byte order marks (-without +with):\n%s", c.template, diff)
			}
			golden := c.golden
			if golden == "" {
				golden = filepath.Join("testdata", c.name+".want.yaml")
			}
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("import %s (-want +got):\n%s", c.template, diff)
			}
			if _, err := spec.Load(golden, got, vars, reg); err != nil {
				t.Errorf("the import of %s does not validate:\n%v", c.template, err)
			}
		})
	}
}

// TestProblems checks that bad input gives every problem, each at its position, and
// nothing else.
func TestProblems(t *testing.T) {
	cases := []struct {
		name, template, mapping string
		want                    []string // "line:col: path" prefixes of the problems, in order
	}{
		{"unmapped target and alarm", `{"targets": {"t": {"resourceType": "aws:ec2:instance", "resourceTags": {"a": "b"}}},
"actions": {"x": {"actionId": "aws:ec2:reboot-instances", "targets": {"Instances": "t"}}},
"stopConditions": [{"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:us-east-1:1:alarm:A"}]}`,
			"targets: {}\n", []string{"t.json:1:14: targets.t", "t.json:3:64: stopConditions[0].value"}},
		{"bad duration", `{"targets": {"t": {"resourceType": "aws:ec2:instance", "resourceTags": {"a": "b"}}},
"actions": {"x": {"actionId": "aws:ec2:stop-instances", "parameters": {"startInstancesAfterDuration": "1 minute"}, "targets": {"Instances": "t"}}}}`,
			"targets: {\"tag:a=b\": {process: {name: web}}}\n", []string{"t.json:2:103: actions.x.parameters.startInstancesAfterDuration"}},
		{"unknown fields", `{"targets": {"t": {"resourceType": "aws:ec2:instance", "resourceTags": {"a": "b"}, "colour": "red"}},
"actions": {"x": {"actionId": "aws:ec2:reboot-instances", "targets": {"Instances": "t"}, "retries": 3}}, "owner": "me"}`,
			"targets: {\"tag:a=b\": {process: {name: web}}}\nextra: 1\n", []string{"m.yaml:2:1: extra", "t.json:1:84: targets.t.colour", "t.json:2:90: actions.x.retries", "t.json:2:106: owner"}},
		{"unsupported action", `{"targets": {"t": {"resourceType": "aws:iam:role", "resourceArns": ["arn:aws:iam::1:role/r"]}},
"actions": {"x": {"actionId": "aws:fis:inject-api-internal-error", "targets": {"Roles": "t"}}}}`,
			"", []string{"t.json:2:31: actions.x.actionId"}},
		{"paths as written", "Type: AWS::FIS::ExperimentTemplate\nProperties:\n  Targets: {T: {ResourceType: aws:ec2:instance, ResourceTags: {a: b}}}\n" +
			"  Actions: {S: {ActionId: aws:ec2:reboot-instances, Targets: {Instances: T}}}\n  StopConditions:\n    - {Source: aws:cloudwatch:alarm, Value: !Ref Alarm}\n",
			"targets: {\"tag:a=b\": {process: {name: web}}}\n", []string{"t.json:6:49: Properties.StopConditions[0].Value"}},
		{"YAML tags that change the value", "Type: AWS::FIS::ExperimentTemplate\nProperties:\n  Targets: {T: {ResourceType: aws:ec2:instance, ResourceTags: {a: !!binary Yg==}}}\n" +
			"  Actions: {S: {ActionId: aws:ec2:reboot-instances, Targets: {Instances: !!str T}}}\n",
			"targets: {\"tag:a=b\": {process: {name: web}}}\n", []string{"t.json:3:67: Properties.Targets.T.ResourceTags.a"}},
		{"malformed JSON", `{"targets": {"t": }`, "", []string{"t.json:1:1"}},
		{"malformed YAML", "Resources:\n  X:\n    Type: AWS::FIS::ExperimentTemplate\n   Properties: [\n", "", []string{"t.json:4:4"}},
		{"empty mapping", `{"targets": {}}`, "# nothing\n", []string{"m.yaml", "t.json:1:1"}},
		// An alarm's alert that is left empty, or whose values are not values, is the mapping
		// file's problem at its place; the stop condition that uses it does not crash.
		{"alert left empty", `{"targets": {"t": {"resourceType": "aws:ec2:instance", "resourceTags": {"a": "b"}}},
"actions": {"x": {"actionId": "aws:ec2:reboot-instances", "targets": {"Instances": "t"}}},
"stopConditions": [{"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:us-east-1:1:alarm:A"}]}`,
			"targets: {\"tag:a=b\": {process: {name: web}}}\nalarms: {A: {alert}}\n", []string{"m.yaml:2:15: alarms.A.alert"}},
		{"alert of lists", `{"targets": {"t": {"resourceType": "aws:ec2:instance", "resourceTags": {"a": "b"}}},
"actions": {"x": {"actionId": "aws:ec2:reboot-instances", "targets": {"Instances": "t"}}},
"stopConditions": [{"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:us-east-1:1:alarm:A"}]}`,
			"targets: {\"tag:a=b\": {process: {name: web}}}\nalarms: {A: {alert: {name: [1], prometheus: {a: b}}}}\n",
			[]string{"m.yaml:2:28: alarms.A.alert.name", "m.yaml:2:45: alarms.A.alert.prometheus"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mapping []byte
			if c.mapping != "" {
				mapping = []byte(c.mapping)
			}
			_, err := fis.Import("t.json", []byte(c.template), "m.yaml", mapping, fis.Options{})
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("Import: %v, want an error of kind invalid", err)
			}
			var ps spec.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Import: %v, want problems", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, strings.SplitN(p.Error(), ": ", 3)[0]+cond(p.Path != "", ": "+p.Path, ""))
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nall:\n%v", diff, err)
			}
		})
	}
}

func cond(b bool, x, y string) string {
	if b {
		return x
	}
	return y
}

// TestStack imports a CloudFormation template with two experiment templates: one experiment
// each, named after its Name tag or logical id; text of the template that looks like a
// ${var} is kept as it is.
func TestStack(t *testing.T) {
	tpl := `Resources:
  First:
    Type: AWS::FIS::ExperimentTemplate
    Properties:
      Description: "Stop in ${AWS::Region}"
      Tags: {Name: first-one}
      Targets: {T: {ResourceType: aws:ec2:instance, ResourceTags: {a: b}}}
      Actions: {S: {ActionId: aws:ec2:reboot-instances, Targets: {Instances: T}}}
  Role: {Type: "AWS::IAM::Role"}
  Second:
    Type: AWS::FIS::ExperimentTemplate
    Properties:
      Targets: {T: {ResourceType: aws:ec2:instance, ResourceTags: {a: b}}}
      Actions: {S: {ActionId: aws:ecs:stop-task, Targets: {Tasks: T}}}
`
	res, err := fis.Import("stack.yaml", []byte(tpl), "m.yaml", []byte(`targets: {"tag:a=b": {process: {name: web}}}`), fis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res {
		names = append(names, r.Name+"/"+r.Resource)
		x, err := spec.Load(r.Name+".yaml", r.YAML, nil, cli.Registry())
		if err != nil {
			t.Fatalf("%s does not validate: %v\n%s", r.Name, err, r.YAML)
		}
		if r.Name == "first-one" && x.Description != "Stop in ${AWS::Region}" {
			t.Errorf("description %q, want the template's as it is", x.Description)
		}
	}
	if diff := cmp.Diff([]string{"first-one/First", "second/Second"}, names); diff != "" {
		t.Errorf("experiments (-want +got):\n%s", diff)
	}
}

// TestMappingSecretsBecomeVars: a secret the mapping file writes — a URL's password or
// token, a credential header, an env: value — goes into the experiment as a ${var} of its
// own, never as it is: the output holds no secret, reads the same printed (where shakedown
// hides passwords) as written to a file, and with the values Result.Vars gives back it is
// what the mapping file says.
func TestMappingSecretsBecomeVars(t *testing.T) {
	tpl, err := os.ReadFile("../../examples/fis/workshop.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		alarm   string
		secrets []string
		want    []string // in the output, its vars filled
	}{{
		alarm:   `{http: {url: "http://ops:S3cretPw@127.0.0.1:1/healthz?page=1&token=S3cretTok", status: 200, headers: {Authorization: "Bearer S3cretBearer", Accept: text/plain}}}`,
		secrets: []string{"S3cretPw", "S3cretTok", "S3cretBearer"},
		want:    []string{`url: "http://ops:S3cretPw@127.0.0.1:1/healthz?page=1&token=S3cretTok"`, `Authorization: "Bearer S3cretBearer"`, `Accept: text/plain`},
	}, {
		alarm:   `{exec: {command: [check, "postgres://app:S3cretDb@db/x", "${state}"], env: {PGPASSWORD: S3cretEnv, PGUSER: app}}}`,
		secrets: []string{"S3cretDb", "S3cretEnv"},
		want:    []string{`"postgres://app:S3cretDb@db/x", "${state}"`, `PGPASSWORD: "S3cretEnv"`, `PGUSER: "app"`},
	}} {
		mapping := "targets:\n  \"tag:FIS-Target=true\": {process: {name: web}}\nalarms:\n  NetworkInAbnormal: " + c.alarm + "\n"
		res, err := fis.Import("workshop.json", tpl, "m.yaml", []byte(mapping), fis.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := string(res[0].YAML)
		for _, s := range c.secrets {
			if strings.Contains(out, s) {
				t.Errorf("the output holds the secret %s:\n%s", s, out)
			}
		}
		if printed := shakedown.NewRedactor().String(out); printed != out {
			t.Errorf("printed, the output reads otherwise (-file +printed):\n%s", cmp.Diff(out, printed))
		}
		all := map[string]string{"state": "/tmp/shop"}
		for k, v := range res[0].Vars {
			all[k] = v
		}
		if _, err := spec.Load("x.yaml", res[0].YAML, all, cli.Registry()); err != nil {
			t.Fatalf("the output does not validate with its vars: %v\n%s", err, out)
		}
		expanded := out
		for k, v := range res[0].Vars {
			expanded = strings.ReplaceAll(expanded, "${"+k+"}", v)
		}
		for _, want := range c.want {
			if !strings.Contains(expanded, want) {
				t.Errorf("with its vars, the output holds no %s:\n%s", want, expanded)
			}
		}
	}
}

// TestMappingLabelsAreNotSecrets: the keys of a label or selector map are names, not places
// of secrets: a label author:, auth-tier: or keycloak: stays as it is, and no --var is asked
// for it; a header or an env: value beside it still becomes one.
func TestMappingLabelsAreNotSecrets(t *testing.T) {
	tpl, err := os.ReadFile("../../examples/fis/workshop.json")
	if err != nil {
		t.Fatal(err)
	}
	mapping := `targets:
  "tag:FIS-Target=true": {container: {labels: {author: ops, auth-tier: "2", keycloak: "true", session: web}}}
alarms:
  NetworkInAbnormal: {exec: {command: [check], env: {TOKEN: S3cretEnv}}}
`
	res, err := fis.Import("workshop.json", tpl, "m.yaml", []byte(mapping), fis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res[0].YAML)
	for _, want := range []string{`author: ops`, `auth-tier: "2"`, `keycloak: "true"`, `session: web`} {
		if !strings.Contains(out, want) {
			t.Errorf("the output holds no %s: a label's key was taken for a secret's:\n%s", want, out)
		}
	}
	if strings.Contains(out, "S3cretEnv") {
		t.Errorf("the output holds the env: secret:\n%s", out)
	}
	var names []string
	for k := range res[0].Vars {
		names = append(names, k)
	}
	if len(names) != 1 {
		t.Errorf("the output asks for the vars %v, want one (the env: value's)", names)
	}
}

package fis_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/cli"
	"github.com/shakedown-dev/shakedown/importer/fis"
	"github.com/shakedown-dev/shakedown/spec"
)

// FuzzImport imports whatever bytes as a template, with a mapping that has no ${vars}: the
// importer never panics, and gives either experiments that validate or problems with
// positions.
func FuzzImport(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	more, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, more...)
	seeds = append(seeds, "../../examples/fis/workshop.yaml", "../../examples/fis/workshop.json")
	for _, name := range seeds {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "{}", "[]", "Resources: {}", `{"experimentTemplate": null}`,
		`{"actions": {"a": {"actionId": "aws:fis:wait", "parameters": {"duration": "PT1M"}, "startAfter": ["a"]}}}`,
		"Type: AWS::FIS::ExperimentTemplate\nProperties:\n  Targets: {t: {ResourceType: x, ResourceTags: {a: b}}}\n  Actions: {k: {ActionId: aws:ecs:stop-task, Targets: {Tasks: t}}}\n",
		`{"description": "${x} $${y}", "targets": {"t": {"resourceType": "aws:ec2:instance", "resourceTags": {"a": "b"}}}, "actions": {"x": {"actionId": "aws:ec2:reboot-instances", "targets": {"Instances": "t"}}}}`,
		"a: !GetAtt [x, !Ref y]\n", "a: &x [*x]\n", "a: {Fn::If: [c, 1, 2]}\n",
		"\ufeff{\"targets\": {}}", "a: !!binary dA==\nb: !!str 1\nc: !<tag:yaml.org,2002:str> x\n",
	} {
		f.Add([]byte(s))
	}
	mapping, err := os.ReadFile("testdata/fuzz.map.yaml")
	if err != nil {
		f.Fatal(err)
	}
	reg := cli.Registry()
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := fis.Import("t.yaml", data, "m.yaml", mapping, fis.Options{SkipUnsupported: len(data)%2 == 0})
		if err != nil {
			checkProblems(t, err)
			return
		}
		if len(res) == 0 {
			t.Fatal("Import returned neither experiments nor an error")
		}
		for _, r := range res {
			if _, err := spec.Load(r.Name+".yaml", r.YAML, r.Vars, reg); err != nil {
				t.Fatalf("the imported experiment does not validate: %v\n%s", err, r.YAML)
			}
		}
	})
}

// FuzzMapping imports the workshop's template with whatever bytes as the mapping file: no
// panic, and an error is a list of problems with positions.
func FuzzMapping(f *testing.F) {
	for _, name := range []string{"testdata/fuzz.map.yaml", "testdata/ecs.map.yaml", "../../examples/fis/shop-map.yaml"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("targets: [1]\nalarms: {a: 1}\nmemory: x\n"))
	tpl, err := os.ReadFile("../../examples/fis/workshop.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, mapping []byte) {
		_, err := fis.Import("t.json", tpl, "m.yaml", mapping, fis.Options{})
		if err != nil {
			checkProblems(t, err)
		}
	})
}

func checkProblems(t *testing.T, err error) {
	t.Helper()
	if !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Fatalf("error kind %v, want invalid: %v", shakedown.KindOf(err), err)
	}
	var ps spec.Problems
	if !errors.As(err, &ps) || len(ps) == 0 {
		t.Fatalf("error is not a list of problems: %v", err)
	}
	for _, p := range ps {
		if p.Pos.File == "" || p.Msg == "" {
			t.Fatalf("problem without a file or a message: %#v", p)
		}
	}
}

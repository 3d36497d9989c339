package chaostoolkit_test

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/cli"
	"github.com/shakedown-dev/shakedown/importer/chaostoolkit"
	"github.com/shakedown-dev/shakedown/spec"
)

// FuzzImport imports whatever bytes as a Chaos Toolkit experiment: the importer never panics,
// and gives either an experiment or problems with positions; an experiment with no ${vars}
// validates.
func FuzzImport(f *testing.F) {
	for _, name := range append(inputs(f), "../../examples/chaostoolkit/experiment.json") {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "{}", "[]", "title: t\nmethod: []\n", `{"title": "t", "method": [{"ref": "x"}]}`,
		`{"title": "t", "method": [{"type": "action", "name": "a", "provider": {"type": "process", "path": "kill", "arguments": "-STOP $(pidof x) | true"}}]}`,
		`{"title": "t", "steady-state-hypothesis": {"title": "h", "probes": [{"type": "probe", "name": "p", "tolerance": {"type": "range", "range": [0, 1], "target": "status"}, "provider": {"type": "process", "path": "true"}}]}, "method": [{"type": "action", "name": "a", "provider": {"type": "http", "url": "http://127.0.0.1:1/?a=b", "method": "post", "arguments": {"x": 1}}, "background": true, "pauses": {"before": 1.5}}], "rollbacks": [{"type": "action", "name": "r", "provider": {"type": "process", "path": "true"}}, {"type": "action", "name": "s", "provider": {"type": "process", "path": "false"}}]}`,
		"title: t\nmethod:\n  - {type: action, name: a, provider: {type: python, module: chaostoxi.toxic.actions, func: create_toxic, arguments: {for_proxy: p, toxic_name: t, toxic_type: reset_peer, attributes: {timeout: 5}}}}\nconfiguration: {toxiproxy_host: h}\n",
		"a: &x [*x]\n", "title: ${x\nmethod: []\n",
		`{"title": "t", "method": [{"type": "action", "name": "a", "pauses": {"after": 1e3, "before": 15e-1}, "provider": {"type": "process", "path": "true"}}]}`,
		"title: t\nmethod:\n  - {type: action, name: a, pauses: {after: 1_000, before: 0x10}, provider: {type: process, path: \"true\"}}\n",
		"\ufeff{\"title\": \"t\", \"method\": []}", "title: !!binary dA==\nmethod: !!seq []\n",
	} {
		f.Add([]byte(s))
	}
	reg := cli.Registry()
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := chaostoolkit.Import("x.yaml", data)
		if err != nil {
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
			return
		}
		if res == nil || len(res.YAML) == 0 {
			t.Fatal("Import returned neither an experiment nor an error")
		}
		if bytes.Contains(res.YAML, []byte("${")) {
			return // its values are the user's
		}
		if _, err := spec.Load("x.yaml", res.YAML, nil, reg); err != nil {
			t.Fatalf("the imported experiment does not validate: %v\n%s", err, res.YAML)
		}
	})
}

package chaostoolkit_test

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
	"github.com/shakedown-dev/shakedown/importer/chaostoolkit"
	"github.com/shakedown-dev/shakedown/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// unset gives the ${vars} the experiments of testdata leave without a value one, for
// validation.
var unset = map[string]string{"api_token": "t0ken"}

// inputs lists the Chaos Toolkit experiments of testdata, the golden files left out.
func inputs(t testing.TB) []string {
	var out []string
	for _, pat := range []string{"testdata/*.json", "testdata/*.yaml"} {
		files, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !strings.Contains(f, ".want.") {
				out = append(out, f)
			}
		}
	}
	return out
}

// TestGolden imports each experiment of testdata (and the README's, in
// examples/chaostoolkit), compares the result with its golden file, and validates it with
// the values the experiment gives its ${vars}.
func TestGolden(t *testing.T) {
	type golden struct{ name, in, want string }
	cases := []golden{{"example", "../../examples/chaostoolkit/experiment.json", "../../examples/chaostoolkit/experiment.yaml"}}
	for _, in := range inputs(t) {
		base := strings.TrimSuffix(in, filepath.Ext(in))
		cases = append(cases, golden{filepath.Base(base), in, base + ".want.yaml"})
	}
	reg := cli.Registry()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data, err := os.ReadFile(c.in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := chaostoolkit.Import(filepath.Base(c.in), data)
			if err != nil {
				t.Fatalf("import %s: %v", c.in, err)
			}
			// A byte order mark before the file changes nothing.
			if res2, err := chaostoolkit.Import(filepath.Base(c.in), append([]byte("\ufeff"), data...)); err != nil {
				t.Errorf("import %s with a byte order mark: %v", c.in, err)
			} else if diff := cmp.Diff(string(res.YAML), string(res2.YAML)); diff != "" {
				t.Errorf("import %s with a byte order mark (-without +with):\n%s", c.in, diff)
			}
			if *update {
				if err := os.WriteFile(c.want, res.YAML, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(c.want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(res.YAML)); diff != "" {
				t.Errorf("import %s (-want +got):\n%s", c.in, diff)
			}
			vars := map[string]string{}
			for k, v := range res.Vars {
				vars[k] = v
			}
			for _, k := range res.Unset {
				v, ok := unset[k]
				if !ok {
					t.Fatalf("import %s: ${%s} has no value; give it one in unset", c.in, k)
				}
				vars[k] = v
			}
			if _, err := spec.Load(c.want, res.YAML, vars, reg); err != nil {
				t.Errorf("the import of %s does not validate:\n%v", c.in, err)
			}
		})
	}
}

// TestExponentNumbers: a number written with an exponent and no point (1e3, as Python's
// json writes large floats) is a number of seconds.
func TestExponentNumbers(t *testing.T) {
	for _, c := range []struct{ after, want string }{{"1e3", "16m40s"}, {"1E3", "16m40s"}, {"15e-1", "1.5s"}} {
		text := `{"title": "t", "method": [{"type": "action", "name": "a", "pauses": {"after": ` + c.after + `}, "provider": {"type": "process", "path": "true"}}]}`
		res, err := chaostoolkit.Import("x.json", []byte(text))
		if err != nil {
			t.Errorf("after %s: %v", c.after, err)
			continue
		}
		if !strings.Contains(string(res.YAML), "duration: "+c.want) {
			t.Errorf("after %s: want duration %s in\n%s", c.after, c.want, res.YAML)
		}
	}
}

// TestProblems checks that bad input gives every problem, each at its position, and nothing
// else.
func TestProblems(t *testing.T) {
	const hypo = `"steady-state-hypothesis": {"title": "t", "probes": [`
	const method = `"method": [{"type": "action", "name": "a", "provider": {"type": "process", "path": "true"}}]`
	cases := []struct {
		name, file, text string
		want             []string // "line:col: path" prefixes of the problems, in order
	}{
		{"malformed JSON", "x.json", `{"title": "t", "method": [}`, []string{"x.json:1:27"}},
		{"malformed YAML", "x.yaml", "title: t\nmethod:\n  - type: action\n   name: a\n", []string{"x.yaml:4:4"}},
		{"missing fields", "x.json", `{"method": [{"type": "action", "provider": {"type": "http"}}]}`,
			[]string{"x.json:1:1: title", "x.json:1:13: method[0]", "x.json:1:44: method[0].provider.url"}},
		{"unknown fields", "x.json", `{"title": "t", "colour": "red", ` + hypo + `{"type": "probe", "name": "p", "tolerance": 0, "retries": 3, "provider": {"type": "process", "path": "true", "shell": true}}]}, ` + method + `}`,
			[]string{"x.json:1:16: colour", "x.json:1:133: steady-state-hypothesis.probes[0].retries", "x.json:1:195: steady-state-hypothesis.probes[0].provider.shell"}},
		{"python not in the table", "x.json", `{"title": "t", "method": [{"type": "action", "name": "a", "provider": {"type": "python", "module": "chaosaws.ec2.actions", "func": "stop_instances"}}]}`,
			[]string{"x.json:1:71: method[0].provider"}},
		{"unknown tolerance shape", "x.json", `{"title": "t", ` + hypo + `{"type": "probe", "name": "p", "tolerance": {"type": "between", "low": 1}, "provider": {"type": "http", "url": "http://127.0.0.1:1/"}}]}, ` + method + `}`,
			[]string{"x.json:1:122: steady-state-hypothesis.probes[0].tolerance.type"}},
		{"tolerance with no check", "x.json", `{"title": "t", ` + hypo + `{"type": "probe", "name": "p", "tolerance": true, "provider": {"type": "http", "url": "http://127.0.0.1:1/"}}]}, ` + method + `}`,
			[]string{"x.json:1:113: steady-state-hypothesis.probes[0].tolerance"}},
		{"probe without tolerance", "x.json", `{"title": "t", ` + hypo + `{"type": "probe", "name": "p", "provider": {"type": "http", "url": "http://127.0.0.1:1/"}}]}, ` + method + `}`,
			[]string{"x.json:1:69: steady-state-hypothesis.probes[0]"}},
		{"bad toxic argument and listen port", "x.yaml", "title: t\nconfiguration: {toxiproxy_host: 127.0.0.1}\nmethod:\n  - {type: action, name: p, provider: {type: python, module: chaostoxi.proxy.actions, func: create_proxy, arguments: {proxy_name: pg, upstream_host: h, upstream_port: 1}}}\n  - {type: action, name: a, provider: {type: python, module: chaostoxi.toxic.actions, func: create_latency_toxic, arguments: {for_proxy: pg, toxic_name: t, latency: 1, colour: red}}}\n",
			[]string{"x.yaml:4:39: method[0].provider", "x.yaml:5:169: method[1].provider.arguments.colour"}},
		{"bad ref and pause", "x.yaml", "title: t\nmethod:\n  - {ref: nothing}\n  - {type: action, name: a, pauses: {after: soon}, provider: {type: process, path: \"true\"}}\n",
			[]string{"x.yaml:3:11: method[0].ref", "x.yaml:4:45: method[1].pauses.after"}},
		{"pauses not decimal", "x.yaml", "title: t\nmethod:\n  - {type: action, name: a, pauses: {after: 1_000, before: 0x10}, provider: {type: process, path: \"true\"}}\n",
			[]string{"x.yaml:3:45: method[0].pauses.after", "x.yaml:3:60: method[0].pauses.before"}},
		{"status not decimal", "x.yaml", "title: t\nsteady-state-hypothesis: {title: h, probes: [{type: probe, name: p, tolerance: 0x20, provider: {type: process, path: \"true\"}}]}\nmethod: [{type: action, name: a, provider: {type: process, path: \"true\"}}]\n",
			[]string{"x.yaml:2:80: steady-state-hypothesis.probes[0].tolerance"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := chaostoolkit.Import(c.file, []byte(c.text))
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Fatalf("Import: %v, want an error of kind invalid", err)
			}
			var ps spec.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("Import: %v, want problems", err)
			}
			var got []string
			for _, p := range ps {
				s := strings.SplitN(p.Error(), ": ", 3)[0]
				if p.Path != "" {
					s += ": " + p.Path
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nall:\n%v", diff, err)
			}
		})
	}
}

// TestURLPasswordNeverShown: a provider URL that is refused — one that does not parse
// where its password holds # and /, one of another scheme — is refused at its field
// without its password.
func TestURLPasswordNeverShown(t *testing.T) {
	for _, u := range []string{"http://ops:hun#ter/2@127.0.0.1:1/", "ftp://ops:hunter2@127.0.0.1/", "http://ops:hunter2@127.0.0.1:99999/"} {
		text := `{"title": "t", "method": [{"type": "action", "name": "a", "provider": {"type": "http", "url": "` + u + `"}}]}`
		_, err := chaostoolkit.Import("x.json", []byte(text))
		if !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Fatalf("%s: Import: %v, want an error of kind invalid", u, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "method[0].provider.url") || strings.Contains(msg, "hun") {
			t.Errorf("%s: %v, want the problem at the url without the password", u, msg)
		}
	}
}

// TestSecretsBecomeVars: a secret the experiment writes out — a URL's password or token, in
// a provider's url or a process's arguments, a credential header, a configuration value that
// holds one — is written as a ${var} of its own, never as it is: the output holds no secret,
// reads the same printed (where shakedown hides passwords) as written to a file, and with
// the values Result.Vars gives back for validation it is the experiment imported.
func TestSecretsBecomeVars(t *testing.T) {
	text := `{"title": "t",
 "configuration": {"db": "postgres://app:S3cretDb@db/x", "api_key": "S3cretKey", "plain": "http://h/"},
 "steady-state-hypothesis": {"title": "h", "probes": [
  {"type": "probe", "name": "p", "tolerance": 200, "provider": {"type": "http",
   "url": "http://bob:S3cretPw@127.0.0.1:1/?page=2&access_token=S3cretTok",
   "headers": {"Authorization": "Bearer S3cretBearer", "X-Api-Key": "S3cretHeader", "Accept": "text/plain"}}},
  {"type": "probe", "name": "q", "tolerance": 200, "provider": {"type": "http", "url": "${plain}?token=S3cretQ"}}]},
 "method": [
  {"type": "action", "name": "a", "provider": {"type": "process", "path": "psql", "arguments": ["${db}", "postgres://u:S3cretArg@h/x"]}},
  {"type": "action", "name": "b", "provider": {"type": "process", "path": "sh", "arguments": "-c 'curl http://u:S3cretSh@h/ | cat'"}},
  {"type": "action", "name": "c", "provider": {"type": "http", "url": "http://h/", "method": "POST", "headers": {"Cookie": "s=S3cretCookie"}}}]}`
	res, err := chaostoolkit.Import("x.json", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.YAML)
	secrets := []string{"S3cretDb", "S3cretKey", "S3cretPw", "S3cretTok", "S3cretBearer", "S3cretHeader", "S3cretQ", "S3cretArg", "S3cretSh", "S3cretCookie"}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the output holds the secret %s:\n%s", s, out)
		}
	}
	if printed := shakedown.NewRedactor().String(out); printed != out {
		t.Errorf("printed, the output reads otherwise (-file +printed):\n%s", cmp.Diff(out, printed))
	}
	vars := map[string]string{}
	for k, v := range res.Vars {
		vars[k] = v
	}
	if _, err := spec.Load("x.yaml", res.YAML, vars, cli.Registry()); err != nil {
		t.Fatalf("the output does not validate with its vars: %v\n%s", err, out)
	}
	expanded := out
	for k, v := range vars {
		expanded = strings.ReplaceAll(expanded, "${"+k+"}", v)
	}
	for _, want := range []string{
		`url: "http://bob:S3cretPw@127.0.0.1:1/?page=2&access_token=S3cretTok"`,
		`Authorization: "Bearer S3cretBearer"`, `X-Api-Key: "S3cretHeader"`, `Accept: text/plain`,
		`url: "http://h/?token=S3cretQ"`,
		`inject: [psql, "postgres://app:S3cretDb@db/x", "postgres://u:S3cretArg@h/x"]`,
		`"curl http://u:S3cretSh@h/ | cat"`, `"Cookie: s=S3cretCookie"`,
	} {
		if !strings.Contains(expanded, want) {
			t.Errorf("with its vars, the output holds no %s:\n%s", want, expanded)
		}
	}
}

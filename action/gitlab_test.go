package action

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

var update = flag.Bool("update", false, "copy action/install.sh and action/run.sh into templates/shakedown.yml")

// componentSpec is the component's header: spec: inputs:, decoded strictly.
type componentSpec struct {
	Spec struct {
		Inputs map[string]struct {
			Description string   `yaml:"description"`
			Type        string   `yaml:"type"`
			Default     any      `yaml:"default"`
			Options     []string `yaml:"options"`
		} `yaml:"inputs"`
	} `yaml:"spec"`
}

// gitlabJob is the part of a job this runner knows, decoded strictly.
type gitlabJob struct {
	Stage     string            `yaml:"stage"`
	Variables map[string]string `yaml:"variables"`
	Script    []string          `yaml:"script"`
	Artifacts struct {
		When     string   `yaml:"when"`
		ExposeAs string   `yaml:"expose_as"`
		Paths    []string `yaml:"paths"`
		Reports  struct {
			JUnit string `yaml:"junit"`
		} `yaml:"reports"`
	} `yaml:"artifacts"`
}

const templatePath = "../templates/shakedown.yml"

// embedded marks the copies of the scripts in the template: a heredoc per script.
var embedded = []struct{ file, delim string }{
	{"install.sh", "SHAKEDOWN_INSTALL"},
	{"run.sh", "SHAKEDOWN_RUN"},
}

func heredocRE(delim string) *regexp.Regexp {
	return regexp.MustCompile(`(?s)(<<'` + delim + `'\n)(.*?\n)( *` + delim + `\n)`)
}

// unindent removes the block scalar's indentation (that of the heredoc's last line).
func unindent(body, indent string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(body, "\n") {
		b.WriteString(strings.TrimPrefix(l, indent))
	}
	return b.String()
}

// The component's shell is the action's: the copies in templates/shakedown.yml are
// action/install.sh and action/run.sh, byte for byte (go test -update copies them).
func TestGitLabComponentEmbedsTheActionsScripts(t *testing.T) {
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := string(b)
	for _, e := range embedded {
		script, err := os.ReadFile(e.file)
		if err != nil {
			t.Fatal(err)
		}
		re := heredocRE(e.delim)
		m := re.FindStringSubmatch(tmpl)
		if m == nil {
			t.Fatalf("%s: no <<'%s' heredoc", templatePath, e.delim)
		}
		indent := strings.TrimSuffix(m[3], e.delim+"\n")
		if *update {
			var ind strings.Builder
			for _, l := range strings.SplitAfter(string(script), "\n") {
				if strings.TrimSpace(l) != "" {
					ind.WriteString(indent)
				}
				ind.WriteString(l)
			}
			tmpl = re.ReplaceAllLiteralString(tmpl, m[1]+ind.String()+m[3])
			continue
		}
		if got := unindent(m[2], indent); got != string(script) {
			t.Errorf("%s's copy of %s differs from it; go test -update ./action/ copies it", templatePath, e.file)
		}
	}
	if *update {
		if err := os.WriteFile(templatePath, []byte(tmpl), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// component reads the template and interpolates its inputs, as GitLab does when a pipeline
// includes it: each $[[ inputs.NAME ]] in a key or a value, after YAML parsing; an input
// without a default must be given, and any other $[[ ]] fails the test.
func component(t *testing.T, inputs map[string]string) (name string, job gitlabJob) {
	t.Helper()
	b, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b), yaml.Strict())
	var spec componentSpec
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("%s: spec: %v", templatePath, err)
	}
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("%s: jobs: %v", templatePath, err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: want two documents, spec and jobs: %v", templatePath, err)
	}
	values := map[string]string{}
	for k, in := range spec.Spec.Inputs {
		v, given := inputs[k]
		switch {
		case given:
		case in.Default == nil:
			t.Fatalf("input %s has no default and was not given", k)
		default:
			v = fmt.Sprint(in.Default)
		}
		if in.Type == "boolean" && v != "true" && v != "false" {
			t.Fatalf("input %s: %q is not a boolean", k, v)
		}
		if len(in.Options) > 0 && !contains(in.Options, v) {
			t.Fatalf("input %s: %q is not one of %q", k, v, in.Options)
		}
		values[k] = v
	}
	for k := range inputs {
		if _, ok := values[k]; !ok {
			t.Fatalf("input %s is not one of the component's", k)
		}
	}
	re := regexp.MustCompile(`\$\[\[(.*?)\]\]`)
	interp := func(s string) string {
		return re.ReplaceAllStringFunc(s, func(m string) string {
			expr := strings.TrimSpace(re.FindStringSubmatch(m)[1])
			k, ok := strings.CutPrefix(expr, "inputs.")
			v, known := values[k]
			if !ok || !known {
				t.Fatalf("%s: %q: this runner interpolates only inputs.NAME of declared inputs", templatePath, m)
			}
			return v
		})
	}
	var walk func(any) any
	walk = func(n any) any {
		switch n := n.(type) {
		case string:
			return interp(n)
		case map[string]any:
			out := map[string]any{}
			for k, v := range n {
				out[interp(k)] = walk(v)
			}
			return out
		case []any:
			out := make([]any, len(n))
			for i, v := range n {
				out[i] = walk(v)
			}
			return out
		}
		return n
	}
	jobs := walk(body).(map[string]any)
	if len(jobs) != 1 {
		t.Fatalf("%s: %d jobs, want one", templatePath, len(jobs))
	}
	for k, v := range jobs {
		name = k
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalWithOptions(b, &job, yaml.Strict()); err != nil {
			t.Fatalf("job %s: %v", k, err)
		}
	}
	return name, job
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runJob runs a job's script as GitLab's shell executor does with bash: the entries, in one
// shell, under set -eo pipefail, in CI_PROJECT_DIR, with the predefined variables and the
// job's own (expanded like GitLab expands them: $NAME of those defined before). It returns
// the job's exit code.
func runJob(t *testing.T, job gitlabJob, projectDir string) int {
	t.Helper()
	vars := map[string]string{"CI": "true", "GITLAB_CI": "true", "CI_PROJECT_DIR": projectDir}
	tmp := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "TMPDIR" || strings.HasPrefix(k, "CI_") || strings.HasPrefix(k, "GITHUB_") ||
			strings.HasPrefix(k, "INPUT_") || strings.HasPrefix(k, "SHAKEDOWN_") {
			continue
		}
		env = append(env, kv)
	}
	jobVars := map[string]string{}
	for k, v := range job.Variables {
		jobVars[k] = os.Expand(v, func(name string) string {
			if x, ok := vars[name]; ok {
				return x
			}
			t.Fatalf("variable %s: $%s is not a predefined variable this runner sets", k, name)
			return ""
		})
	}
	env = append(env, "TMPDIR="+tmp) // where the job's mktemp puts the scripts and the binary
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	for k, v := range jobVars {
		env = append(env, k+"="+v)
	}
	script := filepath.Join(tmp, "job.sh")
	if err := os.WriteFile(script, []byte("set -eo pipefail\n"+strings.Join(job.Script, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", script)
	cmd.Dir, cmd.Env = projectDir, env
	out, err := cmd.CombinedOutput()
	t.Logf("job output:\n%s", out)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return 0
}

// The component's job against real experiments: built from the project's checkout it passes;
// with a release it fails with the run's code and its artifacts exist; with a release whose
// checksum does not match it fails before running anything.
func TestGitLabComponentJob(t *testing.T) {
	bin := releasedBinary(t)
	name := asset("v1.2.3")
	good := serveRelease(t, map[string][]byte{
		"/v1.2.3/" + name: bin, "/v1.2.3/SHA256SUMS": []byte(sha(bin) + "  " + name + "\n"),
	})
	bad := serveRelease(t, map[string][]byte{
		"/v1.2.3/" + name: bin, "/v1.2.3/SHA256SUMS": []byte(sha([]byte("not it")) + "  " + name + "\n"),
	})
	for _, tc := range []struct {
		name     string
		inputs   map[string]string
		wantCode int
		ran      bool // whether shakedown ran and wrote reports
		junit    string
	}{
		{"source passes", map[string]string{"experiments": "a-passes.yaml", "working-directory": "ci",
			"vars": "mark=marked\nother=x y", "args": "--progress plain"}, 0, true, `name="a-passes"`},
		{"release fails", map[string]string{"experiments": "b-fails.yaml", "working-directory": "ci",
			"version": "v1.2.3", "release-url": good.URL, "reports-dir": "out/reports"}, 1, true, "<failure"},
		{"checksum mismatch", map[string]string{"experiments": "a-passes.yaml", "working-directory": "ci",
			"version": "v1.2.3", "release-url": bad.URL}, 1, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			project := t.TempDir()
			if tc.inputs["version"] == "" {
				linkCheckout(t, project) // to build from source, the project is shakedown's checkout
			}
			writeFiles(t, project, map[string]string{"ci/a-passes.yaml": passing, "ci/b-fails.yaml": failing, "ci/present": ""})
			jobName, job := component(t, tc.inputs)
			if jobName != "shakedown" || job.Stage != "test" {
				t.Errorf("job %q in stage %q, want shakedown in test", jobName, job.Stage)
			}
			if job.Artifacts.When != "always" {
				t.Errorf("artifacts: when %q, want always (reports of a failed run are kept)", job.Artifacts.When)
			}
			if code := runJob(t, job, project); code != tc.wantCode {
				t.Fatalf("job exited %d, want %d", code, tc.wantCode)
			}
			paths := append([]string{job.Artifacts.Reports.JUnit}, job.Artifacts.Paths...)
			for _, p := range paths {
				_, err := os.Stat(filepath.Join(project, p))
				if tc.ran && err != nil {
					t.Errorf("artifact %s: %v", p, err)
				}
				if !tc.ran && !os.IsNotExist(err) {
					t.Errorf("artifact %s exists (%v), want nothing run", p, err)
				}
			}
			if _, err := os.Stat(filepath.Join(project, "ci", "marked")); tc.inputs["vars"] != "" && err != nil {
				t.Errorf("the fault did not touch the file its --var names: %v", err)
			}
			if tc.ran {
				if got := mustRead(t, filepath.Join(project, job.Artifacts.Reports.JUnit)); !strings.Contains(got, tc.junit) {
					t.Errorf("junit report lacks %q:\n%s", tc.junit, got)
				}
			}
		})
	}
}

// linkCheckout makes dir look like a checkout of shakedown: a symbolic link to each of the
// repository's top-level files and folders (not .git: the build is stamped "source").
func linkCheckout(t *testing.T, dir string) {
	t.Helper()
	root := repoRoot(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == ".git" {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

// The shop's GitLab pipeline includes the component with inputs it declares, of the types it
// declares, and every input without a default.
func TestShopPipelineIncludesTheComponent(t *testing.T) {
	b, err := os.ReadFile("../examples/shop/pipeline/gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var pipeline struct {
		Include []struct {
			Component string         `yaml:"component"`
			Inputs    map[string]any `yaml:"inputs"`
		} `yaml:"include"`
	}
	if err := yaml.Unmarshal(b, &pipeline); err != nil {
		t.Fatal(err)
	}
	if len(pipeline.Include) != 1 || pipeline.Include[0].Component != "$CI_SERVER_FQDN/shakedown-dev/shakedown/shakedown@v1" {
		t.Fatalf("include: %+v, want the shakedown component at v1", pipeline.Include)
	}
	inputs := map[string]string{}
	for k, v := range pipeline.Include[0].Inputs {
		inputs[k] = fmt.Sprint(v)
	}
	name, job := component(t, inputs)
	if name != "faults" || job.Stage != "faults" {
		t.Errorf("the component's job is %q in stage %q, want faults in faults", name, job.Stage)
	}
}

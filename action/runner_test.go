package action

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

// actionFile is action.yml's metadata, decoded strictly: a key this runner does not know
// fails the test rather than being ignored.
type actionFile struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Author      string            `yaml:"author"`
	Branding    map[string]string `yaml:"branding"`
	Inputs      map[string]struct {
		Description string `yaml:"description"`
		Required    bool   `yaml:"required"`
		Default     string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
		Value       string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

type actionStep struct {
	Name             string            `yaml:"name"`
	ID               string            `yaml:"id"`
	If               string            `yaml:"if"`
	Shell            string            `yaml:"shell"`
	Run              string            `yaml:"run"`
	WorkingDirectory string            `yaml:"working-directory"`
	Env              map[string]string `yaml:"env"`
	Uses             string            `yaml:"uses"`
	With             map[string]string `yaml:"with"`
}

func readAction(t *testing.T, path string) *actionFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var a actionFile
	if err := yaml.UnmarshalWithOptions(b, &a, yaml.Strict()); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return &a
}

// runner runs a composite action's steps the way GitHub's runner does: each run: step is a
// bash script (bash --noprofile --norc -e -o pipefail FILE) with its own GITHUB_OUTPUT file,
// ${{ }} expressions are evaluated before the step runs, a step's if: decides whether it runs
// (success() unless it names a status function), and GITHUB_ENV and GITHUB_PATH carry over
// to later steps. A uses: step (another action) is not run: the with: it would get is kept.
type runner struct {
	t          *testing.T
	action     *actionFile
	actionPath string            // GITHUB_ACTION_PATH
	workspace  string            // GITHUB_WORKSPACE
	temp       string            // RUNNER_TEMP
	summary    string            // GITHUB_STEP_SUMMARY
	env        map[string]string // the job's environment, GITHUB_ENV's additions included
	path       []string          // GITHUB_PATH's additions, the last first
	inputs     map[string]string
	steps      map[string]map[string]string // step id → outputs
}

// result is what a job sees of the action.
type result struct {
	ran       []string            // the steps that ran, by name
	failed    string              // the step that failed, if one did
	exitCode  int                 // its exit code
	outputs   map[string]string   // the action's outputs
	uploads   []map[string]string // the with: of each uses: step that would have run
	usesNames []string            // and the action it names
	logs      map[string]string   // what each run: step printed, by name
}

func newRunner(t *testing.T, actionPath string, inputs map[string]string) *runner {
	t.Helper()
	root := t.TempDir()
	r := &runner{
		t: t, action: readAction(t, filepath.Join(actionPath, "action.yml")), actionPath: actionPath,
		workspace: filepath.Join(root, "workspace"), temp: filepath.Join(root, "temp"),
		summary: filepath.Join(root, "files", "step_summary"),
		inputs:  map[string]string{}, steps: map[string]map[string]string{},
	}
	for _, d := range []string{r.workspace, r.temp, filepath.Dir(r.summary)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, in := range r.action.Inputs {
		v, ok := inputs[name]
		switch {
		case ok:
		case in.Required:
			t.Fatalf("input %s is required", name)
		default:
			v = in.Default
		}
		r.inputs[name] = v
	}
	for name := range inputs {
		if _, ok := r.action.Inputs[name]; !ok {
			t.Fatalf("input %s is not one of action.yml's", name)
		}
	}
	r.env = map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "RUNNER_") ||
			strings.HasPrefix(k, "INPUT_") || strings.HasPrefix(k, "SHAKEDOWN_") {
			continue // the job's environment is the runner's, not the test's
		}
		r.env[k] = v
	}
	for k, v := range map[string]string{
		"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": r.workspace, "RUNNER_TEMP": r.temp,
		"GITHUB_STEP_SUMMARY": r.summary, "GITHUB_ENV": filepath.Join(root, "files", "env"),
		"GITHUB_PATH": filepath.Join(root, "files", "path"),
	} {
		r.env[k] = v
	}
	return r
}

var exprRE = regexp.MustCompile(`\$\{\{(.*?)\}\}`)

// expand evaluates every ${{ }} in s. It knows the contexts action.yml uses and fails the
// test on any other, so that an expression it cannot evaluate never passes as empty.
func (r *runner) expand(s string) string {
	r.t.Helper()
	return exprRE.ReplaceAllStringFunc(s, func(m string) string {
		return r.value(strings.TrimSpace(exprRE.FindStringSubmatch(m)[1]))
	})
}

var (
	inputRE  = regexp.MustCompile(`^inputs\.([A-Za-z0-9_-]+)$`)
	outputRE = regexp.MustCompile(`^steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)$`)
)

func (r *runner) value(expr string) string {
	r.t.Helper()
	if expr == "github.action_path" {
		return r.actionPath
	}
	if m := inputRE.FindStringSubmatch(expr); m != nil {
		v, ok := r.inputs[m[1]]
		if !ok {
			r.t.Fatalf("expression %q: no input %s", expr, m[1])
		}
		return v
	}
	if m := outputRE.FindStringSubmatch(expr); m != nil {
		if !r.hasStep(m[1]) {
			r.t.Fatalf("expression %q: no step with id %s", expr, m[1])
		}
		return r.steps[m[1]][m[2]] // a step that did not run, or did not set it: empty
	}
	r.t.Fatalf("expression %q: this runner does not evaluate it", expr)
	return ""
}

func (r *runner) hasStep(id string) bool {
	for _, s := range r.action.Runs.Steps {
		if s.ID == id {
			return true
		}
	}
	return false
}

var compareRE = regexp.MustCompile(`^(.+?)\s*(==|!=)\s*'([^']*)'$`)

// condition evaluates an if: with the job's status so far: terms joined by &&, each a status
// function or a comparison of a context value with a string (case-insensitive, as GitHub's).
func (r *runner) condition(cond string, failed bool) bool {
	r.t.Helper()
	cond = strings.TrimSpace(cond)
	if m := regexp.MustCompile(`^\$\{\{(.*)\}\}$`).FindStringSubmatch(cond); m != nil {
		cond = strings.TrimSpace(m[1])
	}
	if cond == "" {
		cond = "success()"
	}
	ok, status := true, false
	for _, term := range strings.Split(cond, "&&") {
		term = strings.TrimSpace(term)
		switch term {
		case "always()":
			status = true
		case "success()":
			status, ok = true, ok && !failed
		case "failure()":
			status, ok = true, ok && failed
		default:
			m := compareRE.FindStringSubmatch(term)
			if m == nil || strings.ContainsAny(m[1], "()!|&") {
				r.t.Fatalf("if %q: this runner does not evaluate %q", cond, term)
			}
			eq := strings.EqualFold(r.value(m[1]), m[3])
			ok = ok && eq == (m[2] == "==")
		}
	}
	if !status { // no status function: success() is implied
		ok = ok && !failed
	}
	return ok
}

// run runs the action's steps in order.
func (r *runner) run() result {
	r.t.Helper()
	res := result{logs: map[string]string{}}
	for i, s := range r.action.Runs.Steps {
		if !r.condition(s.If, res.failed != "") {
			continue
		}
		if s.Uses != "" {
			with := map[string]string{}
			for k, v := range s.With {
				with[k] = r.expand(v)
			}
			res.uploads = append(res.uploads, with)
			res.usesNames = append(res.usesNames, s.Uses)
			res.ran = append(res.ran, s.Name)
			continue
		}
		res.ran = append(res.ran, s.Name)
		code, log := r.runStep(i, s)
		res.logs[s.Name] = log
		if code != 0 && res.failed == "" {
			res.failed, res.exitCode = s.Name, code
		}
	}
	res.outputs = map[string]string{}
	for name, o := range r.action.Outputs {
		res.outputs[name] = r.expand(o.Value)
	}
	return res
}

// runStep runs one run: step and returns its exit code and what it printed.
func (r *runner) runStep(i int, s actionStep) (int, string) {
	r.t.Helper()
	if s.Shell != "bash" {
		r.t.Fatalf("step %q: shell %q: this runner runs bash only", s.Name, s.Shell)
	}
	files := filepath.Dir(r.summary)
	script := filepath.Join(r.temp, fmt.Sprintf("step-%d.sh", i))
	output := filepath.Join(files, fmt.Sprintf("output-%d", i))
	for _, f := range []string{output, r.env["GITHUB_ENV"], r.env["GITHUB_PATH"]} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := os.WriteFile(script, []byte(r.expand(s.Run)), 0o644); err != nil {
		r.t.Fatal(err)
	}
	env := map[string]string{}
	for k, v := range r.env {
		env[k] = v
	}
	env["GITHUB_OUTPUT"], env["GITHUB_ACTION_PATH"] = output, r.actionPath
	if len(r.path) > 0 {
		env["PATH"] = strings.Join(r.path, ":") + ":" + env["PATH"]
	}
	for k, v := range s.Env {
		env[k] = r.expand(v)
	}
	dir := r.workspace
	if s.WorkingDirectory != "" {
		if dir = r.expand(s.WorkingDirectory); !filepath.IsAbs(dir) {
			dir = filepath.Join(r.workspace, dir)
		}
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-o", "pipefail", script)
	cmd.Dir = dir
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	r.t.Logf("step %q:\n%s", s.Name, out)
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			r.t.Fatalf("step %q: %v", s.Name, err)
		}
		code = ee.ExitCode()
	}
	if s.ID != "" {
		r.steps[s.ID] = r.readKeyValues(output)
	}
	for k, v := range r.readKeyValues(r.env["GITHUB_ENV"]) {
		r.env[k] = v
	}
	if b, err := os.ReadFile(r.env["GITHUB_PATH"]); err == nil {
		for _, p := range strings.Fields(string(b)) {
			r.path = append([]string{p}, r.path...)
		}
	}
	return code, string(out)
}

// readKeyValues reads a GITHUB_OUTPUT or GITHUB_ENV file: name=value lines, and
// name<<DELIMITER lines followed by a value's lines and DELIMITER. Anything else fails the
// test, as the runner fails the step.
func (r *runner) readKeyValues(path string) map[string]string {
	r.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if k, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(k, "=") {
			var lines []string
			ended := false
			for !ended && sc.Scan() {
				if ended = sc.Text() == delim; !ended {
					lines = append(lines, sc.Text())
				}
			}
			if !ended {
				r.t.Fatalf("%s: %s<<%s has no closing %s", path, k, delim, delim)
			}
			kv[k] = strings.Join(lines, "\n")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			r.t.Fatalf("%s: %q is neither name=value nor name<<DELIMITER", path, line)
		}
		kv[k] = v
	}
	if err := sc.Err(); err != nil {
		r.t.Fatal(err)
	}
	return kv
}

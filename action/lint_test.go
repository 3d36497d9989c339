package action

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

var (
	jobsRE = regexp.MustCompile(`(?m)^jobs:`)
	onRE   = regexp.MustCompile(`(?m)^(on|"on"):`)
)

// workflows lists the repository's GitHub Actions workflows: every file under
// .github/workflows, and any other YAML file with top-level on: and jobs: (the examples').
func workflows(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "bin", "out":
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext != ".yml" && ext != ".yaml" {
			return nil
		}
		if strings.HasPrefix(rel, filepath.Join(".github", "workflows")+"/") {
			files = append(files, rel)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if jobsRE.Match(b) && onRE.Match(b) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// actionlint passes on every workflow of the repository; the workflows that use the action
// (uses: ./) are checked against action.yml's inputs too. Shell in run: steps is checked with
// shellcheck where it is installed (required under SHAKEDOWN_REQUIRE_ALL=1).
func TestWorkflowsPassActionlint(t *testing.T) {
	files := workflows(t)
	for _, want := range []string{".github/workflows/shop.yml", "examples/shop/pipeline/github-actions.yml"} {
		if !slices.Contains(files, want) {
			t.Fatalf("workflows found: %v; want %s among them", files, want)
		}
	}
	args := []string{"tool", "actionlint", "-no-color", "-pyflakes="}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		if testenv.RequireAll() {
			t.Fatal("required but missing: shellcheck is not installed (SHAKEDOWN_REQUIRE_ALL=1)")
		}
		t.Log("shellcheck is not installed: the shell in run: steps is not checked")
		args = append(args, "-shellcheck=")
	}
	cmd := exec.Command("go", append(args, files...)...)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint %s: %v\n%s", strings.Join(files, " "), err, out)
	}
}

// The action's scripts pass shellcheck.
func TestScriptsPassShellcheck(t *testing.T) {
	sc := testenv.NeedCommand(t, "shellcheck")
	cmd := exec.Command(sc, "--shell=bash", "--severity=style", "install.sh", "run.sh")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// action.yml is valid metadata for a composite action: the keys GitHub requires, a shell on
// every run: step, unique step ids, and every input wired to a step and documented.
func TestActionMetadata(t *testing.T) {
	a := readAction(t, "../action.yml") // strict: an unknown key fails
	if a.Name == "" || a.Description == "" {
		t.Errorf("name %q, description %q: both are required", a.Name, a.Description)
	}
	if a.Runs.Using != "composite" {
		t.Errorf("runs.using %q, want composite", a.Runs.Using)
	}
	used := map[string]bool{}
	ids := map[string]bool{}
	ref := regexp.MustCompile(`inputs\.([A-Za-z0-9_-]+)`)
	for i, s := range a.Runs.Steps {
		switch {
		case (s.Run == "") == (s.Uses == ""):
			t.Errorf("step %d (%s): want exactly one of run: and uses:", i, s.Name)
		case s.Run != "" && s.Shell == "":
			t.Errorf("step %d (%s): a run: step of a composite action needs shell:", i, s.Name)
		case s.Uses != "" && (s.Shell != "" || s.WorkingDirectory != ""):
			t.Errorf("step %d (%s): a uses: step takes no shell: or working-directory:", i, s.Name)
		}
		if s.ID != "" {
			if ids[s.ID] {
				t.Errorf("step id %s is used twice", s.ID)
			}
			ids[s.ID] = true
		}
		texts := []string{s.If, s.Run, s.WorkingDirectory}
		for _, v := range s.Env {
			texts = append(texts, v)
		}
		for _, v := range s.With {
			texts = append(texts, v)
		}
		for _, m := range ref.FindAllStringSubmatch(strings.Join(texts, "\n"), -1) {
			if _, ok := a.Inputs[m[1]]; !ok {
				t.Errorf("step %d (%s) uses inputs.%s, which action.yml does not declare", i, s.Name, m[1])
			}
			used[m[1]] = true
		}
	}
	for name, in := range a.Inputs {
		if !used[name] {
			t.Errorf("input %s is declared but no step uses it", name)
		}
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
		if in.Required && in.Default != "" {
			t.Errorf("input %s is required and has a default", name)
		}
	}
	for name, o := range a.Outputs {
		if o.Value == "" || o.Description == "" {
			t.Errorf("output %s: want a value and a description", name)
		}
	}
}

// .github/workflows/shop.yml is the shop's example workflow, but for the action it uses:
// this checkout's (./) rather than a release's.
func TestShopWorkflowIsTheExamples(t *testing.T) {
	example := mustRead(t, "../examples/shop/pipeline/github-actions.yml")
	copied := mustRead(t, "../.github/workflows/shop.yml")
	const released, local = "uses: shakedown-dev/shakedown@v1\n", "uses: ./\n"
	if strings.Count(example, released) != 1 {
		t.Fatalf("the example workflow should use %q once", released)
	}
	if want := strings.Replace(example, released, local, 1); copied != want {
		t.Errorf(".github/workflows/shop.yml differs from examples/shop/pipeline/github-actions.yml by more than its %q", local)
	}
}

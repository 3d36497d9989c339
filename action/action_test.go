package action

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// repoRoot is the action's own checkout: GITHUB_ACTION_PATH of `uses: ./`.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var (
	buildOnce sync.Once
	builtBin  []byte
	buildErr  error
)

// releasedBinary is shakedown built as a release is (static, version stamped): the bytes a
// fake release serves.
func releasedBinary(t *testing.T) []byte {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shakedown-action-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "shakedown")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
			"-X github.com/shakedown-dev/shakedown.Version=v1.2.3", "-o", bin, "./cmd/shakedown")
		cmd.Dir, cmd.Env = repoRoot(t), append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &exec.Error{Name: "go build: " + string(out), Err: err}
			return
		}
		builtBin, buildErr = os.ReadFile(bin)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// release serves files as a GitHub release does, at /TAG/NAME, and records what was asked.
type release struct {
	URL  string
	mu   sync.Mutex
	gets []string
}

func serveRelease(t *testing.T, files map[string][]byte) *release {
	t.Helper()
	rel := &release{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rel.mu.Lock()
		rel.gets = append(rel.gets, req.URL.Path)
		rel.mu.Unlock()
		b, ok := files[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	rel.URL = srv.URL
	return rel
}

func (rel *release) requested() []string {
	rel.mu.Lock()
	defer rel.mu.Unlock()
	return slices.Clone(rel.gets)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// asset is the release binary's name for this machine, as install.sh picks it.
func asset(version string) string { return "shakedown-" + version + "-linux-" + runtime.GOARCH }

const passing = `version: 1
name: a-passes
phases: {baseline: 100ms, recovery: 1s}
faults:
  - name: mark
    type: exec
    with: {inject: [touch, "${mark}"], revert: ["true"]}
    duration: 100ms
`

const failing = `version: 1
name: b-fails
steady_state:
  - name: a file that the fault removes
    exec: {command: [test, -e, present]}
    every: 50ms
phases: {baseline: 200ms, recovery: 2s}
faults:
  - name: hide
    type: exec
    with: {inject: [mv, present, hidden], revert: [mv, hidden, present]}
    duration: 500ms
`

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The action built from its own checkout (version empty, as `uses: ./` runs it) runs a
// passing experiment: exit 0, every output set, the reports uploaded and the step summary
// written by shakedown (once).
func TestActionFromSourcePasses(t *testing.T) {
	r := newRunner(t, repoRoot(t), map[string]string{
		"experiments": "experiments/", "working-directory": "ci",
		"vars": "mark=marked by the fault\n\nunused=a value with spaces\n", "args": "--progress plain\n--timeout 2m",
	})
	mark := filepath.Join(r.workspace, "ci", "marked by the fault")
	writeFiles(t, r.workspace, map[string]string{"ci/experiments/a-passes.yaml": passing})
	res := r.run()

	if res.failed != "" {
		t.Fatalf("step %q failed with exit code %d; want every step to pass", res.failed, res.exitCode)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("the fault did not touch the file its --var names: %v", err)
	}
	reports := filepath.Join(r.workspace, "ci", "shakedown-reports")
	want := map[string]string{
		"exit-code": "0", "verdict": "passed", "reports-dir": reports,
		"junit": filepath.Join(reports, "junit.xml"), "json": filepath.Join(reports, "runs") + "/",
		"markdown": filepath.Join(reports, "summary.md"), "html": filepath.Join(reports, "report.html"),
	}
	for k, v := range want {
		if res.outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	for _, k := range []string{"junit", "json", "markdown", "html"} {
		if _, err := os.Stat(res.outputs[k]); err != nil {
			t.Errorf("output %s: %v", k, err)
		}
	}
	if got := mustRead(t, res.outputs["junit"]); !strings.Contains(got, `name="a-passes"`) {
		t.Errorf("junit.xml does not name the experiment:\n%s", got)
	}
	summary := mustRead(t, r.summary)
	if strings.Count(summary, "## shakedown: PASSED") != 1 || !strings.Contains(summary, "| PASSED | a-passes |") {
		t.Errorf("step summary: want one summary, of a-passes passed, got:\n%s", summary)
	}
	checkUpload(t, res, reports)
}

// checkUpload checks that the reports were handed to actions/upload-artifact, and exist.
func checkUpload(t *testing.T, res result, reports string) {
	t.Helper()
	if len(res.uploads) != 1 || !strings.HasPrefix(res.usesNames[0], "actions/upload-artifact@") {
		t.Fatalf("uses: steps run: %v, want one actions/upload-artifact", res.usesNames)
	}
	up := res.uploads[0]
	if up["path"] != reports || up["name"] != "shakedown-reports" {
		t.Errorf("upload-artifact with %v, want path %s and name shakedown-reports", up, reports)
	}
	for _, f := range []string{"junit.xml", "summary.md", "report.html", "runs"} {
		if _, err := os.Stat(filepath.Join(up["path"], f)); err != nil {
			t.Errorf("the uploaded folder lacks %s: %v", f, err)
		}
	}
}

// A released binary, downloaded and checked against SHA256SUMS, runs a failing experiment:
// the reports are uploaded first, then the action fails with the run's exit code, 1.
func TestActionFromReleaseFailsWithTheRunsCode(t *testing.T) {
	bin := releasedBinary(t)
	name := asset("v1.2.3")
	rel := serveRelease(t, map[string][]byte{
		"/v1.2.3/" + name: bin,
		"/v1.2.3/SHA256SUMS": []byte(sha([]byte("another file")) + "  shakedown-v1.2.3-linux-other\n" +
			sha(bin) + "  " + name + "\n"),
	})
	r := newRunner(t, repoRoot(t), map[string]string{
		"experiments": "b-fails.yaml", "version": "v1.2.3", "release-url": rel.URL,
		"sudo": "false", "args": "--progress plain",
	})
	writeFiles(t, r.workspace, map[string]string{"b-fails.yaml": failing, "present": ""})
	res := r.run()

	if got, want := rel.requested(), []string{"/v1.2.3/" + name, "/v1.2.3/SHA256SUMS"}; !slices.Equal(got, want) {
		t.Errorf("downloads: %v, want %v", got, want)
	}
	if res.failed != "verdict" || res.exitCode != 1 {
		t.Fatalf("failed step %q with exit code %d, want the verdict step with 1 (steps run: %v)", res.failed, res.exitCode, res.ran)
	}
	if res.outputs["exit-code"] != "1" || res.outputs["verdict"] != "failed" {
		t.Errorf("outputs exit-code %q, verdict %q: want 1, failed", res.outputs["exit-code"], res.outputs["verdict"])
	}
	reports := filepath.Join(r.workspace, "shakedown-reports")
	checkUpload(t, res, reports)
	if i, j := slices.Index(res.ran, "upload reports"), slices.Index(res.ran, "verdict"); i < 0 || i > j {
		t.Errorf("steps run: %v: want the upload before the verdict", res.ran)
	}
	if got := mustRead(t, filepath.Join(reports, "junit.xml")); !strings.Contains(got, "<failure") {
		t.Errorf("junit.xml has no failure:\n%s", got)
	}
	if got := mustRead(t, r.summary); !strings.Contains(got, "FAILED") {
		t.Errorf("step summary does not say FAILED:\n%s", got)
	}
	if got := mustRead(t, filepath.Join(r.temp, "shakedown-bin", "shakedown")); got != string(bin) {
		t.Errorf("the installed binary is not the released one")
	}
}

// A release whose checksum does not match, or that lacks its line in SHA256SUMS, or an
// unknown version string: the install step fails, nothing runs and nothing is uploaded.
func TestActionRefusesABadRelease(t *testing.T) {
	bin := []byte("#!/bin/sh\necho this must never run >&2; exit 99\n")
	name := asset("v1.2.3")
	for _, tc := range []struct {
		name, version string
		sums          string
	}{
		{"checksum mismatch", "v1.2.3", sha([]byte("the binary that was released")) + "  " + name + "\n"},
		{"no line for the asset", "v1.2.3", sha(bin) + "  shakedown-v1.2.3-linux-other\n"},
		{"two lines for the asset", "v1.2.3", sha(bin) + "  " + name + "\n" + sha(bin) + " *" + name + "\n"},
		{"not a release tag", "1.2.3", sha(bin) + "  " + name + "\n"},
		{"no such release", "v9.9.9", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := serveRelease(t, map[string][]byte{"/v1.2.3/" + name: bin, "/v1.2.3/SHA256SUMS": []byte(tc.sums)})
			r := newRunner(t, repoRoot(t), map[string]string{
				"experiments": "a-passes.yaml", "version": tc.version, "release-url": rel.URL,
			})
			writeFiles(t, r.workspace, map[string]string{"a-passes.yaml": passing})
			res := r.run()
			if res.failed != "install shakedown" || res.exitCode == 0 {
				t.Fatalf("failed step %q (exit %d), want install shakedown", res.failed, res.exitCode)
			}
			if !slices.Equal(res.ran, []string{"install shakedown"}) {
				t.Errorf("steps run: %v, want only the install", res.ran)
			}
			if res.outputs["exit-code"] != "" {
				t.Errorf("output exit-code %q, want none", res.outputs["exit-code"])
			}
			for _, p := range []string{filepath.Join(r.temp, "shakedown-bin", "shakedown"), filepath.Join(r.workspace, "shakedown-reports")} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s exists (%v); want nothing installed or run", p, err)
				}
			}
		})
	}
}

// A vars line that is not key=value fails the run step before shakedown runs (exit 2).
func TestActionRefusesABadVar(t *testing.T) {
	rel := serveRelease(t, nil) // never asked: the version is empty, then source
	r := newRunner(t, repoRoot(t), map[string]string{
		"experiments": "a-passes.yaml", "vars": "mark=x\nno equals sign", "release-url": rel.URL,
	})
	writeFiles(t, r.workspace, map[string]string{"a-passes.yaml": passing})
	res := r.run()
	if res.failed != "shakedown run" || res.exitCode != 2 {
		t.Fatalf("failed step %q with exit %d, want shakedown run with 2", res.failed, res.exitCode)
	}
	if len(rel.requested()) != 0 {
		t.Errorf("downloads %v, want none when building from source", rel.requested())
	}
}

// A job that is not root runs shakedown through sudo -E, so that shakedown still finds the
// step summary and the job's variables. (sudo and id are stand-ins on the job's PATH, as a
// step before would add them through GITHUB_PATH: this machine runs tests as root.)
func TestActionRunsShakedownThroughSudo(t *testing.T) {
	bin := releasedBinary(t)
	name := asset("v1.2.3")
	rel := serveRelease(t, map[string][]byte{
		"/v1.2.3/" + name: bin, "/v1.2.3/SHA256SUMS": []byte(sha(bin) + "  " + name + "\n"),
	})
	r := newRunner(t, repoRoot(t), map[string]string{
		"experiments": "a-passes.yaml", "version": "v1.2.3", "release-url": rel.URL, "vars": "mark=marked",
	})
	fakes := t.TempDir()
	sudoLog := filepath.Join(fakes, "sudo.log")
	writeFiles(t, fakes, map[string]string{
		"id":   "#!/bin/sh\nif [ \"$1\" = -u ]; then echo 1000; else exec /usr/bin/id \"$@\"; fi\n",
		"sudo": "#!/bin/bash\nprintf '%s\\n' \"$@\" >" + sudoLog + "\n[ \"$1\" = -E ] || exit 90\nshift\nexec \"$@\"\n",
	})
	for _, f := range []string{"id", "sudo"} {
		if err := os.Chmod(filepath.Join(fakes, f), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.path = []string{fakes}
	writeFiles(t, r.workspace, map[string]string{"a-passes.yaml": passing})
	res := r.run()
	if res.failed != "" {
		t.Fatalf("step %q failed with %d, want none", res.failed, res.exitCode)
	}
	argv := strings.Split(strings.TrimSpace(mustRead(t, sudoLog)), "\n")
	if len(argv) < 5 || argv[0] != "-E" || argv[1] != "env" || !strings.HasPrefix(argv[2], "PATH="+fakes+":") ||
		argv[3] != filepath.Join(r.temp, "shakedown-bin", "shakedown") || argv[4] != "run" {
		t.Errorf("sudo ran with %q, want -E env PATH=… SHAKEDOWN run …", argv)
	}
	if got := mustRead(t, r.summary); !strings.Contains(got, "| PASSED | a-passes |") {
		t.Errorf("step summary, written through sudo: %q", got)
	}
}

// The log shows a --var by its key and a history DSN without its password. (The run passes:
// a store it cannot reach only costs the record, which shakedown says, redacted too.)
func TestActionLogHidesSecrets(t *testing.T) {
	bin := releasedBinary(t)
	name := asset("v1.2.3")
	rel := serveRelease(t, map[string][]byte{
		"/v1.2.3/" + name: bin, "/v1.2.3/SHA256SUMS": []byte(sha(bin) + "  " + name + "\n"),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // a store that refuses connections
	r := newRunner(t, repoRoot(t), map[string]string{
		"experiments": "a-passes.yaml", "version": "v1.2.3", "release-url": rel.URL,
		"vars":    "mark=marked\ntoken=s3cret-value",
		"history": "postgres://shakedown:pw-s3cret@" + closed + "/history?connect_timeout=5",
	})
	writeFiles(t, r.workspace, map[string]string{"a-passes.yaml": passing})
	res := r.run()
	if res.failed != "" || res.outputs["verdict"] != "passed" {
		t.Fatalf("failed step %q, outputs %v: want none failed, passed", res.failed, res.outputs)
	}
	log := res.logs["shakedown run"]
	for _, secret := range []string{"s3cret-value", "pw-s3cret"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows %q:\n%s", secret, log)
		}
	}
	for _, want := range []string{"--var mark=…", "--var token=…", "postgres://shakedown:xxxxx@" + closed + "/history"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

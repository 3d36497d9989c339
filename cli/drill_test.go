package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/dashboard"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// serveProcess is `shakedown serve --schedule` running in dir.
type serveProcess struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan error
}

func startServe(t *testing.T, bin, dir string, args ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{done: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"serve", "--state-dir", "state", "--listen", "127.0.0.1:0"}, args...)...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "SHAKEDOWN_RUNTIME_DIR="+filepath.Join(dir, ".runtime"), "SHAKEDOWN_HISTORY=")
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// stop sends SIGTERM and waits for serve to exit 0.
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("serve ended with %v\n%s\n%s", err, p.stdout.String(), p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve still running 30 s after SIGTERM\n%s\n%s", p.stdout.String(), p.stderr.String())
	}
}

// historyRuns lists the runs recorded in dir's state dir, as `history --json` writes them.
func historyRuns(t *testing.T, bin, dir string) []entryJSON {
	t.Helper()
	cmd := exec.Command(bin, "history", "--state-dir", "state", "--json", "--limit", "1000")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SHAKEDOWN_HISTORY=")
	out, err := cmd.Output()
	if err != nil {
		return nil // not there yet
	}
	var runs []entryJSON
	if err := json.Unmarshal(out, &runs); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	return runs
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDrillNotifies: a drill whose verdict is not passed POSTs a Slack-compatible message
// to a real HTTP receiver: its text holds the verdict line and the link to the run's page on
// the dashboard, its shakedown object the run, and no secret of the experiment is in it.
func TestDrillNotifies(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds the binary and runs a drill")
	}
	bin := buildBinary(t)
	type post struct {
		body        []byte
		contentType string
	}
	posts := make(chan post, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		posts <- post{body, r.Header.Get("Content-Type")}
	}))
	defer srv.Close()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"schedule.yaml": `drills:
  - name: breaks
    experiments: breaks.yaml
    every: 1s
    notify: [` + srv.URL + `/hooks/T0/B0/x]
`,
		"breaks.yaml": `version: 1
name: breaks
phases: {baseline: 0s, recovery: 0s}
faults:
  - name: fail
    type: exec
    with:
      inject: [sh, -c, 'echo "the token is $TOKEN" >&2; exit 1']
      env: {TOKEN: s3cret-token-value}
`,
	})
	p := startServe(t, bin, dir, "--schedule", "schedule.yaml")
	var got post
	select {
	case got = <-posts:
	case <-time.After(60 * time.Second):
		t.Fatalf("no notification within 60 s\n%s\n%s", p.stdout.String(), p.stderr.String())
	}
	p.stop(t)

	if got.contentType != "application/json" {
		t.Errorf("Content-Type %q, want application/json", got.contentType)
	}
	var m struct {
		Text      string `json:"text"`
		Shakedown struct {
			Drill, Experiment, Run, Verdict, Reason, URL string
			ExitCode                                     int `json:"exit_code"`
		} `json:"shakedown"`
	}
	if err := json.Unmarshal(got.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got.body)
	}
	if bytes.Contains(got.body, []byte("s3cret-token-value")) {
		t.Errorf("the experiment's secret is in the message:\n%s", got.body)
	}
	s := m.Shakedown
	if s.Drill != "breaks" || s.Experiment != "breaks" || s.Verdict != string(shakedown.VerdictError) || s.ExitCode != 5 || len(s.Run) != 26 {
		t.Errorf("shakedown object %+v, want drill and experiment breaks, verdict error, exit 5, a run id", s)
	}
	serving := regexpFind(t, `at (http://127\.0\.0\.1:\d+)/`, p.stdout.String())
	if want := serving + "/runs/" + s.Run; s.URL != want {
		t.Errorf("url %q, want %q (the run's page on the dashboard)", s.URL, want)
	}
	line := regexpFind(t, `(?m)^(ERROR breaks \(exit 5, .*)$`, p.stdout.String())
	// Slack reads &, < and > as markup: the text has them escaped.
	slack := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	if want := slack.Replace("shakedown drill breaks: "+line) + "\n" + s.URL; m.Text != want {
		t.Errorf("text\n%q\nwant the verdict line run prints, escaped for Slack, and the link:\n%q", m.Text, want)
	}
	if !strings.Contains(m.Text, "xxxxx") {
		t.Errorf("text %q: want the secret the fault printed, as xxxxx", m.Text)
	}
	// The run is in the history with that verdict.
	found := false
	for _, r := range historyRuns(t, bin, dir) {
		found = found || r.ID == s.Run && r.Verdict == shakedown.VerdictError
	}
	if !found {
		t.Errorf("run %s is not in the history with verdict error", s.Run)
	}
}

// TestDrillsOnOneLockNeverOverlap: two drills on one lock, each due every second and each
// running longer than that, run one at a time: their records' times never overlap.
func TestDrillsOnOneLockNeverOverlap(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds the binary and runs drills for seconds")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	exp := func(name string) string {
		return `version: 1
name: ` + name + `
phases: {baseline: 0s, recovery: 0s}
faults:
  - name: hold
    type: exec
    with: {inject: [touch, ` + name + `.mark]}
    duration: 1200ms
`
	}
	writeFiles(t, dir, map[string]string{
		"schedule.yaml": `drills:
  - {experiments: a.yaml, every: 1s, lock: staging}
  - {experiments: b.yaml, every: 1s, lock: staging}
`,
		"a.yaml": exp("lock-a"),
		"b.yaml": exp("lock-b"),
	})
	p := startServe(t, bin, dir, "--schedule", "schedule.yaml")
	var runs []entryJSON
	testenv.WaitFor(t, "two runs of each drill in the history", 90*time.Second, func() bool {
		runs = historyRuns(t, bin, dir)
		n := map[string]int{}
		for _, r := range runs {
			n[r.Experiment]++
		}
		return n["lock-a"] >= 2 && n["lock-b"] >= 2
	})
	p.stop(t)
	runs = historyRuns(t, bin, dir)
	for i, x := range runs {
		if x.Verdict != shakedown.VerdictPassed && x.Verdict != shakedown.VerdictAborted {
			t.Errorf("run %s of %s: %s, want passed (or aborted by the stop)", x.ID, x.Experiment, x.Verdict)
		}
		for _, y := range runs[i+1:] {
			if x.StartedAt.Before(y.EndedAt.Time) && y.StartedAt.Before(x.EndedAt.Time) {
				t.Errorf("%s %s [%v, %v] and %s %s [%v, %v] overlap", x.Experiment, x.ID, x.StartedAt, x.EndedAt,
					y.Experiment, y.ID, y.StartedAt, y.EndedAt)
			}
		}
	}
	if !strings.Contains(p.stderr.String(), "waiting for its lock") {
		t.Errorf("no drill said it waited for its lock:\n%s", p.stderr.String())
	}
}

// regexpFind returns the first group of pattern's first match in s.
func regexpFind(t *testing.T, pattern, s string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in:\n%s", pattern, s)
	}
	return m[1]
}

// TestDrillsOnTheDashboard: serve gives the dashboard each drill of its schedule with when it
// is due next.
func TestDrillsOnTheDashboard(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"schedule.yaml": `drills:
  - {name: hourly, experiments: quick.yaml, every: 1h, lock: staging}
  - {experiments: quick.yaml, cron: "@daily"}
`,
		"quick.yaml": "version: 1\nname: quick\nfaults: [{name: mark, type: exec, with: {inject: [\"true\"]}}]\n",
	})
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }, reg: Registry(), red: shakedown.NewRedactor()}
	ds, err := a.newDrills(t.Context(), drillOptions{schedule: filepath.Join(dir, "schedule.yaml"), stateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatalf("newDrills: %v\n%s", err, stderr.String())
	}
	var o dashboard.Options
	ctx, cancel := context.WithCancel(t.Context())
	start := time.Now()
	wait := ds.start(ctx, "http://127.0.0.1:8088/", &o)
	defer wait()
	defer cancel()
	if o.Schedules == nil {
		t.Fatal("the dashboard's Options.Schedules is not set")
	}
	var got []dashboard.Schedule
	testenv.WaitFor(t, "both drills to have a next time", 10*time.Second, func() bool {
		got = o.Schedules()
		return len(got) == 2 && !got[0].Next.IsZero() && !got[1].Next.IsZero()
	})
	if g := got[0]; g.Name != "hourly" || g.Every != "1h0m0s" || g.Cron != "" || g.Lock != "staging" ||
		g.Experiments != filepath.Join(dir, "quick.yaml") || g.Next.Sub(start) < time.Hour-time.Second || g.Next.Sub(start) > time.Hour+time.Second {
		t.Errorf("first schedule %+v, want hourly every 1h on staging, next in an hour", g)
	}
	if g := got[1]; g.Name != "quick.yaml" || g.Cron != "@daily" || g.Every != "" || g.Running != "" || g.LastRun != "" {
		t.Errorf("second schedule %+v, want quick.yaml by cron @daily, not run yet", g)
	}
}

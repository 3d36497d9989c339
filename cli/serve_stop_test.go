package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/browser"
	"github.com/shakedown-dev/shakedown/internal/testenv"
	"github.com/shakedown-dev/shakedown/journal"
)

// TestDashboardStopButtonStopsALiveRun: on the dashboard (the real serve command), the stop
// button of a live run's page, clicked after a login with the write token, reverts the run's
// real fault (a paused process runs again) within a second, and the run ends aborted, stopped
// by the dashboard.
func TestDashboardStopButtonStopsALiveRun(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: starts a real run, the dashboard and Chromium")
	}
	tab := browser.Open(t, browser.Options{})
	bin := buildBinary(t)
	exp, injected, reverted := pausedVictim(t)
	dir := t.TempDir()
	state, record, tokenFile := filepath.Join(dir, "state"), filepath.Join(dir, "out.json"), filepath.Join(dir, "write-token")
	const token = "write-3f9a1c"
	writeTestFile(t, tokenFile, token+"\n")

	run := exec.Command(bin, "run", "--progress", "none", "--state-dir", state, "--json", record, exp)
	exited := startCommand(t, run)
	testenv.WaitFor(t, "the fault to be injected", 30*time.Second, injected)
	ids, err := journal.RunIDs(state)
	if err != nil || len(ids) != 1 {
		t.Fatalf("runs in the state dir: %v, %v; want one", ids, err)
	}

	serve := exec.Command(bin, "serve", "--state-dir", state, "--listen", "127.0.0.1:0", "--write-token-file", tokenFile)
	out, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startCommand(t, serve)
	line, err := bufio.NewReader(out).ReadString('\n')
	u := regexp.MustCompile(`http://\S+`).FindString(strings.TrimSuffix(line, "/\n"))
	if err != nil || u == "" {
		t.Fatalf("serve said %q, %v; want the address it serves on", line, err)
	}
	u = strings.TrimSuffix(u, "/")

	tab.Do(t, chromedp.Navigate(u+"/login?next=/runs/"+ids[0]))
	tab.Do(t, chromedp.SendKeys(`input[name="token"]`, token), chromedp.Submit(`form.login`))
	testenv.WaitFor(t, "the run's page with its stop button", 20*time.Second, func() bool {
		ok, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[bool](`location.pathname === "/runs/`+ids[0]+`" && document.querySelector("#stop button") !== null`))
		return err == nil && ok
	})
	if !injected() {
		t.Fatal("the process runs before the stop")
	}
	start := time.Now()
	tab.Do(t, chromedp.Click(`#stop button`))
	testenv.WaitFor(t, "the paused process to run again", 10*time.Second, reverted)
	if took := time.Since(start); took >= time.Second {
		t.Errorf("the fault was gone %v after the click, want within 1s", took)
	}
	testenv.WaitFor(t, "the page to say the run stopped", 20*time.Second, func() bool {
		ok, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[bool](`document.querySelector("#stop output").textContent.startsWith("stopped")`))
		return err == nil && ok
	})
	tab.NoErrors(t)

	endsStopped(t, exited, record, "stopped by dashboard write token from 127.0.0.1", nil)
	if left := stopStateFiles(state); len(left) > 0 {
		t.Errorf("left in the state dir: %v", left)
	}
}

// endsStopped waits for the runner to exit and checks it ended aborted (exit 3), its record
// at path saying why with wantReason at its start. out, if not nil, is the runner's output.
func endsStopped(t *testing.T, exited <-chan error, path, wantReason string, out fmt.Stringer) {
	t.Helper()
	var exit error
	select {
	case exit = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the runner still runs 30s after the stop:\n%v", out)
	}
	var ee *exec.ExitError
	if !errors.As(exit, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("run = %v; want exit 3 (aborted)\n%v", exit, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec shakedown.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != shakedown.VerdictAborted || !strings.HasPrefix(rec.Reason, wantReason) {
		t.Errorf("record: verdict %s, reason %q; want aborted, %q…", rec.Verdict, rec.Reason, wantReason)
	}
}

// startCommand starts cmd, killed (and waited for) when the test ends; the channel gets its
// exit once.
func startCommand(t *testing.T, cmd *exec.Cmd) <-chan error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return exited
}

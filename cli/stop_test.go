package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/engine"
	"github.com/shakedown-dev/shakedown/fault/process"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/testenv"
	"github.com/shakedown-dev/shakedown/journal"
	"github.com/shakedown-dev/shakedown/proxy"
)

// runid STATEDIR NAME waits up to 10 s for a run's journal in STATEDIR and sets $NAME to that
// run's id; with two journals there it fails.
func cmdRunID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: runid STATEDIR NAME")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, _ := journal.RunIDs(ts.MkAbs(args[0]))
		if len(ids) > 1 {
			ts.Fatalf("runid: %d runs in %s: %v", len(ids), args[0], ids)
		}
		if len(ids) == 1 {
			ts.Setenv(args[1], ids[0])
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("runid: no run in %s after 10s", args[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deadRunnerMain is the story command `deadrunner STATEDIR PIDFILE`: a runner as a kill -9 of
// the runner and of its watchdog at once would leave it. It journals a process.pause of the
// process in PIDFILE, pauses it, prints "injected" and waits to be killed, with no watchdog
// (and, not being shakedown, without catching the stop signal).
func deadRunnerMain() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "deadrunner:", err)
		os.Exit(5)
	}
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: deadrunner STATEDIR PIDFILE"))
	}
	pid := testenv.ReadPIDFile(os.Args[2])
	start, err := procfs.StartTime(pid)
	if err != nil {
		fail(err)
	}
	j, err := journal.Open(os.Args[1], engine.NewID(time.Now()), journal.Meta{Experiment: "dead-pause"})
	if err != nil {
		fail(err)
	}
	data, _ := json.Marshal(process.SignalData{PID: pid, StartTime: start, Signal: "CONT"})
	id, err := j.Begin("pause-web", []shakedown.Undo{{Type: process.UndoSignal, Data: data, Summary: fmt.Sprintf("SIGCONT pid %d", pid)}}, time.Hour)
	if err != nil {
		fail(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		fail(err)
	}
	if err := j.Injected(id); err != nil {
		fail(err)
	}
	fmt.Println("injected")
	for {
		time.Sleep(time.Hour) // until killed
	}
}

// stopStateFiles lists what a state dir holds besides the history store and the watchdogs'
// logs: journals and stop requests left behind.
func stopStateFiles(stateDir string) []string {
	var out []string
	for _, sub := range []string{"runs", stopDir} {
		ents, _ := os.ReadDir(filepath.Join(stateDir, sub))
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				out = append(out, filepath.Join(sub, e.Name()))
			}
		}
	}
	return out
}

// TestStopRevertsAtOnce stops runs that hold real faults, several times each, and measures how
// long after the stop the fault is gone: a paused process runs again, a latency toxic on a
// link of a running proxy daemon is gone and a request through the link is fast again. Each
// must be gone within a second; the runner ends aborted (exit 3), stopped by who stopped it,
// with nothing left in its journal. Half the rounds stop with the stop command (whose time
// includes starting that process), half through stopRuns, as a dashboard does, with a who of
// its own.
func TestStopRevertsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: starts and stops real runs")
	}
	bin := buildBinary(t)
	const rounds = 5
	for _, tc := range []struct {
		name  string
		fault func(t *testing.T) (exp string, injected, reverted func() bool)
	}{
		{name: "process.pause", fault: pausedVictim},
		{name: "proxy.latency", fault: slowLink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp, injected, reverted := tc.fault(t)
			for _, by := range []string{"", "dashboard token write"} {
				var took []time.Duration
				for range rounds {
					took = append(took, stopOnce(t, bin, exp, injected, reverted, by))
				}
				slices.Sort(took)
				how := "shakedown stop"
				if by != "" {
					how = "stopRuns"
				}
				t.Logf("%s, %s: from the stop to the fault gone, over %d runs: median %v, min %v, max %v",
					tc.name, how, len(took), took[len(took)/2].Round(time.Millisecond/10), took[0].Round(time.Millisecond/10), took[len(took)-1].Round(time.Millisecond/10))
			}
		})
	}
}

// stopOnce starts a run of exp, waits until its fault is injected, stops it (with the stop
// command when by is empty, else through stopRuns with by) and returns how long after the
// stop began the fault was gone.
func stopOnce(t *testing.T, bin, exp string, injected, reverted func() bool, by string) time.Duration {
	t.Helper()
	dir := t.TempDir()
	state, record := filepath.Join(dir, "state"), filepath.Join(dir, "out.json")
	cmd := exec.Command(bin, "run", "--progress", "plain", "--state-dir", state, "--json", record, exp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	exited := startCommand(t, cmd)
	testenv.WaitFor(t, "the fault to be injected", 30*time.Second, injected)
	ids, err := journal.RunIDs(state)
	if err != nil || len(ids) != 1 {
		t.Fatalf("runs in the state dir: %v, %v; want one", ids, err)
	}

	start := time.Now()
	gone := make(chan time.Duration, 1)
	go func() {
		// Polled from the start of the stop, every half millisecond, until it holds.
		deadline := start.Add(10 * time.Second)
		for !reverted() && time.Now().Before(deadline) {
			time.Sleep(500 * time.Microsecond)
		}
		gone <- time.Since(start)
	}()
	wantBy := "stopped by " + by
	if by == "" {
		stop := exec.Command(bin, "stop", "--state-dir", state, ids[0])
		b, err := stop.CombinedOutput()
		if err != nil || !strings.HasPrefix(string(b), "stopped run "+ids[0]+": 1 fault reverted in ") {
			t.Fatalf("stop: %v\n%s", err, b)
		}
		wantBy = "stopped by "
	} else {
		a := &app{stdout: io.Discard, stderr: io.Discard, getenv: os.Getenv, reg: Registry(), red: shakedown.NewRedactor()}
		res, err := a.stopRuns(t.Context(), state, nil, by)
		if err != nil || len(res) != 1 || res[0].Run != ids[0] || res[0].Reverted != 1 || res[0].Why != "" {
			t.Fatalf("stopRuns = %+v, %v; want run %s stopped by its runner, 1 fault reverted", res, err, ids[0])
		}
	}
	took := <-gone
	if took >= time.Second {
		t.Errorf("the fault was gone %v after the stop, want within 1s", took)
	}
	if !reverted() {
		t.Fatalf("the fault is still there 10s after the stop")
	}

	endsStopped(t, exited, record, wantBy, &out)
	if left := stopStateFiles(state); len(left) > 0 {
		t.Errorf("left in the state dir: %v", left)
	}
	return took
}

// pausedVictim is a run that pauses a victim process for minutes.
func pausedVictim(t *testing.T) (string, func() bool, func() bool) {
	v := testenv.StartVictim(t)
	exp := filepath.Join(t.TempDir(), "pause.yaml")
	writeTestFile(t, exp, `version: 1
name: pause-web
targets:
  web:
    process: {pidfile: `+v.PIDFile+`}
phases: {baseline: 0s}
faults:
  - name: pause-web
    type: process.pause
    target: web
    duration: 5m
`)
	state := func() byte { // called from the goroutine that times the stop too
		st, err := procfs.ReadStat(procfs.Root, v.PID)
		if err != nil {
			t.Errorf("the victim is gone: %v", err)
		}
		return st.State
	}
	return exp, func() bool { return state() == 'T' }, func() bool { return state() != 'T' }
}

// slowLink is a run that adds 400 ms of latency to a link of a proxy daemon (package proxy's
// server, on 127.0.0.1:0 in this test) in front of a victim. The link is fast before, slow
// with the fault in, fast again once it is gone.
func slowLink(t *testing.T) (string, func() bool, func() bool) {
	v := testenv.StartVictim(t)
	ctx, cancel := context.WithCancel(context.Background())
	api := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- proxy.Serve(ctx, proxy.Config{API: "127.0.0.1:0", Ready: func(addr string) { api <- addr }})
	}()
	t.Cleanup(func() {
		cancel()
		<-served
	})
	var base string
	select {
	case addr := <-api:
		base = "http://" + addr
	case err := <-served:
		t.Fatalf("proxy daemon: %v", err)
	}
	resp, err := http.Post(base+"/proxies", "application/json",
		strings.NewReader(`{"name": "web", "listen": "127.0.0.1:0", "upstream": "`+v.Addr+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var info proxy.Info
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("create proxy: %s, %v", resp.Status, err)
	}
	// A request through the link, on a connection of its own: how long it takes. (These
	// helpers are called from the goroutine that times the stop too: no Fatal.)
	through := func() time.Duration {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		start := time.Now()
		resp, err := c.Get("http://" + info.Listen + "/")
		if err != nil {
			t.Errorf("request through the link: %v", err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start)
	}
	toxics := func() int {
		resp, err := http.Get(base + "/proxies/web/toxics")
		if err != nil {
			t.Errorf("list toxics: %v", err)
			return -1
		}
		defer resp.Body.Close()
		var ts []json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil {
			t.Errorf("list toxics: %v", err)
			return -1
		}
		return len(ts)
	}
	if d := through(); d >= 200*time.Millisecond {
		t.Fatalf("the link takes %v before any fault, want well under 400ms", d)
	}
	exp := filepath.Join(t.TempDir(), "latency.yaml")
	writeTestFile(t, exp, `version: 1
name: slow-link
targets:
  link:
    proxy: {api: "`+base+`", name: web}
phases: {baseline: 0s}
faults:
  - name: slow-link
    type: proxy.latency
    target: link
    with: {latency: 400ms}
    duration: 5m
`)
	injected := func() bool {
		if toxics() <= 0 {
			return false
		}
		if d := through(); d < 400*time.Millisecond {
			t.Fatalf("a request through the link with the toxic in takes %v, want 400ms or more", d)
		}
		return true
	}
	reverted := func() bool { return toxics() == 0 }
	return exp, injected, func() bool {
		if !reverted() {
			return false
		}
		if d := through(); d >= 200*time.Millisecond {
			t.Errorf("the toxic is gone but a request through the link takes %v, want well under 400ms", d)
		}
		return true
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStopRequestMustBePrivate: a runner acts only on a stop request private to its user, in
// a folder private to it; one that others could have written (or another user wrote) is
// refused, said on stderr, and the run goes on. A private one stops the run, with who.
func TestStopRequestMustBePrivate(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	var stderr lockedBuffer
	a := &app{stdout: io.Discard, stderr: &stderr, getenv: os.Getenv, reg: Registry(), red: shakedown.NewRedactor()}
	ctx, unwatch := a.watchStops(t.Context(), state)
	defer unwatch()
	if got := watchRun(ctx, "run1"); got != "SIGUSR1" {
		t.Fatalf("watchRun = %q, want SIGUSR1", got)
	}
	path, err := writeStopRequest(state, "run1", "ann on box (shakedown stop, pid 1)")
	if err != nil {
		t.Fatal(err)
	}
	refusals := 0
	refused := func(why string) {
		t.Helper()
		refusals++
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, "the request "+why+" to be refused", 10*time.Second, func() bool {
			return strings.Count(stderr.String(), "stop request refused") == refusals
		})
		if ctx.Err() != nil {
			t.Fatalf("a request %s stopped the run: %v", why, context.Cause(ctx))
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("a refused request was removed: %v", err)
		}
	}

	must(t, os.Chmod(path, 0o622))
	refused("writable by others")
	must(t, os.Chmod(path, 0o600))
	if os.Geteuid() == 0 {
		must(t, os.Chown(path, 65534, 65534))
		refused("of another user")
		must(t, os.Chown(path, 0, 0))
	}
	must(t, os.Chmod(filepath.Dir(path), 0o733))
	refused("in a folder others can write")
	must(t, os.Chmod(filepath.Dir(path), 0o700))

	must(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	testenv.WaitFor(t, "the private request to stop the run", 10*time.Second, func() bool { return ctx.Err() != nil })
	var stopped *engine.Stopped
	if cause := context.Cause(ctx); !errors.As(cause, &stopped) || stopped.Error() != "stopped by ann on box (shakedown stop, pid 1)" {
		t.Errorf("cause = %v, want stopped by ann on box (shakedown stop, pid 1)", cause)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the request taken is still there: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseStopRequest(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"run": "r1", "by": "ann on box (shakedown stop, pid 1)", "at": "2026-01-02T03:04:05Z"}`, true},
		{`{"run": "r1", "by": "dashboard token write"}`, true},
		{`{"run": "r1"}`, false},
		{`{"by": "ann"}`, false},
		{`{"run": "r1", "by": "ann", "extra": 1}`, false},
		{`{"run": "r1", "by": "ann\nforged line"}`, false},
		{`{"run": "r1", "by": "ann\u001b[2J"}`, false},
		{`{"run": "r1", "by": "` + strings.Repeat("a", maxStopBy+1) + `"}`, false},
		{`{"run": "r1", "by": "ann"} {}`, false},
		{`[]`, false},
		{``, false},
	} {
		_, err := parseStopRequest([]byte(tc.in))
		if (err == nil) != tc.want {
			t.Errorf("parseStopRequest(%.60q) = %v, want ok %v", tc.in, err, tc.want)
		}
	}
}

func FuzzParseStopRequest(f *testing.F) {
	f.Add([]byte(`{"run": "r1", "by": "ann on box (shakedown stop, pid 1)", "at": "2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"run": "", "by": "x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseStopRequest(b)
		if err != nil {
			return
		}
		if req.Run == "" || req.By == "" || len(req.By) > maxStopBy || strings.ContainsAny(req.By, "\n\r\x1b") {
			t.Errorf("parseStopRequest(%q) = %+v: accepted what it must refuse", b, req)
		}
	})
}

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// slowServer is an HTTP server whose behaviour the test controls: it answers in base
// normally, in slow while the fault file exists (an exec fault creates it, its revert removes
// it), and with 500 for recover beyond that: the time the system takes to recover.
type slowServer struct {
	file string
	base time.Duration

	mu      sync.Mutex
	slow    time.Duration
	recover time.Duration
	seen    bool      // the fault file was there
	off     time.Time // when it was first found gone
}

func (s *slowServer) set(slow, recover time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow, s.recover = slow, recover
}

// state says how to answer now: after d, with 500 when failing.
func (s *slowServer) state() (d time.Duration, failing bool) {
	_, err := os.Stat(s.file)
	on := err == nil
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on:
		s.seen, s.off = true, time.Time{}
		return s.slow, false
	case s.seen && s.off.IsZero():
		s.off = now
		return 0, true
	case s.seen && now.Sub(s.off) < s.recover:
		return 0, true
	}
	s.seen = false
	return s.base, false
}

// idle says whether the server is back to normal: no fault, or recovered from it.
func (s *slowServer) idle() bool {
	if _, err := os.Stat(s.file); err == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.seen || !s.off.IsZero() && time.Since(s.off) >= s.recover
}

func (s *slowServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d, failing := s.state()
	time.Sleep(d)
	if failing {
		http.Error(w, "recovering", http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "ok")
}

// gateExperiment is a short experiment on the server at addr: 1000 requests a second, so
// that the baseline (1.2 s) and the fault (1.5 s) carry the 1000 requests a p99 is judged on.
// The steady state (errors under 5% over 50 ms windows, broken only when that lasts 300 ms)
// must come back after the revert; the time it takes is the run's time to recover. The
// server's latency under the fault (400 ms, 800 ms doubled) and its time to recover (1 s,
// 2.5 s doubled) are large beside the 100 ms a busy shared machine adds now and then.
func gateExperiment(addr, faultFile string) string {
	return `version: 1
name: checkout-slow-cache
load:
  checkout: {url: "http://` + addr + `/", rate: 1000/s, timeout: 3s}
steady_state:
  - name: checkout answers
    metric: checkout.errors
    max: 5%
    every: 50ms
    for: 300ms
    phases: [baseline, recovery]
phases: {baseline: 1200ms, recovery: 5s}
gate:
  # What these measure is when a request reaches this test's server, not how it behaves: a
  # request sent in the inject phase but accepted after the revert is failed, and the
  # recovery phase's successes depend on how many were. A busy machine moves both at will.
  ignore: ["checkout.errors during inject", "checkout.throughput during recovery"]
faults:
  - name: slow-cache
    type: exec
    with: {inject: [touch, "` + faultFile + `"], revert: [rm, -f, "` + faultFile + `"]}
    duration: 1500ms
`
}

// TestGateHonesty is the gate's honesty with a real server and real runs of the real binary,
// recorded into a real SQLite store: 10 reference runs on main, then 20 identical runs → no
// regression; 10 runs with the p99 under the fault doubled, and 10 with the time to recover
// doubled → regressed, every one.
func TestGateHonesty(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: 50 runs of an experiment")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	srv := &slowServer{file: filepath.Join(dir, "fault"), base: time.Millisecond}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	exp := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(exp, []byte(gateExperiment(strings.TrimPrefix(ts.URL, "http://"), srv.file)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Every run records itself in this store; the gated ones read their references there.
	dsn := "sqlite:" + filepath.Join(dir, "history.db")

	// The machine is shared (2 cores, several test suites at once): a run during which it
	// stalled this process for more than 50 ms, or that it made not steady, says nothing about
	// the gate and is run again, 30 times in all at most. The stall is measured here, beside
	// the run, not read from what the gate said.
	n, retries := 0, 0
	var run func(gated bool) *shakedown.Record
	run = func(gated bool) *shakedown.Record {
		t.Helper()
		testenv.WaitFor(t, "the server to recover from the last run", 10*time.Second, srv.idle)
		n++
		out := filepath.Join(dir, fmt.Sprintf("run-%02d.json", n))
		args := []string{"run", "--progress", "none", "--state-dir", filepath.Join(dir, "state"), "--history", dsn, "--json", out, exp}
		if gated {
			args = append(args, "--gate", "regressions")
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "GITHUB_SHA=5e1f3c9a0b7d", "GITHUB_REF_NAME=main", "GITHUB_STEP_SUMMARY=")
		stall := watchStalls()
		b, err := cmd.CombinedOutput()
		stalled := stall()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("run %d: %v", n, err)
		}
		data, rerr := os.ReadFile(out)
		if rerr != nil {
			t.Fatalf("run %d: %v\n%s", n, rerr, b)
		}
		recs, derr := history.DecodeRecords(data)
		if derr != nil {
			t.Fatalf("run %d: %v", n, derr)
		}
		r := recs[0]
		if (stalled > 50*time.Millisecond || r.Verdict == shakedown.VerdictNotSteady) && retries < 30 {
			retries++
			t.Logf("run %d: the machine stalled for %s; %s: %s; run again", n, stalled.Round(time.Millisecond), r.Verdict, r.Reason)
			return run(gated)
		}
		if r.Verdict != shakedown.VerdictPassed && r.Verdict != shakedown.VerdictRegressed {
			t.Fatalf("run %d: %s, want passed or regressed:\n%s", n, r.Verdict, b)
		}
		if r.ExitCode != cmd.ProcessState.ExitCode() {
			t.Errorf("run %d: exit %d, record says %d", n, cmd.ProcessState.ExitCode(), r.ExitCode)
		}
		if !strings.Contains(string(b), "recorded 1 run in the history") {
			t.Fatalf("run %d was not recorded:\n%s", n, b)
		}
		return r
	}
	// regressions counts the runs that regressed, and of those the ones where figure did.
	regressions := func(what string, runs int, figure string) (regressed, caught int) {
		for range runs {
			r := run(true)
			if r.Gate == nil || !r.Gate.Judged {
				t.Fatalf("%s: the gate did not judge run %s: %+v", what, r.ID, r.Gate)
			}
			if r.Verdict == shakedown.VerdictRegressed {
				regressed++
				if slices.Contains(r.Gate.Regressions, figure) {
					caught++
				}
			}
			t.Logf("%s: %s %s", what, r.Verdict, r.Reason)
		}
		return regressed, caught
	}

	srv.set(400*time.Millisecond, time.Second)
	defer func() { t.Logf("%d runs, %d run again", n, retries) }()
	for range 10 {
		if r := run(false); r.Verdict != shakedown.VerdictPassed {
			t.Fatalf("reference run %s: %s", r.ID, r.Reason)
		}
	}
	if got, _ := regressions("identical", 20, ""); got != 0 {
		t.Errorf("identical runs: %d of 20 regressed, want none", got)
	}
	srv.set(800*time.Millisecond, time.Second)
	if _, got := regressions("p99 under the fault doubled", 10, "checkout.latency.p99 during inject"); got != 10 {
		t.Errorf("p99 under the fault doubled: %d of 10 regressed on it, want 10", got)
	}
	srv.set(400*time.Millisecond, 2500*time.Millisecond)
	if _, got := regressions("time to recover doubled", 10, "recovery.time_to_recover"); got != 10 {
		t.Errorf("time to recover doubled: %d of 10 regressed on it, want 10", got)
	}
}

// watchStalls starts measuring how late a 5 ms ticker fires, and returns the function that
// stops it and says the longest delay.
func watchStalls() func() time.Duration {
	done := make(chan struct{})
	worst := make(chan time.Duration)
	go func() {
		var w time.Duration
		last := time.Now()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				worst <- w
				return
			case now := <-tk.C:
				w = max(w, now.Sub(last)-5*time.Millisecond)
				last = now
			}
		}
	}()
	return func() time.Duration {
		close(done)
		return <-worst
	}
}

// buildBinary builds the real shakedown binary into the test's temporary folder.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "shakedown")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/shakedown-dev/shakedown/cmd/shakedown").CombinedOutput(); err != nil {
		t.Fatalf("build shakedown: %v\n%s", err, out)
	}
	return bin
}

// TestGateUnreadReferenceIsNoPass: a run that passed its own checks, whose reference runs the
// gate cannot read when it judges it (the store failed or stalled since the suite opened it),
// does not pass silently: it ends in error (exit 5), its gate note saying why.
func TestGateUnreadReferenceIsNoPass(t *testing.T) {
	tests := []struct {
		verdict shakedown.Verdict
		want    shakedown.Verdict
	}{
		{shakedown.VerdictPassed, shakedown.VerdictError},
		{shakedown.VerdictFailed, shakedown.VerdictFailed}, // not judged: its own verdict stands
	}
	for _, tc := range tests {
		t.Run(string(tc.verdict), func(t *testing.T) {
			s, err := history.Open(t.Context(), history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(t.TempDir(), "h.db")})
			if err != nil {
				t.Fatal(err)
			}
			s.Close() // every read fails from now on
			var stderr bytes.Buffer
			a := &app{stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }}
			exp := &shakedown.Experiment{Name: "exp"}
			rec := &shakedown.Record{ID: "r1", Verdict: tc.verdict, ExitCode: tc.verdict.ExitCode(),
				Commit: &shakedown.Commit{Branch: "main"}}
			(&gate{store: s}).judge(t.Context(), a, exp, rec)
			if rec.Verdict != tc.want || rec.ExitCode != tc.want.ExitCode() {
				t.Errorf("verdict %s, exit %d; want %s, exit %d", rec.Verdict, rec.ExitCode, tc.want, tc.want.ExitCode())
			}
			if tc.verdict == shakedown.VerdictPassed && (rec.Gate == nil || rec.Gate.Note == "" || stderr.Len() == 0) {
				t.Errorf("gate %+v, stderr %q; want a note and a word on stderr", rec.Gate, stderr.String())
			}
		})
	}
}

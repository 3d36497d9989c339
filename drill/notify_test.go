package drill

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// receiver is a webhook receiver: it answers the statuses given in turn (then 200) and keeps
// every body it got.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
	hang     bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, body)
	status := http.StatusOK
	if len(rc.statuses) > 0 {
		status, rc.statuses = rc.statuses[0], rc.statuses[1:]
	}
	hang := rc.hang
	rc.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		status = http.StatusBadRequest
	}
	if hang {
		<-r.Context().Done()
		return
	}
	w.WriteHeader(status)
}

func (rc *receiver) got() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...)
}

func failedRecord() *shakedown.Record {
	start := time.Date(2026, 12, 3, 22, 0, 0, 0, time.UTC)
	return &shakedown.Record{ID: "01JRUN", Experiment: shakedown.ExperimentRef{Name: "slow-cache", File: "exp.yaml"},
		Verdict: shakedown.VerdictFailed, ExitCode: 1, Reason: "checkout p99 did not hold: 512ms > 400ms (token s3cr3t-t0ken-value, password a<b&c>d-secret)",
		StartedAt: shakedown.Time{Time: start}, EndedAt: shakedown.Time{Time: start.Add(time.Minute)}}
}

func TestNotifierPostsTheVerdictAndTheRunsPage(t *testing.T) {
	rc := &receiver{statuses: []int{http.StatusServiceUnavailable}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n := &Notifier{
		Backoff:     time.Millisecond,
		RunURL:      func(id string) string { return "http://dash.example:8088/runs/" + id },
		VerdictLine: func(r *shakedown.Record) string { return "FAILED " + r.Experiment.Name + " (exit 1): " + r.Reason },
		Redactor:    shakedown.NewRedactor(shakedown.Secret{Value: "s3cr3t-t0ken-value"}, shakedown.Secret{Value: "a<b&c>d-secret"}),
		Log:         quiet,
	}
	d := &Drill{Name: "nightly", Notify: []string{srv.URL + "/hook/T0/SECRETPATH"}}
	n.Send(t.Context(), d, failedRecord())
	bodies := rc.got()
	if len(bodies) != 2 {
		t.Fatalf("the receiver got %d posts, want 2 (a 503, then a retry)", len(bodies))
	}
	var m map[string]any
	if err := json.Unmarshal(bodies[1], &m); err != nil {
		t.Fatalf("body %s: %v", bodies[1], err)
	}
	want := map[string]any{
		"text": "shakedown drill nightly: FAILED slow-cache (exit 1): checkout p99 did not hold: 512ms &gt; 400ms (token xxxxx, password xxxxx)\nhttp://dash.example:8088/runs/01JRUN",
		"shakedown": map[string]any{"drill": "nightly", "experiment": "slow-cache", "file": "exp.yaml", "run": "01JRUN",
			"verdict": "failed", "exit_code": float64(1), "reason": "checkout p99 did not hold: 512ms > 400ms (token xxxxx, password xxxxx)",
			"url": "http://dash.example:8088/runs/01JRUN", "started_at": "2026-12-03T22:00:00.000Z", "ended_at": "2026-12-03T22:01:00.000Z"},
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// TestNotifierGivesUp: a receiver that refuses (4xx) is not tried again; one that never
// answers is tried Retries+1 times, each cut at Timeout; neither blocks for long, and Send
// returns (a failed notify is logged, never fatal).
func TestNotifierGivesUp(t *testing.T) {
	refusing := &receiver{statuses: []int{http.StatusForbidden, http.StatusForbidden}}
	hanging := &receiver{hang: true}
	s1, s2 := httptest.NewServer(refusing), httptest.NewServer(hanging)
	defer s1.Close()
	defer s2.Close()
	var logged strings.Builder
	n := &Notifier{Timeout: 100 * time.Millisecond, Retries: 2, Backoff: time.Millisecond, Log: logTo(&logged)}
	d := &Drill{Name: "x", Notify: []string{s1.URL + "/a/SECRETPATH", s2.URL + "/b/SECRETPATH"}}
	start := time.Now()
	n.Send(context.Background(), d, failedRecord())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Send took %v", took)
	}
	if got := len(refusing.got()); got != 1 {
		t.Errorf("a 403 was tried %d times, want 1", got)
	}
	if got := len(hanging.got()); got != 3 {
		t.Errorf("a receiver that never answers was tried %d times, want 3", got)
	}
	if c := strings.Count(logged.String(), "notify failed"); c != 2 {
		t.Errorf("%d failures logged, want 2:\n%s", c, logged.String())
	}
	if strings.Contains(logged.String(), "SECRETPATH") {
		t.Errorf("a webhook's path is in the log:\n%s", logged.String())
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func logTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{w: w}, nil))
}

// TestSchedulerNotifiesWhatDidNotPass: the scheduler tells a drill's notify URLs of a run
// not passed, and of a drill that could not run at all; a run that passed tells no one.
func TestSchedulerNotifiesWhatDidNotPass(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	run := func(_ context.Context, d *Drill, started func(string)) ([]*shakedown.Record, error) {
		switch d.Name {
		case "broken":
			return nil, shakedown.Errorf(shakedown.KindInvalid, "drill broken: its experiment files have problems")
		case "fails":
			started("01FAILS")
			r := failedRecord()
			r.ID = "01FAILS"
			return []*shakedown.Record{r}, nil
		}
		started("01PASSES")
		return []*shakedown.Record{{ID: "01PASSES", Verdict: shakedown.VerdictPassed}}, nil
	}
	hook := []string{srv.URL + "/hook"}
	s := &Scheduler{Drills: []*Drill{
		{Name: "passes", Every: time.Second, Notify: hook},
		{Name: "fails", Every: time.Second, Notify: hook},
		{Name: "broken", Every: time.Second, Notify: hook},
	}, RunDrill: run, Log: quiet, Notifier: &Notifier{Log: quiet}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	verdicts := map[string]string{}
	testenv.WaitFor(t, "notifications of fails and broken", 30*time.Second, func() bool {
		for _, b := range rc.got() {
			var m Message
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			verdicts[m.Shakedown.Drill] = m.Shakedown.Verdict
		}
		return len(verdicts) >= 2
	})
	cancel()
	<-done
	for _, b := range rc.got() {
		var m Message
		json.Unmarshal(b, &m)
		verdicts[m.Shakedown.Drill] = m.Shakedown.Verdict
	}
	want := map[string]string{"fails": "failed", "broken": "invalid"}
	if diff := cmp.Diff(want, verdicts); diff != "" {
		t.Errorf("notified drills and verdicts (-want +got):\n%s", diff)
	}
	for _, st := range s.State() {
		if st.Name == "broken" && (st.Last.Err == "" || st.Last.Verdict != shakedown.VerdictInvalid || st.Last.ExitCode != 2) {
			t.Errorf("broken's last outcome %+v, want its error, invalid, exit 2", st.Last)
		}
	}
}

// TestNotifierFollowsNoRedirect: a receiver that redirects (to another host, or from https
// to http) is a failure; the message is never posted where it points.
func TestNotifierFollowsNoRedirect(t *testing.T) {
	elsewhere := &receiver{}
	other := httptest.NewServer(elsewhere)
	defer other.Close()
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			redirecting := httptest.NewServer(http.RedirectHandler(other.URL+"/stolen", status))
			defer redirecting.Close()
			var logged strings.Builder
			n := &Notifier{Timeout: 5 * time.Second, Backoff: time.Millisecond, Log: logTo(&logged)}
			n.Send(t.Context(), &Drill{Name: "x", Notify: []string{redirecting.URL + "/hook/SECRETPATH"}}, failedRecord())
			if got := len(elsewhere.got()); got != 0 {
				t.Errorf("a %d redirect: the message was posted %d times where it pointed, want 0", status, got)
			}
			if c := strings.Count(logged.String(), "notify failed"); c != 1 {
				t.Errorf("a %d redirect: %d failures logged, want 1:\n%s", status, c, logged.String())
			}
		})
	}
}

// TestNotifierReadsTheReply: a refused message's error says the first line of the
// receiver's reply (Slack says why there), bounded; an accepted message whose reply runs
// past maxReply is still delivered.
func TestNotifierReadsTheReply(t *testing.T) {
	for _, c := range []struct {
		name, reply string
		status      int
		want        string // in the log
	}{
		{"refused", "invalid_payload\nsecond line", http.StatusBadRequest, "400 Bad Request: invalid_payload"},
		{"refused at length", strings.Repeat("z", maxReply+1), http.StatusForbidden, "403 Forbidden: " + strings.Repeat("z", maxExcerpt) + "…"},
		{"accepted at length", strings.Repeat("o", 4*maxReply), http.StatusOK, "notified"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				io.WriteString(w, c.reply)
			}))
			defer srv.Close()
			var logged strings.Builder
			n := &Notifier{Timeout: 5 * time.Second, Retries: -1, Log: logTo(&logged)}
			n.Send(t.Context(), &Drill{Name: "x", Notify: []string{srv.URL + "/hook"}}, failedRecord())
			if !strings.Contains(logged.String(), c.want) || strings.Contains(logged.String(), "second line") {
				t.Errorf("a %d reply of %d bytes logged\n%s\nwant %q in it", c.status, len(c.reply), logged.String(), c.want)
			}
		})
	}
}

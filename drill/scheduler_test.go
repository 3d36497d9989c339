package drill

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// fakeRuns is a RunFunc whose runs take a given time and pass, and which keeps when each
// ran.
type fakeRuns struct {
	took map[string]time.Duration // by drill name
	mu   sync.Mutex
	runs []span
}

type span struct {
	drill      string
	start, end time.Time
}

func (f *fakeRuns) run(ctx context.Context, d *Drill, started func(string)) ([]*shakedown.Record, error) {
	start := time.Now()
	id := d.Name + "@" + start.Format(time.StampMilli)
	started(id)
	v := shakedown.VerdictPassed
	select {
	case <-time.After(f.took[d.Name]):
	case <-ctx.Done():
		v = shakedown.VerdictAborted
	}
	end := time.Now()
	f.mu.Lock()
	f.runs = append(f.runs, span{d.Name, start, end})
	f.mu.Unlock()
	return []*shakedown.Record{{ID: id, Verdict: v, ExitCode: v.ExitCode(),
		StartedAt: shakedown.Time{Time: start}, EndedAt: shakedown.Time{Time: end}}}, nil
}

func (f *fakeRuns) spans() []span {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]span(nil), f.runs...)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestSchedulerRunsEachDrillWhenDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRuns{took: map[string]time.Duration{"a": 100 * time.Millisecond}}
		d := &Drill{Name: "a", Experiments: "a.yaml", Every: 2 * time.Second}
		s := &Scheduler{Drills: []*Drill{d}, RunDrill: f.run, Log: quiet}
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		synctest.Wait()
		if st := s.State()[0]; !st.Next.Equal(start.Add(2*time.Second)) || st.Last != nil || st.When != "every 2s" {
			t.Errorf("before the first run: %+v, want next at +2s, no last run", st)
		}
		time.Sleep(2*time.Second + 50*time.Millisecond)
		if st := s.State()[0]; st.Running == "" {
			t.Errorf("at +2.05s: %+v, want a run in progress", st)
		}
		time.Sleep(2*time.Second + 100*time.Millisecond)
		synctest.Wait()
		st := s.State()[0]
		if st.Runs != 2 || st.Last == nil || st.Last.Verdict != shakedown.VerdictPassed || !st.Next.Equal(start.Add(6*time.Second)) {
			t.Errorf("at +4.15s: %+v, want 2 runs, the last passed, next at +6s", st)
		}
		cancel()
		<-done
		for i, sp := range f.spans() {
			if want := start.Add(time.Duration(i+1) * 2 * time.Second); !sp.start.Equal(want) {
				t.Errorf("run %d started at +%v, want +%v", i, sp.start.Sub(start), want.Sub(start))
			}
		}
	})
}

// TestSchedulerOneAtATimePerLock: two drills on one lock, each due while the other runs,
// never overlap; a drill due while its lock is taken waits, and says so.
func TestSchedulerOneAtATimePerLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRuns{took: map[string]time.Duration{"a": 1500 * time.Millisecond, "b": 1500 * time.Millisecond, "c": 1500 * time.Millisecond}}
		s := &Scheduler{Drills: []*Drill{
			{Name: "a", Every: time.Second, Lock: "staging"},
			{Name: "b", Every: time.Second, Lock: "staging"},
			{Name: "c", Every: time.Second, Lock: "other"},
		}, RunDrill: f.run, Log: quiet}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		waiting := 0
		for _, st := range s.State() {
			if st.Waiting {
				waiting++
				if st.Lock != "staging" || st.Running != "" {
					t.Errorf("%+v waits, want only a or b", st)
				}
			}
		}
		if waiting != 1 {
			t.Errorf("at +1.1s %d drills wait for their lock, want 1: %+v", waiting, s.State())
		}
		time.Sleep(20 * time.Second)
		cancel()
		<-done
		spans := f.spans()
		var staging []span
		cs := 0
		for _, sp := range spans {
			if sp.drill == "c" {
				cs++
			} else {
				staging = append(staging, sp)
			}
		}
		if len(staging) < 10 || cs < 7 {
			t.Errorf("%d runs on staging, %d of c in 21s, want ≥ 10 and ≥ 7", len(staging), cs)
		}
		for i, x := range staging {
			for _, y := range staging[i+1:] {
				if x.start.Before(y.end) && y.start.Before(x.end) {
					t.Errorf("%s [%v, %v] and %s [%v, %v] overlap", x.drill, x.start, x.end, y.drill, y.start, y.end)
				}
			}
		}
	})
}

// TestSchedulerSkipsWhatItMissed: a drill still running when it is due again is not started
// twice; the due times it missed are counted, and it runs at the next one after.
func TestSchedulerSkipsWhatItMissed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRuns{took: map[string]time.Duration{"slow": 2500 * time.Millisecond}}
		s := &Scheduler{Drills: []*Drill{{Name: "slow", Every: time.Second}}, RunDrill: f.run, Log: quiet}
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		time.Sleep(7*time.Second + 500*time.Millisecond)
		synctest.Wait()
		st := s.State()[0]
		cancel()
		<-done
		// Runs at +1s (ends +3.5s, misses +2s and +3s), +4s (ends +6.5s, misses +5s and +6s),
		// +7s.
		var starts []time.Duration
		for _, sp := range f.spans() {
			starts = append(starts, sp.start.Sub(start))
		}
		want := []time.Duration{time.Second, 4 * time.Second, 7 * time.Second}
		if len(starts) != len(want) || starts[0] != want[0] || starts[1] != want[1] || starts[2] != want[2] {
			t.Errorf("runs started at %v, want %v", starts, want)
		}
		if st.Skipped != 4 || st.Runs != 2 {
			t.Errorf("at +7.5s: %+v, want 2 runs ended and 4 skipped", st)
		}
	})
}

// TestSchedulerEndWaitsForTheRun: the scheduler's end cuts the run in progress short and
// waits for it: its record is in the last outcome.
func TestSchedulerEndWaitsForTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRuns{took: map[string]time.Duration{"long": time.Hour}}
		s := &Scheduler{Drills: []*Drill{{Name: "long", Every: time.Second, Notify: []string{"http://127.0.0.1:9/"}}},
			RunDrill: f.run, Log: quiet, Notifier: &Notifier{Log: quiet}}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		time.Sleep(2 * time.Second)
		cancel()
		<-done
		st := s.State()[0]
		if st.Running != "" || st.Last == nil || st.Last.Verdict != shakedown.VerdictAborted || st.Runs != 1 {
			t.Errorf("after the end: %+v, want one run ended aborted", st)
		}
	})
}

func TestNextAfter(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 12, 3, h, m, 0, 0, time.Local) }
	quarter, err := parseCron("*/15 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		d          *Drill
		due, now   time.Time
		want       time.Time
		wantMissed int
	}{
		{"every, on time", &Drill{Every: time.Hour}, at(1, 0), at(1, 5), at(2, 0), 0},
		{"every, two missed", &Drill{Every: time.Hour}, at(1, 0), at(3, 30), at(4, 0), 2},
		{"every, ended right on a due time", &Drill{Every: time.Hour}, at(1, 0), at(2, 0), at(3, 0), 1},
		{"cron, on time", &Drill{Cron: "*/15 * * * *", cron: quarter}, at(1, 0), at(1, 5), at(1, 15), 0},
		{"cron, three missed", &Drill{Cron: "*/15 * * * *", cron: quarter}, at(1, 0), at(1, 50), at(2, 0), 3},
	} {
		got, missed := nextAfter(c.d, c.due, c.now)
		if !got.Equal(c.want) || missed != c.wantMissed {
			t.Errorf("%s: nextAfter(due %v, now %v) = %v, %d missed; want %v, %d", c.name, c.due, c.now, got, missed, c.want, c.wantMissed)
		}
	}
}

// hangingTransport is a receiver that never answers: each request waits for its context.
type hangingTransport struct{}

func (hangingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestSchedulerNotifyDelaysNothing: a notify URL that never answers delays neither the
// drill's next runs nor another drill waiting for the same lock.
func TestSchedulerNotifyDelaysNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		runs := map[string]int{}
		run := func(_ context.Context, d *Drill, started func(string)) ([]*shakedown.Record, error) {
			started("01" + d.Name)
			mu.Lock()
			runs[d.Name]++
			mu.Unlock()
			return []*shakedown.Record{{ID: "01" + d.Name, Verdict: shakedown.VerdictFailed, ExitCode: 1}}, nil
		}
		hook := []string{"http://hook.invalid/SECRET"}
		s := &Scheduler{Drills: []*Drill{
			{Name: "a", Every: 2 * time.Second, Lock: "staging", Notify: hook},
			{Name: "b", Every: 3 * time.Second, Lock: "staging", Notify: hook},
		}, RunDrill: run, Log: quiet, Notifier: &Notifier{Client: &http.Client{Transport: hangingTransport{}}, Log: quiet}}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		time.Sleep(13 * time.Second)
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if want := (map[string]int{"a": 6, "b": 4}); !maps.Equal(runs, want) {
			t.Errorf("runs in 13s with a notify URL that never answers: %v, want %v", runs, want)
		}
		for _, st := range s.State() {
			if st.Skipped != 0 {
				t.Errorf("drill %s skipped %d times, want 0", st.Name, st.Skipped)
			}
		}
	})
}

// TestSchedulerWallClockSetForward: a cron drill is due by the wall clock; when the clock is
// set forward past its time, it runs within a minute, not when the time it had left to wait
// has elapsed.
func TestSchedulerWallClockSetForward(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		due := start.Truncate(time.Hour).Add(time.Hour) // the next whole hour
		s, err := parseCron("0 * * * *")
		if err != nil {
			t.Fatal(err)
		}
		f := &fakeRuns{}
		var ahead atomic.Int64
		sch := &Scheduler{Drills: []*Drill{{Name: "a", Cron: "0 * * * *", cron: s}}, RunDrill: f.run, Log: quiet,
			now: func() time.Time { return time.Now().Round(0).Add(time.Duration(ahead.Load())) }}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { sch.Run(ctx); close(done) }()
		time.Sleep(time.Second)
		ahead.Store(int64(due.Sub(start))) // the wall clock now reads the drill's time
		time.Sleep(2 * time.Minute)
		cancel()
		<-done
		if got := len(f.spans()); got != 1 {
			t.Errorf("runs within 2m of the wall clock set past the drill's time: %d, want 1", got)
		}
	})
}

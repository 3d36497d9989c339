package history_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/pgtest"
)

// realistic returns a record the size of a run of DESIGN's example experiment (20 s
// baseline, 60 s inject, 30 s recovery): the report's golden failed run, with one timeline row
// per second and one sample per second for each check in each phase.
func realistic(tb testing.TB) *shakedown.Record {
	rs, err := history.DecodeRecords(reportRecords(tb)["failed.json"])
	if err != nil {
		tb.Fatal(err)
	}
	r := rs[0]
	start := r.StartedAt.Time
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range r.Loads {
		l := &r.Loads[i]
		l.Timeline = nil
		for s := range 110 {
			l.Timeline = append(l.Timeline, shakedown.TimelineRow{T: shakedown.At(start.Add(time.Duration(s) * time.Second)),
				Count: 50, Errors: int64(rnd.IntN(2)), P50: shakedown.Millis(40 + rnd.IntN(10)), P99: shakedown.Millis(110 + rnd.IntN(400))})
		}
	}
	secs := map[shakedown.Phase]int{shakedown.PhaseBaseline: 20, shakedown.PhaseInject: 60, shakedown.PhaseRecovery: 30}
	for _, c := range r.Checks {
		for p, cp := range c.PerPhase {
			cp.Samples = nil
			for s := range secs[p] {
				v := 0.1 + rnd.Float64()/2
				cp.Samples = append(cp.Samples, shakedown.Sample{At: shakedown.At(start.Add(time.Duration(s) * time.Second)), Held: v < 0.4, Value: &v})
			}
		}
	}
	return r
}

// variant is r as run i of a history: its own id and time, one of 20 experiments, one of 3
// branches, mostly passing.
func variant(r *shakedown.Record, i int) *shakedown.Record {
	v := *r
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	v.ID = fmt.Sprintf("01BENCH%09d", i)
	v.StartedAt, v.EndedAt = shakedown.At(at), shakedown.At(at.Add(110*time.Second))
	v.Experiment.Name = fmt.Sprintf("experiment-%02d", i%20)
	v.Experiment.SHA256 = fmt.Sprintf("sha-%02d", i%20)
	v.Commit = &shakedown.Commit{SHA: fmt.Sprintf("%040x", i/7), Branch: []string{"main", "main", "feature"}[i%3], Source: "git"}
	v.Verdict = shakedown.VerdictPassed
	if i%11 == 0 {
		v.Verdict = shakedown.VerdictFailed
	}
	v.ExitCode = v.Verdict.ExitCode()
	return &v
}

// BenchmarkRecord: filing one run of realistic size in a SQLite store (goal ≤ 20 ms) and in
// a PostgreSQL one (with the bytes its tables and indexes grow by per run).
func BenchmarkRecord(b *testing.B) {
	r := realistic(b)
	ctx := context.Background()
	b.Run("sqlite", func(b *testing.B) {
		s := open(b, history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(b.TempDir(), "history.db")})
		for i := 0; b.Loop(); i++ {
			if err := s.Record(ctx, variant(r, i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("postgres", func(b *testing.B) {
		url := pgtest.DB(b)
		s := open(b, history.DSN{Driver: history.DriverPostgres, Path: url})
		n := 0
		for b.Loop() {
			if err := s.Record(ctx, variant(r, n)); err != nil {
				b.Fatal(err)
			}
			n++
		}
		db, err := sql.Open("pgx", url)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		var size int64
		if err := db.QueryRow(`SELECT pg_total_relation_size('runs') + pg_total_relation_size('figures')`).Scan(&size); err == nil && n > 0 {
			b.ReportMetric(float64(size)/float64(n), "stored-B/run")
		}
	})
}

const bigHistory = 100_000

var (
	bigOnce sync.Once
	bigDSN  history.DSN
	bigErr  error
)

// big returns a SQLite store of 100,000 realistic runs, made once per test binary in a folder
// removed when the process's tests end (see TestMain's cleanup in bigCleanup).
func big(b *testing.B) history.DSN {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "history-bench-")
		if err != nil {
			bigErr = err
			return
		}
		bigCleanup = func() { os.RemoveAll(dir) }
		bigDSN = history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(dir, "history.db")}
		s, err := history.Open(context.Background(), bigDSN)
		if err != nil {
			bigErr = err
			return
		}
		defer s.Close()
		r := realistic(b)
		for i := 0; i < bigHistory; i += 1000 {
			batch := make([]*shakedown.Record, 0, 1000)
			for j := i; j < i+1000; j++ {
				batch = append(batch, variant(r, j))
			}
			if _, _, err := s.Import(context.Background(), batch); err != nil {
				bigErr = err
				return
			}
		}
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigDSN
}

var bigCleanup = func() {}

// BenchmarkList: `shakedown history` (the newest 20 runs with figures and marks) over 100,000
// stored runs (goal ≤ 200 ms); bytes per run are the store's size over its runs.
func BenchmarkList(b *testing.B) {
	dsn := big(b)
	s := open(b, dsn)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		f    history.Filter
	}{
		{"all", history.Filter{}},
		{"experiment", history.Filter{Experiments: []string{"experiment-07"}}},
		{"branch", history.Filter{Branch: "feature", Limit: 100}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				es, err := s.List(ctx, tc.f)
				if err != nil || len(es) == 0 {
					b.Fatal(len(es), err)
				}
			}
			if fi, err := os.Stat(dsn.Path); err == nil {
				b.ReportMetric(float64(fi.Size())/bigHistory, "stored-B/run")
			}
		})
	}
}

// BenchmarkReference: the gate's reference query (the last 10 passing runs of an experiment
// on main) over 100,000 stored runs (goal ≤ 50 ms).
func BenchmarkReference(b *testing.B) {
	s := open(b, big(b))
	ctx := context.Background()
	for b.Loop() {
		rs, err := s.Reference(ctx, "experiment-07", "main", "", 10)
		if err != nil || len(rs) != 10 {
			b.Fatal(len(rs), err)
		}
	}
}

// BenchmarkOverviews: a dashboard's home (every experiment with its newest 30 runs and their
// marks) over 100,000 stored runs (goal ≤ 300 ms with the page around it).
func BenchmarkOverviews(b *testing.B) {
	s := open(b, big(b))
	ctx := context.Background()
	for b.Loop() {
		os, err := s.Overviews(ctx, 30)
		if err != nil || len(os) != 20 || len(os[7].Recent) != 30 {
			b.Fatal(len(os), err)
		}
	}
}

// BenchmarkTrend: a dashboard's experiment page (the newest 200 runs of an experiment with
// their trend figures and marks) over 100,000 stored runs (goal ≤ 300 ms with the page around
// it).
func BenchmarkTrend(b *testing.B) {
	s := open(b, big(b))
	ctx := context.Background()
	for b.Loop() {
		es, err := s.Trend(ctx, "experiment-07", "", 200)
		if err != nil || len(es) != 200 || len(es[0].Figures) == 0 {
			b.Fatal(len(es), err)
		}
	}
}

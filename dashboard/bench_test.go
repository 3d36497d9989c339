package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/dashboard"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/pgtest"
)

const bigHistory = 100_000

// bigStore fills the store dsn names with 100,000 runs of the size of a run of DESIGN's
// example (110 s, one timeline row per second), of 20 experiments on 3 branches, one run a
// minute, a commit every 7 runs, one in 11 failed. A SQLite store at $SHAKEDOWN_BENCH_STORE
// that already holds them is used as it is (making them takes minutes).
func bigStore(b *testing.B, dsn history.DSN) *history.Store {
	ctx := context.Background()
	s, err := history.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if n, err := s.CountRuns(ctx, "experiment-07"); err == nil && n == bigHistory/20 {
		return s
	}
	base := baseRecord(b)
	start := base.StartedAt.Time
	base.Loads[0].Timeline = nil
	for sec := range 110 {
		base.Loads[0].Timeline = append(base.Loads[0].Timeline, shakedown.TimelineRow{T: shakedown.At(start.Add(time.Duration(sec) * time.Second)),
			Count: 50, Errors: int64(sec % 2), P50: shakedown.Millis(40 + sec%10), P99: shakedown.Millis(110 + (sec*37)%400)})
	}
	for i := 0; i < bigHistory; i += 1000 {
		batch := make([]*shakedown.Record, 0, 1000)
		for j := i; j < i+1000; j++ {
			v := *base
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(j) * time.Minute)
			v.ID = fmt.Sprintf("01BENCH%09d", j)
			v.StartedAt, v.EndedAt = shakedown.At(at), shakedown.At(at.Add(110*time.Second))
			v.Experiment.Name = fmt.Sprintf("experiment-%02d", j%20)
			v.Experiment.SHA256 = fmt.Sprintf("sha-%02d", j%20)
			v.Commit = &shakedown.Commit{SHA: fmt.Sprintf("%040x", j/7), Branch: []string{"main", "main", "feature"}[j%3], Source: "git"}
			v.Verdict, v.Gate = shakedown.VerdictPassed, nil
			if j%11 == 0 {
				v.Verdict = shakedown.VerdictFailed
			}
			if j%97 == 0 {
				v.Verdict, v.Gate = shakedown.VerdictRegressed, base.Gate
			}
			v.ExitCode = v.Verdict.ExitCode()
			batch = append(batch, &v)
		}
		if _, _, err := s.Import(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkPages: the server time of the home page and an experiment's page (its newest 200
// runs drawn) over 100,000 stored runs (goal ≤ 300 ms each), with the page's size; and of
// /metrics and the JSON API's home.
func BenchmarkPages(b *testing.B) {
	stores := map[string]func(b *testing.B) history.DSN{
		"sqlite": func(b *testing.B) history.DSN {
			path := os.Getenv("SHAKEDOWN_BENCH_STORE")
			if path == "" {
				path = filepath.Join(b.TempDir(), "history.db")
			}
			return history.DSN{Driver: history.DriverSQLite, Path: path}
		},
		"postgres": func(b *testing.B) history.DSN {
			return history.DSN{Driver: history.DriverPostgres, Path: pgtest.DB(b)}
		},
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			s := bigStore(b, stores[backend](b))
			h, err := dashboard.New(dashboard.Options{Store: s})
			if err != nil {
				b.Fatal(err)
			}
			for _, page := range []struct{ name, path string }{
				{"home", "/"},
				{"experiment", "/experiments/experiment-07"},
				{"experiment-main", "/experiments/experiment-07?branch=main"},
				{"api-experiments", "/api/experiments"},
				{"metrics", "/metrics"},
				{"badge", "/badge/experiment-07.svg"},
				{"run", "/runs/01BENCH000050007"},
			} {
				b.Run(page.name, func(b *testing.B) {
					size := 0
					for b.Loop() {
						w := httptest.NewRecorder()
						h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, page.path, nil))
						if w.Code != http.StatusOK {
							b.Fatalf("GET %s: %d %s", page.path, w.Code, w.Body)
						}
						size = w.Body.Len()
					}
					b.ReportMetric(float64(size), "page-B")
				})
			}
		})
	}
}

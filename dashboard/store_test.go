package dashboard_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
)

// The experiments of the sample history.
const (
	expCheckout = "checkout-tolerates-slow-cache"
	expPayments = "payments-survive-db-failover"
	expSearch   = "search-degrades-gracefully"
)

// sampleRuns is how many runs of each experiment the sample history holds.
const sampleRuns = 40

// baseRecord decodes a fresh copy of the report's golden regressed run: a run with a load, an
// expectation that fired, a recovery and a gate block.
func baseRecord(tb testing.TB) *shakedown.Record {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "report", "testdata", "regressed.json"))
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := history.DecodeRecords(b)
	if err != nil {
		tb.Fatal(err)
	}
	return rs[0]
}

// sampleRun is run i of experiment exp in the sample history: one run an hour, a new commit
// every other run, p99 under fault wandering around 330 ms; experiment 0 has failures from
// run 20 to 24 (discovered, then fixed), a regressed run at 30 and two verdicts at one commit
// (flaky) at 35; the others pass, but for an aborted run.
func sampleRun(tb testing.TB, exp string, n, i int) *shakedown.Record {
	r := baseRecord(tb)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Hour + time.Duration(n)*time.Minute)
	r.ID = fmt.Sprintf("01SAMPLE%d%04d", n, i)
	r.StartedAt, r.EndedAt = shakedown.At(at), shakedown.At(at.Add(110*time.Second))
	r.Experiment.Name = exp
	r.Experiment.SHA256 = fmt.Sprintf("sha-%d", n)
	r.Commit = &shakedown.Commit{SHA: fmt.Sprintf("%07x%033d", 0xa11ce00+i/2, n), Branch: "main", Source: "git"}
	wave := 40 * math.Sin(float64(i)/4+float64(n))
	l := r.Loads[0]
	l.PerPhase[shakedown.PhaseInject].P99 = shakedown.Millis(330 + wave)
	l.PerPhase[shakedown.PhaseInject].Errors = int64(3 + i%5)
	ttd := shakedown.Millis(20000 + 1000*float64(i%7))
	r.Expectations[0].TimeToDetect = &ttd
	ttr := shakedown.Millis(2000 + 50*float64(i%9))
	r.Recovery.TimeToRecover = &ttr
	r.Verdict, r.Gate, r.Reason = shakedown.VerdictPassed, nil, "every check held"
	switch {
	case n == 0 && i >= 20 && i < 25:
		r.Verdict, r.Reason = shakedown.VerdictFailed, "checkout p99 above 400ms under fault"
		l.PerPhase[shakedown.PhaseInject].P99 = shakedown.Millis(520 + wave)
	case n == 0 && i == 30:
		g := baseRecord(tb)
		r.Verdict, r.Gate, r.Reason = shakedown.VerdictRegressed, g.Gate, g.Reason
		l.PerPhase[shakedown.PhaseInject].P99 = 460
	case n == 0 && i == 35:
		r.Commit.SHA = fmt.Sprintf("%07x%033d", 0xa11ce00+34/2, n) // the commit of run 34
		r.Verdict, r.Reason = shakedown.VerdictFailed, "checkout p99 above 400ms under fault"
	case n == 1 && i == 12:
		r.Verdict, r.Reason = shakedown.VerdictAborted, "interrupted by SIGTERM"
	}
	r.ExitCode = r.Verdict.ExitCode()
	return r
}

// sampleStore is a SQLite history of the three sample experiments.
func sampleStore(tb testing.TB) *history.Store {
	tb.Helper()
	return sampleStoreAt(tb, history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(tb.TempDir(), "history.db")})
}

// sampleStoreAt is the sample history in the store dsn names.
func sampleStoreAt(tb testing.TB, dsn history.DSN) *history.Store {
	tb.Helper()
	ctx := context.Background()
	s, err := history.Open(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	var recs []*shakedown.Record
	for n, exp := range []string{expCheckout, expPayments, expSearch} {
		for i := range sampleRuns {
			recs = append(recs, sampleRun(tb, exp, n, i))
		}
	}
	if _, _, err := s.Import(ctx, recs); err != nil {
		tb.Fatal(err)
	}
	return s
}

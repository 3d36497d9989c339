package history_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/pgtest"
)

func TestMain(m *testing.M) {
	if dsn := os.Getenv("HISTORY_TEST_HOLD_LOCK"); dsn != "" {
		holdLock(dsn) // a holder for TestKilledHolderLapses; it never returns
	}
	code := pgtest.Wrap(m).Run()
	bigCleanup()
	os.Exit(code)
}

// backends runs f once on a new SQLite file and once on a new PostgreSQL database.
func backends(t *testing.T, f func(t *testing.T, dsn history.DSN)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(t.TempDir(), "history.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, history.DSN{Driver: history.DriverPostgres, Path: pgtest.DB(t)})
	})
}

func open(t testing.TB, dsn history.DSN) *history.Store {
	t.Helper()
	s, err := history.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var epoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// run makes a run record of experiment exp, started n minutes after epoch, with a load whose
// p99 during the inject is p99 ms.
func run(n int, exp string, v shakedown.Verdict, commit, branch string, p99 float64) *shakedown.Record {
	start := epoch.Add(time.Duration(n) * time.Minute)
	ttr := shakedown.Millis(3000 + n)
	return &shakedown.Record{
		Schema:     shakedown.RecordSchema,
		ID:         fmt.Sprintf("01RUN%05d%s", n, exp),
		Experiment: shakedown.ExperimentRef{Name: exp, File: exp + ".yaml", SHA256: "sha-" + exp},
		Commit:     &shakedown.Commit{SHA: commit, Branch: branch, Source: "git"},
		StartedAt:  shakedown.At(start),
		EndedAt:    shakedown.At(start.Add(40 * time.Second)),
		Version:    "test",
		Host:       "ci-1",
		Verdict:    v,
		ExitCode:   v.ExitCode(),
		Reason:     "reason",
		Phases:     []shakedown.PhaseRecord{},
		Targets:    []shakedown.TargetRecord{},
		Faults:     []shakedown.FaultRecord{},
		Checks:     []shakedown.CheckRecord{},
		Loads: []shakedown.LoadRecord{{Name: "checkout", URL: "http://127.0.0.1/", Rate: 50,
			PerPhase: map[shakedown.Phase]*shakedown.LoadStats{
				shakedown.PhaseBaseline: {Count: 500, P50: 20, P99: 40, Throughput: 50},
				shakedown.PhaseInject:   {Count: 1000, Errors: 3, P50: 30, P99: shakedown.Millis(p99), Throughput: 49},
			}}},
		Recovery: shakedown.RecoveryRecord{TimeToRecover: &ttr},
	}
}

// closedPort returns a port of 127.0.0.1 on which nothing listens.
func closedPort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

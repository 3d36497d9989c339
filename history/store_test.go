package history_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
)

func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want history.DSN
		bad  bool
	}{
		{in: "", want: history.DSN{}},
		{in: "off", want: history.DSN{Driver: history.DriverOff}},
		{in: "runs.db", want: history.DSN{Driver: history.DriverSQLite, Path: "runs.db"}},
		{in: "/var/lib/x/history.db", want: history.DSN{Driver: history.DriverSQLite, Path: "/var/lib/x/history.db"}},
		{in: "sqlite:runs.db", want: history.DSN{Driver: history.DriverSQLite, Path: "runs.db"}},
		{in: "sqlite:///abs/runs.db", want: history.DSN{Driver: history.DriverSQLite, Path: "/abs/runs.db"}},
		{in: "postgres://u:p@db:5432/h", want: history.DSN{Driver: history.DriverPostgres, Path: "postgres://u:p@db:5432/h"}},
		{in: "postgresql://db/h?sslmode=disable", want: history.DSN{Driver: history.DriverPostgres, Path: "postgresql://db/h?sslmode=disable"}},
		{in: "sqlite:", bad: true},
		{in: "mysql://db/h", bad: true},
		{in: "postgres:///h", bad: true},
		{in: "postgres://db:99999999999/h%zz", bad: true},
		{in: "postgres://u:pa%40ss@db/h", want: history.DSN{Driver: history.DriverPostgres, Path: "postgres://u:pa%40ss@db/h"}},
		{in: "postgres://u:p@db/h?options=a@b", want: history.DSN{Driver: history.DriverPostgres, Path: "postgres://u:p@db/h?options=a@b"}},
		{in: "postgres://u:p@db?application_name=a@b", want: history.DSN{Driver: history.DriverPostgres, Path: "postgres://u:p@db?application_name=a@b"}},
		{in: "runs=2.db", want: history.DSN{Driver: history.DriverSQLite, Path: "runs=2.db"}},
		// The driver reads the user and password up to the first @, net/url up to the last.
		{in: "postgres://u:pa@ss@db/h", bad: true},
		{in: "postgres://u:pa?ss@db/h", bad: true},
		{in: "postgres://u:pa#ss@db/h", bad: true},
		// A keyword=value connection string is no file name.
		{in: "host=db port=5432 user=u password=secret dbname=h", bad: true},
		{in: "dbname=h", bad: true},
		{in: "  password = secret host=db", bad: true},
	} {
		got, err := history.ParseDSN(tc.in)
		if tc.bad {
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Errorf("ParseDSN(%q) = %+v, %v; want an invalid error", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDSN(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	// A password nobody escaped is not shown, nor a piece of it net/url would quote.
	for _, pw := range []string{"hunter2/xx", "hunt er2", "hun#ter2:1", `hun"ter2`, "hun?ter2", "hun<ter2", "hun%zzter2", "hun@ter2", "hun?ter2@x"} {
		dsn := "postgres://app:" + pw + "@db:5432/h"
		_, err := history.ParseDSN(dsn)
		if err != nil && (strings.Contains(err.Error(), "hun") || strings.Contains(err.Error(), "ter2")) {
			t.Errorf("ParseDSN(%q) = %v, shows the password", dsn, err)
		}
	}
	for _, dsn := range []string{"host=db password=hunter2", "user=u password='hunter2' dbname=h"} {
		if _, err := history.ParseDSN(dsn); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseDSN(%q) = %v; want an error without the password", dsn, err)
		}
	}
	d, _ := history.ParseDSN("postgres://u:secret@db/h")
	if s := d.String(); s != "postgres://u:xxxxx@db/h" {
		t.Errorf("String() = %q, want the password hidden", s)
	}
	if got := (history.DSN{}).In("/s"); got != (history.DSN{Driver: history.DriverSQLite, Path: "/s/history.db"}) {
		t.Errorf("default In(/s) = %+v", got)
	}
}

func TestRecordIsIdempotentAndReadBack(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		s := open(t, dsn)
		ctx := context.Background()
		r := run(1, "checkout", shakedown.VerdictPassed, "abc123", "main", 92)
		for range 2 {
			if err := s.Record(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		es, err := s.List(ctx, history.Filter{})
		if err != nil || len(es) != 1 {
			t.Fatalf("List after recording one run twice = %d entries, %v; want 1", len(es), err)
		}
		got, err := s.Run(ctx, r.ID[:8])
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("Run(prefix) differs from what was recorded (-want +got):\n%s", diff)
		}
		if _, err := s.Run(ctx, "NOSUCHRUN"); !shakedown.IsKind(err, shakedown.KindNotFound) {
			t.Errorf("Run(unknown) = %v, want not found", err)
		}
		s.Record(ctx, run(2, "checkout", shakedown.VerdictPassed, "abc123", "main", 92))
		if _, err := s.Run(ctx, "01RUN"); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Run(ambiguous prefix) = %v, want invalid", err)
		}
	})
}

func TestReferenceAndLatest(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		s := open(t, dsn)
		ctx := context.Background()
		var want []string
		for i := range 12 {
			v := shakedown.VerdictPassed
			if i%4 == 3 {
				v = shakedown.VerdictFailed
			}
			r := run(i, "checkout", v, fmt.Sprint("c", i), "main", 90)
			mustRecord(t, s, r)
			if v == shakedown.VerdictPassed && i != 10 {
				want = append(want, r.ID)
			}
			mustRecord(t, s, run(100+i, "checkout", shakedown.VerdictPassed, "x", "feature", 90)) // another branch
			mustRecord(t, s, run(200+i, "other", shakedown.VerdictPassed, "x", "main", 90))       // another experiment
		}
		slices.Reverse(want)
		refs, err := s.Reference(ctx, "checkout", "main", run(10, "checkout", "", "", "", 0).ID, 5)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range refs {
			got = append(got, r.ID)
		}
		if diff := cmp.Diff(want[:5], got); diff != "" {
			t.Errorf("Reference(checkout, main, except run 10, 5) (-want +got):\n%s", diff)
		}
		latest, err := s.Latest(ctx, "checkout", "main")
		if err != nil || latest.ID != run(11, "checkout", "", "", "", 0).ID {
			t.Errorf("Latest(checkout, main) = %v, %v; want run 11", latest, err)
		}
		if _, err := s.Latest(ctx, "checkout", "nobranch"); !shakedown.IsKind(err, shakedown.KindNotFound) {
			t.Errorf("Latest on a branch without runs = %v, want not found", err)
		}
	})
}

func mustRecord(t testing.TB, s *history.Store, r *shakedown.Record) {
	t.Helper()
	if err := s.Record(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func TestListFiltersAndMarks(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		s := open(t, dsn)
		ctx := context.Background()
		P, F, E := shakedown.VerdictPassed, shakedown.VerdictFailed, shakedown.VerdictError
		// checkout on main: green, green, red (discovered at c3), error (looked past), red,
		// green (fixed at c6); the same file at c7 passed and failed: flaky.
		for i, v := range []shakedown.Verdict{P, P, F, E, F, P, P, F} {
			commit := fmt.Sprint("c", i+1)
			if i == 7 {
				commit = "c7"
			}
			mustRecord(t, s, run(i+1, "checkout", v, commit, "main", 90))
		}
		mustRecord(t, s, run(20, "search", F, "d1", "feature", 90))
		es, err := s.List(ctx, history.Filter{Experiments: []string{"checkout"}, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, e := range es {
			for _, m := range e.Marks {
				got[e.Commit] = append(got[e.Commit], m.Kind)
			}
		}
		want := map[string][]string{
			"c3": {history.MarkDiscovered},
			"c6": {history.MarkFixed},
			"c7": {history.MarkDiscovered, history.MarkFlaky, history.MarkFlaky},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("marks by commit (-want +got):\n%s", diff)
		}
		if len(es) != 8 || es[0].StartedAt.Before(es[1].StartedAt) {
			t.Errorf("List(checkout) = %d runs, want 8 newest first", len(es))
		}
		if n := len(es[0].Figures); n != 3 {
			t.Errorf("headline figures = %v, want p99 and errors during inject and the time to recover", es[0].Figures)
		}
		for _, tc := range []struct {
			f    history.Filter
			want int
		}{
			{history.Filter{}, 9},
			{history.Filter{Limit: 2}, 2},
			{history.Filter{Branch: "feature"}, 1},
			{history.Filter{Commit: "c7"}, 2},
			{history.Filter{Commit: "C"}, 8},
			{history.Filter{Experiments: []string{"checkout", "search"}, Branch: "main"}, 8},
			{history.Filter{Experiments: []string{"nothing"}}, 0},
		} {
			es, err := s.List(ctx, tc.f)
			if err != nil || len(es) != tc.want {
				t.Errorf("List(%+v) = %d runs, %v; want %d", tc.f, len(es), err, tc.want)
			}
		}
	})
}

func TestPrune(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		s := open(t, dsn)
		ctx := context.Background()
		for i := range 10 {
			mustRecord(t, s, run(i, "a", shakedown.VerdictPassed, "c", "main", 90))
			mustRecord(t, s, run(i, "b", shakedown.VerdictPassed, "c", "main", 90))
		}
		n, err := s.Prune(ctx, history.Prune{Keep: 3}, time.Now())
		if err != nil || n != 14 {
			t.Fatalf("Prune(keep 3) = %d, %v; want 14 of 20 deleted", n, err)
		}
		es, _ := s.List(ctx, history.Filter{Experiments: []string{"a"}})
		if len(es) != 3 || es[0].ID != run(9, "a", "", "", "", 0).ID || len(es[2].Figures) == 0 {
			t.Errorf("after Prune(keep 3), a has %v; want its 3 newest runs with their figures", es)
		}
		now := epoch.Add(8*time.Minute + 30*time.Second)
		n, err = s.Prune(ctx, history.Prune{OlderThan: time.Minute}, now)
		if err != nil || n != 2 {
			t.Errorf("Prune(older than 1m at 8.5 min) = %d, %v; want run 7 of a and b deleted", n, err)
		}
		if _, err := s.Prune(ctx, history.Prune{}, now); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Prune with nothing to prune by = %v, want invalid", err)
		}
	})
}

func TestImportIsOneTransactionAndIdempotent(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		s := open(t, dsn)
		ctx := context.Background()
		good := []*shakedown.Record{run(1, "a", shakedown.VerdictPassed, "c", "main", 90), run(2, "a", shakedown.VerdictFailed, "c", "main", 90)}
		bad := run(3, "a", shakedown.VerdictPassed, "c", "main", 90)
		bad.Schema = "shakedown.run/v0"
		if _, _, err := s.Import(ctx, append(slices.Clone(good), bad)); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Fatalf("Import with a bad record = %v, want invalid", err)
		}
		if es, _ := s.List(ctx, history.Filter{}); len(es) != 0 {
			t.Fatalf("after a failed import the store holds %d runs, want none of that import", len(es))
		}
		added, present, err := s.Import(ctx, good)
		if err != nil || added != 2 || present != 0 {
			t.Fatalf("Import = %d added, %d present, %v; want 2, 0", added, present, err)
		}
		added, present, err = s.Import(ctx, good)
		if err != nil || added != 0 || present != 2 {
			t.Fatalf("Import again = %d added, %d present, %v; want 0, 2", added, present, err)
		}
	})
}

// TestConcurrentWriters: 8 writers at once, each with its own connection pool as 8 runs of
// a CI machine would have, on one store that none has opened yet (so they also race to
// create and migrate it): every record is there once.
func TestConcurrentWriters(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		const writers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				s, err := history.Open(context.Background(), dsn)
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				for i := range each {
					if err := s.Record(context.Background(), run(w*each+i, "a", shakedown.VerdictPassed, "c", "main", 90)); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		s := open(t, dsn)
		es, err := s.List(context.Background(), history.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range es {
			seen[e.ID]++
		}
		for i := range writers * each {
			if id := run(i, "a", "", "", "", 0).ID; seen[id] != 1 {
				t.Errorf("run %s is there %d times, want once", id, seen[id])
			}
		}
		if len(es) != writers*each {
			t.Errorf("the store holds %d runs, want %d", len(es), writers*each)
		}
	})
}

// migrateTo brings a new store at dsn to schema version v only, as an older shakedown would
// have left it.
func migrateTo(t *testing.T, dsn history.DSN, v int64) *sql.DB {
	t.Helper()
	driver, dialect := "sqlite", goose.DialectSQLite3
	if dsn.Driver == history.DriverPostgres {
		driver, dialect = "pgx", goose.DialectPostgres
	}
	db, err := sql.Open(driver, dsn.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(dialect, db, os.DirFS("migrations"), goose.WithTableName("shakedown_schema"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestOpenMigratesAnOlderStore(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		db := migrateTo(t, dsn, 1)
		// A run an older shakedown filed: no figures table yet.
		q := `INSERT INTO runs (id, experiment, experiment_sha256, commit_sha, branch, host, started_at, ended_at, verdict, exit_code, record)
			VALUES ('01OLD', 'a', 'sha', 'c', 'main', 'h', 1, 2, 'passed', 0, '{"schema":"shakedown.run/v1","id":"01OLD"}')`
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
		db.Close()
		s := open(t, dsn)
		mustRecord(t, s, run(1, "a", shakedown.VerdictPassed, "c", "main", 90))
		es, err := s.List(context.Background(), history.Filter{})
		if err != nil || len(es) != 2 || es[1].ID != "01OLD" {
			t.Fatalf("after migrating from version 1, List = %v, %v; want the old run and the new one", es, err)
		}
	})
}

// TestReadOnlyOpenMigratesAnOlderStore: a read-only open of a store an older shakedown
// wrote brings it up to date first, its runs kept, as an upgrade's first `history` would
// expect, and then reads it.
func TestReadOnlyOpenMigratesAnOlderStore(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		db := migrateTo(t, dsn, 1)
		q := `INSERT INTO runs (id, experiment, experiment_sha256, commit_sha, branch, host, started_at, ended_at, verdict, exit_code, record)
			VALUES ('01OLD', 'a', 'sha', 'c', 'main', 'h', 1, 2, 'passed', 0, '{"schema":"shakedown.run/v1","id":"01OLD"}')`
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
		db.Close()
		s, err := history.OpenWith(context.Background(), dsn, history.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only open of an older store: %v", err)
		}
		defer s.Close()
		es, err := s.List(context.Background(), history.Filter{})
		if err != nil || len(es) != 1 || es[0].ID != "01OLD" {
			t.Fatalf("List = %v, %v; want the old run", es, err)
		}
		if err := s.Record(context.Background(), run(1, "a", shakedown.VerdictPassed, "c", "main", 90)); err == nil {
			t.Error("a store opened read-only took a record")
		}
	})
}

func TestOpenRefusesANewerSchemaAndWritesNothing(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		s := open(t, dsn)
		mustRecord(t, s, run(1, "a", shakedown.VerdictPassed, "c", "main", 90))
		s.Close()
		db := migrateTo(t, dsn, history.Version())
		newer := history.Version() + 1
		if _, err := db.Exec(fmt.Sprintf("INSERT INTO shakedown_schema (version_id, is_applied) VALUES (%d, true)", newer)); err != nil {
			t.Fatal(err)
		}
		db.Close()
		before := snapshot(t, dsn)
		_, err := history.Open(context.Background(), dsn)
		if !shakedown.IsKind(err, shakedown.KindConflict) || shakedown.KindOf(err).ExitCode() != 5 {
			t.Fatalf("Open of a store at schema version %d = %v; want a conflict (exit 5)", newer, err)
		}
		t.Logf("Open: %v", err)
		if after := snapshot(t, dsn); after != before {
			t.Errorf("refusing a newer schema changed the store:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// snapshot sums up a store's content: the bytes of a SQLite file and its journals, or the
// rows of every table of a PostgreSQL database.
func snapshot(t *testing.T, dsn history.DSN) string {
	t.Helper()
	if dsn.Driver == history.DriverSQLite {
		h := sha256.New()
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			b, err := os.ReadFile(dsn.Path + suffix)
			fmt.Fprintf(h, "%s:%v:", suffix, errors.Is(err, os.ErrNotExist))
			h.Write(b)
		}
		return fmt.Sprintf("%x", h.Sum(nil))
	}
	db, err := sql.Open("pgx", dsn.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out string
	err = db.QueryRow(`SELECT string_agg(t, ';' ORDER BY t) FROM (
		SELECT relname || '=' || n_tup_ins || '/' || n_tup_upd || '/' || n_tup_del AS t FROM pg_stat_user_tables) x`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	os.WriteFile(corrupt, []byte("this is not a database, it is a note left here by mistake.....\n"), 0o600)
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	for _, tc := range []struct {
		name string
		dsn  history.DSN
		kind shakedown.Kind
	}{
		{"corrupt file", history.DSN{Driver: history.DriverSQLite, Path: corrupt}, shakedown.KindInternal},
		{"a file where its folder should be", history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(blocker, "history.db")}, shakedown.KindInternal},
		{"a folder", history.DSN{Driver: history.DriverSQLite, Path: dir}, shakedown.KindInvalid},
		{"unreachable postgres", history.DSN{Driver: history.DriverPostgres, Path: fmt.Sprintf("postgres://u:pw@127.0.0.1:%d/h?sslmode=disable", closedPort(t))}, shakedown.KindUnavailable},
		{"off", history.DSN{Driver: history.DriverOff}, shakedown.KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := history.Open(context.Background(), tc.dsn)
			if err == nil {
				s.Close()
			}
			if !shakedown.IsKind(err, tc.kind) {
				t.Fatalf("Open(%s) = %v; want kind %v", tc.dsn, err, tc.kind)
			}
			t.Logf("Open: %v", err)
		})
	}
	b, _ := os.ReadFile(corrupt)
	if string(b) != "this is not a database, it is a note left here by mistake.....\n" {
		t.Errorf("opening a corrupt file changed it to %q", b)
	}
}

// readOnly makes dir unwritable for this process: by its mode, or, for root, whom modes do
// not stop, by the immutable attribute (chattr +i) where the file system has it, else by a
// read-only bind mount of dir on itself; undone when the test ends.
func readOnly(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return
	}
	out, err := exec.Command("chattr", "+i", dir).CombinedOutput()
	if err == nil {
		t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
		return
	}
	t.Logf("chattr +i %s: %v %s; a read-only bind mount instead", dir, err, out)
	if out, err := exec.Command("mount", "--bind", dir, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind %s: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	if out, err := exec.Command("mount", "-o", "remount,ro,bind", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o remount,ro,bind %s: %v\n%s", dir, err, out)
	}
}

// TestReadOnlyDirectory: a store in a folder nobody may write is an error saying so, for a
// new store and for one that was there before the folder became read-only, and a store that
// could not be opened leaves nothing behind.
func TestReadOnlyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	existing := history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(dir, "old.db")}
	s := open(t, existing)
	mustRecord(t, s, run(1, "a", shakedown.VerdictPassed, "c", "main", 90))
	s.Close()
	before := snapshot(t, existing)
	readOnly(t, dir)
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		f.Close()
		t.Fatalf("%s is still writable", dir)
	}

	fresh := history.DSN{Driver: history.DriverSQLite, Path: filepath.Join(dir, "history.db")}
	if s, err := history.Open(context.Background(), fresh); err == nil {
		s.Close()
		t.Fatalf("Open of a new store in a read-only folder succeeded")
	} else {
		t.Logf("Open (new): %v", err)
	}
	if _, err := os.Stat(fresh.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a store that could not be opened left %s behind (%v)", fresh.Path, err)
	}

	// The old store: opening it for a write, or writing to it, fails with an error; it is
	// what it was.
	s, err := history.Open(context.Background(), existing)
	if err == nil {
		err = s.Record(context.Background(), run(2, "a", shakedown.VerdictPassed, "c", "main", 90))
		s.Close()
	}
	if err == nil {
		t.Fatalf("recording into a store in a read-only folder succeeded")
	}
	t.Logf("Open or Record (existing): %v", err)
	if after := snapshot(t, existing); after != before {
		t.Errorf("the store in the read-only folder changed")
	}
}

// TestOverviewsMarkAsList: the dashboard's queries mark runs as List does, which asks the
// store of every run's neighbour.
func TestOverviewsMarkAsList(t *testing.T) {
	backends(t, func(t *testing.T, dsn history.DSN) {
		s := open(t, dsn)
		ctx := context.Background()
		verdicts := []shakedown.Verdict{shakedown.VerdictPassed, shakedown.VerdictFailed, shakedown.VerdictAborted, shakedown.VerdictPassed}
		for i := range 60 {
			exp := []string{"a", "b"}[i%2]
			branch := []string{"main", "main", "feature"}[i%3]
			v := verdicts[(i*7/3)%len(verdicts)]
			if err := s.Record(ctx, run(i, exp, v, fmt.Sprintf("c%d", i/4), branch, 90)); err != nil {
				t.Fatal(err)
			}
		}
		os, err := s.Overviews(ctx, 12)
		if err != nil {
			t.Fatal(err)
		}
		if len(os) != 2 || os[0].Runs != 30 || len(os[0].Recent) != 12 {
			t.Fatalf("overviews: %+v", os)
		}
		marked, compared := 0, 0
		for _, o := range os {
			list, err := s.List(ctx, history.Filter{Experiments: []string{o.Experiment}, Limit: 12})
			if err != nil {
				t.Fatal(err)
			}
			trend, err := s.Trend(ctx, o.Experiment, "", 12)
			if err != nil {
				t.Fatal(err)
			}
			for i := range list {
				marked += len(list[i].Marks)
				if diff := cmp.Diff(list[i].Marks, o.Recent[i].Marks); diff != "" {
					t.Errorf("%s: marks of %s, Overviews vs List (-list +overviews):\n%s", o.Experiment, list[i].ID, diff)
				}
				if diff := cmp.Diff(list[i].Marks, trend[i].Marks); diff != "" {
					t.Errorf("%s: marks of %s, Trend vs List (-list +trend):\n%s", o.Experiment, list[i].ID, diff)
				}
			}
			// Filtered by commit, List asks of each run (not contiguous).
			byCommit, err := s.List(ctx, history.Filter{Commit: list[3].Commit})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range byCommit {
				for _, l := range list {
					if l.ID == e.ID {
						compared++
						if diff := cmp.Diff(l.Marks, e.Marks); diff != "" {
							t.Errorf("marks of %s by commit vs by experiment:\n%s", e.ID, diff)
						}
					}
				}
			}
		}
		if marked < 5 || compared < 2 {
			t.Errorf("%d marks, %d runs compared with their marks asked run by run: the test shows nothing", marked, compared)
		}
	})
}

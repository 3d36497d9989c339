// Package history is the store of run records: every run's whole record, with the columns
// and figures that listing, marks, the regression gate's reference query and locks need. It
// keeps them in a SQLite file (the default, pure Go, one machine) or a PostgreSQL database
// (shared by many CI runners), behind one Store.
//
//	ParseDSN ─► Open ─► migrate (goose, embedded) ─► Store
//	                                                 ├─ Record, Import     write (idempotent by run id)
//	                                                 ├─ List, Run          read, with marks
//	                                                 ├─ Reference, Latest  read, for the gate
//	                                                 ├─ Prune              delete
//	                                                 └─ Lock               leases on shared environments
//
// The schema is versioned by migrations embedded in the binary: a newer binary migrates an
// older store when it opens it; an older binary meeting a newer schema refuses before it
// writes anything. Whoever opens a Store must Close it.
package history

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/shakedown-dev/shakedown"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is the table in which goose keeps the schema version.
const versionTable = "shakedown_schema"

// BusyTimeout is how long a SQLite writer waits for another to finish before giving up.
const BusyTimeout = 30 * time.Second

// Timeout bounds every access to the store unless Options say otherwise: opening it
// (migrations included), each read, each write, each attempt at a lock. A store that stalls
// (a PostgreSQL server stopped or behind a link that drops everything, a SQLite file on a
// hung network mount) then costs a run at most this long per access, never the run itself.
// It is the one rule: every exported method applies it (within), whoever calls it — a run,
// its gate, a drill, a history command or the dashboard.
const Timeout = 30 * time.Second

// ErrNoHistory is returned (KindNotFound) by a read-only Open of a store that holds no history
// yet: an empty SQLite file, or a database no shakedown has written to.
var ErrNoHistory = errors.New("no history in it yet")

// Options say how Open opens a store. The zero Options open it for writing, with Timeout.
type Options struct {
	// ReadOnly opens the store for reading only: nothing is created, and nothing
	// in it can be written (SQLite's mode=ro, PostgreSQL's default_transaction_read_only).
	// A store with no history yet is ErrNoHistory. One an older shakedown wrote is first
	// migrated, as by any open (its runs are kept; where it cannot be written, that is the
	// error), then opened for reading.
	ReadOnly bool
	// Timeout bounds each access to the store (0: Timeout).
	Timeout time.Duration
}

// Store is an open history store. It is safe for concurrent use.
type Store struct {
	db       *sql.DB
	dsn      DSN
	dialect  dialect
	readOnly bool
	timeout  time.Duration
}

// Open opens the store dsn names, creating it if needed, and migrates its schema to this
// binary's version. A schema newer than this binary knows is refused (KindConflict) before
// anything is written. A DSN still DriverDefault or DriverOff is refused (KindInvalid): resolve
// it with In first.
func Open(ctx context.Context, dsn DSN) (*Store, error) { return OpenWith(ctx, dsn, Options{}) }

// OpenWith opens the store dsn names as o says (see Open and Options).
func OpenWith(ctx context.Context, dsn DSN, o Options) (*Store, error) {
	op := "open history store " + dsn.String()
	if o.Timeout <= 0 {
		o.Timeout = Timeout
	}
	var (
		db  *sql.DB
		err error
		d   dialect
	)
	switch dsn.Driver {
	case DriverSQLite:
		d = sqliteDialect
		db, err = openSQLite(dsn.Path, o.ReadOnly, o.Timeout)
	case DriverPostgres:
		d = postgresDialect
		db, err = openPostgres(dsn.Path, o.ReadOnly)
	case DriverOff:
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: the history is off", op)
	default:
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: no store named", op)
	}
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	s := &Store{db: db, dsn: dsn, dialect: d, readOnly: o.ReadOnly, timeout: o.Timeout}
	if err := s.within(ctx, s.migrate); err != nil {
		db.Close()
		if errors.Is(err, errOlderSchema) {
			// A history an older shakedown wrote is brought up to date, as any open
			// does — its runs kept — and then read as asked; where it cannot be
			// written (read-only media), it says so.
			w := o
			w.ReadOnly = false
			ws, werr := OpenWith(ctx, dsn, w)
			if werr != nil {
				return nil, werr
			}
			ws.Close()
			return OpenWith(ctx, dsn, o)
		}
		return nil, shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	return s, nil
}

// errOlderSchema says that a store opened read-only has an older schema than this binary's.
var errOlderSchema = errors.New("older schema")

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// DSN is the store's name.
func (s *Store) DSN() DSN { return s.dsn }

// within runs f, one access to the store, on ctx bounded by the store's timeout. When the
// bound (not ctx itself) ends it, the error says the store did not answer in time
// (KindUnavailable), whatever the driver made of its cancelled statement.
func (s *Store) within(ctx context.Context, f func(context.Context) error) error {
	bctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := f(bctx)
	if err != nil && ctx.Err() == nil && errors.Is(bctx.Err(), context.DeadlineExceeded) {
		return shakedown.Errorf(shakedown.KindUnavailable, "the store did not answer within %s (%v)", s.timeout, err)
	}
	return err
}

// query is within for an access that returns a value.
func query[T any](ctx context.Context, s *Store, f func(context.Context) (T, error)) (T, error) {
	var out T
	err := s.within(ctx, func(ctx context.Context) (err error) {
		out, err = f(ctx)
		return err
	})
	return out, err
}

func openSQLite(path string, readOnly bool, timeout time.Duration) (*sql.DB, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s is a folder, not a file", path)
	}
	path, err := sqlitePath(path)
	if err != nil {
		return nil, err
	}
	if readOnly {
		return openSQLiteReadOnly(path, timeout)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, shakedown.Errorf(kindOfFSError(err), "create its folder: %w", err)
	}
	// The file is created here, not by SQLite, so that a folder that cannot be written says
	// so plainly, and so that it is private to its user like the rest of the state dir.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, shakedown.Errorf(kindOfFSError(err), "%w", err)
	}
	f.Close()
	// WAL lets readers go on while one writes; the busy timeout makes concurrent writers (8
	// runs of a suite on one machine) wait their turn instead of failing; immediate
	// transactions take the write lock at BEGIN, so two writers never deadlock upgrading.
	q := fmt.Sprintf("?_busy_timeout=%d&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate", BusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", path+q)
	if err != nil {
		return nil, sqliteError(err)
	}
	return db, nil
}

// openSQLiteReadOnly opens path for reading only: SQLite's mode=ro, which leaves the file as
// it is (a reader of a WAL file may leave the empty -wal and -shm companions a writer leaves).
// Where those companions cannot be made (read-only media), the file is opened immutable: no
// one can be writing it there.
func openSQLiteReadOnly(path string, timeout time.Duration) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, shakedown.Errorf(kindOfFSError(err), "%w", err)
	}
	u := "file:" + (&url.URL{Path: path}).EscapedPath()
	q := fmt.Sprintf("?mode=ro&_busy_timeout=%d", BusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", u+q)
	if err != nil {
		return nil, sqliteError(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master").Scan(&n)
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return db, nil // the error, if any, is met again and said by the first query
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY:
		db.Close()
		if db, err = sql.Open("sqlite", u+q+"&immutable=1"); err != nil {
			return nil, sqliteError(err)
		}
	}
	return db, nil
}

func kindOfFSError(err error) shakedown.Kind {
	if errors.Is(err, fs.ErrPermission) {
		return shakedown.KindPermission
	}
	return shakedown.KindInternal
}

// sqliteError says what a SQLite error means for a user: a file that is not a database, a
// folder that cannot be written.
func sqliteError(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return shakedown.Errorf(shakedown.KindInternal, "the file is not a history database, or it is damaged (%v)", err)
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return shakedown.Errorf(shakedown.KindPermission, "the file or its folder cannot be written (%v)", err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return shakedown.Errorf(shakedown.KindUnavailable, "the database stayed locked by another writer for %s (%v)", BusyTimeout, err)
	}
	return err
}

func openPostgres(url string, readOnly bool) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s", redactErr(err, url))
	}
	if readOnly {
		// The server itself refuses any write of this session's transactions.
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

// redactErr is err's message with the password in url hidden.
func redactErr(err error, url string) string {
	msg := err.Error()
	if r := shakedown.RedactURL(url); r != url {
		msg = strings.ReplaceAll(msg, url, r)
	}
	return msg
}

// ConnectTimeout bounds how long Open waits for a PostgreSQL server that does not answer.
const ConnectTimeout = 10 * time.Second

// storeError gives err the kind and words a user needs: an unreachable server, a damaged
// file, a folder that cannot be written.
func (s *Store) storeError(err error) error {
	if err == nil {
		return nil
	}
	if s.dialect == sqliteDialect {
		return sqliteError(err)
	}
	var se *shakedown.Error
	if errors.As(err, &se) {
		return err
	}
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && isConnectError(err):
		return shakedown.Errorf(shakedown.KindUnavailable, "the server refused the connection: %s", redactErr(err, s.dsn.Path))
	case errors.Is(err, context.DeadlineExceeded):
		return shakedown.Errorf(shakedown.KindUnavailable, "the server did not answer: %s", redactErr(err, s.dsn.Path))
	case isConnectError(err):
		return shakedown.Errorf(shakedown.KindUnavailable, "cannot reach the server: %s", redactErr(err, s.dsn.Path))
	}
	return errors.New(redactErr(err, s.dsn.Path))
}

// migrate brings the schema to this binary's version, after refusing one that is newer.
func (s *Store) migrate(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	err := s.db.PingContext(cctx)
	cancel()
	if err != nil {
		return s.storeError(err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{goose.WithTableName(versionTable), goose.WithDisableGlobalRegistry(true)}
	gd := goose.DialectSQLite3
	if s.dialect == postgresDialect {
		gd = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, s.db, sub, opts...)
	if err != nil {
		return err
	}
	want := Version()
	have, err := s.schemaVersion(ctx)
	if err != nil {
		return s.storeError(err)
	}
	if have > want {
		return shakedown.Errorf(shakedown.KindConflict,
			"its schema is version %d, newer than this shakedown knows (%d): use a newer shakedown (nothing was written)", have, want)
	}
	if have == want {
		return nil
	}
	if s.readOnly {
		if have == 0 {
			return shakedown.Wrap(shakedown.KindNotFound, "", ErrNoHistory)
		}
		return fmt.Errorf("%w: version %d, this shakedown's %d", errOlderSchema, have, want)
	}
	// Several processes may meet an old store at once: SQLite files are migrated under an
	// flock of the file, PostgreSQL under goose's advisory session lock.
	unlock := func() {}
	if s.dialect == sqliteDialect {
		if unlock, err = flockFile(s.dsn.Path); err != nil {
			return err
		}
	}
	defer unlock()
	if _, err := p.Up(ctx); err != nil {
		return s.storeError(fmt.Errorf("migrate schema to version %d: %w", want, err))
	}
	return nil
}

// Version is the schema version this binary writes: its newest migration's.
func Version() int64 {
	entries, _ := fs.ReadDir(migrations, "migrations")
	var v int64
	for _, e := range entries {
		var n int64
		if _, err := fmt.Sscanf(e.Name(), "%d_", &n); err == nil && n > v {
			v = n
		}
	}
	return v
}

// schemaVersion reads the store's schema version without writing anything: 0 for a new store.
func (s *Store) schemaVersion(ctx context.Context) (int64, error) {
	var exists bool
	if err := s.db.QueryRowContext(ctx, s.dialect.tableExists, versionTable).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT MAX(version_id) FROM "+versionTable+" WHERE is_applied").Scan(&v)
	return v.Int64, err
}

// dialect is what differs between the two databases in the queries this package writes.
type dialect struct {
	name        string
	tableExists string // one parameter: the table name; answers a boolean
	nowMillis   string // an expression: the database clock in ms since the epoch
	dollar      bool   // placeholders are $1, $2… rather than ?
}

var (
	sqliteDialect = dialect{
		name:        "sqlite",
		tableExists: "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?",
		nowMillis:   "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
	}
	postgresDialect = dialect{
		name:        "postgres",
		tableExists: "SELECT to_regclass($1) IS NOT NULL",
		nowMillis:   "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
		dollar:      true,
	}
)

// q rewrites a query written with ? placeholders for the dialect.
func (d dialect) q(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// isConnectError reports whether err says the server could not be reached.
func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne)
}

package history

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// Record files a run record with its figures. A run already filed (the same id) is left as
// it is, so recording twice is harmless.
func (s *Store) Record(ctx context.Context, r *shakedown.Record) error {
	if r == nil || r.ID == "" {
		return shakedown.Errorf(shakedown.KindInternal, "record run: no run id")
	}
	op := "record run " + r.ID + " in " + s.dsn.String()
	err := s.within(ctx, func(ctx context.Context) error {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			_, err := s.insert(ctx, tx, r)
			return err
		})
	})
	return shakedown.Wrap(shakedown.KindOf(err), op, err)
}

// inTx runs f in a transaction, committed when f returns nil.
func (s *Store) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.storeError(err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return s.storeError(err)
	}
	return s.storeError(tx.Commit())
}

// insert files r in tx and reports whether it was new.
func (s *Store) insert(ctx context.Context, tx *sql.Tx, r *shakedown.Record) (bool, error) {
	doc, err := encodeRecord(r)
	if err != nil {
		return false, err
	}
	var sha, branch string
	if r.Commit != nil {
		sha, branch = r.Commit.SHA, r.Commit.Branch
	}
	res, err := tx.ExecContext(ctx, s.dialect.q(`INSERT INTO runs
		(id, experiment, experiment_sha256, commit_sha, branch, host, started_at, ended_at, verdict, exit_code, record)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
		r.ID, r.Experiment.Name, r.Experiment.SHA256, sha, branch, r.Host,
		millis(r.StartedAt), millis(r.EndedAt), string(r.Verdict), r.ExitCode, doc)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	return true, s.insertFigures(ctx, tx, r.ID, shakedown.Figures(r))
}

// figureBatch is how many figures one INSERT statement carries (6 parameters each, well under
// either database's limit).
const figureBatch = 100

func (s *Store) insertFigures(ctx context.Context, tx *sql.Tx, id string, fs []shakedown.Figure) error {
	for len(fs) > 0 {
		n := min(len(fs), figureBatch)
		var b strings.Builder
		b.WriteString("INSERT INTO figures (run_id, name, phase, unit, value, worse) VALUES ")
		args := make([]any, 0, 6*n)
		for i, f := range fs[:n] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, id, f.Name, string(f.Phase), f.Unit, f.Value, f.Worse)
		}
		if _, err := tx.ExecContext(ctx, s.dialect.q(b.String()), args...); err != nil {
			return err
		}
		fs = fs[n:]
	}
	return nil
}

func millis(t shakedown.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Run returns the run whose id is id or begins with id (KindNotFound when none does,
// KindInvalid when several do).
func (s *Store) Run(ctx context.Context, id string) (*shakedown.Record, error) {
	op := "find run " + id + " in " + s.dsn.String()
	if id == "" {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: no run id", op)
	}
	recs, err := s.records(ctx, "SELECT record FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 2", id, id+"\U0010FFFF")
	switch {
	case err != nil:
		return nil, shakedown.Wrap(shakedown.KindOf(err), op, err)
	case len(recs) == 0:
		return nil, shakedown.Errorf(shakedown.KindNotFound, "%s: no such run", op)
	case len(recs) > 1 && recs[0].ID != id:
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: several runs begin with %s (%s, %s…): give more of the id", op, id, recs[0].ID, recs[1].ID)
	}
	return recs[0], nil
}

// Reference returns the last limit runs of experiment name on branch whose verdict is
// passed, newest first, leaving out run except. They are what the regression gate judges a
// run against.
func (s *Store) Reference(ctx context.Context, name, branch, except string, limit int) ([]*shakedown.Record, error) {
	recs, err := s.records(ctx, `SELECT record FROM runs
		WHERE experiment = ? AND branch = ? AND verdict = ? AND id <> ?
		ORDER BY started_at DESC, id DESC LIMIT ?`, name, branch, string(shakedown.VerdictPassed), except, limit)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), fmt.Sprintf("read reference runs of %s on %s from %s", name, branch, s.dsn), err)
	}
	return recs, nil
}

// Latest returns the newest run of experiment name on branch (KindNotFound when there is none).
func (s *Store) Latest(ctx context.Context, name, branch string) (*shakedown.Record, error) {
	op := fmt.Sprintf("find the latest run of %s on %s in %s", name, branch, s.dsn)
	recs, err := s.records(ctx, `SELECT record FROM runs WHERE experiment = ? AND branch = ?
		ORDER BY started_at DESC, id DESC LIMIT 1`, name, branch)
	switch {
	case err != nil:
		return nil, shakedown.Wrap(shakedown.KindOf(err), op, err)
	case len(recs) == 0:
		return nil, shakedown.Errorf(shakedown.KindNotFound, "%s: none", op)
	}
	return recs[0], nil
}

// records runs a query whose one column is a record document, and decodes each, within the
// store's bound.
func (s *Store) records(ctx context.Context, q string, args ...any) ([]*shakedown.Record, error) {
	return query(ctx, s, func(ctx context.Context) ([]*shakedown.Record, error) { return s.recordsOf(ctx, q, args...) })
}

func (s *Store) recordsOf(ctx context.Context, query string, args ...any) ([]*shakedown.Record, error) {
	rows, err := s.db.QueryContext(ctx, s.dialect.q(query), args...)
	if err != nil {
		return nil, s.storeError(err)
	}
	defer rows.Close()
	var out []*shakedown.Record
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, s.storeError(err)
		}
		r, err := decodeRecord(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, s.storeError(rows.Err())
}

// encodeRecord is how a record is stored: its JSON, gzip-compressed.
func encodeRecord(r *shakedown.Record) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "encode record", err)
	}
	if err := zw.Close(); err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "encode record", err)
	}
	return buf.Bytes(), nil
}

// decodeRecord reads a stored record back.
func decodeRecord(doc []byte) (*shakedown.Record, error) {
	zr, err := gzip.NewReader(bytes.NewReader(doc))
	if err != nil {
		return nil, shakedown.Errorf(shakedown.KindInternal, "a stored record does not decode: %v", err)
	}
	var r shakedown.Record
	if err := json.NewDecoder(zr).Decode(&r); err != nil {
		return nil, shakedown.Errorf(shakedown.KindInternal, "a stored record does not decode: %v", err)
	}
	return &r, nil
}

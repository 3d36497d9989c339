package history

import (
	"context"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// Overview is one experiment as a dashboard's home shows it: how many runs it has, and its
// newest ones.
type Overview struct {
	Experiment string
	Runs       int     // every run of it recorded
	Recent     []Entry // its newest runs, newest first, with their marks (no figures)
}

// Overviews returns every experiment the store holds, by name, each with its newest recent
// runs (at most; DefaultLimit when recent ≤ 0) and their marks. It reads each experiment's
// newest runs through the experiment's index, so it costs the same for a hundred runs as for
// a hundred thousand.
func (s *Store) Overviews(ctx context.Context, recent int) ([]Overview, error) {
	out, err := query(ctx, s, func(ctx context.Context) ([]Overview, error) { return s.overviews(ctx, recent) })
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "read the experiments in "+s.dsn.String(), err)
	}
	return out, nil
}

func (s *Store) overviews(ctx context.Context, recent int) ([]Overview, error) {
	if recent <= 0 {
		recent = DefaultLimit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT experiment, COUNT(*) FROM runs GROUP BY experiment ORDER BY experiment`)
	if err != nil {
		return nil, s.storeError(err)
	}
	var out []Overview
	for rows.Next() {
		var o Overview
		if err := rows.Scan(&o.Experiment, &o.Runs); err != nil {
			rows.Close()
			return nil, s.storeError(err)
		}
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.storeError(err)
	}
	// Each experiment's newest runs, read through its index; they are marked together below,
	// so each experiment's are kept as a range of all (a run recorded meanwhile may make
	// them more than counted).
	var all []Entry
	ends := make([]int, len(out))
	for i, o := range out {
		es, err := s.entries(ctx, `SELECT `+entryColumns+` FROM runs WHERE experiment = ? ORDER BY started_at DESC, id DESC LIMIT ?`, o.Experiment, recent)
		if err != nil {
			return nil, err
		}
		all = append(all, es...)
		ends[i] = len(all)
	}
	// Each experiment's newest runs: contiguous on each of its branches.
	if err := s.marks(ctx, all, true); err != nil {
		return nil, err
	}
	start := 0
	for i, end := range ends {
		out[i].Recent = all[start:end:end]
		start = end
	}
	return out, nil
}

// Trend returns the newest runs of experiment name (on branch, when not empty), newest first,
// at most limit (DefaultLimit when limit ≤ 0), with their marks and the figures a trend draws
// (see Trend).
func (s *Store) Trend(ctx context.Context, name, branch string, limit int) ([]Entry, error) {
	out, err := query(ctx, s, func(ctx context.Context) ([]Entry, error) {
		return s.list(ctx, Filter{Experiments: []string{name}, Branch: branch, Limit: limit}, figuresTrend)
	})
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "read the runs of "+name+" in "+s.dsn.String(), err)
	}
	return out, nil
}

// IsTrend reports whether a figure is one an experiment's trend draws: the headline figures
// (see Headline), and each expectation's time to detect and time to recover.
func IsTrend(f shakedown.Figure) bool {
	if Headline(f) {
		return true
	}
	return f.Phase == "" && (strings.HasSuffix(f.Name, ".time_to_detect") || strings.HasSuffix(f.Name, ".time_to_recover"))
}

// Count is how many runs of an experiment ended with a verdict.
type Count struct {
	Experiment string
	Verdict    shakedown.Verdict
	Runs       int
}

// Counts returns how many runs of each experiment ended with each verdict, by experiment and
// verdict.
func (s *Store) Counts(ctx context.Context) ([]Count, error) { return query(ctx, s, s.counts) }

func (s *Store) counts(ctx context.Context) ([]Count, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT experiment, verdict, COUNT(*) FROM runs GROUP BY experiment, verdict ORDER BY experiment, verdict`)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "count runs in "+s.dsn.String(), s.storeError(err))
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		var v string
		if err := rows.Scan(&c.Experiment, &v, &c.Runs); err != nil {
			return nil, shakedown.Wrap(shakedown.KindOf(err), "count runs in "+s.dsn.String(), s.storeError(err))
		}
		c.Verdict = shakedown.Verdict(v)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "count runs in "+s.dsn.String(), s.storeError(err))
	}
	return out, nil
}

// Newest returns the newest run of every experiment, by experiment, with its headline figures
// and marks.
func (s *Store) Newest(ctx context.Context) ([]Entry, error) {
	var es []Entry
	err := s.within(ctx, func(ctx context.Context) error {
		os, err := s.overviews(ctx, 1)
		if err != nil {
			return err
		}
		for _, o := range os {
			es = append(es, o.Recent...)
		}
		return s.figures(ctx, es, figuresHeadline)
	})
	if err == nil {
		return es, nil
	}
	return nil, shakedown.Wrap(shakedown.KindOf(err), "read the newest runs in "+s.dsn.String(), err)
}

// CountRuns returns how many runs of experiment name are recorded.
func (s *Store) CountRuns(ctx context.Context, name string) (int, error) {
	var n int
	err := s.within(ctx, func(ctx context.Context) error {
		return s.storeError(s.db.QueryRowContext(ctx, s.dialect.q(`SELECT COUNT(*) FROM runs WHERE experiment = ?`), name).Scan(&n))
	})
	if err != nil {
		return 0, shakedown.Wrap(shakedown.KindOf(err), "count the runs of "+name+" in "+s.dsn.String(), err)
	}
	return n, nil
}

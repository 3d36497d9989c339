package history

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// DefaultLimit is how many runs List returns when the filter does not say.
const DefaultLimit = 20

// Filter says which runs List returns. Zero fields do not filter.
type Filter struct {
	Experiments []string // experiment names
	Branch      string
	Commit      string // a commit sha or its beginning
	Limit       int    // at most this many runs (0: DefaultLimit)
}

// Entry is one run as the history lists it.
type Entry struct {
	ID         string
	Experiment string
	SHA256     string // of the experiment file
	Commit     string
	Branch     string
	Host       string
	StartedAt  time.Time
	EndedAt    time.Time
	Verdict    shakedown.Verdict
	ExitCode   int
	Figures    []shakedown.Figure // the headline figures (see Headline)
	Marks      []Mark
}

// The kinds of marks.
const (
	// MarkDiscovered: the first red run of an experiment on a branch after green ones; its
	// commit is where the failure was found.
	MarkDiscovered = "discovered"
	// MarkFixed: the first green run after red ones.
	MarkFixed = "fixed"
	// MarkFlaky: the same experiment file at the same commit gave different verdicts.
	MarkFlaky = "flaky"
)

// Mark is something the history says of a run beyond its own verdict.
type Mark struct {
	Kind   string // MarkDiscovered, MarkFixed or MarkFlaky
	Commit string // the run's commit
	// Verdicts, for flaky: the verdicts the experiment gave at that commit.
	Verdicts []shakedown.Verdict
}

// Green and red: a run is green when it passed, red when the system did not hold (failed,
// not steady, not restored, or regressed). A run that ended in error, was aborted or invalid
// says nothing about the system and is neither: marks look past it.
func isGreen(v shakedown.Verdict) bool { return v == shakedown.VerdictPassed }
func isRed(v shakedown.Verdict) bool   { return !isGreen(v) && isJudged(v) }
func isJudged(v shakedown.Verdict) bool {
	return v != shakedown.VerdictError && v != shakedown.VerdictAborted && v != shakedown.VerdictInvalid
}

// unjudged is the SQL list of the verdicts marks look past.
const unjudged = "('error', 'aborted', 'invalid')"

// List returns the runs f selects, newest first, with their headline figures and marks.
func (s *Store) List(ctx context.Context, f Filter) ([]Entry, error) {
	out, err := s.list(ctx, f)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "list runs in "+s.dsn.String(), err)
	}
	return out, nil
}

func (s *Store) list(ctx context.Context, f Filter) ([]Entry, error) {
	var conds []string
	var args []any
	if len(f.Experiments) > 0 {
		conds = append(conds, "experiment IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.Experiments)), ", ")+")")
		for _, e := range f.Experiments {
			args = append(args, e)
		}
	}
	if f.Branch != "" {
		conds = append(conds, "branch = ?")
		args = append(args, f.Branch)
	}
	if f.Commit != "" {
		conds = append(conds, "commit_sha >= ? AND commit_sha < ?")
		c := strings.ToLower(f.Commit)
		args = append(args, c, c+"\U0010FFFF")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	q := `SELECT id, experiment, experiment_sha256, commit_sha, branch, host, started_at, ended_at, verdict, exit_code FROM runs`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY started_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.dialect.q(q), args...)
	if err != nil {
		return nil, s.storeError(err)
	}
	var out []Entry
	for rows.Next() {
		var e Entry
		var started, ended int64
		var verdict string
		if err := rows.Scan(&e.ID, &e.Experiment, &e.SHA256, &e.Commit, &e.Branch, &e.Host, &started, &ended, &verdict, &e.ExitCode); err != nil {
			rows.Close()
			return nil, s.storeError(err)
		}
		e.StartedAt, e.EndedAt, e.Verdict = time.UnixMilli(started).UTC(), time.UnixMilli(ended).UTC(), shakedown.Verdict(verdict)
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.storeError(err)
	}
	if err := s.headlines(ctx, out); err != nil {
		return nil, err
	}
	if err := s.marks(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Headline reports whether a figure is one the history shows beside each run: each load's
// p99 and errors during the inject, and the time the steady state took to come back.
func Headline(f shakedown.Figure) bool {
	switch {
	case f.Name == "recovery.time_to_recover" && f.Phase == "":
		return true
	case f.Phase == shakedown.PhaseInject:
		return strings.HasSuffix(f.Name, ".latency.p99") || strings.HasSuffix(f.Name, ".errors")
	}
	return false
}

// headlines fills in the headline figures of es.
func (s *Store) headlines(ctx context.Context, es []Entry) error {
	if len(es) == 0 {
		return nil
	}
	at := make(map[string]int, len(es))
	for i, e := range es {
		at[e.ID] = i
	}
	for start := 0; start < len(es); start += 500 {
		chunk := es[start:min(len(es), start+500)]
		args := make([]any, 0, len(chunk)+1)
		for _, e := range chunk {
			args = append(args, e.ID)
		}
		args = append(args, string(shakedown.PhaseInject))
		q := `SELECT run_id, name, phase, unit, value, worse FROM figures WHERE run_id IN (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") +
			`) AND (phase = ? OR name = 'recovery.time_to_recover')`
		rows, err := s.db.QueryContext(ctx, s.dialect.q(q), args...)
		if err != nil {
			return s.storeError(err)
		}
		for rows.Next() {
			var id, phase string
			var f shakedown.Figure
			if err := rows.Scan(&id, &f.Name, &phase, &f.Unit, &f.Value, &f.Worse); err != nil {
				rows.Close()
				return s.storeError(err)
			}
			f.Phase = shakedown.Phase(phase)
			if Headline(f) {
				es[at[id]].Figures = append(es[at[id]].Figures, f)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.storeError(err)
		}
	}
	return nil
}

// marks fills in the marks of es: discovered and fixed by the run before each on its
// experiment and branch, flaky by the verdicts of its experiment file at its commit.
func (s *Store) marks(ctx context.Context, es []Entry) error {
	prevQ := s.dialect.q(`SELECT verdict FROM runs WHERE experiment = ? AND branch = ?
		AND (started_at < ? OR (started_at = ? AND id < ?)) AND verdict NOT IN ` + unjudged + `
		ORDER BY started_at DESC, id DESC LIMIT 1`)
	flakyQ := s.dialect.q(`SELECT DISTINCT verdict FROM runs WHERE experiment_sha256 = ? AND commit_sha = ?
		AND verdict NOT IN ` + unjudged + ` ORDER BY verdict`)
	type fileAt struct{ sha, commit string }
	flaky := map[fileAt][]shakedown.Verdict{}
	for i := range es {
		e := &es[i]
		if !isJudged(e.Verdict) {
			continue
		}
		var prev string
		ms := e.StartedAt.UnixMilli()
		err := s.db.QueryRowContext(ctx, prevQ, e.Experiment, e.Branch, ms, ms, e.ID).Scan(&prev)
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return s.storeError(err)
		case isRed(e.Verdict) && isGreen(shakedown.Verdict(prev)):
			e.Marks = append(e.Marks, Mark{Kind: MarkDiscovered, Commit: e.Commit})
		case isGreen(e.Verdict) && isRed(shakedown.Verdict(prev)):
			e.Marks = append(e.Marks, Mark{Kind: MarkFixed, Commit: e.Commit})
		}
		if e.Commit == "" || e.SHA256 == "" {
			continue
		}
		k := fileAt{e.SHA256, e.Commit}
		vs, seen := flaky[k]
		if !seen {
			rows, err := s.db.QueryContext(ctx, flakyQ, e.SHA256, e.Commit)
			if err != nil {
				return s.storeError(err)
			}
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					rows.Close()
					return s.storeError(err)
				}
				vs = append(vs, shakedown.Verdict(v))
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return s.storeError(err)
			}
			flaky[k] = vs
		}
		if len(vs) > 1 {
			e.Marks = append(e.Marks, Mark{Kind: MarkFlaky, Commit: e.Commit, Verdicts: vs})
		}
	}
	return nil
}

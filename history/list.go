package history

import (
	"context"
	"database/sql"
	"slices"
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
	out, err := query(ctx, s, func(ctx context.Context) ([]Entry, error) { return s.list(ctx, f, figuresHeadline) })
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "list runs in "+s.dsn.String(), err)
	}
	return out, nil
}

func (s *Store) list(ctx context.Context, f Filter, figs figureSet) ([]Entry, error) {
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
	q := `SELECT ` + entryColumns + ` FROM runs`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY started_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	out, err := s.entries(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	if err := s.figures(ctx, out, figs); err != nil {
		return nil, err
	}
	// Filtered by experiment and branch only, the runs listed are, for each experiment and
	// branch among them, all those newer than the oldest listed.
	if err := s.marks(ctx, out, f.Commit == ""); err != nil {
		return nil, err
	}
	return out, nil
}

// entryColumns are the columns entries scans, in its order.
const entryColumns = `id, experiment, experiment_sha256, commit_sha, branch, host, started_at, ended_at, verdict, exit_code`

// entries runs a query of entryColumns and returns its rows as entries, without figures or
// marks.
func (s *Store) entries(ctx context.Context, query string, args ...any) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, s.dialect.q(query), args...)
	if err != nil {
		return nil, s.storeError(err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var started, ended int64
		var verdict string
		if err := rows.Scan(&e.ID, &e.Experiment, &e.SHA256, &e.Commit, &e.Branch, &e.Host, &started, &ended, &verdict, &e.ExitCode); err != nil {
			return nil, s.storeError(err)
		}
		e.StartedAt, e.EndedAt, e.Verdict = time.UnixMilli(started).UTC(), time.UnixMilli(ended).UTC(), shakedown.Verdict(verdict)
		out = append(out, e)
	}
	return out, s.storeError(rows.Err())
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

// figureSet is a choice of the figures listed with each run: which rows to read (a SQL
// condition on figures) and which of those to keep.
type figureSet struct {
	where string
	keep  func(shakedown.Figure) bool
}

var (
	figuresHeadline = figureSet{
		where: "(phase = '" + string(shakedown.PhaseInject) + "' OR name = 'recovery.time_to_recover')",
		keep:  Headline,
	}
	figuresTrend = figureSet{
		where: "(phase = '" + string(shakedown.PhaseInject) + "' OR phase = '')",
		keep:  IsTrend,
	}
)

// figures fills in the figures of es that set keeps.
func (s *Store) figures(ctx context.Context, es []Entry, set figureSet) error {
	if len(es) == 0 {
		return nil
	}
	at := make(map[string]int, len(es))
	for i, e := range es {
		at[e.ID] = i
	}
	for start := 0; start < len(es); start += 500 {
		chunk := es[start:min(len(es), start+500)]
		args := make([]any, 0, len(chunk))
		for _, e := range chunk {
			args = append(args, e.ID)
		}
		q := `SELECT run_id, name, phase, unit, value, worse FROM figures WHERE run_id IN (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + `) AND ` + set.where
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
			if set.keep(f) {
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
//
// When contiguous, es holds, for each experiment and branch in it, every run newer than the
// oldest of them in es: the run before each is then the next older one in es, and the store
// is asked only for the run before the oldest. Otherwise it is asked for each run's.
func (s *Store) marks(ctx context.Context, es []Entry, contiguous bool) error {
	prevQ := s.dialect.q(`SELECT verdict FROM runs WHERE experiment = ? AND branch = ?
		AND (started_at < ? OR (started_at = ? AND id < ?)) AND verdict NOT IN ` + unjudged + `
		ORDER BY started_at DESC, id DESC LIMIT 1`)
	type line struct{ experiment, branch string }
	lines := map[line][]int{} // judged runs of each experiment and branch
	for i, e := range es {
		if isJudged(e.Verdict) {
			k := line{e.Experiment, e.Branch}
			lines[k] = append(lines[k], i)
		}
	}
	for _, idx := range lines {
		slices.SortFunc(idx, func(a, b int) int { return newerFirst(&es[a], &es[b]) })
		for n, i := range idx {
			e := &es[i]
			var prev shakedown.Verdict
			if contiguous && n+1 < len(idx) {
				prev = es[idx[n+1]].Verdict
			} else {
				var v string
				ms := e.StartedAt.UnixMilli()
				err := s.db.QueryRowContext(ctx, prevQ, e.Experiment, e.Branch, ms, ms, e.ID).Scan(&v)
				if err != nil && err != sql.ErrNoRows {
					return s.storeError(err)
				}
				prev = shakedown.Verdict(v)
			}
			switch {
			case prev == "":
			case isRed(e.Verdict) && isGreen(prev):
				e.Marks = append(e.Marks, Mark{Kind: MarkDiscovered, Commit: e.Commit})
			case isGreen(e.Verdict) && isRed(prev):
				e.Marks = append(e.Marks, Mark{Kind: MarkFixed, Commit: e.Commit})
			}
		}
	}
	return s.flaky(ctx, es)
}

// newerFirst orders entries as the history lists them: by start time, then id, newest first.
func newerFirst(a, b *Entry) int {
	if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// flaky marks the runs of es whose experiment file gave different verdicts at their commit,
// asking the store for the verdicts at all their commits at once (in chunks).
func (s *Store) flaky(ctx context.Context, es []Entry) error {
	type fileAt struct{ sha, commit string }
	verdicts := map[fileAt][]shakedown.Verdict{}
	var commits []any
	seen := map[string]bool{}
	for _, e := range es {
		if !isJudged(e.Verdict) || e.Commit == "" || e.SHA256 == "" {
			continue
		}
		verdicts[fileAt{e.SHA256, e.Commit}] = nil
		if !seen[e.Commit] {
			seen[e.Commit] = true
			commits = append(commits, e.Commit)
		}
	}
	for start := 0; start < len(commits); start += 500 {
		chunk := commits[start:min(len(commits), start+500)]
		q := `SELECT DISTINCT experiment_sha256, commit_sha, verdict FROM runs WHERE commit_sha IN (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + `) AND verdict NOT IN ` + unjudged
		rows, err := s.db.QueryContext(ctx, s.dialect.q(q), chunk...)
		if err != nil {
			return s.storeError(err)
		}
		for rows.Next() {
			var k fileAt
			var v string
			if err := rows.Scan(&k.sha, &k.commit, &v); err != nil {
				rows.Close()
				return s.storeError(err)
			}
			if vs, ok := verdicts[k]; ok {
				verdicts[k] = append(vs, shakedown.Verdict(v))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.storeError(err)
		}
	}
	for i := range es {
		e := &es[i]
		vs := verdicts[fileAt{e.SHA256, e.Commit}]
		if !isJudged(e.Verdict) || len(vs) < 2 {
			continue
		}
		vs = slices.Clone(vs)
		slices.Sort(vs)
		e.Marks = append(e.Marks, Mark{Kind: MarkFlaky, Commit: e.Commit, Verdicts: vs})
	}
	return nil
}

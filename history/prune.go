package history

import (
	"context"
	"database/sql"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Prune says which runs to delete: those beyond the newest Keep of each experiment, those
// that started before OlderThan ago, or both. A zero field does not prune.
type Prune struct {
	Keep      int
	OlderThan time.Duration
}

// Prune deletes runs and their figures as p says, and returns how many runs it deleted.
func (s *Store) Prune(ctx context.Context, p Prune, now time.Time) (int, error) {
	op := "prune " + s.dsn.String()
	if p.Keep < 0 || p.OlderThan < 0 || p == (Prune{}) {
		return 0, shakedown.Errorf(shakedown.KindInvalid, "%s: say how many runs to keep of each experiment, or how old a run to delete", op)
	}
	var conds []string
	var args []any
	if p.Keep > 0 {
		conds = append(conds, `id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER
			(PARTITION BY experiment ORDER BY started_at DESC, id DESC) AS n FROM runs) AS ranked WHERE n > ?)`)
		args = append(args, p.Keep)
	}
	if p.OlderThan > 0 {
		conds = append(conds, "started_at < ?")
		args = append(args, now.Add(-p.OlderThan).UnixMilli())
	}
	where := conds[0]
	if len(conds) == 2 {
		where = "(" + conds[0] + ") OR (" + conds[1] + ")"
	}
	var n int64
	err := s.within(ctx, func(ctx context.Context) error {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, s.dialect.q("DELETE FROM figures WHERE run_id IN (SELECT id FROM runs WHERE "+where+")"), args...); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, s.dialect.q("DELETE FROM runs WHERE "+where), args...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
	})
	if err != nil {
		return 0, shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	return int(n), nil
}

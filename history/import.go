package history

import (
	"context"
	"database/sql"

	"github.com/shakedown-dev/shakedown"
)

// Import files records in one transaction: all of them or, on an error, none. Runs already
// filed are left as they are and counted in present.
func (s *Store) Import(ctx context.Context, records []*shakedown.Record) (added, present int, err error) {
	err = s.within(ctx, func(ctx context.Context) error {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			added, present = 0, 0
			for _, r := range records {
				if err := checkRecord(r); err != nil {
					return shakedown.Errorf(shakedown.KindInvalid, "run %s: %v", shakedown.Printable(r.ID), err)
				}
				isNew, err := s.insert(ctx, tx, r)
				if err != nil {
					return err
				}
				if isNew {
					added++
				} else {
					present++
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, 0, shakedown.Wrap(shakedown.KindOf(err), "import into "+s.dsn.String(), err)
	}
	return added, present, nil
}

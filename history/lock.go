package history

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Locks are leases in the store's locks table. A lease is held while its expiry, set by the
// database's own clock, lies ahead; its holder renews it every TTL/3 while it lives, and
// releases it at the end. A holder that dies stops renewing, and its lease lapses within its
// TTL. Taking, renewing and releasing are each one statement, so the database decides who
// holds a lock however many runners on however many hosts ask:
//
//	take:    INSERT … ON CONFLICT (name) DO UPDATE … WHERE expires < now OR holder = me
//	renew:   UPDATE … SET expires = now + ttl WHERE name = ? AND holder = me
//	release: DELETE … WHERE name = ? AND holder = me

// DefaultTTL is a lease's time to live unless LockOptions says.
const DefaultTTL = 15 * time.Second

// DefaultLockTimeout is how long a run waits for a lock held by another (--lock-timeout).
const DefaultLockTimeout = 10 * time.Minute

// Holder says who holds a lock.
type Holder struct {
	Run    string // run id
	Host   string
	Commit string
	// Left is how long the lease runs before it lapses unless renewed (when read from the
	// store).
	Left time.Duration
}

func (h Holder) String() string {
	s := "run " + h.Run
	if h.Host != "" {
		s += " on " + h.Host
	}
	if h.Commit != "" {
		s += " at commit " + short(h.Commit)
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// LockOptions says how Lock takes a lock.
type LockOptions struct {
	TTL     time.Duration // the lease's time to live (0: DefaultTTL)
	Timeout time.Duration // how long to wait while another holds it (0: DefaultLockTimeout)
	// Waiting, when set, is called when the lock is found held by another, and again each
	// time its holder changes.
	Waiting func(Holder)
	// Poll is how often to try again while waiting (0: TTL/15, between 100 ms and 1 s).
	Poll time.Duration
}

// Lease is a held lock. Whoever took it must Release it.
type Lease struct {
	s      *Store
	name   string
	holder string
	ttl    time.Duration
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lost   chan error
}

// Lock takes the lock called name for me, waiting while another holds it. It gives up with
// KindConflict, naming the holder, when o.Timeout passes, and returns ctx's error when ctx
// ends first. The lease is renewed in the background until Release.
func (s *Store) Lock(ctx context.Context, name string, me Holder, o LockOptions) (*Lease, error) {
	op := "lock " + name
	if name == "" || me.Run == "" {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: needs a lock name and a holder", op)
	}
	ttl := o.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	poll := o.Poll
	if poll <= 0 {
		poll = min(max(ttl/15, 100*time.Millisecond), time.Second)
	}
	deadline := time.Now().Add(timeout)
	var last Holder
	for {
		var got bool
		var held Holder
		err := s.within(ctx, func(ctx context.Context) (err error) {
			got, held, err = s.tryLock(ctx, name, me, ttl)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, shakedown.Wrap(shakedown.KindAborted, op, ctx.Err())
			}
			return nil, shakedown.Wrap(shakedown.KindOf(err), op+" in "+s.dsn.String(), err)
		}
		if got {
			return s.lease(name, me.Run, ttl), nil
		}
		if held.Run != last.Run && o.Waiting != nil {
			o.Waiting(held)
		}
		last = held
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, shakedown.Errorf(shakedown.KindConflict, "%s: held by %s; gave up after %s (--lock-timeout)", op, held, timeout)
		}
		t := time.NewTimer(min(poll, wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, shakedown.Wrap(shakedown.KindAborted, op+": waiting for "+held.String(), ctx.Err())
		case <-t.C:
		}
	}
}

// tryLock takes the lock if it is free, lapsed or already me's; otherwise it says who holds it.
func (s *Store) tryLock(ctx context.Context, name string, me Holder, ttl time.Duration) (bool, Holder, error) {
	now := s.dialect.nowMillis
	res, err := s.db.ExecContext(ctx, s.dialect.q(`INSERT INTO locks (name, holder, host, commit_sha, acquired, expires)
		VALUES (?, ?, ?, ?, `+now+`, `+now+` + ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, host = excluded.host,
			commit_sha = excluded.commit_sha, acquired = excluded.acquired, expires = excluded.expires
		WHERE locks.expires <= `+now+` OR locks.holder = excluded.holder`),
		name, me.Run, me.Host, me.Commit, ttl.Milliseconds())
	if err != nil {
		return false, Holder{}, s.storeError(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err == nil, Holder{}, s.storeError(err)
	}
	var h Holder
	var left int64
	err = s.db.QueryRowContext(ctx, s.dialect.q(`SELECT holder, host, commit_sha, expires - `+now+` FROM locks WHERE name = ?`), name).
		Scan(&h.Run, &h.Host, &h.Commit, &left)
	if err == sql.ErrNoRows {
		return false, Holder{Run: "(just released)"}, nil // released between the two statements: try again
	}
	h.Left = time.Duration(left) * time.Millisecond
	return false, h, s.storeError(err)
}

// lease starts renewing a lock just taken.
func (s *Store) lease(name, holder string, ttl time.Duration) *Lease {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lease{s: s, name: name, holder: holder, ttl: ttl, cancel: cancel, lost: make(chan error, 1)}
	l.wg.Go(func() { l.renew(ctx) })
	return l
}

// renew extends the lease every TTL/3 until ctx ends. A renewal that finds the lease gone
// (it lapsed and another took it) reports on Lost and stops; one that cannot reach the store
// tries again at the next tick, and reports on Lost once the lease has surely lapsed.
func (l *Lease) renew(ctx context.Context) {
	defer close(l.lost)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	renewed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
		res, err := l.s.db.ExecContext(rctx, l.s.dialect.q(`UPDATE locks SET expires = `+l.s.dialect.nowMillis+` + ?
			WHERE name = ? AND holder = ?`), l.ttl.Milliseconds(), l.name, l.holder)
		cancel()
		if ctx.Err() != nil {
			return
		}
		var n int64
		if err == nil {
			n, err = res.RowsAffected()
		}
		switch {
		case err == nil && n == 1:
			renewed = time.Now()
			continue
		case err == nil:
			l.lost <- shakedown.Errorf(shakedown.KindConflict, "lock %s: the lease lapsed and another run took it", l.name)
			return
		case time.Since(renewed) >= l.ttl:
			l.lost <- shakedown.Errorf(shakedown.KindUnavailable, "lock %s: the lease could not be renewed for %s and has lapsed: %v", l.name, l.ttl, l.s.storeError(err))
			return
		}
	}
}

// Lost delivers an error if the lease is lost while held; it is closed once the lease is
// released or lost.
func (l *Lease) Lost() <-chan error { return l.lost }

// Release stops renewing the lease and gives the lock up. It is safe to call more than once.
func (l *Lease) Release() error {
	l.cancel()
	l.wg.Wait()
	err := l.s.within(context.Background(), func(ctx context.Context) error {
		_, err := l.s.db.ExecContext(ctx, l.s.dialect.q(`DELETE FROM locks WHERE name = ? AND holder = ?`), l.name, l.holder)
		return l.s.storeError(err)
	})
	if err != nil {
		return shakedown.Wrap(shakedown.KindUnavailable, fmt.Sprintf("release lock %s (it lapses within %s)", l.name, l.ttl), err)
	}
	return nil
}

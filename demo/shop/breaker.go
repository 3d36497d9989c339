package shop

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBreakerOpen is returned by a Breaker's Get and Set while it is open: the cache is not
// asked at all.
var ErrBreakerOpen = errors.New("cache circuit breaker open")

// Breaker is a circuit breaker around a Cache. A call that fails or takes longer than Slow
// counts as bad; Trip bad calls in a row open the breaker. While open, Get and Set return
// ErrBreakerOpen at once. After Open has passed, the breaker sends one trial lookup to the
// cache in the background — no request waits on a cache the breaker suspects — and closes
// when the trial comes back fast and well, or stays open for another Open when it does not.
//
// It does not bound a call: with no timeout on the cache, the calls made before the breaker
// trips still wait for the slow cache.
type Breaker struct {
	Cache Cache
	Slow  time.Duration // a call slower than this is bad; 25ms when zero
	Trip  int           // bad calls in a row that open the breaker; 3 when zero
	Open  time.Duration // how long it stays open before a trial; 2s when zero
	// TrialKey is the key the trial looks up; "breaker:trial" when empty.
	TrialKey string

	now func() time.Time // for tests; time.Now when nil

	mu      sync.Mutex
	bad     int
	openAt  time.Time // zero when closed
	trying  bool      // a trial is under way
	changes int       // times the breaker opened, for tests and metrics
}

func (b *Breaker) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

func (b *Breaker) slow() time.Duration {
	if b.Slow > 0 {
		return b.Slow
	}
	return 25 * time.Millisecond
}

// IsOpen reports whether calls are refused now.
func (b *Breaker) IsOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.openAt.IsZero()
}

// Opened returns how many times the breaker has opened.
func (b *Breaker) Opened() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changes
}

// admit says whether a call may go to the cache, and starts a trial when one is due.
func (b *Breaker) admit() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.openAt.IsZero() {
		return true
	}
	open := b.Open
	if open <= 0 {
		open = 2 * time.Second
	}
	if !b.trying && b.clock().Sub(b.openAt) >= open {
		b.trying = true
		go b.trial()
	}
	return false
}

func (b *Breaker) trial() {
	key := b.TrialKey
	if key == "" {
		key = "breaker:trial"
	}
	// Bounded only so that a cache that never answers does not leak the trial.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t := b.clock()
	_, _, err := b.Cache.Get(ctx, key)
	good := err == nil && b.clock().Sub(t) <= b.slow()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trying = false
	if good {
		b.openAt, b.bad = time.Time{}, 0
		return
	}
	b.openAt = b.clock()
}

// record counts the outcome of a call that went to the cache.
func (b *Breaker) record(took time.Duration, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil && took <= b.slow() {
		b.bad = 0
		return
	}
	b.bad++
	trip := b.Trip
	if trip <= 0 {
		trip = 3
	}
	if b.bad >= trip && b.openAt.IsZero() {
		b.openAt = b.clock()
		b.changes++
	}
}

// Get implements Cache.
func (b *Breaker) Get(ctx context.Context, key string) (string, bool, error) {
	if !b.admit() {
		return "", false, ErrBreakerOpen
	}
	t := b.clock()
	v, ok, err := b.Cache.Get(ctx, key)
	b.record(b.clock().Sub(t), err)
	return v, ok, err
}

// Set implements Cache.
func (b *Breaker) Set(ctx context.Context, key, value string) error {
	if !b.admit() {
		return ErrBreakerOpen
	}
	t := b.clock()
	err := b.Cache.Set(ctx, key, value)
	b.record(b.clock().Sub(t), err)
	return err
}

package shakedown

import (
	"context"
	"fmt"
	"time"
)

// Lapse is the error of a revert or undo that could not reach what it takes back, when that
// thing ends by itself at most After from the moment nothing renews it any more: a toxic on
// a proxy daemon is held by a lease only its run renews, and dies with the daemon, so a
// daemon that does not answer holds it no longer than that.
//
// Only whoever knows that nothing renews it any more may wait for the lapse (AwaitLapse): the
// runner once a fault's revert has stopped its renewals, a replay of a dead run's journal.
// Anyone else reports the Lapse as the failure it is.
type Lapse struct {
	After time.Duration
	Err   error
}

func (l *Lapse) Error() string {
	return fmt.Sprintf("%v (what it takes back lapses by itself within %v once nothing renews it)", l.Err, l.After)
}

func (l *Lapse) Unwrap() error { return l.Err }

// lapseRetry is how often AwaitLapse tries again while it waits. (A variable for tests.)
var lapseRetry = time.Second

// AwaitLapse calls try until it succeeds, fails with something other than a Lapse, or the
// lapse its first failure announced has passed — counted from that failure's return, when
// nothing renewed what try takes back any more. Then it returns the last failure as lapsed,
// and a nil err: what try takes back is gone by itself. A failure that joins several errors
// waits only when every one of them is a Lapse, for the longest.
//
// The caller must know that nothing renews it (see Lapse). When ctx ends first, err is the
// last failure.
func AwaitLapse(ctx context.Context, try func(context.Context) error) (lapsed, err error) {
	err = try(ctx)
	after, ok := lapseOf(err)
	if !ok {
		return nil, err
	}
	deadline := time.Now().Add(after)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return err, nil
		}
		t.Reset(min(left, lapseRetry))
		select {
		case <-ctx.Done():
			return nil, err
		case <-t.C:
		}
		if err = try(ctx); err == nil {
			return nil, nil
		}
		if _, ok := lapseOf(err); !ok {
			return nil, err
		}
	}
}

// lapseOf says whether every failure in err is a Lapse, and the longest of their Afters.
// A Lapse inside an error that joins it with others counts only if all the others are too.
func lapseOf(err error) (time.Duration, bool) {
	switch e := err.(type) {
	case nil:
		return 0, false
	case *Lapse:
		return e.After, true
	case interface{ Unwrap() []error }:
		var longest time.Duration
		n := 0
		for _, x := range e.Unwrap() {
			if x == nil {
				continue
			}
			after, ok := lapseOf(x)
			if !ok {
				return 0, false
			}
			longest = max(longest, after)
			n++
		}
		return longest, n > 0
	case interface{ Unwrap() error }:
		return lapseOf(e.Unwrap())
	}
	return 0, false
}

// IsLapse says whether every failure in err is a Lapse.
func IsLapse(err error) bool {
	_, ok := lapseOf(err)
	return ok
}

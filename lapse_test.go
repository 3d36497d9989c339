package shakedown

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// tries is a try that returns its errors in turn, the last one for good, and counts calls.
type tries struct {
	errs  []error
	calls int
}

func (s *tries) try(context.Context) error {
	i := min(s.calls, len(s.errs)-1)
	s.calls++
	return s.errs[i]
}

func TestAwaitLapse(t *testing.T) {
	old := lapseRetry
	lapseRetry = 10 * time.Millisecond
	defer func() { lapseRetry = old }()

	gone := Wrap(KindUnavailable, "DELETE http://127.0.0.1:1", errors.New("connection refused"))
	lapse := func(after time.Duration) error {
		return Wrap(KindNotRestored, "revert proxy.latency", &Lapse{After: after, Err: gone})
	}
	hard := Errorf(KindNotRestored, "permission denied")
	const after = 150 * time.Millisecond

	for _, c := range []struct {
		name       string
		errs       []error
		wantLapsed bool
		wantErr    error
		wantCalls  int  // 0: more than one
		waits      bool // takes at least after
	}{
		{name: "done at once", errs: []error{nil}, wantCalls: 1},
		{name: "a failure that does not lapse is final", errs: []error{hard}, wantErr: hard, wantCalls: 1},
		{name: "unreachable until the lapse: counted as done", errs: []error{lapse(after)}, wantLapsed: true, waits: true},
		{name: "back before the lapse: done by the try", errs: []error{lapse(after), lapse(after), nil}, wantCalls: 3},
		{name: "a failure that does not lapse ends the wait", errs: []error{lapse(after), hard}, wantErr: hard, wantCalls: 2},
		{name: "joined with a failure that does not lapse", errs: []error{errors.Join(lapse(after), hard)}, wantErr: errors.Join(lapse(after), hard), wantCalls: 1},
		{name: "joined lapses wait for the longest", errs: []error{errors.Join(lapse(time.Millisecond), lapse(after))}, wantLapsed: true, waits: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &tries{errs: c.errs}
			start := time.Now()
			lapsed, err := AwaitLapse(t.Context(), s.try)
			took := time.Since(start)
			if (lapsed != nil) != c.wantLapsed || fmt.Sprint(err) != fmt.Sprint(c.wantErr) {
				t.Errorf("AwaitLapse = %v, %v; want lapsed %v, err %v", lapsed, err, c.wantLapsed, c.wantErr)
			}
			if c.wantLapsed && !errors.Is(lapsed, gone) {
				t.Errorf("lapsed %v does not say why", lapsed)
			}
			if c.wantCalls > 0 && s.calls != c.wantCalls || c.wantCalls == 0 && s.calls < 2 {
				t.Errorf("%d tries, want %d (0: several)", s.calls, c.wantCalls)
			}
			if c.waits && took < after {
				t.Errorf("counted as lapsed after %v, before the lapse of %v", took, after)
			}
		})
	}
}

func TestAwaitLapseEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s := &tries{errs: []error{&Lapse{After: time.Hour, Err: errors.New("unreachable")}}}
	done := make(chan struct{})
	var lapsed, err error
	go func() {
		defer close(done)
		lapsed, err = AwaitLapse(ctx, s.try)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("AwaitLapse did not end with its context")
	}
	if lapsed != nil || !IsLapse(err) {
		t.Errorf("AwaitLapse on a cancelled context = %v, %v; want the lapse as the failure", lapsed, err)
	}
}

package shop

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestBreakerOpensOnSlowCallsAndClosesAfterAGoodTrial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &stubCache{m: map[string]string{"k": "v"}, delay: 100 * time.Millisecond}
		b := &Breaker{Cache: c, Slow: 25 * time.Millisecond, Trip: 3, Open: 2 * time.Second}
		ctx := context.Background()
		for i := range 3 {
			if _, _, err := b.Get(ctx, "k"); err != nil {
				t.Fatalf("call %d before the trip: %v", i, err)
			}
		}
		if !b.IsOpen() {
			t.Fatal("three slow calls in a row: breaker closed, want open")
		}
		if _, _, err := b.Get(ctx, "k"); !errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("Get while open: %v, want ErrBreakerOpen", err)
		}
		// The cache gets fast again; after Open a trial runs in the background and closes it.
		c.mu.Lock()
		c.delay = 0
		c.mu.Unlock()
		time.Sleep(2 * time.Second)
		if _, _, err := b.Get(ctx, "k"); !errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("Get that starts the trial: %v, want ErrBreakerOpen (no request waits on a trial)", err)
		}
		synctest.Wait()
		if b.IsOpen() {
			t.Fatal("after a fast trial: breaker open, want closed")
		}
		if v, ok, err := b.Get(ctx, "k"); err != nil || !ok || v != "v" {
			t.Fatalf("Get after closing: %q %v %v", v, ok, err)
		}
	})
}

func TestBreakerStaysOpenWhileTrialsAreSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &stubCache{err: errors.New("refused")}
		b := &Breaker{Cache: c, Trip: 2, Open: time.Second}
		ctx := context.Background()
		b.Get(ctx, "k")
		b.Get(ctx, "k")
		if !b.IsOpen() {
			t.Fatal("two failures with Trip 2: closed, want open")
		}
		for range 3 {
			time.Sleep(time.Second)
			b.Get(ctx, "k") // starts a trial, which fails
			synctest.Wait()
			if !b.IsOpen() {
				t.Fatal("after a failed trial: closed, want open")
			}
		}
		if got := b.Opened(); got != 1 {
			t.Errorf("Opened() = %d, want 1 (failed trials keep it open, they do not reopen it)", got)
		}
	})
}

// On the fake clock of a synctest bubble a good call takes no time, so a busy machine cannot
// make it slower than the breaker's Slow and count as bad.
func TestBreakerGoodCallsResetTheCount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &stubCache{m: map[string]string{"k": "v"}}
		b := &Breaker{Cache: c, Trip: 3}
		ctx := context.Background()
		for i := range 10 {
			c.mu.Lock()
			if i%2 == 0 {
				c.err = errors.New("refused")
			} else {
				c.err = nil
			}
			c.mu.Unlock()
			b.Get(ctx, "k")
		}
		if b.IsOpen() {
			t.Fatal("alternating good and bad calls opened the breaker; want it closed")
		}
	})
}

package history_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/pgtest"
)

// staller relays TCP connections to a server until stall is called; from then on it takes
// every byte either side sends and passes none on, as a stopped server or a link that drops
// everything would: connections stay open, and nothing answers.
type staller struct {
	ln      net.Listener
	stalled atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newStaller(t *testing.T, upstream string) *staller {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &staller{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			s.mu.Lock()
			s.conns = append(s.conns, c, u)
			s.mu.Unlock()
			s.wg.Go(func() { s.relay(u, c) })
			s.wg.Go(func() { s.relay(c, u) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *staller) relay(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !s.stalled.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (s *staller) stall() { s.stalled.Store(true) }

// through is url with its host and port replaced by addr.
func through(url, addr string) string {
	i := strings.Index(url, "@") + 1
	j := i + strings.Index(url[i:], "/")
	return url[:i] + addr + url[j:]
}

// TestStalledStoreIsBounded: every access to a store that stops answering after it was
// opened (a stopped PostgreSQL) ends within the store's bound, unavailable, whether it reads
// (the gate's reference), writes (recording) or takes a lock; so does opening a store that
// accepts connections and never answers.
func TestStalledStoreIsBounded(t *testing.T) {
	const bound = 300 * time.Millisecond
	if !pgtest.Installed() {
		t.Skip("PostgreSQL is not installed")
	}
	url := pgtest.DB(t)
	open := func(t *testing.T) (*history.Store, *staller) {
		addr := url[strings.Index(url, "@")+1:]
		addr = addr[:strings.Index(addr, "/")]
		st := newStaller(t, addr)
		s, err := history.OpenWith(context.Background(), history.DSN{Driver: history.DriverPostgres, Path: through(url, st.ln.Addr().String())},
			history.Options{Timeout: bound})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Record(context.Background(), run(1, "exp", shakedown.VerdictPassed, "c1", "main", 100)); err != nil {
			t.Fatal(err)
		}
		st.stall()
		return s, st
	}
	accesses := []struct {
		name string
		do   func(context.Context, *history.Store) error
	}{
		{"reference", func(ctx context.Context, s *history.Store) error {
			_, err := s.Reference(ctx, "exp", "main", "", 10)
			return err
		}},
		{"record", func(ctx context.Context, s *history.Store) error {
			return s.Record(ctx, run(2, "exp", shakedown.VerdictPassed, "c2", "main", 100))
		}},
		{"list", func(ctx context.Context, s *history.Store) error {
			_, err := s.List(ctx, history.Filter{})
			return err
		}},
		{"run", func(ctx context.Context, s *history.Store) error {
			_, err := s.Run(ctx, "01RUN")
			return err
		}},
		{"overviews", func(ctx context.Context, s *history.Store) error {
			_, err := s.Overviews(ctx, 0)
			return err
		}},
		{"counts", func(ctx context.Context, s *history.Store) error {
			_, err := s.Counts(ctx)
			return err
		}},
		{"lock", func(ctx context.Context, s *history.Store) error {
			_, err := s.Lock(ctx, "staging", history.Holder{Run: "r1"}, history.LockOptions{Timeout: time.Hour})
			return err
		}},
	}
	for _, tc := range accesses {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := open(t)
			done := make(chan error, 1)
			go func() { done <- tc.do(context.Background(), s) }()
			select {
			case err := <-done:
				if !shakedown.IsKind(err, shakedown.KindUnavailable) {
					t.Errorf("%s on a stalled store = %v; want kind unavailable", tc.name, err)
				}
			case <-time.After(20 * bound):
				t.Fatalf("%s on a stalled store did not return within %s (bound %s)", tc.name, 20*bound, bound)
			}
		})
	}
	t.Run("open", func(t *testing.T) {
		// A peer that accepts and never answers.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var mu sync.Mutex
		var held []net.Conn
		defer func() {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range held {
				c.Close()
			}
		}()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
		done := make(chan error, 1)
		go func() {
			_, err := history.OpenWith(context.Background(), history.DSN{Driver: history.DriverPostgres, Path: through(url, ln.Addr().String())},
				history.Options{Timeout: bound})
			done <- err
		}()
		select {
		case err := <-done:
			if !shakedown.IsKind(err, shakedown.KindUnavailable) || errors.Is(err, context.Canceled) {
				t.Errorf("open of a silent server = %v; want kind unavailable", err)
			}
		case <-time.After(20 * bound):
			t.Fatalf("open of a silent server did not return within %s", 20*bound)
		}
	})
}

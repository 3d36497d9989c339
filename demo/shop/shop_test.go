package shop

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// stubCache answers after delay with err, or from its map.
type stubCache struct {
	mu    sync.Mutex
	m     map[string]string
	delay time.Duration
	err   error
	calls int
}

func (c *stubCache) Get(ctx context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	c.calls++
	d, err := c.delay, c.err
	v, ok := c.m[key]
	c.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
	}
	if err != nil {
		return "", false, err
	}
	return v, ok, nil
}

func (c *stubCache) Set(_ context.Context, key, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[key] = value
	return nil
}

// flakyStore fails while down is set.
type flakyStore struct {
	mu   sync.Mutex
	down bool
}

func (s *flakyStore) Price(ctx context.Context, item string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, errors.New("connection refused")
	}
	return DefaultPrices().Price(ctx, item)
}

func (s *flakyStore) set(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

func checkout(t *testing.T, h http.Handler, item string) (int, answer, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/checkout?item="+item, nil))
	var a answer
	if rec.Code == 200 {
		if err := json.NewDecoder(rec.Body).Decode(&a); err != nil {
			t.Fatalf("decode answer: %v", err)
		}
	}
	return rec.Code, a, rec.Header()
}

func TestCheckoutSources(t *testing.T) {
	tests := []struct {
		name       string
		cache      *stubCache
		timeout    time.Duration
		storeDown  bool
		stale      bool
		warm       bool // one checkout with a healthy store first
		wantCode   int
		wantSource string
		wantResult string // the shop_cache_lookups_total label counted
	}{
		{name: "cache hit", cache: &stubCache{m: map[string]string{"price:widget": "1999"}}, wantCode: 200, wantSource: "cache", wantResult: CacheHit},
		{name: "cache miss", cache: &stubCache{}, wantCode: 200, wantSource: "store", wantResult: CacheMiss},
		{name: "slow cache past the timeout", cache: &stubCache{delay: time.Second}, timeout: 20 * time.Millisecond, wantCode: 200, wantSource: "store", wantResult: CacheTimeout},
		{name: "slow cache, no timeout", cache: &stubCache{m: map[string]string{"price:widget": "1999"}, delay: 40 * time.Millisecond}, wantCode: 200, wantSource: "cache", wantResult: CacheSlow},
		{name: "cache error", cache: &stubCache{err: errors.New("refused")}, wantCode: 200, wantSource: "store", wantResult: CacheError},
		{name: "store down, no stale", cache: &stubCache{err: errors.New("refused")}, storeDown: true, wantCode: 503, wantResult: CacheError},
		{name: "store down, stale answer", cache: &stubCache{err: errors.New("refused")}, storeDown: true, stale: true, warm: true, wantCode: 200, wantSource: "stale", wantResult: CacheError},
	}
	for _, tt := range tests {
		// On the fake clock of a synctest bubble a lookup takes exactly its stub's delay, so
		// a busy machine cannot make a fast cache count as slow.
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				store := &flakyStore{}
				s := New(Config{Name: "w", Cache: tt.cache, Store: store, CacheTimeout: tt.timeout, ServeStale: tt.stale})
				if tt.warm {
					checkout(t, s, "widget")
				}
				store.set(tt.storeDown)
				code, a, h := checkout(t, s, "widget")
				if code != tt.wantCode || code == 200 && a.Source != tt.wantSource {
					t.Fatalf("checkout: %d from %q, want %d from %q", code, a.Source, tt.wantCode, tt.wantSource)
				}
				if got := h.Get("X-Degraded") != ""; got != (tt.wantSource == "stale") {
					t.Errorf("X-Degraded set %v, want %v", got, tt.wantSource == "stale")
				}
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
				want := `shop_cache_lookups_total{result="` + tt.wantResult + `"} `
				if !strings.Contains(rec.Body.String(), want+"1") && !strings.Contains(rec.Body.String(), want+"2") {
					t.Errorf("metrics lack %s1:\n%s", want, grep(rec.Body.String(), "shop_cache_lookups_total"))
				}
			})
		})
	}
}

func grep(s, word string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestUnknownItemIs404(t *testing.T) {
	s := New(Config{Store: DefaultPrices()})
	if code, _, _ := checkout(t, s, "nothing"); code != http.StatusNotFound {
		t.Fatalf("checkout of an unknown item: %d, want 404", code)
	}
}

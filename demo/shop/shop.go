// Package shop is the sample shop service: /checkout reads an item's price through a cache
// with a timeout and falls back to the store when the cache is slow or down; /healthz says
// whether the replica is up; /metrics exposes Prometheus metrics. The same code runs in the
// embedded demo (an in-memory store, a tiny cache server) and against Redis and PostgreSQL
// (examples/shop/cmd/shop, whose PostgreSQL store lives in examples/shop/app so that the
// demo, and the shakedown binary that embeds it, carry no database driver of the example's).
//
// Two more ways to survive a bad dependency are here for the versions of the sample system:
// a Breaker around the cache (stop asking a cache that has been slow, probe it in the
// background), and ServeStale (answer from the last price seen when the store fails).
package shop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Cache is where prices are looked up first.
type Cache interface {
	// Get returns the value of key; ok is false on a miss.
	Get(ctx context.Context, key string) (value string, ok bool, err error)
	Set(ctx context.Context, key, value string) error
}

// Store is the system of record for prices.
type Store interface {
	Price(ctx context.Context, item string) (cents int, err error)
}

// ErrNoItem is returned by a Store for an item it does not know.
var ErrNoItem = errors.New("no such item")

// Config configures a replica.
type Config struct {
	Name  string // the replica's name, in metrics and answers
	Cache Cache
	Store Store
	// CacheTimeout bounds one cache lookup; past it the store answers. Zero means no bound:
	// the cache call waits as long as the cache does (the regression of version 2).
	CacheTimeout time.Duration
	// StoreTimeout bounds one store lookup.
	StoreTimeout time.Duration
	// SlowCache is the cache latency past which a lookup counts as slow in
	// shop_cache_lookups_total; DefaultSlowCache when zero.
	SlowCache time.Duration
	// ServeStale answers with the last price this replica saw for the item (source "stale")
	// when the store fails, instead of an error.
	ServeStale bool
}

// DefaultSlowCache is the latency past which a cache lookup counts as slow.
const DefaultSlowCache = 25 * time.Millisecond

// Results of a cache lookup, the label of shop_cache_lookups_total.
const (
	CacheHit     = "hit"
	CacheMiss    = "miss"
	CacheSlow    = "slow"    // answered, but slower than Config.SlowCache
	CacheTimeout = "timeout" // abandoned at Config.CacheTimeout
	CacheError   = "error"
	CacheSkipped = "skipped" // not asked: a Breaker is open
)

// Server is one replica of the shop.
type Server struct {
	cfg          Config
	mux          *http.ServeMux
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	lookups      *prometheus.CounterVec
	storeErrors  prometheus.Counter
	cacheLatency prometheus.Histogram

	mu   sync.Mutex
	last map[string]int // the last price seen per item, for ServeStale
}

// New returns a replica serving /checkout, /healthz and /metrics.
func New(cfg Config) *Server {
	if cfg.SlowCache <= 0 {
		cfg.SlowCache = DefaultSlowCache
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), last: map[string]int{}}
	reg := prometheus.NewRegistry()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_checkout_requests_total",
		Help: "Checkout requests by the source of the price and the status code.",
	}, []string{"source", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "shop_checkout_duration_seconds",
		Help:    "Checkout latency by the source of the price.",
		Buckets: []float64{.005, .01, .025, .05, .1, .2, .4, .8, 1.6, 3.2},
	}, []string{"source"})
	cacheLatency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "shop_cache_duration_seconds",
		Help:    "Latency of cache lookups, including those abandoned at the timeout.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .2, .4, .8},
	})
	s.cacheLatency = cacheLatency
	s.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_cache_lookups_total",
		Help: "Cache lookups by result: hit, miss, slow, timeout, error, skipped (breaker open).",
	}, []string{"result"})
	s.storeErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_store_errors_total",
		Help: "Store lookups that failed (not counting unknown items).",
	})
	up := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shop_info", Help: "Always 1; the labels name the replica.",
		ConstLabels: prometheus.Labels{"replica": cfg.Name, "cache_timeout": cfg.CacheTimeout.String()},
	})
	up.Set(1)
	reg.MustRegister(s.requests, s.latency, cacheLatency, s.lookups, s.storeErrors, up,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{CacheHit, CacheMiss, CacheSlow, CacheTimeout, CacheError, CacheSkipped} {
		s.lookups.WithLabelValues(r) // export zeros, so rates exist from the first scrape
	}
	s.mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %s\n", cfg.Name)
	})
	s.mux.HandleFunc("/checkout", s.checkout)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type answer struct {
	Item    string `json:"item"`
	Cents   int    `json:"cents"`
	Source  string `json:"source"`
	Replica string `json:"replica"`
}

func (s *Server) checkout(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	item := r.URL.Query().Get("item")
	if item == "" {
		item = "widget"
	}
	cents, source, err := s.price(r.Context(), item)
	code := http.StatusOK
	switch {
	case errors.Is(err, ErrNoItem):
		code = http.StatusNotFound
	case err != nil:
		code = http.StatusServiceUnavailable
	}
	s.requests.WithLabelValues(source, strconv.Itoa(code)).Inc()
	s.latency.WithLabelValues(source).Observe(time.Since(start).Seconds())
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if source == "stale" {
		w.Header().Set("X-Degraded", "stale price: the store is unavailable")
	}
	json.NewEncoder(w).Encode(answer{Item: item, Cents: cents, Source: source, Replica: s.cfg.Name})
}

// price looks the item up in the cache, bounded by CacheTimeout, and falls back to the store;
// with ServeStale, a failing store falls back to the last price seen.
func (s *Server) price(ctx context.Context, item string) (int, string, error) {
	key := "price:" + item
	if s.cfg.Cache != nil {
		if cents, ok := s.lookup(ctx, key); ok {
			s.remember(item, cents)
			return cents, "cache", nil
		}
	}
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if s.cfg.StoreTimeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, s.cfg.StoreTimeout)
	}
	defer cancel()
	cents, err := s.cfg.Store.Price(sctx, item)
	switch {
	case errors.Is(err, ErrNoItem):
		return 0, "store", err
	case err != nil:
		s.storeErrors.Inc()
		if s.cfg.ServeStale {
			s.mu.Lock()
			c, ok := s.last[item]
			s.mu.Unlock()
			if ok {
				return c, "stale", nil
			}
		}
		return 0, "store", fmt.Errorf("store: %w", err)
	}
	s.remember(item, cents)
	if s.cfg.Cache != nil {
		// Refill the cache in the background, bounded, so a slow cache never slows the answer.
		go func() {
			c, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			s.cfg.Cache.Set(c, key, strconv.Itoa(cents))
		}()
	}
	return cents, "store", nil
}

// lookup asks the cache, bounded by CacheTimeout, and counts the result.
func (s *Server) lookup(ctx context.Context, key string) (int, bool) {
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if s.cfg.CacheTimeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, s.cfg.CacheTimeout)
	}
	defer cancel()
	t := time.Now()
	v, ok, err := s.cfg.Cache.Get(cctx, key)
	took := time.Since(t)
	result := CacheHit
	switch {
	case errors.Is(err, ErrBreakerOpen):
		result = CacheSkipped
	case err != nil && cctx.Err() != nil && ctx.Err() == nil:
		result = CacheTimeout
	case err != nil:
		result = CacheError
	case took > s.cfg.SlowCache:
		result = CacheSlow
	case !ok:
		result = CacheMiss
	}
	s.lookups.WithLabelValues(result).Inc()
	if result != CacheSkipped {
		s.cacheLatency.Observe(took.Seconds())
	}
	if err != nil || !ok {
		return 0, false
	}
	cents, err := strconv.Atoi(v)
	return cents, err == nil
}

func (s *Server) remember(item string, cents int) {
	if !s.cfg.ServeStale {
		return
	}
	s.mu.Lock()
	s.last[item] = cents
	s.mu.Unlock()
}

// MemStore is an in-memory Store.
type MemStore map[string]int

// Price returns the item's price.
func (m MemStore) Price(_ context.Context, item string) (int, error) {
	if c, ok := m[item]; ok {
		return c, nil
	}
	return 0, ErrNoItem
}

// DefaultPrices are the items the demo and the sample database hold.
func DefaultPrices() MemStore {
	return MemStore{"widget": 1999, "gadget": 4999, "gizmo": 999, "doohickey": 2499}
}

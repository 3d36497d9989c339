// Package app is the sample shop service: /checkout reads an item's price through a cache
// with a timeout and falls back to the store when the cache is slow or down; /healthz says
// whether the replica is up; /metrics exposes Prometheus metrics. The same code runs in the
// embedded demo (an in-memory store, a tiny cache server) and against Redis and PostgreSQL.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
}

// Server is one replica of the shop.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns a replica serving /checkout, /healthz and /metrics.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
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
	reg.MustRegister(s.requests, s.latency, cacheLatency, prometheus.NewGoCollector())
	s.mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "ok %s\n", cfg.Name)
	})
	s.mux.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		s.checkout(w, r, cacheLatency)
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type answer struct {
	Item    string `json:"item"`
	Cents   int    `json:"cents"`
	Source  string `json:"source"`
	Replica string `json:"replica"`
}

func (s *Server) checkout(w http.ResponseWriter, r *http.Request, cacheLatency prometheus.Histogram) {
	start := time.Now()
	item := r.URL.Query().Get("item")
	if item == "" {
		item = "widget"
	}
	cents, source, err := s.price(r.Context(), item, cacheLatency)
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
	json.NewEncoder(w).Encode(answer{Item: item, Cents: cents, Source: source, Replica: s.cfg.Name})
}

// price looks the item up in the cache, bounded by CacheTimeout, and falls back to the store.
func (s *Server) price(ctx context.Context, item string, cacheLatency prometheus.Histogram) (int, string, error) {
	key := "price:" + item
	if s.cfg.Cache != nil {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if s.cfg.CacheTimeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, s.cfg.CacheTimeout)
		}
		t := time.Now()
		v, ok, err := s.cfg.Cache.Get(cctx, key)
		cancel()
		cacheLatency.Observe(time.Since(t).Seconds())
		if err == nil && ok {
			if cents, perr := strconv.Atoi(v); perr == nil {
				return cents, "cache", nil
			}
		}
	}
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if s.cfg.StoreTimeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, s.cfg.StoreTimeout)
	}
	defer cancel()
	cents, err := s.cfg.Store.Price(sctx, item)
	if err != nil {
		return 0, "store", fmt.Errorf("store: %w", err)
	}
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

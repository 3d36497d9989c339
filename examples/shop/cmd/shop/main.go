// Command shop is one replica of the sample shop (package demo/shop) against Redis and PostgreSQL:
//
//	shop -name web-1 -listen 10.77.0.11:8080 -redis 10.77.0.1:16380 \
//	     -postgres postgres://shop@10.77.0.1:15432/shop -config versions/v1.env
//
// -config reads a version file (key=value lines, # comments) whose keys are the flag names;
// flags given on the command line win. With -init-db it creates and fills the prices table
// and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown/demo/shop"
	"github.com/shakedown-dev/shakedown/examples/shop/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("shop", flag.ContinueOnError)
	var (
		name         = fs.String("name", "web", "the replica's name, in metrics and answers")
		listen       = fs.String("listen", "127.0.0.1:8080", "address to serve on")
		redis        = fs.String("redis", "", "host:port of the cache (empty: no cache)")
		postgres     = fs.String("postgres", "", "DSN of the store database")
		configFile   = fs.String("config", "", "version file of key=value settings, keys being these flags' names")
		cacheTimeout = fs.Duration("cache_timeout", 0, "bound on one cache lookup (0: none)")
		storeTimeout = fs.Duration("store_timeout", 500*time.Millisecond, "bound on one store lookup")
		cacheTTL     = fs.Duration("cache_ttl", 0, "expiry of cache entries (0: never)")
		slowCache    = fs.Duration("slow_cache", shop.DefaultSlowCache, "a cache lookup slower than this counts as slow")
		stale        = fs.Bool("serve_stale", false, "answer with the last price seen when the store fails")
		breaker      = fs.Bool("breaker", false, "put a circuit breaker around the cache")
		breakerSlow  = fs.Duration("breaker_slow", 25*time.Millisecond, "a cache call slower than this is bad for the breaker")
		breakerTrip  = fs.Int("breaker_trip", 3, "bad cache calls in a row that open the breaker")
		breakerOpen  = fs.Duration("breaker_open", 2*time.Second, "how long the breaker stays open before a trial")
		initDB       = fs.Bool("init-db", false, "create and fill the prices table, then exit")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configFile != "" {
		if err := applyConfig(fs, *configFile); err != nil {
			return err
		}
	}
	if *postgres == "" {
		return errors.New("-postgres is required")
	}
	if *initDB {
		ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return app.Schema(ictx, *postgres, shop.DefaultPrices())
	}
	store, err := app.OpenPostgres(ctx, *postgres)
	if err != nil {
		return err
	}
	defer store.Close()
	cfg := shop.Config{Name: *name, Store: store, CacheTimeout: *cacheTimeout, StoreTimeout: *storeTimeout,
		SlowCache: *slowCache, ServeStale: *stale}
	if *redis != "" {
		var c shop.Cache = &shop.Redis{Addr: *redis, TTL: *cacheTTL}
		if *breaker {
			c = &shop.Breaker{Cache: c, Slow: *breakerSlow, Trip: *breakerTrip, Open: *breakerOpen}
		}
		cfg.Cache = c
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: shop.New(cfg), ReadHeaderTimeout: 5 * time.Second}
	slog.Info("shop replica serving", "name", *name, "listen", ln.Addr().String(), "cache_timeout", *cacheTimeout,
		"breaker", *breaker, "serve_stale", *stale)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// applyConfig sets, from the version file, every flag not given on the command line.
func applyConfig(fs *flag.FlagSet, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	kv, err := app.ParseSettings(b)
	if err != nil {
		return fmt.Errorf("config %s: %w", file, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range kv {
		if fs.Lookup(s.Key) == nil {
			return fmt.Errorf("config %s:%d: unknown setting %q", file, s.Line, s.Key)
		}
		if given[s.Key] {
			continue
		}
		if err := fs.Set(s.Key, s.Value); err != nil {
			return fmt.Errorf("config %s:%d: %s: %w", file, s.Line, s.Key, err)
		}
	}
	return nil
}

// Package demo is the embedded sample system behind `shakedown demo`: the shop of
// examples/shop in pure Go (its service, package demo/shop), with no external services. Three shop replicas run as processes
// of their own (so process faults act on real processes) behind a built-in balancer with
// health checks and retries; their cache is a tiny in-memory Redis stand-in reached through a
// port that the experiment's fault proxy serves; the store is in memory. The experiment
// slows the cache and pauses one replica, and the shop tolerates both.
package demo

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/demo/shop"
	"github.com/shakedown-dev/shakedown/internal/httplimit"
)

// Experiment is the demo's experiment file. Its ${vars} come from System.Vars.
//
//go:embed experiment.yaml
var Experiment []byte

// System is a running embedded shop.
type System struct {
	Shop       string // host:port of the balancer
	Cache      string // host:port of the cache server
	CacheProxy string // host:port the replicas reach the cache through (the fault proxy's)
	Group      string // a token in every replica's command line, for the experiment's target
	Replicas   []*exec.Cmd

	cache    *CacheServer
	srv      *http.Server
	cancel   context.CancelFunc
	balancer chan struct{}
}

// Start starts the cache, the replicas (exe demo-replica …) and the balancer, and returns once
// the shop answers. dir holds the replicas' address files and logs. Close stops everything.
// The experiment pauses a replica, which needs Linux: elsewhere Start refuses.
func Start(ctx context.Context, exe, dir string, replicas int) (*System, error) {
	if err := shakedown.RequireLinux("the demo (its experiment pauses a replica process)"); err != nil {
		return nil, err
	}
	s := &System{Group: fmt.Sprintf("g%d", time.Now().UnixNano()%1e9)}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	var err error
	if s.cache, err = StartCache("127.0.0.1:0"); err != nil {
		return nil, err
	}
	s.Cache = s.cache.Addr()
	if s.CacheProxy, err = freeAddr(); err != nil {
		return nil, err
	}
	var backends []string
	for i := 1; i <= replicas; i++ {
		name := fmt.Sprintf("shop-web-%d", i)
		addrFile := filepath.Join(dir, name+".addr")
		os.Remove(addrFile)
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(exe, "demo-replica", "--name", name, "--group", s.Group,
			"--cache", s.CacheProxy, "--addr-file", addrFile)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = replicaAttr()
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("start replica %s: %w", name, err)
		}
		logf.Close()
		s.Replicas = append(s.Replicas, cmd)
		addr, err := waitFile(ctx, addrFile, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("replica %s did not start (see %s): %w", name, filepath.Join(dir, name+".log"), err)
		}
		backends = append(backends, addr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Shop = ln.Addr().String()
	b := &Balancer{Backends: backends}
	bctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.balancer = make(chan struct{})
	go func() { defer close(s.balancer); b.Run(bctx) }()
	s.srv = httplimit.Server(b)
	go s.srv.Serve(ln)
	if err := waitHTTP(ctx, "http://"+s.Shop+"/checkout", 10*time.Second); err != nil {
		return nil, fmt.Errorf("the shop does not answer: %w", err)
	}
	ok = true
	return s, nil
}

// Vars are the values the experiment's ${vars} take.
func (s *System) Vars() map[string]string {
	return map[string]string{
		"shop":        s.Shop,
		"cache":       s.Cache,
		"cache_proxy": s.CacheProxy,
		"group":       s.Group,
	}
}

// Close stops the balancer, the replicas and the cache.
func (s *System) Close() error {
	if s.srv != nil {
		s.srv.Close()
	}
	if s.cancel != nil {
		s.cancel()
		<-s.balancer
	}
	for _, r := range s.Replicas {
		stopReplica(r.Process)
	}
	for _, r := range s.Replicas {
		done := make(chan struct{})
		go func() { r.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			r.Process.Kill()
			<-done
		}
	}
	if s.cache != nil {
		s.cache.Close()
	}
	return nil
}

// ReplicaMain is the body of one shop replica (the hidden demo-replica command).
func ReplicaMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo-replica", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "shop-web", "replica name")
	fs.String("group", "", "a token naming the demo this replica belongs to")
	cacheAddr := fs.String("cache", "", "cache address")
	cacheTimeout := fs.Duration("cache-timeout", 50*time.Millisecond, "cache lookup timeout (0: none)")
	addrFile := fs.String("addr-file", "", "write the listen address here")
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	cache := &shop.Redis{Addr: *cacheAddr}
	defer cache.Close()
	srv := httplimit.Server(shop.New(shop.Config{
		Name: *name, Cache: cache, Store: shop.DefaultPrices(),
		CacheTimeout: *cacheTimeout, StoreTimeout: time.Second,
	}))
	if *addrFile != "" {
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(ln.Addr().String()), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			return err
		}
	}
	go func() {
		<-ctx.Done()
		httplimit.Shutdown(ctx, srv)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitFile(ctx context.Context, path string, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s not written within %s", path, limit)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func waitHTTP(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New("status " + strconv.Itoa(resp.StatusCode))
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

package demo

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Balancer spreads requests over backends round-robin, as HAProxy does in the full sample:
// an active health check takes a backend out after two failed checks and back in after two
// good ones. A request whose backend fails goes to another at once; one whose backend has
// not answered within TryTimeout also goes to another, without giving up the first (a
// hedged request): a paused replica costs a request TryTimeout, and a busy but healthy one
// still answers if it is the first to. Up to three backends are tried; the client's own
// timeout bounds the whole.
type Balancer struct {
	Backends   []string      // host:port of each replica
	CheckEvery time.Duration // health-check interval; 250ms when zero
	TryTimeout time.Duration // per-try timeout; 150ms when zero
	once       sync.Once     // makes client, up, fails and oks on first use
	client     *http.Client
	next       atomic.Uint64
	mu         sync.RWMutex
	up         []bool
	fails, oks []int
}

// Run checks the backends' health until ctx ends. Call it once, in its own goroutine, before
// serving.
func (b *Balancer) Run(ctx context.Context) {
	every := b.CheckEvery
	if every == 0 {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for i, addr := range b.Backends {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.record(i, b.check(ctx, addr, every))
			}()
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// init makes the balancer's state on first use. It runs once: after that it costs a load,
// not the write lock every request and every check would otherwise take.
func (b *Balancer) init() {
	b.once.Do(func() {
		b.mu.Lock() // readers of up take mu, and may come before init
		defer b.mu.Unlock()
		b.up = make([]bool, len(b.Backends))
		for i := range b.up {
			b.up[i] = true
		}
		b.fails = make([]int, len(b.Backends))
		b.oks = make([]int, len(b.Backends))
		b.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
	})
}

func (b *Balancer) check(ctx context.Context, addr string, timeout time.Duration) bool {
	b.init()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	resp, err := b.client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (b *Balancer) record(i int, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.oks[i]++
		b.fails[i] = 0
		if b.oks[i] >= 2 {
			b.up[i] = true
		}
		return
	}
	b.fails[i]++
	b.oks[i] = 0
	if b.fails[i] >= 2 {
		b.up[i] = false
	}
}

// pick returns the next healthy backend not yet tried, or -1.
func (b *Balancer) pick(tried map[int]bool) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := len(b.Backends)
	start := int(b.next.Add(1))
	for k := range n {
		i := (start + k) % n
		if !tried[i] && b.up[i] {
			return i
		}
	}
	return -1
}

// maxTries bounds the backends one request tries.
const maxTries = 3

var errNoBackend = errors.New("no healthy backend")

func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.init()
	if r.URL.Path == "/healthz" {
		if b.pick(nil) < 0 {
			http.Error(w, errNoBackend.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
		return
	}
	tryTimeout := b.TryTimeout
	if tryTimeout == 0 {
		tryTimeout = 150 * time.Millisecond
	}
	type answer struct {
		resp *http.Response
		err  error
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	answers := make(chan answer, maxTries)
	tried := map[int]bool{}
	pending := 0
	// try sends the request to one more backend; false when there is none left to try.
	try := func() bool {
		i := b.pick(tried)
		if i < 0 || len(tried) >= maxTries {
			return false
		}
		tried[i] = true
		pending++
		req, _ := http.NewRequestWithContext(ctx, r.Method, "http://"+b.Backends[i]+r.URL.RequestURI(), nil)
		go func() {
			resp, err := b.client.Do(req)
			answers <- answer{resp, err}
		}()
		return true
	}
	// Tries still out when the request is done are closed as they come back.
	defer func() {
		go func(n int) {
			for range n {
				if a := <-answers; a.err == nil {
					a.resp.Body.Close()
				}
			}
		}(pending)
	}()
	hedge := time.NewTimer(tryTimeout)
	defer hedge.Stop()
	try()
	for pending > 0 {
		select {
		case a := <-answers:
			pending--
			if a.err == nil && a.resp.StatusCode < 500 {
				for k, v := range a.resp.Header {
					w.Header()[k] = v
				}
				w.WriteHeader(a.resp.StatusCode)
				io.Copy(w, a.resp.Body)
				a.resp.Body.Close()
				return
			}
			if a.err == nil {
				a.resp.Body.Close()
			}
			if try() {
				hedge.Reset(tryTimeout)
			}
		case <-hedge.C:
			if try() {
				hedge.Reset(tryTimeout)
			}
		}
	}
	http.Error(w, errNoBackend.Error(), http.StatusBadGateway)
}

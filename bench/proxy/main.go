// Command proxybench measures shakedown's fault proxy against toxiproxy-server side by
// side, on the same local backends, and prints the ratios of the figures the proxy is
// held to: bulk throughput, keep-alive request rate, added p99 latency, memory for idle
// connections, and the accuracy of a latency toxic. Each figure is the median of -runs.
//
// With -serve ADDR it is instead shakedown's proxy daemon (proxy.Serve), so that both
// proxies run as processes of their own.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/shakedown-dev/shakedown/proxy"
)

func main() {
	serve := flag.String("serve", "", "run shakedown's proxy daemon with its API on this address")
	server := flag.String("toxiproxy", "", "path of toxiproxy-server v2.12.0")
	runs := flag.Int("runs", 3, "runs; each figure is the median")
	bulkMB := flag.Int("bulk-mb", 500, "megabytes moved for the throughput figure")
	idle := flag.Int("idle", 10000, "idle connections for the memory figure")
	dur := flag.Duration("duration", 3*time.Second, "length of each request-rate and latency measurement")
	flag.Parse()
	if *serve != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := proxy.Serve(ctx, proxy.Config{API: *serve}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *server == "" {
		fmt.Fprintln(os.Stderr, "usage: proxybench -toxiproxy PATH [-runs N]")
		os.Exit(2)
	}
	if err := run(*server, *runs, *bulkMB, *idle, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

// peer is one proxy under test: a process and a client of its API.
type peer struct {
	name   string
	cmd    *exec.Cmd
	client *toxiproxy.Client
	api    string
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startPeer(name string, argv []string, api string) (*peer, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &peer{name: name, cmd: cmd, client: toxiproxy.NewClient(api), api: api}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := p.client.Version(); err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not answer on %s", name, api)
		}
	}
}

func (p *peer) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func (p *peer) rss() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// backends are the local servers both proxies forward to.
type backends struct {
	bulk, echo, http string
	bulkBytes        int64
}

func listen(serve func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

func startBackends(bulkBytes int64) backends {
	chunk := make([]byte, 1<<20)
	b := backends{bulkBytes: bulkBytes}
	b.bulk = listen(func(c net.Conn) {
		for left := bulkBytes; left > 0; {
			n := min(left, int64(len(chunk)))
			if _, err := c.Write(chunk[:n]); err != nil {
				return
			}
			left -= n
		}
	})
	// A plain read/write loop: io.Copy between TCP sockets would splice, and hold a pipe
	// (two more descriptors) for each idle connection.
	b.echo = listen(func(c net.Conn) {
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	b.http = ln.Addr().String()
	return b
}

// figures of one peer in one run.
type figures struct {
	throughput float64 // MB/s
	rate       float64 // requests/s
	addedP99   float64 // ms over direct
	rss        float64 // bytes with the idle connections open
	accuracy   float64 // p99 |error| of a 200 ms latency toxic, ms
}

func run(server string, runs, bulkMB, idle int, dur time.Duration) error {
	be := startBackends(int64(bulkMB) << 20)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	results := map[string][]figures{}
	for r := 0; r < runs; r++ {
		tapi := freeAddr()
		host, port, _ := net.SplitHostPort(tapi)
		tp, err := startPeer("toxiproxy", []string{server, "-host", host, "-port", port}, tapi)
		if err != nil {
			return err
		}
		sapi := freeAddr()
		sp, err := startPeer("shakedown", []string{self, "-serve", sapi}, sapi)
		if err != nil {
			tp.stop()
			return err
		}
		direct := latencyAt(be.http, 1000, dur)
		if tput, err := throughput(be.bulk, be.bulkBytes); err == nil {
			fmt.Printf("run %d direct     bulk %7.0f MB/s (no proxy: the ceiling this machine gives now)\n", r+1, tput)
		}
		for _, p := range []*peer{tp, sp} {
			f, err := measure(p, be, idle, dur, direct)
			if err != nil {
				tp.stop()
				sp.stop()
				return fmt.Errorf("%s: %w", p.name, err)
			}
			results[p.name] = append(results[p.name], f)
			fmt.Printf("run %d %-9s  bulk %7.0f MB/s  keep-alive %7.0f req/s  added p99 %6.3f ms  RSS(%d idle) %6.1f MiB  200ms-latency p99 error %6.3f ms\n",
				r+1, p.name, f.throughput, f.rate, f.addedP99, idle, f.rss/(1<<20), f.accuracy)
		}
		tp.stop()
		sp.stop()
	}
	med := func(name string, get func(figures) float64) float64 {
		var v []float64
		for _, f := range results[name] {
			v = append(v, get(f))
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	type row struct {
		what string
		get  func(figures) float64
		goal string
		ok   func(s, t float64) bool
	}
	rows := []row{
		{fmt.Sprintf("bulk throughput, %d MB", bulkMB), func(f figures) float64 { return f.throughput }, "≥ 2×", func(s, t float64) bool { return s >= 2*t }},
		{"keep-alive request rate, 16 workers", func(f figures) float64 { return f.rate }, "≥ 1.1×", func(s, t float64) bool { return s >= 1.1*t }},
		{"added p99 latency at 1000 req/s", func(f figures) float64 { return f.addedP99 }, "≤ 1×", func(s, t float64) bool { return s <= t }},
		{fmt.Sprintf("RSS with %d idle connections", idle), func(f figures) float64 { return f.rss }, "≤ 1×", func(s, t float64) bool { return s <= t }},
	}
	fmt.Printf("\nmedians of %d runs (shakedown / toxiproxy)\n", runs)
	for _, r := range rows {
		s, t := med("shakedown", r.get), med("toxiproxy", r.get)
		verdict := "met"
		if !r.ok(s, t) {
			verdict = "NOT MET"
		}
		fmt.Printf("  %-40s shakedown %12.3f  toxiproxy %12.3f  ratio %6.2f×  goal %-6s %s\n", r.what, s, t, s/t, r.goal, verdict)
	}
	sa, ta := med("shakedown", func(f figures) float64 { return f.accuracy }), med("toxiproxy", func(f figures) float64 { return f.accuracy })
	verdict := "met"
	if sa > 1 {
		verdict = "NOT MET"
	}
	fmt.Printf("  %-40s shakedown %9.3f ms  toxiproxy %9.3f ms  goal ≤ 1 ms  %s\n", "200 ms latency toxic, p99 error", sa, ta, verdict)
	return nil
}

func measure(p *peer, be backends, idle int, dur time.Duration, direct []time.Duration) (figures, error) {
	var f figures
	mk := func(name, upstream string) (*toxiproxy.Proxy, error) {
		return p.client.CreateProxy(name, "127.0.0.1:0", upstream)
	}
	bulk, err := mk("bulk", be.bulk)
	if err != nil {
		return f, err
	}
	web, err := mk("web", be.http)
	if err != nil {
		return f, err
	}
	echo, err := mk("echo", be.echo)
	if err != nil {
		return f, err
	}
	if f.throughput, err = throughput(bulk.Listen, be.bulkBytes); err != nil {
		return f, err
	}
	f.rate = requestRate(web.Listen, 16, dur)
	f.addedP99 = ms(p99(latencyAt(web.Listen, 1000, dur)) - p99(direct))
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil && len(fds) > 1000 {
		fmt.Printf("note: %d descriptors open in the driver before the idle figure\n", len(fds))
	}
	if f.rss, err = idleRSS(p, echo.Listen, idle); err != nil {
		return f, err
	}
	if _, err := echo.AddToxic("lat", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 200}); err != nil {
		return f, err
	}
	if f.accuracy, err = accuracy(echo.Listen, 200*time.Millisecond); err != nil {
		return f, err
	}
	return f, p.client.ResetState()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func throughput(addr string, want int64) (float64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		return 0, err
	}
	if n != want {
		return 0, fmt.Errorf("bulk: read %d bytes, want %d", n, want)
	}
	return float64(n) / (1 << 20) / time.Since(start).Seconds(), nil
}

func httpClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}}
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

// requestRate runs workers closed-loop keep-alive clients for d and returns requests/s.
func requestRate(addr string, workers int, d time.Duration) float64 {
	c := httpClient(workers)
	defer c.CloseIdleConnections()
	url := "http://" + addr + "/"
	get(c, url)
	var n atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for range workers {
		wg.Go(func() {
			for time.Now().Before(end) {
				if get(c, url) == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// latencyAt sends rate requests/s (open model, keep-alive) for d and returns the
// latencies.
func latencyAt(addr string, rate int, d time.Duration) []time.Duration {
	c := httpClient(64)
	defer c.CloseIdleConnections()
	url := "http://" + addr + "/"
	for range 64 {
		get(c, url)
	}
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); {
		<-tick.C
		wg.Go(func() {
			start := time.Now()
			if get(c, url) == nil {
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat
}

func p99(v []time.Duration) time.Duration {
	if len(v) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*99/100]
}

// idleRSS opens n connections through the proxy, has each carry one byte both ways so
// both of its sockets exist, and returns the proxy's RSS while they sit idle.
func idleRSS(p *peer, addr string, n int) (float64, error) {
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	one := []byte{1}
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fds, _ := os.ReadDir("/proc/self/fd")
			var lim syscall.Rlimit
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
			return 0, fmt.Errorf("idle connection %d (%d descriptors open here, limit %d): %w", i, len(fds), lim.Cur, err)
		}
		conns = append(conns, c)
		c.Write(one)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, one); err != nil {
			return 0, fmt.Errorf("idle connection %d: %w", i, err)
		}
	}
	time.Sleep(time.Second) // let the proxy settle before its RSS is read
	return float64(p.rss()), nil
}

// accuracy measures round trips through an echo link with a 200 ms latency toxic and
// returns the p99 of |round trip − direct round trip − latency|, in ms.
func accuracy(addr string, latency time.Duration) (float64, error) {
	const conns, rounds = 20, 25
	var mu sync.Mutex
	var errs []time.Duration
	var wg sync.WaitGroup
	var first error
	for range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			b := make([]byte, 16)
			for range rounds {
				start := time.Now()
				c.Write(b)
				if _, err := io.ReadFull(r, b); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				e := time.Since(start) - latency
				if e < 0 {
					e = -e
				}
				mu.Lock()
				errs = append(errs, e)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return ms(p99(errs)), nil
}

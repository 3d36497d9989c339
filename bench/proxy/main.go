//go:build linux

// Command proxybench measures shakedown's fault proxy against toxiproxy-server side by
// side, on the same local backends, and prints the ratios of the figures the proxy is
// held to: bulk throughput, keep-alive request rate (with no toxic, and through a latency
// toxic of 0 ms each way: the path a toxic puts the bytes on), added p99 latency, memory
// for idle connections, and the accuracy of a latency toxic. Each figure is the median of -runs;
// the two proxies take turns going first, run by run. A ratio is taken within each run,
// where both proxies met the same machine, and the verdict is on the median of those
// ratios (each run's ratio is printed beside it): on a shared machine the load from
// elsewhere moves a figure more from run to run than between two turns of one run.
//
// The driver shares the machine with the proxies, so it spends as little of it as it
// can: the bulk backend sends with sendfile(2) and the client splices into /dev/null;
// the web backend and its clients are event loops on OS threads of their own (lean.go); and
// the request rate and the added latency (against the backend reached directly) are
// measured in short turns of each in alternation, so that load from elsewhere weighs on
// all alike; the turns of both include the simplest event-loop relay (loop.go). A
// latency ends when the answer reached the client's socket (the kernel's receive time),
// not when the client's thread woke to read it.
// The accuracy figure is |trip − (latency + direct trip)| per request, p99 over 2,000
// requests spread over the latency period, measured once the proxy has let go of the
// idle connections, where a trip is the time between the driver's socket and the echo
// backend's, both ways, by the kernel's times at each end (stamps.go): from the
// request's leaving the driver to its arrival at the backend, and from the answer's
// leaving the backend to its arrival at the driver. That is the proxy's part of a round
// trip alone, as a client and a backend that answer at once would see it: neither the
// driver's nor the backend's threads, nor how soon the machine let them run, are in it.
// Beside it, the round trip less the backend's turn by the driver's clock (from before
// its write, as the figure was taken before), the whole round trip, as the driver saw
// it, one way (|way back − latency|, the toxic's direction alone), and the same traffic
// through the simplest delaying relay (loop.go), and how late a thread of a process of
// its own wakes at a time (wake.go): what is the kernel's in the figure.
//
// With -serve ADDR it is instead shakedown's proxy daemon (proxy.Serve), so that both
// proxies run as processes of their own.
package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown/proxy"
)

func main() {
	serve := flag.String("serve", "", "run shakedown's proxy daemon with its API on this address")
	flag.IntVar(&proxyNice, "nice", 0, "the nice value shakedown's daemon asks for, as `shakedown proxy --nice` does; 0 leaves it as started, as toxiproxy-server is")
	server := flag.String("toxiproxy", "", "path of toxiproxy-server v2.12.0")
	runs := flag.Int("runs", 3, "runs; each figure is the median")
	bulkMB := flag.Int("bulk-mb", 500, "megabytes moved for the throughput figure")
	idle := flag.Int("idle", 10000, "idle connections for the memory figure")
	dur := flag.Duration("duration", 3*time.Second, "length of each request-rate and latency measurement")
	relay := flag.String("relay", "", "run the floor relay, LISTEN=UPSTREAM, instead")
	loop := flag.Bool("loop", false, "with -relay: run the one-thread relay instead")
	delay := flag.Duration("delay", 0, "with -relay -loop: delay what comes back by this much")
	wake := flag.Duration("wake", 0, "run the wake floor for this long instead, and print its p99 in ms")
	only := flag.String("only", "", "measure only these figures (comma-separated: bulk, rate, latency, idle, accuracy); all when empty")
	burn := flag.Int("burn", 0, "measure beside this many CPU burners (processes that spin), started in this driver's session: the load of programs started beside the proxy")
	burnApart := flag.Bool("burn-apart", false, "with -burn: start the burners in a session of their own, as another job's load on a shared host (the kernel's autogroup scheduling then shares the CPUs between the sessions first)")
	flag.BoolVar(&proxiesApart, "proxies-apart", false, "start each proxy (both peers) in a session of its own, so that with the kernel's autogroup scheduling it shares the CPUs with the driver's session as a whole, not thread by thread (with -burn, the driver then has the burners' share: its open-model rate and latency turns may not keep up)")
	spin := flag.Bool("spin", false, "spin on one CPU until killed (a burner of -burn) instead")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "with -serve: write a CPU profile of the daemon's life to this file; else: have shakedown's daemon of run N write one to this file with .N added")
	flag.Parse()
	if *spin {
		for {
		}
	}
	if *only != "" {
		set := map[string]bool{}
		for _, f := range strings.Split(*only, ",") {
			set[strings.TrimSpace(f)] = true
		}
		want = func(f string) bool { return set[f] }
	}
	if *wake > 0 {
		fmt.Printf("%.3f\n", ms(wakeLateness(*wake)))
		return
	}
	if *relay != "" {
		listen, upstream, err := parseRelay(*relay)
		switch {
		case err != nil:
		case *loop:
			err = serveLoop(listen, upstream, *delay)
		default:
			err = serveRelay(listen, upstream)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *serve != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
		if proxyNice != 0 {
			if err := proxy.SetNice(proxyNice); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
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
	if most := 4 * runtime.NumCPU(); *burn < 0 || *burn > most {
		fmt.Fprintf(os.Stderr, "proxybench: -burn %d: from 0 to %d (four per CPU)\n", *burn, most)
		os.Exit(2)
	}
	stop, err := startBurners(*burn, *burnApart)
	if err == nil {
		err = run(*server, *runs, *bulkMB, *idle, *dur)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

// startBurners starts n processes that spin (this program with -spin), in a session of
// their own if apart, and returns what stops them.
func startBurners(n int, apart bool) (stop func(), err error) {
	var burners []*exec.Cmd
	stop = func() {
		for _, b := range burners {
			b.Process.Kill()
			b.Wait()
		}
	}
	if n == 0 {
		return stop, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	for range n {
		b := command(self, "-spin")
		b.SysProcAttr.Setsid = apart
		if err := b.Start(); err != nil {
			stop()
			return nil, err
		}
		burners = append(burners, b)
	}
	where := "in this driver's session"
	if apart {
		where = "in a session of their own"
	}
	fmt.Printf("beside %d CPU burners, %s\n", n, where)
	return stop, nil
}

// cpuProfile is -cpuprofile.
var cpuProfile string

// proxyNice is -nice.
var proxyNice int

// proxiesApart is -proxies-apart.
var proxiesApart bool

// want says whether a figure is to be measured.
var want = func(string) bool { return true }

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

// command is exec.Command for a process of the bench's own (a proxy, a relay, the wake
// floor): it is killed when the bench dies, however it dies, so a bench killed with
// SIGKILL leaves no proxy listening behind it. (The signal follows the thread that
// started the child; the runtime ends only threads locked to a goroutine, and no child
// is started from one.)
func command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

func startPeer(name string, argv []string, api string) (*peer, error) {
	cmd := command(argv[0], argv[1:]...)
	cmd.SysProcAttr.Setsid = proxiesApart
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

// fds returns how many descriptors the peer holds.
func (p *peer) fds() int {
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	return len(fds)
}

// settle waits until the peer holds at most n descriptors.
func (p *peer) settle(n int, within time.Duration) error {
	for deadline := time.Now().Add(within); p.fds() > n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("still %d descriptors open after %v (want at most %d)", p.fds(), within, n)
		}
	}
	return nil
}

// cpu returns the CPU time the peer has used.
func (p *peer) cpu() time.Duration { return processCPU(p.cmd.Process.Pid) }

// processCPU returns the CPU time process pid has used, user and system.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which is in parentheses) start at state.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // clock ticks (USER_HZ is 100 on Linux)
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
	cleanup          func()
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

// bulkFileSize is the size of the file the bulk backend sends again and again.
const bulkFileSize = 64 << 20

func startBackends(bulkBytes int64) (backends, error) {
	// The bulk backend sends from a file with sendfile(2) and the client takes the bytes
	// with splice(2) into /dev/null, so that neither end copies through user space and
	// the figure is the proxy's, not the driver's.
	f, err := os.CreateTemp("", "proxybench-bulk-*")
	if err != nil {
		return backends{}, err
	}
	name := f.Name()
	_, err = f.Write(make([]byte, bulkFileSize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return backends{}, err
	}
	b := backends{bulkBytes: bulkBytes, cleanup: func() { os.Remove(name) }}
	b.bulk = listen(func(c net.Conn) {
		f, err := os.Open(name)
		if err != nil {
			return
		}
		defer f.Close()
		for left := bulkBytes; left > 0; {
			n := min(left, bulkFileSize)
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return
			}
			if _, err := io.Copy(c, io.LimitReader(f, n)); err != nil { // sendfile
				return
			}
			left -= n
		}
	})
	// A plain read/write loop: io.Copy between TCP sockets would splice, and hold a pipe
	// (two more descriptors) for each idle connection. An accuracy probe is answered with
	// the kernel's receive time of the probe and the time the answer leaves, in its first
	// 16 bytes, and the answer's transmit time is filed under the probe's number
	// (stamps.go).
	b.echo = listen(func(c net.Conn) {
		tc := c.(*net.TCPConn)
		rc, err := tc.SyscallConn()
		if err == nil {
			err = setSockopt(rc, unix.SO_TIMESTAMPNS, 1)
		}
		if err != nil {
			return
		}
		buf, oob := make([]byte, 512), make([]byte, 256)
		stamping := false // the transmit times of probes' answers, once one comes
		for {
			var n, oobn int
			var rerr error
			err := rc.Read(func(fd uintptr) bool {
				n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
				return rerr != unix.EAGAIN
			})
			if err != nil || rerr != nil || n == 0 {
				return
			}
			probe := n == accuracySize
			if probe && !stamping {
				if stampSends(rc) != nil {
					return
				}
				stamping = true
			}
			if probe {
				binary.LittleEndian.PutUint64(buf[probeRecv:], uint64(arrivalNs(oob[:oobn])))
				binary.LittleEndian.PutUint64(buf[probeWrote:], uint64(time.Now().UnixNano()))
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
			if probe {
				at, _ := sentAt(rc) // 0 if there is none: the driver says so
				answerLeft(buf[:n], at)
			}
		}
	})
	b.http, err = serveWeb()
	return b, err
}

// figures of one peer in one run.
type figures struct {
	throughput float64    // MB/s
	rate       float64    // requests/s
	rateToxic  float64    // requests/s through a 0 ms latency toxic
	cpuPerReq  float64    // µs of the proxy's CPU time per keep-alive request
	addedP99   float64    // ms over direct
	rss        float64    // bytes with the idle connections open
	accuracy   toxicError // of a 200 ms latency toxic
}

func run(server string, runs, bulkMB, idle int, dur time.Duration) error {
	if proxiesApart {
		fmt.Println("each proxy runs in a session of its own (-proxies-apart)")
	}
	if proxyNice != 0 {
		fmt.Printf("shakedown's daemon runs at nice %d (-nice, as `shakedown proxy --nice %d`); toxiproxy-server as started\n", proxyNice, proxyNice)
	}
	be, err := startBackends(int64(bulkMB) << 20)
	if err != nil {
		return err
	}
	defer be.cleanup()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	results := map[string][]figures{}
	var directBulk []float64               // MB/s with no proxy, one per run
	var floorBulk []float64                // MB/s through the floor relay, one per run
	var floorErr []float64                 // ms, the latency-toxic figure's traffic with no proxy, one per run
	var wakeErr []float64                  // ms, the wake floor's p99, one per run
	var delayErr []float64                 // ms, the latency-toxic figure through the simplest delaying relay, one per run
	var floorOneWay, delayOneWay []float64 // ms, the one-way error of floorErr's and delayErr's runs
	var loopRate, loopCPU []float64        // keep-alive req/s and µs CPU/req through the one-thread relay, one per run
	var loopAdded []float64                // ms, the added p99 through the one-thread relay, one per run
	for r := 0; r < runs; r++ {
		tapi := freeAddr()
		host, port, _ := net.SplitHostPort(tapi)
		tp, err := startPeer("toxiproxy", []string{server, "-host", host, "-port", port}, tapi)
		if err != nil {
			return err
		}
		sapi := freeAddr()
		argv := []string{self, "-serve", sapi, "-nice", strconv.Itoa(proxyNice)}
		if cpuProfile != "" {
			argv = append(argv, "-cpuprofile", fmt.Sprintf("%s.%d", cpuProfile, r+1))
		}
		sp, err := startPeer("shakedown", argv, sapi)
		if err != nil {
			tp.stop()
			return err
		}
		echoRTT, err := roundTrip(be.echo)
		if err != nil {
			return err
		}
		if want("accuracy") {
			e, err := accuracy(be.echo, 200*time.Millisecond, echoRTT, true)
			if err != nil {
				return err
			}
			floorErr = append(floorErr, e.kernel)
			floorOneWay = append(floorOneWay, e.oneWay)
			fmt.Printf("run %d direct     p99 error %6.3f ms between the sockets, round trip %6.3f ms, %6.3f ms as seen, one way %6.3f ms (the same traffic, no proxy)\n", r+1, e.kernel, e.atArrival, e.seen, e.oneWay)
			w, err := wakeFloor(self, 4*time.Second)
			if err != nil {
				return err
			}
			wakeErr = append(wakeErr, w)
			fmt.Printf("run %d wake       p99 late %6.3f ms (a thread of its own process sleeping to a time, %d/s)\n", r+1, w, wakeRate)
			rl, err := startRelay(self, be.echo, true, 200*time.Millisecond)
			if err != nil {
				return err
			}
			e, err = accuracy(rl.addr, 200*time.Millisecond, echoRTT, false)
			rl.stop()
			if err != nil {
				return fmt.Errorf("delaying relay: %w", err)
			}
			delayErr = append(delayErr, e.kernel)
			delayOneWay = append(delayOneWay, e.oneWay)
			fmt.Printf("run %d relay      200ms-latency p99 error %6.3f ms between the sockets, round trip %6.3f ms, one way %6.3f ms (the simplest delaying relay: one thread, one wake-up per due time)\n", r+1, e.kernel, e.atArrival, e.oneWay)
		}
		if want("bulk") {
			if tput, err := throughput(be.bulk, be.bulkBytes); err == nil {
				directBulk = append(directBulk, tput)
				fmt.Printf("run %d direct     bulk %7.0f MB/s (no proxy: the ceiling this machine gives now)\n", r+1, tput)
			}
			rl, err := startRelay(self, be.bulk, false, 0)
			if err != nil {
				return err
			}
			tput, err := throughput(rl.addr, be.bulkBytes)
			rl.stop()
			if err != nil {
				return fmt.Errorf("floor relay: %w", err)
			}
			floorBulk = append(floorBulk, tput)
			fmt.Printf("run %d floor      bulk %7.0f MB/s (the least relay: blocking splice, a thread per direction)\n", r+1, tput)
		}
		if want("rate") {
			rate, err := requestRate(be.http, 16, dur)
			if err != nil {
				return err
			}
			fmt.Printf("run %d direct     keep-alive %7.0f req/s (no proxy)\n", r+1, rate)
		}
		peers := []*peer{tp, sp}
		if r%2 == 1 { // each goes first in every other run
			peers[0], peers[1] = sp, tp
		}
		ls := make([]links, len(peers))
		for i, p := range peers {
			if ls[i], err = setup(p, be); err != nil {
				tp.stop()
				sp.stop()
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
		var rates, cpus []float64
		var lats [][]time.Duration // direct, the relay, then each peer
		if want("rate") || want("latency") {
			err := func() error {
				rl, err := startRelay(self, be.http, true, 0) // the simplest event-loop relay
				if err != nil {
					return err
				}
				defer rl.stop()
				if want("rate") {
					targets := []rateTarget{{rl.addr, rl.cpu}}
					for i, p := range peers {
						targets = append(targets, rateTarget{ls[i].web.Listen, p.cpu})
					}
					for i, p := range peers {
						targets = append(targets, rateTarget{ls[i].webTox.Listen, p.cpu})
					}
					if rates, cpus, err = interleavedRate(targets, 16, dur); err != nil {
						return err
					}
					loopRate = append(loopRate, rates[0])
					loopCPU = append(loopCPU, cpus[0])
					fmt.Printf("run %d relay      keep-alive %7.0f req/s (%4.1f µs CPU/req) (the simplest event-loop relay: one thread, epoll, read, write)\n", r+1, rates[0], cpus[0])
					rates, cpus = rates[1:], cpus[1:]
				}
				if want("latency") {
					if lats, err = interleavedLatency([]string{be.http, rl.addr, ls[0].web.Listen, ls[1].web.Listen}, 1000, dur); err != nil {
						return err
					}
					added := ms(p99(lats[1]) - p99(lats[0]))
					loopAdded = append(loopAdded, added)
					fmt.Printf("run %d direct     p99 %6.3f ms at 1000 req/s (no proxy)\n", r+1, ms(p99(lats[0])))
					fmt.Printf("run %d relay      added p99 %6.3f ms (the simplest event-loop relay)\n", r+1, added)
				}
				return nil
			}()
			if err != nil {
				tp.stop()
				sp.stop()
				return err
			}
		}
		for i, p := range peers {
			f, err := measure(p, ls[i], be, idle, echoRTT)
			if err != nil {
				tp.stop()
				sp.stop()
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if rates != nil {
				f.rate, f.cpuPerReq = rates[i], cpus[i]
				f.rateToxic = rates[len(peers)+i]
			}
			if lats != nil {
				f.addedP99 = ms(p99(lats[i+2]) - p99(lats[0]))
			}
			results[p.name] = append(results[p.name], f)
			fmt.Printf("run %d %-9s  bulk %7.0f MB/s  keep-alive %7.0f req/s (%4.1f µs CPU/req), %7.0f through a toxic  added p99 %6.3f ms  RSS(%d idle) %6.1f MiB  200ms-latency p99 error %6.3f ms (%6.3f ms from before the driver's write, %6.3f ms one way)\n",
				r+1, p.name, f.throughput, f.rate, f.cpuPerReq, f.rateToxic, f.addedP99, idle, f.rss/(1<<20), f.accuracy.kernel, f.accuracy.proxied, f.accuracy.oneWay)
		}
		tp.stop()
		sp.stop()
	}
	of := func(name string, get func(figures) float64) []float64 {
		var v []float64
		for _, f := range results[name] {
			v = append(v, get(f))
		}
		return v
	}
	med := func(name string, get func(figures) float64) float64 { return median(of(name, get)) }
	type row struct {
		figure, what string // figure as -only names it
		get          func(figures) float64
		goal         string
		ok           func(ratio float64) bool
	}
	rows := []row{
		{"bulk", fmt.Sprintf("bulk throughput, %d MB", bulkMB), func(f figures) float64 { return f.throughput }, "≥ 3×", func(r float64) bool { return r >= 3 }},
		{"rate", "keep-alive request rate, 16 workers", func(f figures) float64 { return f.rate }, "≥ 1.2×", func(r float64) bool { return r >= 1.2 }},
		{"rate", "the same through a 0 ms latency toxic", func(f figures) float64 { return f.rateToxic }, "≥ 1.2×", func(r float64) bool { return r >= 1.2 }},
		{"latency", "added p99 latency at 1000 req/s", func(f figures) float64 { return f.addedP99 }, "≤ 0.8×", func(r float64) bool { return r <= 0.8 }},
		{"idle", fmt.Sprintf("RSS with %d idle connections", idle), func(f figures) float64 { return f.rss }, "≤ 1×", func(r float64) bool { return r <= 1 }},
	}
	fmt.Printf("\nmedians of %d runs (shakedown / toxiproxy); a ratio is the median of the runs' own, listed after it\n", runs)
	for _, r := range rows {
		if !want(r.figure) {
			continue
		}
		ratio, each := pairedRatio(of("shakedown", r.get), of("toxiproxy", r.get))
		verdict := judge(ratio, r.ok)
		fmt.Printf("  %-40s shakedown %12.3f  toxiproxy %12.3f  ratio %6.2f×  goal %-6s %s  (%s)\n",
			r.what, med("shakedown", r.get), med("toxiproxy", r.get), ratio, r.goal, verdict, each)
	}
	if len(loopRate) > 0 {
		rate := of("shakedown", func(f figures) float64 { return f.rate })
		ratio, each := pairedRatio(rate, loopRate)
		fmt.Printf("  %-40s shakedown %12.3f  relay     %12.3f  ratio %6.2f×  (%s; the simplest event-loop relay, %.1f µs CPU/req; shakedown %.1f)\n",
			"keep-alive request rate, against a relay", median(rate), median(loopRate), ratio, each, median(loopCPU), med("shakedown", func(f figures) float64 { return f.cpuPerReq }))
	}
	if len(loopAdded) > 0 {
		added := of("shakedown", func(f figures) float64 { return f.addedP99 })
		ratio, each := pairedRatio(added, loopAdded)
		fmt.Printf("  %-40s shakedown %12.3f  relay     %12.3f  ratio %6.2f×  (%s; the simplest event-loop relay)\n", "added p99 latency, against a relay", median(added), median(loopAdded), ratio, each)
	}
	if len(directBulk) > 0 {
		bulk := of("shakedown", func(f figures) float64 { return f.throughput })
		ratio, each := pairedRatio(bulk, directBulk)
		verdict := judge(ratio, func(r float64) bool { return r >= 0.65 })
		fmt.Printf("  %-40s shakedown %12.3f  direct    %12.3f  ratio %6.2f×  goal %-6s %s  (%s)\n", "bulk throughput against no proxy", median(bulk), median(directBulk), ratio, "≥ 0.65×", verdict, each)
		ratio, each = pairedRatio(floorBulk, directBulk)
		fmt.Printf("  %-40s floor     %12.3f  direct    %12.3f  ratio %6.2f×  (%s; the least relay: blocking splice, a thread per direction)\n", "", median(floorBulk), median(directBulk), ratio, each)
		ratio, each = pairedRatio(bulk, floorBulk)
		fmt.Printf("  %-40s shakedown %12.3f  floor     %12.3f  ratio %6.2f×  (%s)\n", "bulk throughput against the floor relay", median(bulk), median(floorBulk), ratio, each)
	}
	if !want("accuracy") {
		return nil
	}
	// The judged figure first, with its goal; then the others, each on a line of its own.
	for i, part := range []struct {
		what string
		pick func(toxicError) float64
	}{
		{"between the driver's and the backend's sockets, by the kernel's times", func(e toxicError) float64 { return e.kernel }},
		{"the round trip less the echo backend's turn, from before the driver's write", func(e toxicError) float64 { return e.proxied }},
		{"the whole round trip, with the echo's turn in this driver", func(e toxicError) float64 { return e.atArrival }},
		{"the same, once the driver's thread woke to read", func(e toxicError) float64 { return e.seen }},
		{"one way: the toxic's direction alone", func(e toxicError) float64 { return e.oneWay }},
		{"p99 of the way there, no toxic on it", func(e toxicError) float64 { return e.there }},
		{"p99 of the echo backend's turn, in this driver", func(e toxicError) float64 { return e.echo }},
	} {
		get := func(f figures) float64 { return part.pick(f.accuracy) }
		sa, ta := med("shakedown", get), med("toxiproxy", get)
		figure, goal := "", ""
		if i == 0 {
			figure, goal = "200 ms latency toxic, p99 error", "goal ≤ 1 ms  met  "
			if sa > 1 {
				goal = "goal ≤ 1 ms  NOT MET  "
			}
		}
		fmt.Printf("  %-40s shakedown %9.3f ms  toxiproxy %9.3f ms  %s(%s)\n", figure, sa, ta, goal, part.what)
	}
	if len(floorErr) > 0 {
		fmt.Printf("  %-40s direct    %9.3f ms  (the same traffic with no proxy; one way %.3f ms)\n", "", median(floorErr), median(floorOneWay))
		fmt.Printf("  %-40s wake      %9.3f ms  (p99 of a timed wake in a process of its own)\n", "", median(wakeErr))
		fmt.Printf("  %-40s relay     %9.3f ms  (the simplest delaying relay: one thread, one wake-up per due time; one way %.3f ms)\n", "", median(delayErr), median(delayOneWay))
	}
	return nil
}

// pairedRatio returns the median of a[i]/b[i], the ratios of the figures of one run, and
// those ratios in run order, as text. A run whose figures are not both above zero has no
// ratio ("—"): an added latency can come out negative when the load moves the direct
// figure more than the proxy adds, and a ratio of two such differences says nothing.
// With no ratio at all, the median is NaN.
func pairedRatio(a, b []float64) (float64, string) {
	var rs []float64
	var each []string
	for i := range min(len(a), len(b)) {
		if a[i] <= 0 || b[i] <= 0 {
			each = append(each, "—")
			continue
		}
		rs = append(rs, a[i]/b[i])
		each = append(each, fmt.Sprintf("%.2f", a[i]/b[i]))
	}
	if len(rs) == 0 {
		return math.NaN(), strings.Join(each, " ")
	}
	return median(rs), strings.Join(each, " ")
}

// judge says whether a median ratio of pairedRatio meets its goal; with no ratio (NaN) it
// is undecided.
func judge(ratio float64, ok func(float64) bool) string {
	switch {
	case math.IsNaN(ratio):
		return "UNDECIDED (no run had both figures above zero)"
	case !ok(ratio):
		return "NOT MET"
	}
	return "met"
}

// median returns the middle of v (the upper one of an even count); v is left as it was.
func median[T cmp.Ordered](v []T) T {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

// links are the proxies a peer holds for the measurements, one per backend.
// links are the proxies each peer gets. webTox relays to the web backend as web does, with a
// latency toxic of 0 ms in both directions: the cost of the path a toxic puts the bytes on.
type links struct{ bulk, web, webTox, echo *toxiproxy.Proxy }

func setup(p *peer, be backends) (links, error) {
	var l links
	var err error
	for _, x := range []struct {
		to       **toxiproxy.Proxy
		name, up string
	}{{&l.bulk, "bulk", be.bulk}, {&l.web, "web", be.http}, {&l.webTox, "webtox", be.http}, {&l.echo, "echo", be.echo}} {
		if *x.to, err = p.client.CreateProxy(x.name, "127.0.0.1:0", x.up); err != nil {
			return l, err
		}
	}
	for _, stream := range []string{"upstream", "downstream"} {
		if _, err := l.webTox.AddToxic("zero-"+stream, "latency", stream, 1, toxiproxy.Attributes{"latency": 0}); err != nil {
			return l, err
		}
	}
	return l, nil
}

// rateSlices is how many turns each peer takes in the request-rate and latency figures.
const rateSlices = 6

// rateTarget is where interleavedRate sends, and the CPU time of what relays it.
type rateTarget struct {
	addr string
	cpu  func() time.Duration
}

// interleavedRate measures the keep-alive request rate through each target for d in
// all, in turns of d/rateSlices, so that whatever else the machine runs weighs on all
// alike. It returns each target's requests/s and its CPU time per request in µs.
func interleavedRate(targets []rateTarget, workers int, d time.Duration) (rates, cpus []float64, err error) {
	n := make([]float64, len(targets))
	cpu := make([]time.Duration, len(targets))
	slice := d / rateSlices
	for range rateSlices {
		for i, t := range targets {
			before := t.cpu()
			rate, err := requestRate(t.addr, workers, slice)
			if err != nil {
				return nil, nil, err
			}
			n[i] += rate * slice.Seconds()
			cpu[i] += t.cpu() - before
		}
	}
	for i := range targets {
		rates = append(rates, n[i]/d.Seconds())
		cpus = append(cpus, float64(cpu[i])/float64(time.Microsecond)/n[i])
	}
	return rates, cpus, nil
}

func measure(p *peer, l links, be backends, idle int, echoRTT directTrip) (figures, error) {
	var f figures
	var err error
	echo := l.echo
	if want("bulk") {
		if f.throughput, err = throughput(l.bulk.Listen, be.bulkBytes); err != nil {
			return f, err
		}
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil && len(fds) > 1000 {
		fmt.Printf("note: %d descriptors open in the driver before the idle figure\n", len(fds))
	}
	base := p.fds()
	if want("idle") {
		if f.rss, err = idleRSS(p, echo.Listen, idle); err != nil {
			return f, err
		}
	}
	if !want("accuracy") {
		return f, p.client.ResetState()
	}
	// The idle connections are closed now: measure the toxic once the proxy has let go
	// of them, not while it tears down thousands of sockets.
	if err := p.settle(base+16, 60*time.Second); err != nil {
		return f, err
	}
	// And once this process has closed its ends and collected the garbage they left.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fds, _ := os.ReadDir("/proc/self/fd")
		if len(fds) < 1000 || time.Now().After(deadline) {
			break
		}
	}
	runtime.GC()
	if _, err := echo.AddToxic("lat", "latency", "downstream", 1, toxiproxy.Attributes{"latency": 200}); err != nil {
		return f, err
	}
	if f.accuracy, err = accuracy(echo.Listen, 200*time.Millisecond, echoRTT, false); err != nil {
		return f, err
	}
	return f, p.client.ResetState()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// throughput reads a bulk stream through addr into /dev/null (with splice(2): the driver
// copies nothing) and returns MB/s.
func throughput(addr string, want int64) (float64, error) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	n, err := io.Copy(null, c)
	if err != nil {
		return 0, err
	}
	if n != want {
		return 0, fmt.Errorf("bulk: read %d bytes, want %d", n, want)
	}
	return float64(n) / (1 << 20) / time.Since(start).Seconds(), nil
}

// interleavedLatency sends requests at rate/s (open model, keep-alive) to each of addrs
// in turns of d/rateSlices, d in all for each, and returns the latencies per address.
// Each address has a client of its own, warmed up before the turns begin.
func interleavedLatency(addrs []string, rate int, d time.Duration) ([][]time.Duration, error) {
	clients := make([]*latencyClient, len(addrs))
	for i, a := range addrs {
		c, err := newLatencyClient(a, 64)
		if err != nil {
			return nil, err
		}
		defer c.close()
		if _, err := c.run(rate, 200*time.Millisecond); err != nil {
			return nil, err
		}
		clients[i] = c
	}
	out := make([][]time.Duration, len(addrs))
	for range rateSlices {
		for i, c := range clients {
			lat, err := c.run(rate, d/rateSlices)
			if err != nil {
				return nil, err
			}
			out[i] = append(out[i], lat...)
		}
	}
	return out, nil
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

// directTrip is the median round trip of a small message straight to the echo backend:
// whole, less the backend's turn, which it stamps in its answer, and the trip between
// the sockets by the kernel's times (stamps.go).
type directTrip struct{ whole, lessEcho, kernel time.Duration }

// roundTrip returns the median round trip of an accuracy probe through an echo server at
// addr, whole, less the echo's turn, and between the sockets.
func roundTrip(addr string) (directTrip, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return directTrip{}, err
	}
	defer c.Close()
	p, err := newProber(c)
	if err != nil {
		return directTrip{}, err
	}
	var whole, lessEcho, kernel []time.Duration
	for range 200 {
		t, err := p.probe()
		if err != nil {
			return directTrip{}, err
		}
		rtt := time.Since(t.start)
		whole = append(whole, rtt)
		lessEcho = append(lessEcho, rtt-echoTurn(p.b))
		kernel = append(kernel, t.trip)
	}
	return directTrip{median(whole), median(lessEcho), median(kernel)}, nil
}

// prober sends accuracy probes on one connection.
type prober struct {
	c  *net.TCPConn
	rc syscall.RawConn
	b  []byte // the probe, then its answer
}

// probeTimes are one probe's times: start by the driver's clock before its write; the
// others by the kernel's (wall clock, ns).
type probeTimes struct {
	start   time.Time
	sent    int64         // the probe left the driver's socket
	recv    int64         // it reached the backend's (the backend stamps it in its answer)
	left    int64         // the answer left the backend's socket
	arrived int64         // the answer reached the driver's
	trip    time.Duration // between the sockets, both ways: (recv − sent) + (arrived − left)
}

func newProber(c net.Conn) (*prober, error) {
	tc := c.(*net.TCPConn)
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, err
	}
	if err := setSockopt(rc, unix.SO_TIMESTAMPNS, 1); err != nil {
		return nil, err
	}
	if err := stampSends(rc); err != nil {
		return nil, err
	}
	return &prober{c: tc, rc: rc, b: make([]byte, accuracySize)}, nil
}

// probe sends a probe and reads its answer into p.b.
func (p *prober) probe() (probeTimes, error) {
	numberProbe(p.b)
	t := probeTimes{start: time.Now()}
	if _, err := p.c.Write(p.b); err != nil {
		return t, err
	}
	var err error
	if t.sent, err = sentAt(p.rc); err != nil {
		return t, err
	}
	if t.arrived, err = readStamped(p.c, p.b); err != nil {
		return t, err
	}
	if t.left, err = whenAnswerLeft(p.b); err != nil {
		return t, err
	}
	if t.left == 0 {
		return t, errors.New("the echo backend had no transmit time for its answer")
	}
	t.recv = int64(binary.LittleEndian.Uint64(p.b[probeRecv:]))
	t.trip = time.Duration((t.recv - t.sent) + (t.arrived - t.left))
	return t, nil
}

// echoTurn reads the echo backend's turn from the stamps in an accuracy probe's answer:
// from the kernel's receive time of the probe to the time the answer left.
func echoTurn(b []byte) time.Duration {
	return time.Duration(int64(binary.LittleEndian.Uint64(b[probeWrote:])) - int64(binary.LittleEndian.Uint64(b[probeRecv:])))
}

// accuracySize is the size of an accuracy probe: the echo backend answers it with the
// kernel's receive time of the probe and the time its answer leaves, 8 bytes each, and
// the probe's number (stamps.go).
const accuracySize = 24

// toxicError is the p99 error of a latency toxic, in ms, measured four ways, and the p99
// of the parts of the round trip the toxic is not on.
type toxicError struct {
	kernel    float64 // of the trip between the sockets, both ways: the proxy's part alone
	proxied   float64 // of the round trip less the echo's turn, from before the driver's write
	atArrival float64 // of the round trip, ending when the answer reached the driver's socket
	seen      float64 // of the round trip, ending when the driver's thread woke to read it
	oneWay    float64 // of the way back alone: from the answer's leaving the echo to its arrival
	there     float64 // the way there: from the probe's leaving the driver to its arrival at the echo
	echo      float64 // the echo's turn: from the probe's arrival to the answer's write
}

// accuracy measures round trips through an echo link with a latency toxic on the way
// back and returns the p99 of |trip − (latency + direct trip)|, the trip being the time
// between the driver's socket and the echo backend's, both ways, by the kernel's times
// at each end (stamps.go). Beside it: the round trip less the echo backend's turn, from
// this driver's clock before its write to the answer's arrival (the figure as it was
// taken before); the whole round trip, which holds the backend's turn (this driver's
// wake-up, on this machine's scheduler); the same as this end saw it, once its thread
// woke to read; the p99 of |way back − latency|, from the answer's leaving the echo to
// its arrival here — the direction the toxic is on, alone; and the p99 of the way there
// and of the backend's turn. The connections start spread over one latency period, so
// requests arrive at the proxy spread out rather than all at once.
//
// With pause, the connections go straight to the echo backend and wait pause before each
// round instead: the same traffic with no proxy and no toxic, whose error is the floor of
// the figure.
func accuracy(addr string, latency time.Duration, direct directTrip, pause bool) (toxicError, error) {
	const conns, rounds = 100, 20
	var mu sync.Mutex
	var kernel, errs, seenErrs, oneWay, there, echo, proxied []time.Duration
	var wg sync.WaitGroup
	var first error
	fail := func(err error) {
		mu.Lock()
		first = err
		mu.Unlock()
	}
	abs := func(d, base time.Duration) time.Duration {
		d -= base
		if !pause {
			d -= latency
		}
		return max(d, -d)
	}
	for i := range conns {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * latency / conns)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			p, err := newProber(c)
			if err != nil {
				fail(err)
				return
			}
			for range rounds {
				if pause {
					time.Sleep(latency)
				}
				t, err := p.probe()
				if err != nil {
					fail(err)
					return
				}
				start := t.start.UnixNano()
				turn := echoTurn(p.b)
				mu.Lock()
				kernel = append(kernel, abs(t.trip, direct.kernel))
				errs = append(errs, abs(time.Duration(t.arrived-start), direct.whole))
				seenErrs = append(seenErrs, abs(time.Since(t.start), direct.whole))
				oneWay = append(oneWay, abs(time.Duration(t.arrived-t.left), 0))
				there = append(there, time.Duration(t.recv-t.sent))
				echo = append(echo, turn)
				proxied = append(proxied, abs(time.Duration(t.arrived-start)-turn, direct.lessEcho))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return toxicError{}, first
	}
	return toxicError{ms(p99(kernel)), ms(p99(proxied)), ms(p99(errs)), ms(p99(seenErrs)), ms(p99(oneWay)), ms(p99(there)), ms(p99(echo))}, nil
}

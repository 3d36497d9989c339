//go:build linux

package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// inject builds fault typ with params set by with, on netns ns for run, and injects it. The
// test's cleanup reverts it.
func inject(t *testing.T, run, typ, ns string, with func(p any)) (shakedown.Revert, *Fault) {
	t.Helper()
	r := shakedown.NewRegistry()
	Register(r)
	ft, ok := r.Fault(typ)
	if !ok {
		t.Fatalf("no fault type %s", typ)
	}
	p := ft.Params()
	with(p)
	spec := &shakedown.FaultSpec{Name: "f", Type: typ, Target: "t", Params: p}
	inst := []shakedown.Instance{{Kind: "netns", ID: ns, Attrs: map[string]string{"netns": ns}}}
	f, err := ft.New(shakedown.Env{RunID: run, Seed: 1}, spec, inst)
	if err != nil {
		t.Fatalf("new %s: %v", typ, err)
	}
	nf := f.(*Fault)
	if err := nf.Prepare(context.Background()); err != nil {
		t.Fatalf("prepare %s: %v", typ, err)
	}
	if len(f.Undo()) == 0 {
		t.Fatalf("%s: no undo", typ)
	}
	rev, err := f.Inject(context.Background())
	if err != nil {
		if rev != nil {
			rev(context.Background())
		}
		t.Fatalf("inject %s: %v", typ, err)
	}
	t.Cleanup(func() { rev(context.Background()) })
	return rev, nf
}

// patient bounds a dial, a round trip or a read that must succeed: long, as only a broken
// network waits it out, and a busy machine may be slow to answer.
const patient = 10 * time.Second

func revertClean(t *testing.T, rev shakedown.Revert, spaces ...string) {
	t.Helper()
	for i := 0; i < 2; i++ { // a second revert must succeed too: reverts are idempotent
		if err := rev(context.Background()); err != nil {
			t.Fatalf("revert (%d): %v", i+1, err)
		}
	}
	for _, ns := range spaces {
		if left := ours(t, ns); len(left) > 0 {
			t.Fatalf("after revert netns %s still has %v", ns, left)
		}
	}
}

func TestPartitionDropsAndHeals(t *testing.T) {
	tp := newTopo(t)
	srv := listenTCP(t, tp.b, tp.ipB)
	udp := listenUDP(t, tp.b, tp.ipB, 0, true)
	uc := dialUDP(t, tp.a, udp.LocalAddr().(*net.UDPAddr))
	before, err := dialTCP(t, tp.a, srv, patient)
	if err != nil {
		t.Fatalf("dial before the fault: %v", err)
	}
	defer before.Close()

	rev, _ := inject(t, "runpart", "network.partition", tp.b, func(p any) {
		p.(*PartitionParams).CIDRs = []string{tp.ipA.String()}
	})
	if c, err := dialTCP(t, tp.a, srv, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("dial during the partition succeeded")
	}
	if _, err := udpRoundTrip(uc, 100*time.Millisecond); err == nil {
		t.Fatal("UDP echo during the partition succeeded")
	}
	if _, err := before.Write([]byte("held")); err != nil {
		t.Fatalf("write on the old connection: %v", err)
	}
	revertClean(t, rev, tp.b)

	// Healed completely: new connections, UDP, and the old connection's held bytes.
	c, err := dialTCP(t, tp.a, srv, patient)
	if err != nil {
		t.Fatalf("dial after revert: %v", err)
	}
	c.Close()
	if _, err := udpRoundTrip(uc, patient); err != nil {
		t.Fatalf("UDP echo after revert: %v", err)
	}
	before.SetReadDeadline(time.Now().Add(patient))
	buf := make([]byte, 4)
	if _, err := before.Read(buf); err != nil || string(buf) != "held" {
		t.Fatalf("old connection after revert: read %q, %v", buf, err)
	}
}

func TestPartitionPortsOnly(t *testing.T) {
	tp := newTopo(t)
	cut := listenTCP(t, tp.b, tp.ipB)
	open := listenTCP(t, tp.b, tp.ipB)
	rev, _ := inject(t, "runports", "network.partition", tp.b, func(p any) {
		p.(*PartitionParams).Ports = []string{itoa(cut.Port)}
	})
	if c, err := dialTCP(t, tp.a, cut, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("dial to the cut port %d succeeded", cut.Port)
	}
	c, err := dialTCP(t, tp.a, open, patient)
	if err != nil {
		t.Fatalf("dial to the open port %d: %v", open.Port, err)
	}
	c.Close()
	revertClean(t, rev, tp.b)
}

// lossRun sends n datagrams from a to b and returns how many arrived. The receiver stops at
// 300ms of silence once the sender is done, not before: a busy machine may hold up the sender
// longer than that between two datagrams.
func lossRun(t testing.TB, tp *topo, n int) int {
	t.Helper()
	sink := listenUDP(t, tp.b, tp.ipB, 0, false)
	c := dialUDP(t, tp.a, sink.LocalAddr().(*net.UDPAddr))
	got := make(chan int)
	sent := make(chan struct{})
	go func() {
		buf := make([]byte, 64)
		count := 0
		for {
			sink.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := sink.Read(buf); err != nil {
				var ne net.Error
				select {
				case <-sent:
				default:
					if errors.As(err, &ne) && ne.Timeout() {
						continue
					}
				}
				got <- count
				return
			}
			count++
		}
	}()
	msg := []byte("x")
	for i := 0; i < n; i++ {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 {
			time.Sleep(time.Millisecond) // pacing the sender so the receiver's buffer never overflows
		}
	}
	close(sent)
	return <-got
}

func TestLossRate(t *testing.T) {
	tp := newTopo(t)
	const n, asked = 10000, 30.0
	if got := lossRun(t, tp, n); got != n {
		t.Fatalf("without the fault %d of %d datagrams arrived", got, n)
	}
	rev, _ := inject(t, "runloss", "network.loss", tp.b, func(p any) {
		lp := p.(*LossParams)
		lp.Percent, lp.Direction = asked, DirIn
	})
	got := lossRun(t, tp, n)
	observed := 100 * float64(n-got) / n
	t.Logf("loss asked %.1f%%, observed %.2f%% over %d datagrams", asked, observed, n)
	// The binomial standard deviation is 0.46 points; 2 points is over 4 of them.
	if observed < asked-2 || observed > asked+2 {
		t.Fatalf("observed loss %.2f%%, want %.0f%%±2", observed, asked)
	}
	revertClean(t, rev, tp.b)
	if got := lossRun(t, tp, 1000); got != 1000 {
		t.Fatalf("after revert %d of 1000 datagrams arrived", got)
	}
}

// rtts measures n UDP echo round trips at the given interval.
func rtts(t testing.TB, c *net.UDPConn, n int, every time.Duration) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	next := time.Now()
	for i := 0; i < n; i++ {
		d, err := udpRoundTrip(c, 2*time.Second)
		if err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
		out = append(out, d)
		next = next.Add(every)
		time.Sleep(time.Until(next)) // pacing the probe, not waiting for readiness
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func TestDelayUserspace(t *testing.T) {
	tp := newTopo(t)
	echo := listenUDP(t, tp.b, tp.ipB, 0, true)
	c := dialUDP(t, tp.a, echo.LocalAddr().(*net.UDPAddr))
	before := rtts(t, c, 50, time.Millisecond)
	base, baseMin := before[25], before[0]
	const delay = 20 * time.Millisecond
	rev, f := inject(t, "rundelay", "network.delay", tp.b, func(p any) {
		dp := p.(*DelayParams)
		dp.Delay = shakedown.Duration(delay)
	})
	if f.Plans()[0].Delay == nil {
		t.Fatalf("plan %v does not use the userspace path", f.Plan())
	}
	got := rtts(t, c, 100, 2*time.Millisecond)
	p50 := got[len(got)/2]
	t.Logf("delay %s: baseline rtt min %s p50 %s, with the fault min %s p50 %s p99 %s", delay, baseMin, base, got[0], p50, got[98])
	// No round trip is delayed less than asked. The added delay is judged on the fastest
	// round trips, before and with the fault: a busy machine slows some of them, seldom all.
	// The median is only held under twice the delay (no build-up of delays).
	if got[0] < delay || got[0]-baseMin > delay+3*time.Millisecond {
		t.Fatalf("fastest round trip %s with the fault (%s without), want %s more (+3ms) and never less", got[0], baseMin, delay)
	}
	if p50-base >= 2*delay {
		t.Fatalf("added delay p50 %s, want about %s", p50-base, delay)
	}
	revertClean(t, rev, tp.b)
	if after := rtts(t, c, 20, time.Millisecond)[0]; after > baseMin+5*time.Millisecond {
		t.Fatalf("after revert fastest rtt %s, baseline %s", after, baseMin)
	}
}

func TestBandwidthLimits(t *testing.T) {
	tp := newTopo(t)
	srv := listenTCP(t, tp.b, tp.ipB)
	measure := func(size int) float64 { // bytes per second of an echo transfer a→b→a
		c, err := dialTCP(t, tp.a, srv, patient)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		go func() { c.Write(make([]byte, size)) }()
		buf := make([]byte, 64<<10)
		for got := 0; got < size; {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("read after %d bytes: %v", got, err)
			}
			got += n
		}
		return float64(size) / time.Since(start).Seconds()
	}
	unlimited := measure(4 << 20)
	rev, _ := inject(t, "runbw", "network.bandwidth", tp.b, func(p any) {
		p.(*BandwidthParams).Rate = "8mbit" // 1 MB/s
	})
	limited := measure(1 << 20)
	t.Logf("echo throughput unlimited %.1f MB/s, limited to 8mbit %.2f MB/s", unlimited/1e6, limited/1e6)
	if limited > 1.15e6 || limited < 0.5e6 {
		t.Fatalf("throughput %.2f MB/s under an 8mbit (1 MB/s) limit", limited/1e6)
	}
	revertClean(t, rev, tp.b)
	if after := measure(4 << 20); after < 5e6 {
		t.Fatalf("after revert throughput %.2f MB/s", after/1e6)
	}
}

func TestResetResets(t *testing.T) {
	tp := newTopo(t)
	srv := listenTCP(t, tp.b, tp.ipB)
	old, err := dialTCP(t, tp.a, srv, patient)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	rev, _ := inject(t, "runreset", "network.reset", tp.b, func(p any) {
		p.(*ResetParams).Ports = []string{itoa(srv.Port)}
	})
	_, err = dialTCP(t, tp.a, srv, patient)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial during the fault: %v, want connection refused (a reset)", err)
	}
	old.Write([]byte("ping"))
	old.SetReadDeadline(time.Now().Add(patient))
	if _, err := old.Read(make([]byte, 4)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("established connection during the fault: %v, want connection reset", err)
	}
	revertClean(t, rev, tp.b)
	c, err := dialTCP(t, tp.a, srv, patient)
	if err != nil {
		t.Fatalf("dial after revert: %v", err)
	}
	c.Close()
}

func TestDNSFail(t *testing.T) {
	for _, mode := range []string{DNSRefuse, DNSDrop} {
		t.Run(mode, func(t *testing.T) {
			tp := newTopo(t)
			dns := listenUDP(t, tp.b, tp.ipB, 53, true)
			c := dialUDP(t, tp.a, dns.LocalAddr().(*net.UDPAddr))
			if _, err := udpRoundTrip(c, patient); err != nil {
				t.Fatalf("query before the fault: %v", err)
			}
			rev, _ := inject(t, "rundns", "dns.fail", tp.a, func(p any) { p.(*DNSParams).Mode = mode })
			_, err := udpRoundTrip(c, 300*time.Millisecond)
			var ne net.Error
			switch {
			case mode == DNSRefuse && !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.EPERM):
				// A reject in the output hook fails the send itself with EPERM.
				t.Fatalf("query during refuse: %v, want it refused at once", err)
			case mode == DNSDrop && !(errors.As(err, &ne) && ne.Timeout()):
				t.Fatalf("query during drop: %v, want a timeout", err)
			}
			revertClean(t, rev, tp.a)
			// A fresh socket, as resolvers use: the old one may hold the refusal's ICMP error.
			c = dialUDP(t, tp.a, dns.LocalAddr().(*net.UDPAddr))
			if _, err := udpRoundTrip(c, patient); err != nil {
				t.Fatalf("query after revert: %v", err)
			}
		})
	}
}

func TestConcurrentRunsCoexist(t *testing.T) {
	tp := newTopo(t)
	s1 := listenTCP(t, tp.b, tp.ipB)
	s2 := listenTCP(t, tp.b, tp.ipB)
	rev1, _ := inject(t, "runone", "network.partition", tp.b, func(p any) { p.(*PartitionParams).Ports = []string{itoa(s1.Port)} })
	rev2, _ := inject(t, "runtwo", "network.partition", tp.b, func(p any) { p.(*PartitionParams).Ports = []string{itoa(s2.Port)} })
	want := []string{"table " + TableName("runone", "f"), "table " + TableName("runtwo", "f")}
	if diff := cmp.Diff(want, sorted(ours(t, tp.b))); diff != "" {
		t.Fatalf("tables with both runs injected (-want +got):\n%s", diff)
	}
	if err := rev1(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1:], ours(t, tp.b)); diff != "" {
		t.Fatalf("after reverting run one (-want +got):\n%s", diff)
	}
	if c, err := dialTCP(t, tp.a, s1, patient); err != nil {
		t.Fatalf("run one's port after its revert: %v", err)
	} else {
		c.Close()
	}
	if c, err := dialTCP(t, tp.a, s2, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("run two's port is open while run two is injected")
	}
	revertClean(t, rev2, tp.b)
}

func TestSweepRemovesLeftovers(t *testing.T) {
	tp := newTopo(t)
	dead, alive := "sweepdead"+tp.id, "sweeplive"+tp.id
	for _, run := range []string{dead, alive} {
		p := PlanBandwidth(tp.b, TableName(run, "bw"), &BandwidthParams{Rate: "100mbit", Latency: shakedown.Duration(50 * time.Millisecond)})
		if run == alive {
			p = PlanLoss(tp.b, TableName(run, "loss"), &LossParams{Percent: 1, Filter: Filter{Direction: DirOut}})
		}
		if _, err := Apply(p, 1); err != nil {
			t.Fatalf("apply %s: %v", run, err)
		}
		t.Cleanup(func() { Remove(p) })
	}
	// Only runs of this test are candidates, so a sweep never touches a concurrent test's tables.
	live := func(run string) bool { return run != dead }
	removed, err := Sweep(context.Background(), live)
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if len(removed) != 1 {
		t.Fatalf("sweep removed %v, want only run %s's table", removed, dead)
	}
	if diff := cmp.Diff([]string{"table " + TableName(alive, "loss")}, ours(t, tp.b)); diff != "" {
		t.Fatalf("after sweep (-want +got):\n%s", diff)
	}
}

func TestMissingNamespaceIsNotFound(t *testing.T) {
	r := shakedown.NewRegistry()
	Register(r)
	k, _ := r.Target("netns")
	_, err := k.Resolve(context.Background(), shakedown.Env{}, &NetnsParams{Name: "shakedown-no-such-ns"})
	if !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Fatalf("resolve a missing namespace: %v, want kind not found", err)
	}
	ft, _ := r.Fault("network.partition")
	f, err := ft.New(shakedown.Env{RunID: "r"}, &shakedown.FaultSpec{Name: "f", Params: ft.Params()},
		[]shakedown.Instance{{Kind: "netns", ID: "shakedown-no-such-ns"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.(*Fault).Prepare(context.Background()); !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Fatalf("prepare on a missing namespace: %v, want kind not found", err)
	}
	if _, err := f.Inject(context.Background()); !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Fatalf("inject on a missing namespace: %v, want kind not found", err)
	}
}

func sorted(s []string) []string { sort.Strings(s); return s }

// TestPartitionContainerNamespace: a container target's network namespace is its init
// process's (/proc/PID/ns/net, as the container family gives it); the fault applies there
// and its revert leaves nothing.
func TestPartitionContainerNamespace(t *testing.T) {
	tp := newTopo(t)
	nsenter := testenv.NeedCommand(t, "nsenter")
	// A process living in b's namespace stands for the container's init process.
	cmd := exec.Command(nsenter, "--net="+filepath.Join(NetnsDir, tp.b), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	path := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	want, err := os.Stat(filepath.Join(NetnsDir, tp.b))
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the process to enter the namespace", patient, func() bool {
		got, err := os.Stat(path)
		return err == nil && os.SameFile(got, want)
	})
	srv := listenTCP(t, tp.b, tp.ipB)

	r := shakedown.NewRegistry()
	Register(r)
	ft, _ := r.Fault("network.partition")
	p := ft.Params().(*PartitionParams)
	p.CIDRs = []string{tp.ipA.String()}
	inst := []shakedown.Instance{{Kind: "container", ID: "c1", Name: "c1",
		Attrs: map[string]string{"netns_path": path, "pid": strconv.Itoa(cmd.Process.Pid)}}}
	f, err := ft.New(shakedown.Env{RunID: "runctr", Seed: 1}, &shakedown.FaultSpec{Name: "f", Type: ft.Name, Params: p}, inst)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.(*Fault).Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	t.Cleanup(func() { rev(context.Background()) })
	if c, err := dialTCP(t, tp.a, srv, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("dial into the container's namespace during the partition succeeded")
	}
	revertClean(t, rev, path)
	c, err := dialTCP(t, tp.a, srv, patient)
	if err != nil {
		t.Fatalf("dial after revert: %v", err)
	}
	c.Close()
}

// TestContainerNamespaceOfAReusedPid: a container target names its init process by pid and
// start time. When that process is gone and its pid names another process (the container
// restarted, and the pid came round again), the fault refuses instead of acting in that
// other process's namespace, and its revert counts the namespace as gone.
func TestContainerNamespaceOfAReusedPid(t *testing.T) {
	tp := newTopo(t)
	nsenter := testenv.NeedCommand(t, "nsenter")
	// The process now holding the pid: it lives in b's namespace.
	cmd := exec.Command(nsenter, "--net="+filepath.Join(NetnsDir, tp.b), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	path := fmt.Sprintf("/proc/%d/ns/net", pid)
	want, err := os.Stat(filepath.Join(NetnsDir, tp.b))
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the process to enter the namespace", patient, func() bool {
		got, err := os.Stat(path)
		return err == nil && os.SameFile(got, want)
	})
	st, err := procfs.ReadStat(procfs.Root, pid)
	if err != nil {
		t.Fatal(err)
	}
	r := shakedown.NewRegistry()
	Register(r)
	ft, _ := r.Fault("network.partition")
	// what the container target resolved: the same pid, an earlier process's start time
	inst := []shakedown.Instance{{Kind: "container", ID: "c1", Name: "c1", Attrs: map[string]string{
		"netns_path": path, "pid": strconv.Itoa(pid), "starttime": strconv.FormatUint(st.StartTime-1, 10)}}}
	f, err := ft.New(shakedown.Env{RunID: "runreuse", Seed: 1}, &shakedown.FaultSpec{Name: "f", Type: ft.Name, Params: ft.Params()}, inst)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.(*Fault).Prepare(context.Background()); !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Errorf("prepare on the namespace of a pid now another's: %v, want KindNotFound", err)
	}
	rev, err := f.Inject(context.Background())
	if rev != nil {
		t.Cleanup(func() { rev(context.Background()) })
	}
	if !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Errorf("inject on the namespace of a pid now another's: %v, want KindNotFound", err)
	}
	if left := ours(t, tp.b); len(left) > 0 {
		t.Errorf("the fault acted in the namespace of the process that took the pid: %v", left)
	}
	for _, u := range f.Undo() {
		fn, _ := r.Undo(u.Type)
		if err := fn(context.Background(), u.Data); err != nil {
			t.Errorf("undo %s: %v, want success (the namespace is gone)", u.Summary, err)
		}
	}
}

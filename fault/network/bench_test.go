//go:build linux

package network

import (
	"encoding/binary"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// BenchmarkPartitionCycle measures, per iteration, the time from starting a partition's
// inject until its rules are live (a probe sent right after is dropped), and from starting
// the revert until a probe gets through again.
func BenchmarkPartitionCycle(b *testing.B) {
	tp := newTopo(b)
	echo := listenUDP(b, tp.b, tp.ipB, 0, true)
	c := dialUDP(b, tp.a, echo.LocalAddr().(*net.UDPAddr))
	p := PlanPartition(tp.b, TableName("benchcycle", "f"), &PartitionParams{Filter{CIDRs: []string{tp.ipA.String()}, Direction: DirIn}})
	var inject, heal, revert []time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if _, err := Apply(p, 1); err != nil {
			b.Fatal(err)
		}
		inject = append(inject, time.Since(t0))
		if _, err := udpRoundTrip(c, 20*time.Millisecond); err == nil {
			b.Fatal("probe got through right after inject")
		}
		// Probes go out every 100µs from before the revert starts; the heal time is when the
		// first echo comes back.
		stop := make(chan struct{})
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Write([]byte("probe"))
				time.Sleep(100 * time.Microsecond) // pacing the probes
			}
		}()
		arrived := make(chan time.Time, 1)
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 64)
		go func() {
			_, err := c.Read(buf)
			if err != nil {
				arrived <- time.Time{}
				return
			}
			arrived <- time.Now()
		}()
		t1 := time.Now()
		if err := Remove(p); err != nil {
			b.Fatal(err)
		}
		revert = append(revert, time.Since(t1))
		at := <-arrived
		if at.IsZero() {
			b.Fatal("no probe came back after revert")
		}
		heal = append(heal, at.Sub(t1))
		close(stop)
		<-sent
		for { // drain the probes' echoes
			c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
	}
	b.StopTimer()
	slices.Sort(inject)
	slices.Sort(heal)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(inject[len(inject)/2]), "inject-p50-ms")
	b.ReportMetric(ms(inject[len(inject)-1]), "inject-max-ms")
	b.ReportMetric(ms(heal[len(heal)/2]), "heal-p50-ms")
	b.ReportMetric(ms(heal[len(heal)-1]), "heal-max-ms")
	slices.Sort(revert)
	b.ReportMetric(ms(revert[len(revert)/2]), "revert-call-p50-ms")
}

// paced sends n datagrams at rate per second from c and returns each one's round trip.
func paced(b *testing.B, c *net.UDPConn, n int, rate float64) []time.Duration {
	rtts := make([]time.Duration, 0, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for len(rtts) < n {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			if k >= 8 {
				sent := int64(binary.LittleEndian.Uint64(buf))
				rtts = append(rtts, time.Duration(time.Now().UnixNano()-sent))
			}
		}
	}()
	every := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	msg := make([]byte, 8)
	for i := 0; i < n; i++ {
		time.Sleep(time.Until(next)) // pacing the sender
		binary.LittleEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		next = next.Add(every)
	}
	<-done
	if len(rtts) != n {
		b.Fatalf("%d of %d echoes came back", len(rtts), n)
	}
	slices.Sort(rtts)
	return rtts
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDelayUserspace sends 1,000 packets/s through a 20 ms userspace delay and reports
// the error of the added delay (observed round trip − baseline round trip − 20 ms) and the
// CPU this process spends on the delay beyond the same traffic without it. One iteration is
// one second of traffic; run with -benchtime=3x or so.
func BenchmarkDelayUserspace(b *testing.B) {
	tp := newTopo(b)
	echo := listenUDP(b, tp.b, tp.ipB, 0, true)
	c := dialUDP(b, tp.a, echo.LocalAddr().(*net.UDPAddr))
	const rate, delay = 1000, 20 * time.Millisecond
	cpu0, wall0 := cpuTime(), time.Now()
	base := paced(b, c, rate, rate)
	baseCPU := float64(cpuTime()-cpu0) / float64(time.Since(wall0))
	p := PlanDelay(tp.b, TableName("benchdelay", "f"), &DelayParams{Delay: shakedown.Duration(delay), Filter: Filter{Direction: DirOut}}, false)
	d, err := Apply(p, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { Remove(p); d.Stop() }()
	var errs []time.Duration
	var cpu float64
	b.ResetTimer()
	for b.Loop() {
		cpu0, wall0 = cpuTime(), time.Now()
		got := paced(b, c, rate, rate)
		cpu += float64(cpuTime()-cpu0) / float64(time.Since(wall0))
		for _, r := range got {
			e := r - base[len(base)/2] - delay
			errs = append(errs, max(e, -e))
		}
	}
	b.StopTimer()
	slices.Sort(errs)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(errs[len(errs)/2]), "err-p50-ms")
	b.ReportMetric(ms(errs[len(errs)*99/100]), "err-p99-ms")
	b.ReportMetric(ms(errs[len(errs)-1]), "err-max-ms")
	b.ReportMetric(100*(cpu/float64(b.N)-baseCPU), "delay-cpu-%")
}

// BenchmarkLoss reports the observed loss of a 30% network.loss over 10,000 datagrams per
// iteration.
func BenchmarkLoss(b *testing.B) {
	tp := newTopo(b)
	p := PlanLoss(tp.b, TableName("benchloss", "f"), &LossParams{Percent: 30, Filter: Filter{Direction: DirIn}})
	if _, err := Apply(p, 1); err != nil {
		b.Fatal(err)
	}
	defer Remove(p)
	const n = 10000
	var lost int
	for b.Loop() {
		lost += n - lossRun(b, tp, n)
	}
	b.ReportMetric(100*float64(lost)/float64(n*b.N), "observed-loss-%")
	b.ReportMetric(30, "asked-loss-%")
}

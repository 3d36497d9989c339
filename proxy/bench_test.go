package proxy

import (
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// benchLink streams b.N × 64 KiB through a proxy to a sink, with the given toxic.
func benchLink(b *testing.B, toxic *Toxic) {
	sink := testenv.Serve(b, func(c net.Conn) { io.Copy(io.Discard, c) })
	p := NewProxy("bench", "127.0.0.1:0", sink, nil)
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if toxic != nil {
		if _, err := p.AddToxic(*toxic); err != nil {
			b.Fatal(err)
		}
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFastPath(b *testing.B) { benchLink(b, nil) }

func BenchmarkToxicPath(b *testing.B) {
	benchLink(b, &Toxic{Type: "latency", Stream: "upstream", Toxicity: 1, Attributes: &Latency{}})
}

// BenchmarkHTTPStage parses keep-alive requests through an http_delay stage that
// matches none of them.
func BenchmarkHTTPStage(b *testing.B) {
	st := (&HTTPDelay{Delay: 1, Percent: 100, Match: Match{PathPrefix: "/never"}}).stage(time.Time{})
	req := []byte("GET /api/items?id=1 HTTP/1.1\r\nHost: shop\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.SetBytes(int64(len(req)))
	var out []event
	for range b.N {
		out = st.push(event{kind: evData, data: req}, out[:0])
	}
}

// BenchmarkFastPathRoundTrip echoes small messages through a proxy without toxics, one
// round trip per op: the per-request cost of keep-alive traffic.
func BenchmarkFastPathRoundTrip(b *testing.B) {
	p := NewProxy("bench", "127.0.0.1:0", testenv.EchoServer(b), nil)
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 128)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLatencyError echoes small messages through a 5 ms latency toxic and reports
// how far past the 5 ms the round trips took (p50 and p99, µs); the goal for the
// daemon is p99 within 1 ms.
func BenchmarkLatencyError(b *testing.B) {
	const latency = 5 * time.Millisecond
	echo := testenv.EchoServer(b)
	p := NewProxy("bench", "127.0.0.1:0", echo, nil)
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if _, err := p.AddToxic(Toxic{Type: "latency", Stream: "downstream", Toxicity: 1, Attributes: &Latency{Latency: latency.Milliseconds()}}); err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 16)
	errs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		errs = append(errs, time.Since(start)-latency)
	}
	b.StopTimer()
	slices.Sort(errs)
	b.ReportMetric(float64(errs[len(errs)/2].Microseconds()), "p50-µs-late")
	b.ReportMetric(float64(errs[len(errs)*99/100].Microseconds()), "p99-µs-late")
}

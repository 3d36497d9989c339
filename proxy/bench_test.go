package proxy

import (
	"io"
	"net"
	"testing"
	"time"
)

// benchLink streams b.N × 64 KiB through a proxy to a sink, with the given toxic.
func benchLink(b *testing.B, toxic *Toxic) {
	sink := sinkServer(b, func(c net.Conn) { io.Copy(io.Discard, c) })
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

package remote_test

import (
	"context"
	"os"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/shakedown-dev/shakedown/remote"
)

// BenchmarkDialRunAll dials every host of the test bed in parallel and runs true on each:
// what a fan-out to the fleet costs before any fault.
func BenchmarkDialRunAll(b *testing.B) {
	tb := needTestbed(b)
	hosts := tb.inv.All()
	for b.Loop() {
		var g errgroup.Group
		for _, h := range hosts {
			h.AgentSocket = "-"
			g.Go(func() error {
				c, err := remote.Dial(context.Background(), h)
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.Run(context.Background(), []string{"true"}, nil)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(hosts)), "hosts")
}

// BenchmarkDialRun is one host's dial and run of true.
func BenchmarkDialRun(b *testing.B) {
	tb := needTestbed(b)
	h := tb.host(b, 0)
	for b.Loop() {
		c, err := remote.Dial(context.Background(), h)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Run(context.Background(), []string{"true"}, nil); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkRun is a run of true on a connection already open.
func BenchmarkRun(b *testing.B) {
	tb := needTestbed(b)
	c := dial(b, tb.host(b, 0))
	for b.Loop() {
		if _, err := c.Run(context.Background(), []string{"true"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStage stages shakedown's own binary (see benchBinary) on one host: cold (removed from the host before each
// iteration) and warm (already there: a hash on each side, no upload).
func BenchmarkStage(b *testing.B) {
	tb := needTestbed(b)
	bin := benchBinary(b)
	fi, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	c := dial(b, tb.host(b, 8))
	ctx := context.Background()
	b.Run("cold", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for b.Loop() {
			b.StopTimer()
			if _, err := c.Run(ctx, []string{"rm", "-rf", "/tmp/shakedown-0"}, nil); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := c.Stage(ctx, bin); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		if _, err := c.Stage(ctx, bin); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(fi.Size())
		for b.Loop() {
			if _, err := c.Stage(ctx, bin); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStageAllWarm checks the staged binary on every host of the test bed at once,
// over connections already open: the staging part of a fan-out's start.
func BenchmarkStageAllWarm(b *testing.B) {
	tb := needTestbed(b)
	bin := benchBinary(b)
	var clients []*remote.Client
	for i := range tb.inv.Hosts {
		clients = append(clients, dial(b, tb.host(b, i)))
	}
	stageAll := func() {
		var g errgroup.Group
		for _, c := range clients {
			g.Go(func() error {
				_, err := c.Stage(context.Background(), bin)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	stageAll()
	for b.Loop() {
		stageAll()
	}
	b.ReportMetric(float64(len(clients)), "hosts")
}

// benchBinary is the file the staging benchmarks stage: SHAKEDOWN_BENCH_BINARY (make build's
// bin/shakedown), else the test binary, of a similar size.
func benchBinary(b *testing.B) string {
	if bin := os.Getenv("SHAKEDOWN_BENCH_BINARY"); bin != "" {
		return bin
	}
	bin, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

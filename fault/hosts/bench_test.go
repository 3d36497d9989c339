package hosts_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/fault/hosts"
	"github.com/shakedown-dev/shakedown/fault/network"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// BenchmarkInjectRevert times a network.partition (of a TEST-NET range, harmless) on the
// test bed's hosts through the remote agent, the binary already staged: from the dial of
// every host to every host saying it injected (inject-ms), then the revert confirmed by
// every host (revert-ms). It needs a shakedown binary to stage (SHAKEDOWN_BENCH_BINARY,
// e.g. from make build).
//
//	SHAKEDOWN_TEST_SSH_TESTBED=… SHAKEDOWN_BENCH_BINARY=$PWD/bin/shakedown \
//	  go test -run X -bench InjectRevert -benchtime 5x ./fault/hosts/
func BenchmarkInjectRevert(b *testing.B) {
	bed := testenv.NeedEnv(b, "SHAKEDOWN_TEST_SSH_TESTBED")
	bin := testenv.NeedEnv(b, "SHAKEDOWN_BENCH_BINARY")
	reg := shakedown.NewRegistry()
	network.Register(reg)
	hosts.Register(reg, hosts.Options{Binary: bin})
	kind, _ := reg.Target(hosts.Kind)
	typ, _ := reg.Fault("network.partition")
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			sel := shakedown.Selection{Mode: shakedown.SelectCount, Count: n}
			var inject, revert time.Duration
			for i := 0; b.Loop(); i++ {
				ctx := context.Background()
				env := shakedown.Env{RunID: fmt.Sprintf("bench%d", time.Now().UnixNano()), Seed: 1, StateDir: b.TempDir()}
				start := time.Now()
				all, err := kind.Resolve(ctx, env, &hosts.Params{Inventory: filepath.Join(bed, "inventory.json")})
				if err != nil {
					b.Fatal(err)
				}
				sel := shakedown.Select(sel, all, 1)
				if len(sel) != n {
					b.Skipf("skipped: the test bed has %d hosts, this benchmark needs %d", len(all), n)
				}
				if err := kind.Connect(ctx, env, sel); err != nil {
					b.Fatal(err)
				}
				params := typ.Params().(*network.PartitionParams)
				params.CIDRs = []string{"192.0.2.0/24"}
				f, err := typ.New(env, &shakedown.FaultSpec{Name: "bench", Type: typ.Name, Target: "bed", Params: params, Duration: time.Minute}, sel)
				if err != nil {
					b.Fatal(err)
				}
				if err := f.(shakedown.Preparer).Prepare(ctx); err != nil {
					b.Fatal(err)
				}
				f.Undo()
				rev, err := f.Inject(ctx)
				if err != nil {
					b.Fatal(err)
				}
				inject += time.Since(start)
				start = time.Now()
				if err := rev(ctx); err != nil {
					b.Fatal(err)
				}
				revert += time.Since(start)
				f.(shakedown.Closer).Close()
				for _, in := range all {
					in.Ref.(*hosts.Conn).Close()
				}
			}
			b.ReportMetric(float64(inject.Milliseconds())/float64(b.N), "inject-ms")
			b.ReportMetric(float64(revert.Milliseconds())/float64(b.N), "revert-ms")
		})
	}
}

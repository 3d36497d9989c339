package container

import (
	"context"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// benchFault injects and reverts a fault on one container b.N times and reports the
// inject and revert latencies separately (inject-ms, revert-ms), each up to the daemon's
// answer. ready says when the container is back as it was before the next round.
func benchFault(b *testing.B, typ string, params any, ready func(*Details) bool) {
	host := testenv.NeedEnv(b, envDocker)
	bd := newBed(b, host)
	reg := registry()
	id := bd.run(CreateSpec{Name: "bench"})
	bd.waitState(id, "running", running)
	ins := bd.resolve(reg, Selector{Name: bd.name("bench")})
	ft, _ := reg.Fault(typ)
	f, err := ft.New(shakedown.Env{}, &shakedown.FaultSpec{Name: "b", Type: typ, Params: params, Duration: time.Minute}, ins)
	if err != nil {
		b.Fatal(err)
	}
	var inj, rev time.Duration
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		revert, err := f.Inject(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := revert(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		inj += t1.Sub(t0)
		rev += t2.Sub(t1)
		b.StopTimer()
		bd.waitState(id, "running", ready)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(inj.Microseconds())/1e3/float64(b.N), "inject-ms")
	b.ReportMetric(float64(rev.Microseconds())/1e3/float64(b.N), "revert-ms")
}

func BenchmarkStopStart(b *testing.B) {
	benchFault(b, "container.stop", &GraceParams{Grace: shakedown.Duration(10 * time.Second)}, running)
}

func BenchmarkPauseUnpause(b *testing.B) {
	benchFault(b, "container.pause", nil, running)
}

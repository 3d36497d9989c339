package hosts

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/remote"
)

// TestFanOutStartsNothingOnceCtxEnded: a host still queued behind the concurrency cap when
// the run is stopped (Ctrl-C) or its deadline passes is not started: no inject request leaves
// for it, and its error says why.
func TestFanOutStartsNothingOnceCtxEnded(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ctx         func() (context.Context, context.CancelFunc)
		endInFirst  bool // the first host started cancels ctx (Ctrl-C while it runs)
		wantStarted int32
		want        shakedown.Kind
	}{
		{"cancelled while the first runs", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, true, 1, shakedown.KindAborted},
		{"deadline passed", func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		}, false, 0, shakedown.KindUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			var started atomic.Int32
			errs := fanOut(ctx, 5, 1, func(ctx context.Context, i int) error {
				started.Add(1)
				if tc.endInFirst {
					cancel()
				}
				return nil
			})
			if got := started.Load(); got != tc.wantStarted {
				t.Errorf("fanOut started %d hosts, want %d: none once its context ended", got, tc.wantStarted)
			}
			n := 0
			for i, err := range errs {
				if err == nil {
					n++
					continue
				}
				if !shakedown.IsKind(err, tc.want) {
					t.Errorf("host %d not started: error %v, want kind %v", i, err, tc.want)
				}
			}
			if int32(n) != tc.wantStarted {
				t.Errorf("%d hosts without an error, want %d (the ones started)", n, tc.wantStarted)
			}
		})
	}
}

// TestInjectTTLCountsFromEachHost: a host's TTL bound starts with its own request, not with
// the fan-out: time spent queued behind the concurrency cap does not use it up.
func TestInjectTTLCountsFromEachHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 10 * time.Second
		f := &remoteFault{limit: 1, req: remote.AgentRequest{TTL: remote.Millis(ttl)}}
		for _, n := range []string{"a", "b", "c"} {
			f.conns = append(f.conns, &Conn{Name: n, Client: &remote.Client{}})
			f.staged = append(f.staged, "/bin/agent")
		}
		f.agents = make([]*remote.Agent, len(f.conns))
		left := make([]time.Duration, len(f.conns))
		var i atomic.Int32
		startAgent = func(ctx context.Context, c *remote.Client, bin string, req remote.AgentRequest) (*remote.Agent, remote.AgentEvent, error) {
			d, ok := ctx.Deadline()
			if !ok {
				t.Error("a host's request has no TTL bound")
			}
			left[i.Add(1)-1] = time.Until(d)
			time.Sleep(ttl * 3 / 4) // a slow host, in the bubble's own time
			return nil, remote.AgentEvent{}, nil
		}
		defer func() { startAgent = remote.StartAgent }()
		if _, err := f.Inject(context.Background()); err != nil {
			t.Fatalf("Inject: %v", err)
		}
		for k, l := range left {
			if l != ttl {
				t.Errorf("request %d started with %s of its TTL left, want all %s", k, l, ttl)
			}
		}
	})
}

package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
	engine "github.com/shakedown-dev/shakedown/proxy"
)

func rtt(t *testing.T, addr string) time.Duration {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("ping"))
	b := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	return time.Since(start)
}

func registry() *shakedown.Registry {
	r := shakedown.NewRegistry()
	Register(r)
	return r
}

func build(t *testing.T, r *shakedown.Registry, typ string, params any, targets []shakedown.Instance) shakedown.Fault {
	t.Helper()
	ft, ok := r.Fault(typ)
	if !ok {
		t.Fatalf("%s not registered", typ)
	}
	if v, ok := params.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			t.Fatalf("validate %s: %v", typ, err)
		}
	}
	f, err := ft.New(shakedown.Env{RunID: "r1"}, &shakedown.FaultSpec{Name: "slow", Type: typ, Target: "cache", Params: params, Duration: time.Minute}, targets)
	if err != nil {
		t.Fatalf("new %s: %v", typ, err)
	}
	return f
}

func TestTargetValidate(t *testing.T) {
	tests := []struct {
		p  Target
		ok bool
	}{
		{Target{Listen: "127.0.0.1:0", Upstream: "127.0.0.1:1"}, true},
		{Target{API: "http://127.0.0.1:8474", Name: "db"}, true},
		{Target{Listen: "127.0.0.1:0"}, false},
		{Target{API: "x"}, false},
		{Target{Listen: "a:1", Upstream: "b:1", API: "c", Name: "d"}, false},
		{Target{}, false},
		{Target{Listen: "127.0.0.1:99999", Upstream: "127.0.0.1:1"}, false},
		{Target{Listen: "garbage", Upstream: "127.0.0.1:1"}, false},
		{Target{Listen: ":0", Upstream: "127.0.0.1:0"}, false},
		{Target{Listen: ":0", Upstream: "cache:6379"}, true},
		{Target{API: "not-a-url", Name: "db"}, false},
		{Target{API: "127.0.0.1:8474", Name: "db"}, true},
		{Target{API: "http://127.0.0.1:99999", Name: "db"}, false},
		{Target{API: "bob:pw@127.0.0.1:8474", Name: "db"}, false},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if (err == nil) != tt.ok || (err != nil && !shakedown.IsKind(err, shakedown.KindInvalid)) {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	r := registry()
	tests := []struct {
		typ    string
		mutate func(any)
		ok     bool
	}{
		{"proxy.latency", func(p any) { p.(*LatencyParams).Latency = shakedown.Duration(time.Second) }, true},
		{"proxy.latency", func(p any) { p.(*LatencyParams).Stream = "sideways" }, false},
		{"proxy.latency", func(p any) { p.(*LatencyParams).Toxicity = 1.5 }, false},
		{"proxy.bandwidth", func(p any) { p.(*BandwidthParams).Rate = -1 }, false},
		{"proxy.slicer", func(p any) { p.(*SlicerParams).AverageSize = 0 }, false},
		{"proxy.slicer", func(p any) { p.(*SlicerParams).AverageSize = 10; p.(*SlicerParams).SizeVariation = 10 }, false},
		{"proxy.limit_data", func(p any) { p.(*LimitDataParams).Bytes = -3 }, false},
		{"http.abort", func(p any) {}, true},
		{"http.abort", func(p any) { p.(*AbortParams).Status = 999 }, false},
		{"http.abort", func(p any) { p.(*AbortParams).Percent = 101 }, false},
		{"http.delay", func(p any) { p.(*DelayParams).Delay = shakedown.Duration(time.Second) }, true},
	}
	for _, tt := range tests {
		ft, _ := r.Fault(tt.typ)
		p := ft.Params()
		tt.mutate(p)
		err := p.(interface{ Validate() error }).Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s %+v: Validate = %v, want ok=%v", tt.typ, p, err, tt.ok)
		}
	}
}

func TestResolveDryRunStartsNothing(t *testing.T) {
	k, _ := registry().Target(Kind)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.Ports(t, 1)[0])
	insts, err := k.Resolve(context.Background(), shakedown.Env{DryRun: true}, &Target{Listen: addr, Upstream: "127.0.0.1:1"})
	if err != nil || len(insts) != 1 || insts[0].Ref != nil {
		t.Fatalf("Resolve dry run: %+v, %v", insts, err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("a dry run started the proxy")
	}
}

func TestInlineLatency(t *testing.T) {
	r := registry()
	k, _ := r.Target(Kind)
	insts, err := k.Resolve(context.Background(), shakedown.Env{RunID: "r1"}, &Target{Listen: "127.0.0.1:0", Upstream: testenv.EchoServer(t)})
	if err != nil {
		t.Fatal(err)
	}
	ref := insts[0].Ref.(interface{ Close() error })
	defer ref.Close()
	addr := insts[0].Attrs["listen"]
	f := build(t, r, "proxy.latency", &LatencyParams{Latency: shakedown.Duration(120 * time.Millisecond), Stream: "downstream", Toxicity: 1}, insts)
	if len(f.Undo()) != 0 {
		t.Errorf("inline fault has undos %+v: nothing can outlive the run", f.Undo())
	}
	if lines := f.(shakedown.Planner).Plan(); len(lines) != 1 || !strings.Contains(lines[0], "latency") {
		t.Errorf("plan %q", lines)
	}
	revert, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := rtt(t, addr); d < 120*time.Millisecond {
		t.Errorf("round trip %v under the fault, want ≥120ms", d)
	}
	if err := revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := revert(context.Background()); err != nil {
		t.Fatalf("second revert: %v (must be idempotent)", err)
	}
	// Reverted, the latency is gone: under it no round trip could be faster than 120ms. The
	// fastest of a few is taken, so that a busy machine slowing some of them does not count.
	fastest := time.Hour
	for range 5 {
		fastest = min(fastest, rtt(t, addr))
	}
	if fastest >= 120*time.Millisecond {
		t.Errorf("fastest of 5 round trips %v after the revert, want under the 120ms latency", fastest)
	}
}

func daemon(t *testing.T) (*engine.Server, string) {
	s := engine.NewServer(nil)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts.URL
}

func TestDaemonFaultLeaseAndUndo(t *testing.T) {
	// Renewed every 150ms (each renewal bounded by that), a lease of 1.5s survives renewals
	// that a busy machine makes late or slow; it is shorter than the time watched below.
	oldTTL, oldRenew := leaseTTL, leaseRenew
	leaseTTL, leaseRenew = 1500*time.Millisecond, 150*time.Millisecond
	defer func() { leaseTTL, leaseRenew = oldTTL, oldRenew }()

	s, api := daemon(t)
	p, err := s.Create("db", "127.0.0.1:0", testenv.EchoServer(t), true)
	if err != nil {
		t.Fatal(err)
	}
	r := registry()
	k, _ := r.Target(Kind)
	insts, err := k.Resolve(context.Background(), shakedown.Env{RunID: "r1"}, &Target{API: api, Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Resolve(context.Background(), shakedown.Env{}, &Target{API: api, Name: "nope"}); !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Errorf("resolve a missing proxy: %v, want not found", err)
	}
	f := build(t, r, "http.abort", &AbortParams{Status: 503, Percent: 100, Toxicity: 1}, insts)
	undos := f.Undo()
	if len(undos) != 1 || undos[0].Type != UndoToxic {
		t.Fatalf("undos %+v", undos)
	}
	revert, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tox, err := p.Toxic("shakedown-r1-slow")
	if err != nil || tox.Lease == "" || tox.TTLMillis != shakedown.TTL(time.Minute).Milliseconds() || tox.Stream != "upstream" {
		t.Fatalf("toxic in the daemon: %+v, %v; want it leased, with a TTL", tox, err)
	}
	// Renewed, it outlives several lease TTLs.
	for end := time.Now().Add(2*leaseTTL + leaseTTL/4); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, err := p.Toxic("shakedown-r1-slow"); err != nil {
			t.Fatal("toxic expired while the fault renewed its lease")
		}
	}
	if err := revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Toxic("shakedown-r1-slow"); err == nil {
		t.Fatal("toxic still there after the revert")
	}
	if n := len(s.Leases()); n != 0 {
		t.Errorf("%d leases left after the revert", n)
	}
	// Replaying the undo when the toxic is gone is success.
	undo, _ := r.Undo(UndoToxic)
	if err := undo(context.Background(), undos[0].Data); err != nil {
		t.Errorf("undo of a toxic already gone: %v", err)
	}
	// Replaying it on a toxic still there removes it.
	p.AddToxic(engine.Toxic{Name: "shakedown-r1-slow", Type: "latency", Toxicity: 1})
	if err := undo(context.Background(), undos[0].Data); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Toxic("shakedown-r1-slow"); err == nil {
		t.Error("undo left the toxic")
	}
	var u ToxicUndo
	json.Unmarshal(undos[0].Data, &u)
	u.API = "http://127.0.0.1:1"
	b, _ := json.Marshal(u)
	if err := undo(context.Background(), b); !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Errorf("undo against no daemon: %v, want unavailable", err)
	}
}

// A fault whose runner stops renewing (killed) is removed by the daemon.
func TestDaemonFaultExpiresWithoutRenewal(t *testing.T) {
	// The TTL leaves a busy machine time to see the proxy down before the lease runs out.
	oldTTL, oldRenew := leaseTTL, leaseRenew
	leaseTTL, leaseRenew = 2*time.Second, time.Hour // never renewed in time
	defer func() { leaseTTL, leaseRenew = oldTTL, oldRenew }()
	s, api := daemon(t)
	// The proxy listens again on its port when the lease runs out: a port below the
	// ephemeral range, which no connection takes meanwhile.
	p, err := s.Create("db", fmt.Sprintf("127.0.0.1:%d", testenv.Ports(t, 1)[0]), testenv.EchoServer(t), true)
	if err != nil {
		t.Fatal(err)
	}
	r := registry()
	k, _ := r.Target(Kind)
	insts, _ := k.Resolve(context.Background(), shakedown.Env{RunID: "r2"}, &Target{API: api, Name: "db"})
	f := build(t, r, "proxy.down", nil, insts)
	revert, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer revert(context.Background())
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Fatal("proxy.down: proxy still accepts")
	}
	deadline := time.Now().Add(leaseTTL + 10*time.Second)
	for {
		if _, err := p.Toxic("shakedown-r1-slow"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("unrenewed toxic not removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := rtt(t, p.Addr()); d > time.Second {
		t.Errorf("proxy back up but slow: %v", d)
	}
}

// TestDaemonSecretsHidden: the password of a daemon's API URL, and a credential an HTTP
// fault matches on, show as xxxxx in the instance, the plan, the undo's summary and errors;
// the undo's data keeps the URL, which its replay needs.
func TestDaemonSecretsHidden(t *testing.T) {
	s, api := daemon(t)
	if _, err := s.Create("db", "127.0.0.1:0", testenv.EchoServer(t), true); err != nil {
		t.Fatal(err)
	}
	api = strings.Replace(api, "http://", "http://ops:Passw0rdInAPI@", 1)
	r := registry()
	k, _ := r.Target(Kind)
	insts, err := k.Resolve(context.Background(), shakedown.Env{RunID: "r1"}, &Target{API: api, Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	_, rerr := k.Resolve(context.Background(), shakedown.Env{}, &Target{API: api, Name: "nope"})
	f := build(t, r, "http.abort", &AbortParams{Status: 503, Percent: 100, Toxicity: 1,
		Match: Match{Headers: map[string]string{"Authorization": "Bearer T0kenToMatch", "X-Canary": "yes"}}}, insts)
	undos := f.Undo()
	shown := []string{insts[0].Name, insts[0].ID, fmt.Sprint(rerr), undos[0].Summary}
	shown = append(shown, f.(shakedown.Planner).Plan()...)
	for _, s := range shown {
		if strings.Contains(s, "Passw0rdInAPI") || strings.Contains(s, "T0kenToMatch") {
			t.Errorf("%q shows a secret", s)
		}
	}
	if !strings.Contains(strings.Join(shown, "\n"), "X-Canary: yes") {
		t.Errorf("the plan %q no longer says which requests match", shown)
	}
	if !strings.Contains(string(undos[0].Data), "Passw0rdInAPI") {
		t.Errorf("undo data %s lost the API's URL", undos[0].Data)
	}
}

// TestDaemonOutOfReachLapses: a daemon whose API stops answering while a fault holds a
// toxic there. The revert cannot remove it, and says it lapses; waiting for that lapse
// (what the engine does, renewals stopped) ends when the daemon has removed it by itself —
// the daemon lives on here, only its API is out of reach.
func TestDaemonOutOfReachLapses(t *testing.T) {
	oldTTL, oldRenew, oldMargin := leaseTTL, leaseRenew, lapseMargin
	leaseTTL, leaseRenew, lapseMargin = 1500*time.Millisecond, 150*time.Millisecond, 100*time.Millisecond
	defer func() { leaseTTL, leaseRenew, lapseMargin = oldTTL, oldRenew, oldMargin }()

	s := engine.NewServer(nil)
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	p, err := s.Create("db", "127.0.0.1:0", testenv.EchoServer(t), true)
	if err != nil {
		t.Fatal(err)
	}
	r := registry()
	k, _ := r.Target(Kind)
	insts, err := k.Resolve(context.Background(), shakedown.Env{RunID: "r3"}, &Target{API: ts.URL, Name: "db"})
	if err != nil {
		t.Fatal(err)
	}
	f := build(t, r, "proxy.latency", &LatencyParams{Latency: shakedown.Duration(100 * time.Millisecond), Stream: "downstream", Toxicity: 1}, insts)
	undos := f.Undo()
	revert, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ts.Close() // the API is gone; the proxy and its toxic stay

	start := time.Now()
	if err := revert(context.Background()); !shakedown.IsLapse(err) || !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Fatalf("revert with the API out of reach: %v; want a lapse of an unreachable daemon", err)
	}
	lapsed, err := shakedown.AwaitLapse(context.Background(), revert)
	if err != nil || lapsed == nil {
		t.Fatalf("AwaitLapse = %v, %v; want it lapsed", lapsed, err)
	}
	if took := time.Since(start); took < leaseTTL {
		t.Errorf("lapsed after %v, before the lease's TTL %v", took, leaseTTL)
	}
	if tox, err := p.Toxic("shakedown-r3-slow"); err == nil {
		t.Fatalf("counted as lapsed while the daemon still holds the toxic %+v", tox)
	}
	// The journal's undo says the same of a daemon out of reach; one written before the
	// lease's TTL was kept does not.
	undo, _ := r.Undo(UndoToxic)
	if err := undo(context.Background(), undos[0].Data); !shakedown.IsLapse(err) {
		t.Errorf("journal's undo with the API out of reach: %v; want a lapse", err)
	}
	var u ToxicUndo
	json.Unmarshal(undos[0].Data, &u)
	u.LeaseTTLMillis = 0
	b, _ := json.Marshal(u)
	if err := undo(context.Background(), b); err == nil || shakedown.IsLapse(err) {
		t.Errorf("undo without the lease's TTL: %v; want a plain failure", err)
	}
}

// TestDaemonLapseHidesNoFailure: a fault on two daemons, one out of reach and one whose API
// refuses the delete. The revert says both, and is no lapse: the refused toxic is still there.
func TestDaemonLapseHidesNoFailure(t *testing.T) {
	r := registry()
	k, _ := r.Target(Kind)
	var insts []shakedown.Instance
	var closeA func()
	var refuse atomic.Bool
	for i, name := range []string{"a", "b"} {
		s := engine.NewServer(nil)
		defer s.Close()
		if _, err := s.Create(name, "127.0.0.1:0", testenv.EchoServer(t), true); err != nil {
			t.Fatal(err)
		}
		h := s.Handler()
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == "DELETE" && refuse.Load() {
				http.Error(w, `{"error": "not allowed"}`, http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, req)
		}))
		defer ts.Close()
		if i == 0 {
			closeA = ts.Close
		}
		got, err := k.Resolve(context.Background(), shakedown.Env{RunID: "r4"}, &Target{API: ts.URL, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, got...)
	}
	f := build(t, r, "proxy.latency", &LatencyParams{Latency: shakedown.Duration(100 * time.Millisecond), Stream: "downstream", Toxicity: 1}, insts)
	revert, err := f.Inject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	closeA()
	refuse.Store(true)
	err = revert(context.Background())
	if err == nil || shakedown.IsLapse(err) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("revert with one daemon out of reach and one refusing: %v; want both failures, no lapse", err)
	}
	refuse.Store(false)
}

// TestDaemonProxyNamesEscaped: a proxy's name goes into the API's paths escaped, so a name
// that holds an escape ("%41") or would not parse ("50%") reaches that proxy and no other.
func TestDaemonProxyNamesEscaped(t *testing.T) {
	s, api := daemon(t)
	decoy, err := s.Create("A", "127.0.0.1:0", testenv.EchoServer(t), true)
	if err != nil {
		t.Fatal(err)
	}
	r := registry()
	k, _ := r.Target(Kind)
	for _, name := range []string{"%41", "50%", "a b"} {
		p, err := s.Create(name, "127.0.0.1:0", testenv.EchoServer(t), true)
		if err != nil {
			t.Fatal(err)
		}
		insts, err := k.Resolve(context.Background(), shakedown.Env{RunID: "r1"}, &Target{API: api, Name: name})
		if err != nil {
			t.Fatalf("resolve %q: %v", name, err)
		}
		f := build(t, r, "http.abort", &AbortParams{Status: 503, Percent: 100, Toxicity: 1}, insts)
		revert, err := f.Inject(context.Background())
		if err != nil {
			t.Fatalf("inject on %q: %v", name, err)
		}
		if _, err := p.Toxic("shakedown-r1-slow"); err != nil {
			t.Errorf("proxy %q has no toxic after the inject: %v", name, err)
		}
		if n := len(decoy.Toxics()); n != 0 {
			t.Errorf("inject on %q put %d toxics on proxy A", name, n)
		}
		if err := revert(context.Background()); err != nil {
			t.Fatalf("revert on %q: %v", name, err)
		}
		if _, err := p.Toxic("shakedown-r1-slow"); err == nil {
			t.Errorf("proxy %q still has its toxic after the revert", name)
		}
	}
}

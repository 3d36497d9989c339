package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/engine"
)

// trace records what happened, in order, across faults, probes and the journal.
type trace struct {
	mu     sync.Mutex
	events []traceEvent
}

type traceEvent struct {
	What string
	At   time.Time
}

func (tr *trace) add(what string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.events = append(tr.events, traceEvent{what, time.Now()})
}

func (tr *trace) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]string, len(tr.events))
	for i, e := range tr.events {
		out[i] = e.What
	}
	return out
}

// at returns when what first happened, and whether it did.
func (tr *trace) at(what string) (time.Time, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, e := range tr.events {
		if e.What == what {
			return e.At, true
		}
	}
	return time.Time{}, false
}

func (tr *trace) has(what string) bool { _, ok := tr.at(what); return ok }

// index returns the position of what in the trace, or -1.
func (tr *trace) index(what string) int {
	for i, w := range tr.list() {
		if w == what {
			return i
		}
	}
	return -1
}

// Parameters of the test's fault, target and probe types.
type (
	namesParams struct{ Names []string }
	pidParams   struct{ PID int }
	fileParams  struct {
		Path string
		Keep bool // the revert succeeds but leaves the file: a system that does not recover
	}
	// fakeParams drive an in-memory fault: it sets Flag while injected.
	fakeParams struct {
		Trace      *trace
		Flag       *atomic.Bool
		Keep       bool          // the revert leaves Flag set
		FailInject bool          // Inject fails, having applied nothing
		FailAsBad  bool          // Inject fails as a bad request would (KindInvalid), having applied nothing
		FailRevert bool          // the revert fails
		Panic      bool          // Inject panics
		After      time.Duration // with Flag2: set Flag2 this long after the inject
		Flag2      *atomic.Bool
		Token      string        // a secret: the record must not show it
		LoseAfter  time.Duration // say, this long after the inject, that the fault lost hold (shakedown.Watcher)
	}
	flagParams struct{ Flag *atomic.Bool } // the probe holds while Flag is false
	pathParams struct{ Path string }       // the probe holds while Path does not exist
	urlParams  struct{ URL string }        // the probe holds while GET URL answers 200
)

type fakeFault struct {
	name string
	p    *fakeParams
	sel  []shakedown.Instance
	lost chan error
}

// Lost implements shakedown.Watcher: with LoseAfter, the fault loses hold that long after
// its inject, as a container someone else unpaused or a host that dropped out does.
func (f *fakeFault) Lost() <-chan error { return f.lost }

func (f *fakeFault) Undo() []shakedown.Undo {
	return []shakedown.Undo{{Type: "test.noop", Data: json.RawMessage(`{}`), Summary: "nothing"}}
}

func (f *fakeFault) Plan() []string { return []string{"set flag of " + f.name} }

func (f *fakeFault) Inject(ctx context.Context) (shakedown.Revert, error) {
	if f.p.Panic {
		panic("fault " + f.name + " panics")
	}
	if f.p.FailInject {
		return nil, shakedown.Errorf(shakedown.KindUnavailable, "cannot reach %s", f.name)
	}
	if f.p.FailAsBad {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: the system refuses the request", f.name)
	}
	if f.p.Trace != nil {
		f.p.Trace.add("inject " + f.name)
	}
	if f.p.Flag != nil {
		f.p.Flag.Store(true)
	}
	if f.p.LoseAfter > 0 {
		time.AfterFunc(f.p.LoseAfter, func() { f.lost <- fmt.Errorf("%s: taken back by someone else", f.name) })
	}
	if f.p.Flag2 != nil {
		time.AfterFunc(f.p.After, func() {
			if f.p.Trace != nil {
				f.p.Trace.add("flag2 " + f.name)
			}
			f.p.Flag2.Store(true)
		})
	}
	return func(ctx context.Context) error {
		if f.p.Trace != nil {
			f.p.Trace.add("revert " + f.name)
		}
		if f.p.FailRevert {
			return errors.New("the system refuses")
		}
		if f.p.Flag != nil && !f.p.Keep {
			f.p.Flag.Store(false)
		}
		return nil
	}, nil
}

type fileFault struct{ p *fileParams }

func (f *fileFault) Undo() []shakedown.Undo {
	data, _ := json.Marshal(f.p.Path)
	return []shakedown.Undo{{Type: "test.rm", Data: data, Summary: "remove " + f.p.Path}}
}

func (f *fileFault) Inject(ctx context.Context) (shakedown.Revert, error) {
	if err := os.WriteFile(f.p.Path, []byte("injected"), 0o644); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if f.p.Keep {
			return nil
		}
		return rm(f.p.Path)
	}, nil
}

// halfFault applies part of itself (a file), then fails.
type halfFault struct{ fileFault }

func (f *halfFault) Inject(ctx context.Context) (shakedown.Revert, error) {
	rev, err := f.fileFault.Inject(ctx)
	if err != nil {
		return nil, err
	}
	return rev, errors.New("second step failed")
}

// panicFault applies part of itself (a file), then panics; its journaled undo removes it.
type panicFault struct{ fileFault }

func (f *panicFault) Inject(ctx context.Context) (shakedown.Revert, error) {
	f.fileFault.Inject(ctx)
	panic("half way through")
}

type pauseFault struct{ pid int }

func (f *pauseFault) Undo() []shakedown.Undo {
	return []shakedown.Undo{{Type: "test.cont", Data: json.RawMessage(fmt.Sprint(f.pid)), Summary: fmt.Sprintf("SIGCONT pid %d", f.pid)}}
}

func (f *pauseFault) Inject(ctx context.Context) (shakedown.Revert, error) {
	if err := syscall.Kill(f.pid, syscall.SIGSTOP); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return syscall.Kill(f.pid, syscall.SIGCONT) }, nil
}

func rm(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// httpProber is a probe holding connections, which the engine must close when the run ends.
type httpProber struct {
	client *http.Client
	probe  proberFunc
}

func (p *httpProber) Probe(ctx context.Context) (string, error) { return p.probe(ctx) }

func (p *httpProber) Close() error {
	p.client.CloseIdleConnections()
	return nil
}

type proberFunc func(ctx context.Context) (string, error)

func (f proberFunc) Probe(ctx context.Context) (string, error) { return f(ctx) }

// registry returns the test's registry of small real types.
func registry() *shakedown.Registry {
	reg := shakedown.NewRegistry()
	reg.AddTarget(shakedown.TargetKind{Name: "names", Resolve: func(ctx context.Context, env shakedown.Env, params any) ([]shakedown.Instance, error) {
		var out []shakedown.Instance
		for _, n := range params.(*namesParams).Names {
			out = append(out, shakedown.Instance{Kind: "names", ID: n, Name: n})
		}
		return out, nil
	}})
	reg.AddTarget(shakedown.TargetKind{Name: "pid", Resolve: func(ctx context.Context, env shakedown.Env, params any) ([]shakedown.Instance, error) {
		pid := params.(*pidParams).PID
		return []shakedown.Instance{{Kind: "pid", ID: fmt.Sprint(pid), Name: fmt.Sprintf("pid %d", pid), Ref: pid}}, nil
	}})
	fake := func(env shakedown.Env, spec *shakedown.FaultSpec, sel []shakedown.Instance) (shakedown.Fault, error) {
		return &fakeFault{name: spec.Name, p: spec.Params.(*fakeParams), sel: sel, lost: make(chan error, 1)}, nil
	}
	reg.AddFault(shakedown.FaultType{Name: "fake", Targets: []string{"names"}, New: fake})
	reg.AddFault(shakedown.FaultType{Name: "fake.oneshot", OneShot: true, New: fake})
	reg.AddFault(shakedown.FaultType{Name: "file", New: func(env shakedown.Env, spec *shakedown.FaultSpec, sel []shakedown.Instance) (shakedown.Fault, error) {
		return &fileFault{spec.Params.(*fileParams)}, nil
	}})
	reg.AddFault(shakedown.FaultType{Name: "file.half", New: func(env shakedown.Env, spec *shakedown.FaultSpec, sel []shakedown.Instance) (shakedown.Fault, error) {
		return &halfFault{fileFault{spec.Params.(*fileParams)}}, nil
	}})
	reg.AddFault(shakedown.FaultType{Name: "file.panic", New: func(env shakedown.Env, spec *shakedown.FaultSpec, sel []shakedown.Instance) (shakedown.Fault, error) {
		return &panicFault{fileFault{spec.Params.(*fileParams)}}, nil
	}})
	reg.AddFault(shakedown.FaultType{Name: "pause", Targets: []string{"pid"}, New: func(env shakedown.Env, spec *shakedown.FaultSpec, sel []shakedown.Instance) (shakedown.Fault, error) {
		return &pauseFault{pid: sel[0].Ref.(int)}, nil
	}})
	reg.AddUndo("test.noop", func(ctx context.Context, data json.RawMessage) error { return nil })
	reg.AddUndo("test.rm", func(ctx context.Context, data json.RawMessage) error {
		var path string
		if err := json.Unmarshal(data, &path); err != nil {
			return err
		}
		return rm(path)
	})
	reg.AddUndo("test.cont", func(ctx context.Context, data json.RawMessage) error {
		var pid int
		if err := json.Unmarshal(data, &pid); err != nil {
			return err
		}
		return syscall.Kill(pid, syscall.SIGCONT)
	})
	reg.AddProbe(shakedown.ProbeType{Name: "flag", New: func(env shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
		flag := params.(*flagParams).Flag
		return proberFunc(func(ctx context.Context) (string, error) {
			if flag.Load() {
				return "", errors.New("flag is set")
			}
			return "flag clear", nil
		}), nil
	}})
	reg.AddProbe(shakedown.ProbeType{Name: "absent", New: func(env shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
		path := params.(*pathParams).Path
		return proberFunc(func(ctx context.Context) (string, error) {
			if _, err := os.Stat(path); err == nil {
				return "", fmt.Errorf("%s exists", path)
			}
			return "absent", nil
		}), nil
	}})
	reg.AddProbe(shakedown.ProbeType{Name: "http", New: func(env shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
		url := params.(*urlParams).URL
		client := &http.Client{Timeout: timeout, Transport: &http.Transport{}}
		return &httpProber{client: client, probe: func(ctx context.Context) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return "", err
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return "", err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return "", fmt.Errorf("status %d", resp.StatusCode)
			}
			return fmt.Sprintf("200 in %s", time.Since(start).Round(time.Millisecond)), nil
		}}, nil
	}})
	return reg
}

// journal is a journal that records Begin and Done in a trace.
type journal struct {
	tr       *trace
	mu       sync.Mutex
	names    map[int]string
	next     int
	closed   bool
	undos    map[string][]shakedown.Undo
	injected map[string]bool // faults whose Inject returned
}

func newJournal(tr *trace) *journal {
	return &journal{tr: tr, names: map[int]string{}, undos: map[string][]shakedown.Undo{}}
}

func (j *journal) open(runID string, exp *shakedown.Experiment) (engine.Journal, error) {
	return j, nil
}

func (j *journal) Begin(fault string, undos []shakedown.Undo, ttl time.Duration) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.next++
	j.names[j.next] = fault
	j.undos[fault] = undos
	j.tr.add("begin " + fault)
	return j.next, nil
}

func (j *journal) Injected(id int) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.injected == nil {
		j.injected = map[string]bool{}
	}
	j.injected[j.names[id]] = true
	return nil
}

func (j *journal) Done(id int, revertErr error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if revertErr != nil {
		j.tr.add("done-failed " + j.names[id])
	} else {
		j.tr.add("done " + j.names[id])
	}
	return nil
}

func (j *journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	j.tr.add("close")
	return nil
}

// load is a load whose values the test sets. It sends nothing.
type load struct {
	mu      sync.Mutex
	value   map[string]float64 // live value of each metric
	n       int                // requests behind each live value
	phase   map[shakedown.Phase]map[string]float64
	phaseN  map[shakedown.Phase]int
	current shakedown.Phase
	ran     atomic.Bool
	// await, when set, is what AwaitPhase does: the phase's requests being answered.
	await func(ctx context.Context, p shakedown.Phase) error
	// byWindow, when set, gives the live values instead of value and n, by the window asked
	// for (0: the phase so far) and the requests it must hold.
	byWindow func(metric string, window time.Duration, least int) (float64, int)
}

func newLoad() *load {
	return &load{value: map[string]float64{}, n: 100, phase: map[shakedown.Phase]map[string]float64{}, phaseN: map[shakedown.Phase]int{}}
}

func (l *load) set(metric string, v float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.value[metric] = v
}

func (l *load) Run(ctx context.Context) error {
	l.ran.Store(true)
	<-ctx.Done()
	return nil
}

func (l *load) SetPhase(p shakedown.Phase) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.current = p
}

func (l *load) Value(metric string, window time.Duration, least int) (float64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byWindow != nil {
		return l.byWindow(metric, window, least)
	}
	return l.value[metric], l.n
}

func (l *load) PhaseValue(p shakedown.Phase, metric string) (float64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m, ok := l.phase[p]; ok {
		return m[metric], l.phaseN[p]
	}
	return 0, 0
}

func (l *load) PhaseSamples(p shakedown.Phase, metric string) []float64 { return nil }

func (l *load) AwaitPhase(ctx context.Context, p shakedown.Phase) error {
	if l.await == nil {
		return nil
	}
	return l.await(ctx, p)
}

func (l *load) Record() shakedown.LoadRecord { return shakedown.LoadRecord{Name: "web"} }

// alert is an alert source that fires while the test says so.
type alert struct{ firing atomic.Bool }

func (a *alert) Firing(ctx context.Context) (bool, error) { return a.firing.Load(), nil }

func mustTol(t *testing.T, s string) *shakedown.Tolerance {
	t.Helper()
	tol, err := shakedown.ParseTolerance(s)
	if err != nil {
		t.Fatal(err)
	}
	return &tol
}

// Run runs e with the test registry and a recording journal.
func Run(tb testing.TB, e *shakedown.Experiment, tr *trace) *shakedown.Record {
	return runWith(tb, e, opts(tr, nil))
}

func runWith(tb testing.TB, e *shakedown.Experiment, o engine.Options) *shakedown.Record {
	return engine.Run(tb.Context(), e, o)
}

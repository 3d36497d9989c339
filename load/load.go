// Package load generates HTTP traffic and measures it: an open-model stream of requests at
// a constant rate (optionally ramped up from zero), or a closed-model stream of N workers
// sending as fast as they can, with latencies kept in HDR histograms per phase of a run,
// a per-second timeline, and a short ring of recent requests for windowed values.
//
// # What is measured
//
// Requests are sent at their scheduled times whatever the responses do: a slow or stalled
// server gets more concurrent requests, not fewer (there is no coordinated omission).
// Latency runs to the end of reading the response body, from the request's scheduled send
// time when it had to wait for one of MaxInFlight requests in flight (so a slow or stalled
// server cannot hide that wait), and from the moment it left otherwise: a send that the
// generator itself made late — a busy machine waking its timer a millisecond after the due
// time — says nothing about the server. Either way a send that leaves more than LateAfter
// behind schedule is counted as late and reported.
//
// A request is an error when it gets no response (transport errors, timeouts: its kind is
// "timeout", "connection refused", "connection reset", "connection closed" or "transport";
// "not sent" for a request still waiting for one of MaxInFlight when the load ended)
// or when its status is 400 or above (kind "status 503", …). 4xx count as errors because a
// load's requests are meant to succeed: a refused request (a rate limit under a fault, a
// wrong URL, missing auth) is not a served one, and a load that only gets 404s must not make
// a steady state look healthy. Latencies of failed requests are counted like any other, so
// timeouts show as latency at the timeout.
//
// Throughput is successful requests per second.
//
// # Why not vegeta's library
//
// vegeta (v12.13.0) times a request from the moment it actually leaves, so a send delayed
// by busy workers hides its wait, and its attacker knows nothing of phases or windows: the
// results would still have to be aggregated here. Measured side by side against the same
// target (bench/load/run.sh), this generator keeps a 2000/s schedule at least as well,
// using less CPU, and sends more requests per second in closed-model max mode.
package load

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// LateAfter is how far behind its schedule a send may leave before it counts as late.
const LateAfter = time.Millisecond

// MaxRate is the highest rate, per second, of an open-model load, as shakedown.ParseRate
// allows: one request a nanosecond. Beyond it requests would share their due times, and a
// backlog could not be counted by them.
const MaxRate = 1e9

// DefaultMaxInFlight bounds concurrent requests when Options.MaxInFlight is 0.
const DefaultMaxInFlight = 10_000

// MaxWorkers is the most workers a closed-model load may have: each is a goroutine with a
// request in flight, and more would take the generator's memory rather than the target's
// capacity.
const MaxWorkers = 10_000

// Options tune a Generator. The zero value works.
type Options struct {
	// Client sends the requests. When nil, the generator makes its own (see client): keep-alives,
	// as many connections per host as MaxInFlight (dialling ones included), no dial
	// longer than the load's timeout, no proxy from the environment, no compression,
	// redirects followed; Run closes its idle connections as it returns. A plain http://
	// URL is sent through a lean HTTP/1.1 client of this package's own that sends as that
	// client would, at a fraction of its CPU (see wire).
	Client *http.Client
	// Now reads the clock; time.Now when nil.
	Now func() time.Time
	// MaxInFlight bounds concurrent requests (DefaultMaxInFlight when 0). When all are
	// busy, the next send waits for one to finish and is late.
	MaxInFlight int
	// Workers, when above zero, makes the load closed-model: that many workers each send a
	// request as soon as their previous one is answered, as fast as the target allows,
	// and the spec's rate and ramp are ignored. At most MaxWorkers.
	Workers int
}

// Generator sends one load's requests and measures them. Its methods are safe for
// concurrent use. Run it once.
type Generator struct {
	spec        *shakedown.LoadSpec
	url         string
	method      string
	req         *http.Request // every send's request but for its context and body; nil when reqErr
	reqErr      error         // why no request can be made: every send fails with it
	timeout     time.Duration
	client      *http.Client
	now         func() time.Time
	maxInFlight int
	workers     int
	wire        *wire // sends instead of client when it is the default one (see wire)
	ownClient   bool  // client is the generator's own: Run closes its idle connections

	rec *recorder
}

// New makes a generator for one load. It checks the spec (an http or https URL; a rate
// above zero unless opts.Workers is set) and does no I/O.
func New(spec *shakedown.LoadSpec, opts Options) (*Generator, error) {
	op := "load" // `shakedown load`'s one load has no name: its errors say "load: …"
	if spec.Name != "" {
		op += " " + spec.Name
	}
	if _, err := endpoint.HTTPURL(spec.URL); err != nil {
		return nil, shakedown.Wrap(shakedown.KindInvalid, op+": url", err)
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Headers)) {
		if err := endpoint.Header(k, spec.Headers[k]); err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, op+": headers", err)
		}
	}
	if opts.Workers <= 0 && !(spec.Rate > 0) {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: rate %v must be above zero", op, spec.Rate)
	}
	if opts.Workers <= 0 && spec.Rate > MaxRate {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: rate %v: at most %v", op, spec.Rate, shakedown.Rate(MaxRate))
	}
	if opts.Workers < 0 || opts.MaxInFlight < 0 || spec.Ramp < 0 || spec.Timeout < 0 {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: negative workers, max in flight, ramp or timeout", op)
	}
	if opts.Workers > MaxWorkers {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: %d workers: at most %d", op, opts.Workers, MaxWorkers)
	}
	g := &Generator{
		spec:        spec,
		url:         spec.URL,
		method:      spec.Method,
		timeout:     spec.Timeout,
		client:      opts.Client,
		now:         opts.Now,
		maxInFlight: opts.MaxInFlight,
		workers:     opts.Workers,
	}
	if g.method == "" {
		g.method = http.MethodGet
	}
	if g.timeout == 0 {
		g.timeout = shakedown.DefaultRequestTimeout
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.maxInFlight == 0 {
		g.maxInFlight = DefaultMaxInFlight
	}
	if g.client == nil {
		g.client, g.ownClient = client(g.maxInFlight, g.timeout), true
	}
	// The URL is parsed and the request built once; each send takes a shallow copy.
	var body io.Reader
	if spec.Body != "" {
		body = strings.NewReader(spec.Body)
	}
	g.req, g.reqErr = http.NewRequest(g.method, g.url, body)
	if g.req != nil && len(spec.Headers) > 0 {
		// The headers are shared read-only: net/http copies a request before it changes
		// them, but for a client's cookie jar, which adds to them in place (see request).
		header := make(http.Header, len(spec.Headers))
		for k, v := range spec.Headers {
			header.Set(k, v)
		}
		g.req.Header = header
		if h := header.Get("Host"); h != "" {
			g.req.Host = h
		}
	}
	if opts.Client == nil && g.req != nil {
		g.wire = newWire(g.req)
	}
	g.rec = newRecorder(g.now)
	return g, nil
}

// client returns the default client for a load of at most maxInFlight requests in flight,
// each taking at most timeout.
//
// net/http goes on dialling for a request that has given up, so that another may use the
// connection: against a target that drops connection attempts (a black hole), each
// request would leave a dial behind for as long as the dialler allows, and at a high rate
// their sockets would run the process out of descriptors — the journal's among them. So
// connections to a host, dialling ones included, are no more than the requests that may be
// in flight, and no dial outlasts a request.
func client(maxInFlight int, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext:         d.DialContext,
		MaxConnsPerHost:     maxInFlight,
		MaxIdleConnsPerHost: maxInFlight,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		TLSHandshakeTimeout: min(timeout, 10*time.Second),
	}}
}

// SetPhase makes p the phase of the requests scheduled from now on. Before Run, it names
// the phase the load starts in (PhaseBaseline when never called).
func (g *Generator) SetPhase(p shakedown.Phase) { g.rec.setPhase(p) }

// job is one request to send.
type job struct {
	sched   time.Time
	fl      *flight
	blocked bool // it waited for a request in flight to finish: its wait counts as latency
}

// Run sends requests on schedule until ctx ends, then waits for the requests in flight
// (each is bounded by the load's timeout and is not cut short by ctx) and returns nil.
func (g *Generator) Run(ctx context.Context) error {
	start := g.now()
	g.rec.begin(start)
	if g.workers > 0 {
		g.runClosed(ctx)
	} else if !g.runLoop(ctx, start) {
		g.runOpen(ctx, start)
	}
	if g.wire != nil {
		g.wire.closeIdle()
	}
	if g.ownClient {
		// Left idle, its connections (redirects followed, https) would stay open at the
		// target until IdleConnTimeout; a caller's client is the caller's to close.
		g.client.CloseIdleConnections()
	}
	return nil
}

// handAhead is how long before a request is due the dispatcher hands it to a worker, which
// then sleeps until the moment itself: one goroutine wake-up between the due time and the
// send instead of two (the dispatcher's and the worker's), which on a busy machine is the
// difference between leaving on time and leaving a millisecond late.
const handAhead = 2 * time.Millisecond

// runOpen sends on the open model's schedule. Requests go to a pool of workers that grows
// up to maxInFlight when none is idle; reusing workers keeps their grown stacks.
func (g *Generator) runOpen(ctx context.Context, start time.Time) {
	jobs := make(chan job)
	var wg sync.WaitGroup
	workers := 0
	sendCtx := context.WithoutCancel(ctx)
	worker := func(j job) {
		defer wg.Done()
		g.hit(sendCtx, j)
		for j := range jobs {
			g.hit(sendCtx, j)
		}
	}
	rate := g.spec.Rate.PerSecond()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	stop := start
	deadline, hasDeadline := ctx.Deadline()
	end := func() time.Time { // when sending stopped: now, but no later than the deadline
		if t := g.now(); !hasDeadline || t.Before(deadline) {
			return t
		}
		return deadline
	}
	// dispatch hands j to an idle worker, or a new one; with all maxInFlight busy it waits
	// for one when wait is true, until the load ends. It reports whether j was handed out.
	dispatch := func(j job, wait bool) bool {
		select {
		case jobs <- j:
			return true
		default:
		}
		if workers < g.maxInFlight {
			workers++
			wg.Add(1)
			go worker(j)
			return true
		}
		if !wait {
			return false
		}
		j.blocked = true
		j.fl.start(j.sched) // its wait is latency
		select {
		case jobs <- j:
			return true
		case <-ctx.Done(): // a request due before the end is not sent after it
			return false
		}
	}
	var i int64
loop:
	for ; ; i++ {
		at := start.Add(offset(rate, g.spec.Ramp, i))
		if hasDeadline && !at.Before(deadline) {
			// Due when the load ends: not sent, whichever of the two timers fires first.
			if wait := deadline.Sub(g.now()); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
				case <-timer.C:
				}
			}
			stop = deadline
			break
		}
		if wait := at.Sub(g.now()) - handAhead; wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				stop = end()
				break loop
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			stop = end()
			break
		}
		fl := g.rec.schedule(at)
		if !dispatch(job{sched: at, fl: fl}, true) {
			stop = end()
			g.rec.add(fl, outcome{sched: at, done: stop, late: true, errKind: "not sent"})
			i++
			break
		}
	}
	// Sends that fell due before the end but were not handed out (the dispatcher was
	// behind) go out now, late; those that find all maxInFlight requests busy count as
	// errors ("not sent") whose latency runs to the end, so that the schedule's count
	// stays whole and a backlog shows.
	for ; ; i++ {
		at := start.Add(offset(rate, g.spec.Ramp, i))
		if !at.Before(stop) {
			break
		}
		fl := g.rec.schedule(at)
		if !dispatch(job{sched: at, fl: fl}, false) {
			g.rec.add(fl, outcome{sched: at, done: stop, late: true, errKind: "not sent"})
			i = g.unsent(start, i+1, stop) - 1
		}
	}
	g.rec.end(stop)
	close(jobs)
	wg.Wait()
	g.rec.finish()
}

// unsent records the requests of the schedule from index i on that were due before stop
// as not sent, in aggregate, and returns the index of the first one due at or after stop.
func (g *Generator) unsent(start time.Time, i int64, stop time.Time) int64 {
	rate := g.spec.Rate.PerSecond()
	end := dueBefore(rate, g.spec.Ramp, i, stop.Sub(start))
	g.rec.unsent(i, end, func(k int64) time.Time { return start.Add(offset(rate, g.spec.Ramp, k)) }, stop)
	return end
}

// runClosed runs the closed model: each worker sends its next request when the last one
// is answered.
func (g *Generator) runClosed(ctx context.Context) {
	var wg sync.WaitGroup
	sendCtx := context.WithoutCancel(ctx)
	for range g.workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				at := g.now()
				g.hit(sendCtx, job{sched: at, fl: g.rec.schedule(at)})
			}
		})
	}
	<-ctx.Done()
	g.rec.end(g.now())
	wg.Wait()
	g.rec.finish()
}

// hit sends one request when it is due and records its outcome. ctx carries the run's
// values but not its end (context.WithoutCancel): a request in flight is bounded by the
// load's timeout alone.
func (g *Generator) hit(ctx context.Context, j job) {
	if early := j.sched.Sub(g.now()); early > 0 {
		time.Sleep(early)
	}
	o := g.leave(j)
	var err error
	rctx := context.Background()
	if g.wire != nil {
		deadline := time.Now().Add(g.timeout)
		var location string
		o.status, location, err = g.wire.do(deadline)
		if err == nil && location != "" {
			var cancel context.CancelFunc
			rctx, cancel = context.WithDeadline(ctx, deadline)
			o.status, err = g.redirect(rctx, location, o.status)
			cancel()
		}
	} else {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, g.timeout)
		o.status, err = g.send(rctx)
		cancel()
	}
	g.land(j, o, err, rctx)
}

// leave is the outcome of j as it leaves, now.
func (g *Generator) leave(j job) outcome {
	sent := g.now()
	o := outcome{sched: j.sched, sent: sent, late: sent.Sub(j.sched) > LateAfter}
	if !j.blocked && sent.After(j.sched) {
		o.from = sent
	}
	if !j.blocked {
		j.fl.start(sent)
	}
	return o
}

// land records the outcome o of j, answered now with o.status or failed with err (under
// rctx, the request's context).
func (g *Generator) land(j job, o outcome, err error, rctx context.Context) {
	o.done = g.now()
	switch {
	case err != nil:
		o.errKind = errorKind(err, rctx)
	case o.status >= 400:
		o.errKind = "status " + strconv.Itoa(o.status)
	}
	g.rec.add(j.fl, o)
}

// send sends one request through the client and reads the answer's body.
func (g *Generator) send(ctx context.Context) (status int, err error) {
	req, err := g.request(ctx)
	if err != nil {
		return 0, err
	}
	return do(g.client, req)
}

// do sends req through c and reads the answer's body to its end. An answer of 101
// Switching Protocols is whole at its headers, as for the lean client: its body is the
// connection itself, another protocol's stream that net/http no longer bounds by the
// request's context, and reading it would hold the load past its end for as long as the
// target keeps the connection open.
func do(c *http.Client, req *http.Request) (status int, err error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, err
}

// redirect follows a redirect the lean client was given, with status, as net/http's
// client would: from the Location resolved against the request's URL; GET without a
// body after 301, 302 and 303 (but for HEAD), the same method and body after 307 and 308;
// the headers kept, but for credentials and cookies on a redirect to another host. The
// client follows any further redirects itself.
func (g *Generator) redirect(ctx context.Context, location string, status int) (int, error) {
	u, err := g.req.URL.Parse(location)
	if err != nil {
		return status, err
	}
	method, body := g.method, g.spec.Body
	if status != http.StatusTemporaryRedirect && status != http.StatusPermanentRedirect && method != http.MethodGet && method != http.MethodHead {
		method, body = http.MethodGet, ""
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return status, err
	}
	req.Header = g.req.Header.Clone()
	if g.req.Host != g.req.URL.Host && !strings.Contains(location, "://") && !strings.HasPrefix(location, "//") {
		req.Host = g.req.Host // a relative redirect keeps the Host asked for
	}
	if u.Host != g.req.URL.Host {
		for _, k := range []string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2"} {
			req.Header.Del(k)
		}
	}
	return do(g.client, req)
}

// request returns the request of one send, with ctx and a body of its own.
func (g *Generator) request(ctx context.Context) (*http.Request, error) {
	if g.reqErr != nil {
		return nil, g.reqErr
	}
	req := g.req.WithContext(ctx)
	if g.client.Jar != nil { // the jar adds its cookies to the headers in place
		req.Header = req.Header.Clone()
	}
	if req.GetBody != nil {
		req.Body, _ = req.GetBody() // a new reader of the same string: it cannot fail
	}
	return req, nil
}

// errorKind names the sort of transport failure err is.
func errorKind(err error, rctx context.Context) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(rctx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return "transport"
}

// Value returns metric (one of shakedown.MetricNames) over the current phase's requests
// completed in the last window (to within 100 ms; windows beyond MaxWindow are clamped) and
// those still in flight (latencies count their age so far, the least they can be; throughput counts them
// as not answered), or over the requests scheduled in the current phase so far when window
// is 0, and n, the number of requests it rests on. A window in which fewer than least
// requests completed reaches back over the phase's latest until it holds least (or the
// phase so far, when the last MaxWindow holds fewer). Latencies are in seconds, errors a
// fraction, throughput successful requests per second. An unknown metric, or no
// requests, gives 0, 0.
func (g *Generator) Value(metric string, window time.Duration, least int) (v float64, n int) {
	return g.rec.value(metric, window, least)
}

// PhaseValue returns metric over the requests scheduled in phase p, and how many there are.
// Throughput is over the time p was current.
func (g *Generator) PhaseValue(p shakedown.Phase, metric string) (v float64, n int) {
	return g.rec.phaseValue(p, metric)
}

// AwaitPhase waits until every request scheduled in phase p so far has completed (each ends
// within the load's timeout), or ctx ends. Ask once p is no longer the current phase, then
// PhaseValue and PhaseSamples of p count every one of its requests.
func (g *Generator) AwaitPhase(ctx context.Context, p shakedown.Phase) error {
	return g.rec.awaitPhase(ctx, p)
}

// PhaseSamples returns the raw samples behind metric in phase p, for significance tests:
// per-request latencies in seconds (a uniform sample of MaxPhaseSamples when there were
// more) for latency metrics; per-second error fractions (seconds without requests left
// out) or per-second throughputs for errors and throughput. Ask after the phase has ended
// and its requests completed, or the last seconds are short of their late answers.
func (g *Generator) PhaseSamples(p shakedown.Phase, metric string) []float64 {
	return g.rec.phaseSamples(p, metric)
}

// Record returns the load's measurements: per phase, and one timeline row per second by
// scheduled send time.
func (g *Generator) Record() shakedown.LoadRecord {
	r := g.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	lr := shakedown.LoadRecord{
		Name:     g.spec.Name,
		URL:      shakedown.RedactURL(g.spec.URL),
		Rate:     g.spec.Rate.PerSecond(),
		PerPhase: map[shakedown.Phase]*shakedown.LoadStats{},
		Timeline: []shakedown.TimelineRow{},
	}
	if r.start.IsZero() {
		return lr
	}
	end := r.nowOrStop()
	for _, p := range r.order {
		s := r.phases[p]
		lr.PerPhase[p] = loadStats(s, s.duration(end))
	}
	lr.Timeline = r.timeline()
	return lr
}

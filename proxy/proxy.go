package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// dialTimeout bounds the connection to upstream made for each client.
const dialTimeout = 10 * time.Second

// Proxy listens on one address and links every client it accepts to one upstream
// address, through the toxics it holds. The zero value is not usable; call NewProxy.
// Whoever starts a proxy must Close it.
//
// A proxy listens exactly when it is enabled, not closed and not held down by a down
// toxic: every change of state goes through syncLocked, which makes the listener follow,
// and a listen that fails leaves the proxy disabled. A proxy that stops listening keeps
// its port bound, refusing connections (on Linux: park), so that nothing else is given the
// port before it listens again. Close is final: a closed proxy never listens again,
// whoever still holds it, and frees its port.
type Proxy struct {
	mu       sync.Mutex
	name     string
	listen   string
	upstream string
	enabled  bool
	closed   bool
	// ln is bound to the listen address: listening, or parked while the proxy is down
	// or disabled. up counts the times the proxy began to listen: a connection
	// accepted in an earlier one is dropped. resume is closed, and made anew, when ln
	// listens again or goes.
	ln        net.Listener
	listening bool
	up        uint64
	resume    chan struct{}
	conns     map[*conn]struct{}
	toxics    []*toxicState // both directions, in the order they were added
	chains    [2]atomic.Pointer[[]*toxicState]
	wg        sync.WaitGroup // the accept loop and every connection
	log       *slog.Logger
	stats     stats
	// expired is told about toxics removed because their TTL ran out.
	expired func(p *Proxy, t Toxic)
}

type stats struct {
	bytes    [2]atomic.Int64
	accepted atomic.Int64
	httpHits atomic.Int64
	refused  atomic.Int64 // upstream dials that failed
}

// Info describes a proxy, in the shape Toxiproxy's API uses.
type Info struct {
	Name     string  `json:"name"`
	Listen   string  `json:"listen"`
	Upstream string  `json:"upstream"`
	Enabled  bool    `json:"enabled"`
	Toxics   []Toxic `json:"toxics"`
}

// NewProxy returns a proxy that is not yet listening. A nil logger discards.
func NewProxy(name, listen, upstream string, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{name: name, listen: listen, upstream: upstream, conns: map[*conn]struct{}{},
		resume: make(chan struct{}), log: log.With("proxy", name)}
	for d := range p.chains {
		p.chains[d].Store(new([]*toxicState))
	}
	return p
}

// Name returns the proxy's name.
func (p *Proxy) Name() string { return p.name }

// Addr returns the address the proxy listens on (the bound one once it has listened).
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.listen
}

// Info returns a description of the proxy and its toxics.
func (p *Proxy) Info() Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Info{Name: p.name, Listen: p.listen, Upstream: p.upstream, Enabled: p.enabled, Toxics: p.toxicsLocked()}
}

// Start enables the proxy: it listens (unless a down toxic holds it down) and accepts
// clients. Starting an enabled proxy does nothing; starting a closed one is an error of
// kind KindNotFound.
func (p *Proxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errProxyNotFound
	}
	p.enabled = true
	return p.syncLocked()
}

// Stop disables the proxy: it stops listening and drops its connections. Its toxics stay.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enabled = false
	p.syncLocked()
}

// Close stops the proxy for good, removes its toxics and waits for its goroutines to end.
// Closing a closed proxy does nothing.
func (p *Proxy) Close() error {
	p.shut()
	p.wg.Wait()
	return nil
}

// shut is the part of Close that changes state: from its return the proxy listens no
// more, carries no connection and will never listen again. Its goroutines may still be
// ending; p.wg.Wait waits for them.
func (p *Proxy) shut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, t := range p.toxics {
		if t.timer != nil {
			t.timer.Stop()
		}
	}
	p.toxics = nil
	p.publishLocked()
	p.syncLocked()
}

// Update changes the addresses and the enabled state as Toxiproxy does: a change of
// address restarts the proxy.
func (p *Proxy) Update(listen, upstream string, enabled bool) error {
	return p.update(proxyPatch{Listen: &listen, Upstream: &upstream, Enabled: &enabled})
}

// proxyPatch is a change to a proxy: the fields given replace the proxy's own.
type proxyPatch struct {
	Listen   *string `json:"listen"`
	Upstream *string `json:"upstream"`
	Enabled  *bool   `json:"enabled"`
}

// update applies u in one critical section, so concurrent updates of different fields do
// not undo each other.
func (p *Proxy) update(u proxyPatch) error {
	// The listen address is resolved before taking the lock: it may ask DNS, and every
	// new connection takes the lock.
	var resolved string
	if u.Listen != nil {
		if err := checkListen(*u.Listen); err != nil {
			return err
		}
		a, err := resolveTCP(*u.Listen)
		if err != nil {
			return shakedown.Wrap(shakedown.KindInvalid, "listen address "+*u.Listen, err)
		}
		resolved = a
	}
	if u.Upstream != nil {
		if err := checkUpstream(*u.Upstream); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errProxyNotFound
	}
	enabled := p.enabled
	if u.Enabled != nil {
		enabled = *u.Enabled
	}
	// As Toxiproxy: another listen address (once resolved) or upstream restarts the proxy.
	moved := u.Listen != nil && *u.Listen != p.listen && resolved != p.listen
	if moved || u.Upstream != nil && *u.Upstream != p.upstream {
		p.enabled = false
		p.syncLocked()
		if moved {
			p.dropListenerLocked() // its port is the old address's
		}
		if u.Listen != nil {
			p.listen = *u.Listen
		}
		if u.Upstream != nil {
			p.upstream = *u.Upstream
		}
	}
	p.enabled = enabled
	return p.syncLocked()
}

// down reports whether a down toxic holds the proxy down.
func (p *Proxy) downLocked() bool {
	for _, t := range p.toxics {
		if t.Type == "down" {
			return true
		}
	}
	return false
}

// syncLocked listens or stops listening as the proxy's state says. It is the only place
// that opens, parks or closes the listener. When it cannot listen, the proxy is disabled:
// a proxy that says it is enabled and not down always listens.
func (p *Proxy) syncLocked() error {
	run := p.enabled && !p.closed && !p.downLocked()
	switch {
	case run && !p.listening:
		if p.ln != nil {
			if err := relisten(p.ln); err == nil {
				p.startedLocked()
				return nil
			}
			p.dropListenerLocked() // taken meanwhile, say: try afresh, to say why
		}
		ln, err := listenTCP(p.listen)
		if err != nil {
			p.enabled = false
			var dns *net.DNSError
			kind := shakedown.KindInternal
			switch {
			case errors.Is(err, syscall.EADDRINUSE):
				kind = shakedown.KindConflict
			case errors.As(err, &dns) && dns.IsNotFound:
				kind = shakedown.KindInvalid // a host that does not exist: the address is wrong
			}
			return shakedown.Wrap(kind, "start proxy "+p.name, err)
		}
		p.ln = ln
		p.listen = ln.Addr().String()
		p.wg.Add(1)
		go p.accept(ln)
		p.startedLocked()
	case !run && p.listening:
		p.listening = false
		if p.closed || park(p.ln) != nil {
			p.dropListenerLocked()
		}
		for c := range p.conns {
			c.close()
		}
		p.log.Info("proxy stopped", "listen", p.listen)
	case p.closed && p.ln != nil:
		p.dropListenerLocked() // parked until now
	}
	return nil
}

// startedLocked records that ln listens now, and wakes its accept loop if it was parked.
func (p *Proxy) startedLocked() {
	p.listening = true
	p.up++
	p.wakeLocked()
	p.log.Info("proxy listening", "listen", p.listen, "upstream", p.upstream)
}

// dropListenerLocked closes the listener, listening or parked, and frees its port.
func (p *Proxy) dropListenerLocked() {
	if p.ln == nil {
		return
	}
	p.ln.Close()
	p.ln = nil
	p.listening = false
	p.wakeLocked()
}

func (p *Proxy) wakeLocked() {
	close(p.resume)
	p.resume = make(chan struct{})
}

// listenTCP listens on addr. Where a listener can be parked, a port of 0 is bound by the
// number the system picked for it, so that parking keeps it (the kernel frees a port it
// chose itself when its socket stops listening).
func listenTCP(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if n, perr := strconv.Atoi(port); !canPark || err != nil || perr != nil || n != 0 {
		return net.Listen("tcp", addr)
	}
	for tries := 1; ; tries++ {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		_, picked, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close()
		ln, err = net.Listen("tcp", net.JoinHostPort(host, picked))
		if err == nil || tries == 3 || !errors.Is(err, syscall.EADDRINUSE) {
			return ln, err // taken between the two: pick again
		}
	}
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		client, err := ln.Accept()
		p.mu.Lock()
		current, listening, up, resume := p.ln == ln, p.listening, p.up, p.resume
		p.mu.Unlock()
		if err == nil && current && listening {
			p.stats.accepted.Add(1)
			p.wg.Add(1)
			go p.handle(client, up)
			continue
		}
		if client != nil {
			client.Close() // accepted as the proxy stopped
		}
		var ne net.Error
		switch {
		case !current || errors.Is(err, net.ErrClosed):
			return
		case !listening:
			<-resume // parked: until it listens again or goes
		case errors.As(err, &ne) && ne.Timeout():
		case errors.Is(err, syscall.EINVAL):
			// Parked and listening again since this Accept began.
		default:
			// Out of descriptors or the like: wait a little rather than spin.
			p.log.Warn("accept", "err", err)
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// handle dials upstream for one client, accepted while the proxy listened for the up-th
// time, and serves the connection.
func (p *Proxy) handle(client net.Conn, up uint64) {
	defer p.wg.Done()
	p.mu.Lock()
	upstream := p.upstream
	p.mu.Unlock()
	conn, err := net.DialTimeout("tcp", upstream, dialTimeout)
	if err != nil {
		p.stats.refused.Add(1)
		p.log.Warn("dial upstream", "upstream", upstream, "err", err)
		client.Close()
		return
	}
	c := newConn(p, client, conn)
	p.mu.Lock()
	if !p.listening || p.up != up { // stopped meanwhile
		p.mu.Unlock()
		c.close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	c.serve()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Connections returns how many connections the proxy carries now.
func (p *Proxy) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// publishLocked hands each direction's chain to the links, and interrupts them so they
// take it up. Both chains are published before any link is told. When the upstream chain
// gains an http toxic, the downstream chain is published anew as well, so that the
// downstream links take up the framing of responses it brings (see pairing).
func (p *Proxy) publishLocked() {
	var changed [2]bool
	gainedHTTP := false
	for d := range p.chains {
		var chain []*toxicState
		for _, t := range p.toxics {
			if t.dir == Direction(d) {
				chain = append(chain, t)
			}
		}
		old := *p.chains[d].Load()
		if slices.Equal(chain, old) && !(d == int(Downstream) && gainedHTTP) {
			continue
		}
		if d == int(Upstream) {
			gainedHTTP = hasHTTP(chain) && !hasHTTP(old)
		}
		p.chains[d].Store(&chain)
		changed[d] = true
	}
	for d := range p.chains {
		if !changed[d] {
			continue
		}
		// Links on the fast path take up a chain with their next bytes, unless it has a
		// toxic that acts without bytes (a timeout): then they are interrupted now.
		interrupt := false
		for _, t := range *p.chains[d].Load() {
			if _, ok := t.Attributes.stage(time.Time{}).(deadliner); ok {
				interrupt = true
			}
		}
		for c := range p.conns {
			c.links[d].changed(interrupt)
		}
	}
}

func (p *Proxy) toxicsLocked() []Toxic {
	out := make([]Toxic, 0, len(p.toxics))
	for _, d := range []Direction{Upstream, Downstream} {
		for _, t := range p.toxics {
			if t.dir == d {
				out = append(out, t.Toxic)
			}
		}
	}
	return out
}

// Toxics returns the proxy's toxics, upstream ones first, as Toxiproxy lists them.
func (p *Proxy) Toxics() []Toxic {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.toxicsLocked()
}

// Toxic returns the toxic called name.
func (p *Proxy) Toxic(name string) (Toxic, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := p.findLocked(name); i >= 0 {
		return p.toxics[i].Toxic, nil
	}
	return Toxic{}, errToxicNotFound
}

func (p *Proxy) findLocked(name string) int {
	for i, t := range p.toxics {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// AddToxic adds a toxic and applies it to every live connection. Missing fields take
// Toxiproxy's defaults; Attributes nil means the type's defaults.
func (p *Proxy) AddToxic(t Toxic) (Toxic, error) {
	if err := t.normalize(); err != nil {
		return Toxic{}, err
	}
	t.Attributes = cloneAttrs(t.Type, t.Attributes)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return Toxic{}, errProxyNotFound
	}
	if p.findLocked(t.Name) >= 0 {
		return Toxic{}, errToxicExists
	}
	dir, _ := ParseDirection(t.Stream)
	ts := &toxicState{Toxic: t, dir: dir, id: toxicIDs.Add(1)}
	p.armLocked(ts)
	p.toxics = append(p.toxics, ts)
	p.publishLocked()
	if err := p.syncLocked(); err != nil {
		return ts.Toxic, err
	}
	return ts.Toxic, nil
}

// armLocked starts the TTL of a toxic.
func (p *Proxy) armLocked(ts *toxicState) {
	ts.ExpiresAt = nil
	if ts.TTLMillis <= 0 {
		return
	}
	at := time.Now().Add(ms(ts.TTLMillis))
	ts.ExpiresAt = &at
	name, id := ts.Name, ts.id
	ts.timer = time.AfterFunc(ms(ts.TTLMillis), func() { p.expire(name, id) })
}

func (p *Proxy) expire(name string, id uint64) {
	p.mu.Lock()
	i := p.findLocked(name)
	if i < 0 || p.toxics[i].id != id {
		p.mu.Unlock()
		return
	}
	t := p.toxics[i].Toxic
	p.removeLocked(i)
	p.mu.Unlock()
	p.log.Info("toxic expired", "toxic", name)
	if p.expired != nil {
		p.expired(p, t)
	}
}

// UpdateToxic changes a toxic's attributes, toxicity or TTL from a JSON body of the form
// {"attributes": {...}, "toxicity": 0.5, "ttl_ms": 1000}; attributes not given keep
// their values.
func (p *Proxy) UpdateToxic(name string, body []byte) (Toxic, error) {
	var in struct {
		Attributes json.RawMessage `json:"attributes"`
		Toxicity   *float32        `json:"toxicity"`
		TTLMillis  *int64          `json:"ttl_ms"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return Toxic{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.findLocked(name)
	if i < 0 {
		return Toxic{}, errToxicNotFound
	}
	old := p.toxics[i]
	t := old.Toxic
	t.Attributes = cloneAttrs(t.Type, t.Attributes)
	if len(in.Attributes) > 0 && string(in.Attributes) != "null" {
		if err := json.Unmarshal(in.Attributes, t.Attributes); err != nil {
			return Toxic{}, badBody(err)
		}
	}
	if in.Toxicity != nil {
		t.Toxicity = *in.Toxicity
	}
	if in.TTLMillis != nil {
		t.TTLMillis = *in.TTLMillis
	}
	if err := t.normalize(); err != nil {
		return Toxic{}, err
	}
	ts := &toxicState{Toxic: t, dir: old.dir, id: toxicIDs.Add(1)}
	if old.timer != nil {
		old.timer.Stop()
	}
	if in.TTLMillis != nil {
		p.armLocked(ts)
	} else if old.ExpiresAt != nil {
		at := *old.ExpiresAt
		ts.ExpiresAt = &at
		name, id := ts.Name, ts.id
		ts.timer = time.AfterFunc(time.Until(at), func() { p.expire(name, id) })
	}
	p.toxics[i] = ts
	p.publishLocked()
	return ts.Toxic, nil
}

// RemoveToxic removes a toxic from the proxy and from every live connection.
func (p *Proxy) RemoveToxic(name string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.findLocked(name)
	if i < 0 {
		return errToxicNotFound
	}
	return p.removeLocked(i)
}

func (p *Proxy) removeLocked(i int) error {
	t := p.toxics[i]
	if t.timer != nil {
		t.timer.Stop()
	}
	p.toxics = slices.Delete(p.toxics, i, i+1)
	p.publishLocked()
	return p.syncLocked()
}

// removeLeased removes the toxics held by lease id and returns their names.
func (p *Proxy) removeLeased(id string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for i := len(p.toxics) - 1; i >= 0; i-- {
		if p.toxics[i].Lease == id {
			names = append(names, p.toxics[i].Name)
			if err := p.removeLocked(i); err != nil {
				p.log.Warn("restart after lease expiry", "err", err)
			}
		}
	}
	return names
}

// ResetToxics removes every toxic.
func (p *Proxy) ResetToxics() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.toxics {
		if t.timer != nil {
			t.timer.Stop()
		}
	}
	p.toxics = nil
	p.publishLocked()
	return p.syncLocked()
}

func (p *Proxy) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("proxy %s (%s → %s)", p.name, p.listen, p.upstream)
}

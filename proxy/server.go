package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shakedown-dev/shakedown"
)

// Bounds of leases.
const (
	DefaultLeaseTTL = 15 * time.Second
	maxLeases       = 10000
)

// Server is a set of named proxies and the leases that hold toxics on them: what the
// daemon's API serves. Whoever makes one must Close it.
//
// Every listener the server's proxies hold belongs to a proxy in its set: a proxy is
// closed (Proxy.shut) in the same critical section of mu that takes it out of the set, and
// a closed proxy never listens again, so a call that still holds it (an update, a reset, a
// toxic or lease that expires) cannot open a listener nobody can see. A proxy joins the
// set already started, in the critical section that checks its name is free. The lock
// order is s.mu, then a proxy's mu.
type Server struct {
	mu      sync.Mutex
	closed  bool
	proxies map[string]*Proxy
	leases  map[string]*lease
	log     *slog.Logger
	metrics *prometheus.Registry
	expired prometheus.Counter
}

// Lease is a dead-man switch: toxics added under it are removed when it is not renewed
// within its TTL.
type Lease struct {
	ID        string    `json:"id"`
	TTLMillis int64     `json:"ttl_ms"`
	ExpiresAt time.Time `json:"expires_at"`
}

type lease struct {
	Lease
	timer *time.Timer
}

// NewServer returns an empty server. A nil logger discards.
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{proxies: map[string]*Proxy{}, leases: map[string]*lease{}, log: log,
		metrics: prometheus.NewRegistry()}
	s.expired = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shakedown_proxy_toxics_expired_total",
		Help: "Toxics removed because their TTL ran out or their lease was not renewed.",
	})
	s.metrics.MustRegister(s.expired, collector{s})
	return s
}

// errServerClosed answers what would add to a closed server.
var errServerClosed = shakedown.Errorf(shakedown.KindUnavailable, "proxy server closed")

// Close stops every proxy and forgets every lease; what would add a proxy or a lease
// afterwards fails. Closing a closed server does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	proxies := s.proxies
	s.proxies = map[string]*Proxy{}
	for _, p := range proxies {
		p.shut()
	}
	for _, l := range s.leases {
		l.timer.Stop()
	}
	s.leases = map[string]*lease{}
	s.mu.Unlock()
	for _, p := range proxies {
		p.wg.Wait()
	}
	return nil
}

// Proxy returns the proxy called name.
func (s *Server) Proxy(name string) (*Proxy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.proxies[name]
	if !ok {
		return nil, errProxyNotFound
	}
	return p, nil
}

// Proxies returns the proxies sorted by name.
func (s *Server) Proxies() []*Proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Proxy, 0, len(s.proxies))
	for _, p := range s.proxies {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (s *Server) newProxy(name, listen, upstream string) *Proxy {
	p := NewProxy(name, listen, upstream, s.log)
	p.expired = func(*Proxy, Toxic) { s.expired.Inc() }
	return p
}

// Create adds a proxy and starts it when enabled. The addresses must be host:port.
func (s *Server) Create(name, listen, upstream string, enabled bool) (*Proxy, error) {
	c := ProxyConfig{Name: name, Listen: listen, Upstream: upstream, Enabled: &enabled}
	if err := c.check(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errServerClosed
	}
	if _, ok := s.proxies[name]; ok {
		return nil, errProxyExists
	}
	return s.addLocked(c)
}

// addLocked makes the proxy of c, starts it when enabled and adds it to the set; the
// name must be free.
func (s *Server) addLocked(c ProxyConfig) (*Proxy, error) {
	p := s.newProxy(c.Name, c.Listen, c.Upstream)
	if *c.Enabled {
		if err := p.Start(); err != nil {
			p.shut()
			return nil, err
		}
	}
	s.proxies[c.Name] = p
	return p, nil
}

// removeLocked closes the named proxy and takes it out of the set. The caller waits for
// its goroutines (p.wg.Wait) once it has let go of s.mu.
func (s *Server) removeLocked(name string) (*Proxy, bool) {
	p, ok := s.proxies[name]
	if ok {
		p.shut()
		delete(s.proxies, name)
	}
	return p, ok
}

// Delete stops and removes a proxy.
func (s *Server) Delete(name string) error {
	s.mu.Lock()
	p, ok := s.removeLocked(name)
	s.mu.Unlock()
	if !ok {
		return errProxyNotFound
	}
	p.wg.Wait()
	return nil
}

// Reset enables every proxy and removes every toxic. A proxy that cannot listen again
// stays disabled, and the others are reset all the same; the error says which failed.
func (s *Server) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, p := range s.proxies {
		if err := p.ResetToxics(); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := p.Start(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ProxyConfig is one proxy of a populate request or a config file.
type ProxyConfig struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  *bool  `json:"enabled"`
}

// routable reports whether a name of a proxy or toxic can be reached at its path in the
// API: not empty, at most 256 bytes, without / ? #, and not a dot segment (the router
// would cut or clean the path, so nothing could change or delete it).
func routable(name string) bool {
	return name != "" && len(name) <= 256 && !strings.ContainsAny(name, "/?#") && name != "." && name != ".."
}

// check reports whether c names a proxy the API can address, with an upstream and
// addresses of the form host:port.
func (c ProxyConfig) check() error {
	if c.Name == "" {
		return missing("name")
	}
	// /proxies/{name} could not reach such a name (the router would cut or clean the
	// path), so nothing could change or delete the proxy.
	if !routable(c.Name) {
		return shakedown.Errorf(shakedown.KindInvalid, "proxy name %q: /proxies/{name} could not reach it; give 1 to 256 bytes without / ? #, not . or ..", c.Name)
	}
	if c.Upstream == "" {
		return missing("upstream")
	}
	if err := checkListen(c.Listen); err != nil {
		return err
	}
	return checkUpstream(c.Upstream)
}

// DecodePopulate decodes and checks a populate request: a JSON array of proxies, and
// nothing after it. Enabled defaults to true.
func DecodePopulate(data []byte) ([]ProxyConfig, error) {
	var in []ProxyConfig
	if err := decodeJSON(data, &in); err != nil {
		return nil, err
	}
	for i := range in {
		if err := in[i].check(); err != nil {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "%v at proxy %d", err, i+1) // Toxiproxy's words
		}
		if in[i].Enabled == nil {
			t := true
			in[i].Enabled = &t
		}
	}
	return in, nil
}

// Populate creates the proxies of cfgs, replacing any of the same name whose addresses
// differ, as Toxiproxy does. It returns the proxies made or kept before an error.
func (s *Server) Populate(cfgs []ProxyConfig) ([]*Proxy, error) {
	out := make([]*Proxy, 0, len(cfgs))
	for _, c := range cfgs {
		p, err := s.populateOne(c)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// populateOne keeps the proxy called c.Name when its addresses are c's, and replaces it
// (or makes it) otherwise.
func (s *Server) populateOne(c ProxyConfig) (*Proxy, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	resolved := c.Listen
	if a, err := resolveTCP(c.Listen); err == nil {
		resolved = a // before taking the lock: it may ask DNS
	}
	s.mu.Lock()
	p, old, err := s.replaceLocked(c, resolved)
	s.mu.Unlock()
	if old != nil {
		old.wg.Wait()
	}
	return p, err
}

// replaceLocked is populateOne's critical section, in one piece: two populates of one
// name cannot both take the old proxy out, nor one take out the other's new proxy. It
// returns the proxy kept or made, and the one it took out, whose goroutines the caller
// waits for.
func (s *Server) replaceLocked(c ProxyConfig, resolved string) (p, old *Proxy, err error) {
	if s.closed {
		return nil, nil, errServerClosed
	}
	if old, ok := s.proxies[c.Name]; ok {
		info := old.Info()
		if info.Upstream == c.Upstream && (info.Listen == c.Listen || info.Listen == resolved) {
			return old, nil, nil
		}
		s.removeLocked(c.Name)
		p, err := s.addLocked(c)
		return p, old, err
	}
	p, err = s.addLocked(c)
	return p, nil, err
}

// NewLease makes a lease that lives ttl unless renewed; ttl 0 means DefaultLeaseTTL.
func (s *Server) NewLease(ttl time.Duration) (Lease, error) {
	if ttl == 0 {
		ttl = DefaultLeaseTTL
	}
	if ttl < 0 || ttl > ms(maxMillis) {
		return Lease{}, shakedown.Errorf(shakedown.KindInvalid, "ttl_ms must lie in [0, %d], got %d", maxMillis, ttl.Milliseconds())
	}
	var b [12]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Lease{}, errServerClosed
	}
	if len(s.leases) >= maxLeases {
		return Lease{}, shakedown.Errorf(shakedown.KindConflict, "too many leases (%d)", maxLeases)
	}
	l := &lease{Lease: Lease{ID: id, TTLMillis: ttl.Milliseconds(), ExpiresAt: time.Now().Add(ttl)}}
	l.timer = time.AfterFunc(ttl, func() { s.expireLease(id, l) })
	s.leases[id] = l
	return l.Lease, nil
}

// Renew extends a lease by its TTL (or by ttl when above zero) from now.
func (s *Server) Renew(id string, ttl time.Duration) (Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[id]
	if !ok {
		return Lease{}, errLeaseNotFound
	}
	if ttl < 0 || ttl > ms(maxMillis) {
		return Lease{}, shakedown.Errorf(shakedown.KindInvalid, "ttl_ms must lie in [0, %d], got %d", maxMillis, ttl.Milliseconds())
	}
	if ttl > 0 {
		l.TTLMillis = ttl.Milliseconds()
	}
	l.ExpiresAt = time.Now().Add(ms(l.TTLMillis))
	l.timer.Reset(ms(l.TTLMillis))
	return l.Lease, nil
}

// Leases returns the live leases.
func (s *Server) Leases() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Lease, 0, len(s.leases))
	for _, l := range s.leases {
		out = append(out, l.Lease)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lease returns the lease called id.
func (s *Server) Lease(id string) (Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[id]
	if !ok {
		return Lease{}, errLeaseNotFound
	}
	return l.Lease, nil
}

// Release ends a lease now and removes the toxics it holds.
func (s *Server) Release(id string) error {
	s.mu.Lock()
	l, ok := s.leases[id]
	if ok {
		l.timer.Stop()
		delete(s.leases, id)
	}
	s.mu.Unlock()
	if !ok {
		return errLeaseNotFound
	}
	s.dropLeased(id)
	return nil
}

func (s *Server) expireLease(id string, l *lease) {
	s.mu.Lock()
	cur, ok := s.leases[id]
	if !ok || cur != l || time.Now().Before(l.ExpiresAt) {
		s.mu.Unlock()
		return // renewed or released meanwhile
	}
	delete(s.leases, id)
	s.mu.Unlock()
	n := s.dropLeased(id)
	s.log.Info("lease expired", "lease", id, "toxics_removed", n)
}

func (s *Server) dropLeased(id string) int {
	n := 0
	for _, p := range s.Proxies() {
		names := p.removeLeased(id)
		n += len(names)
		s.expired.Add(float64(len(names)))
	}
	return n
}

// AddToxic adds a toxic to the named proxy, checking its lease.
func (s *Server) AddToxic(proxy string, t Toxic) (Toxic, error) {
	p, err := s.Proxy(proxy)
	if err != nil {
		return Toxic{}, err
	}
	if t.Lease != "" {
		// Hold the server's lock so the lease cannot expire between check and add.
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.leases[t.Lease]; !ok {
			return Toxic{}, errLeaseNotFound
		}
	}
	return p.AddToxic(t)
}

// Registry returns the Prometheus registry of the server's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics }

// collector reports per-proxy figures, read at scrape time.
type collector struct{ s *Server }

var (
	descBytes    = prometheus.NewDesc("shakedown_proxy_bytes_total", "Bytes moved through a proxy.", []string{"proxy", "direction"}, nil)
	descAccepted = prometheus.NewDesc("shakedown_proxy_connections_total", "Client connections accepted.", []string{"proxy"}, nil)
	descActive   = prometheus.NewDesc("shakedown_proxy_connections", "Connections carried now.", []string{"proxy"}, nil)
	descRefused  = prometheus.NewDesc("shakedown_proxy_upstream_errors_total", "Upstream dials that failed.", []string{"proxy"}, nil)
	descToxics   = prometheus.NewDesc("shakedown_proxy_toxics", "Toxics in place.", []string{"proxy", "type"}, nil)
	descHTTP     = prometheus.NewDesc("shakedown_proxy_http_faults_total", "HTTP requests aborted or delayed.", []string{"proxy"}, nil)
	descLeases   = prometheus.NewDesc("shakedown_proxy_leases", "Live leases.", nil, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBytes, descAccepted, descActive, descRefused, descToxics, descHTTP, descLeases} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.s.Proxies() {
		for _, d := range []Direction{Upstream, Downstream} {
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(p.stats.bytes[d].Load()), p.name, d.String())
		}
		ch <- prometheus.MustNewConstMetric(descAccepted, prometheus.CounterValue, float64(p.stats.accepted.Load()), p.name)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(p.Connections()), p.name)
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(p.stats.refused.Load()), p.name)
		ch <- prometheus.MustNewConstMetric(descHTTP, prometheus.CounterValue, float64(p.stats.httpHits.Load()), p.name)
		types := map[string]int{}
		for _, t := range p.Toxics() {
			types[t.Type]++
		}
		for typ, n := range types {
			ch <- prometheus.MustNewConstMetric(descToxics, prometheus.GaugeValue, float64(n), p.name, typ)
		}
	}
	c.s.mu.Lock()
	n := len(c.s.leases)
	c.s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descLeases, prometheus.GaugeValue, float64(n))
}

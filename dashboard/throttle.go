package dashboard

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Guessing tokens: each client may present MaxWrongTokens wrong tokens (in the login form, a
// bearer header or a cookie) in a burst, then one more each WrongTokenRefill. A client out of
// guesses gets 429 for every token it presents, the right one too, until it has one again:
// its guesses tell it nothing.
const (
	MaxWrongTokens   = 10
	WrongTokenRefill = 6 * time.Second
)

// maxClients is the most clients the throttle remembers; past it, those with every guess
// back are forgotten.
const maxClients = 4096

// throttle counts each client's wrong tokens. Its zero value is ready; time comes from
// time.Now (fake under testing/synctest).
type throttle struct {
	mu      sync.Mutex
	clients map[netip.Prefix]guesses
}

// guesses is how many wrong tokens a client may still present, as of at.
type guesses struct {
	left float64
	at   time.Time
}

// level is g's guesses as of now.
func (g guesses) level(now time.Time) float64 {
	return min(MaxWrongTokens, g.left+float64(now.Sub(g.at))/float64(WrongTokenRefill))
}

// wait says how long client must wait before it may present a token: 0 when it may now.
func (t *throttle) wait(client netip.Prefix) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.clients[client]
	if !ok {
		return 0
	}
	l := g.level(time.Now())
	if l >= 1 {
		return 0
	}
	return time.Duration((1 - l) * float64(WrongTokenRefill))
}

// fail counts a wrong token from client.
func (t *throttle) fail(client netip.Prefix) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.clients == nil {
		t.clients = map[netip.Prefix]guesses{}
	}
	g, ok := t.clients[client]
	if !ok {
		g = guesses{left: MaxWrongTokens, at: now}
		if len(t.clients) >= maxClients {
			t.forget(now)
		}
	}
	t.clients[client] = guesses{left: max(0, g.level(now)-1), at: now}
}

// forget drops the clients that have every guess back.
func (t *throttle) forget(now time.Time) {
	for c, g := range t.clients {
		if g.level(now) >= MaxWrongTokens {
			delete(t.clients, c)
		}
	}
}

// client is who sent r, as the throttle counts: its address, or for IPv6 its /64 (one host
// commonly has all of it).
func client(r *http.Request) netip.Prefix {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

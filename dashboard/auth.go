package dashboard

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// access is what a request may do.
type access int

const (
	accessNone  access = iota
	accessRead         // read pages, the API, badges and metrics
	accessWrite        // read, and stop runs
)

// cookieName is the cookie the login form sets: the token itself, HttpOnly and SameSite=Strict,
// so that no script reads it and no other site's page sends it.
const cookieName = "shakedown_token"

// errWrongToken is the answer to a token that is neither the read nor the write token.
const errWrongToken = "wrong token"

// grant returns what a token r presents allows, in constant time for each comparison; a
// wrong one is counted against r's client (throttle).
func (d *dashboard) grant(r *http.Request, token string) access {
	switch {
	case tokenEqual(token, d.o.WriteToken):
		return accessWrite
	case tokenEqual(token, d.o.ReadToken):
		return accessRead
	}
	d.guesses.fail(client(r))
	return accessNone
}

// presents reports whether r presents a token: a bearer header, the login cookie or the
// login form.
func presents(r *http.Request) bool {
	_, ok := credentials(r)
	return ok || r.Method == http.MethodPost && r.URL.Path == "/login"
}

// openRead reports whether reading needs no token: no token file was given (Serve allows that
// on a loopback address only).
func (d *dashboard) openRead() bool { return d.o.ReadToken == "" && d.o.WriteToken == "" }

// credentials returns the token a request presents, and whether it presents one: the
// Authorization header's bearer token, else the login cookie. A malformed Authorization
// header presents an empty token (wrong).
func credentials(r *http.Request) (token string, presented bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", true
		}
		return strings.TrimSpace(tok), true
	}
	if c, err := r.Cookie(cookieName); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// authorize says what r may do, or why not: a wrong token is refused even where reading is
// open, so that a client learns its token is wrong.
func (d *dashboard) authorize(r *http.Request) (access, bool) {
	tok, presented := credentials(r)
	if !presented {
		if d.openRead() {
			return accessRead, true
		}
		return accessNone, true
	}
	a := d.grant(r, tok)
	return a, a != accessNone
}

// crossOrigin refuses a request that changes something (any method but GET, HEAD and OPTIONS)
// when a browser says it comes from another site's page: Sec-Fetch-Site, else Origin against
// Host (http.CrossOriginProtection). A request with an Authorization header is a program's,
// which a browser never sends on another site's behalf. The login cookie is SameSite=Strict
// already; this refuses a cross-site form post (a login, a logout, a stop) in an older
// browser too. Every state-changing route passes through it (ServeHTTP).
var crossOrigin = http.NewCrossOriginProtection()

func sameOrigin(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || crossOrigin.Check(r) == nil
}

// localHost reports whether a request's Host names this machine: "localhost" (or a name
// under it) or a loopback address, with any port. A dashboard whose reading is open answers
// nothing else, so that a page of another site whose name was made to resolve to 127.0.0.1
// (DNS rebinding) cannot read it.
func localHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && ip.IsLoopback()
}

// localPath is next if it is a path on this dashboard, else "/": the login form goes back only
// to a page of its own.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

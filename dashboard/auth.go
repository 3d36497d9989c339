package dashboard

import (
	"net/http"
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

// grant returns what a presented token allows, in constant time for each comparison.
func (d *dashboard) grant(token string) access {
	switch {
	case tokenEqual(token, d.o.WriteToken):
		return accessWrite
	case tokenEqual(token, d.o.ReadToken):
		return accessRead
	}
	return accessNone
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
	a := d.grant(tok)
	return a, a != accessNone
}

// sameOrigin reports whether a request that changes something comes from a page of this
// dashboard (or from no page at all: a program with a bearer token). The login cookie is
// SameSite=Strict already; this refuses a cross-origin form post in an older browser too.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" && r.Header.Get("Authorization") != "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
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

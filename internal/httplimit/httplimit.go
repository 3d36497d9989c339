// Package httplimit holds the limits every HTTP server shakedown starts is held to — the
// dashboard, the proxy daemon's API, the demo's shop — so that a client cannot make one keep
// a megabyte of header per connection (net/http's default) or hold a connection open by
// sending its header slowly.
package httplimit

import (
	"net/http"
	"time"
)

// MaxHeader is the most a request's header may hold (431 past it; net/http reads up to 4 KiB
// more before it can tell): room for a token, a cookie and a browser's usual headers.
const MaxHeader = 64 << 10

// ReadHeaderTimeout is how long a client has to send a request's header.
const ReadHeaderTimeout = 10 * time.Second

// Server returns a server of h held to MaxHeader and ReadHeaderTimeout. The caller sets the
// rest (body and write timeouts, its error log) and owns the server: it must Shutdown or
// Close it.
func Server(h http.Handler) *http.Server {
	return &http.Server{Handler: h, MaxHeaderBytes: MaxHeader, ReadHeaderTimeout: ReadHeaderTimeout}
}

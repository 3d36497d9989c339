// Package httplimit holds the limits every HTTP server shakedown starts is held to — the
// dashboard, the proxy daemon's API, the demo's shop — so that a client cannot make one keep
// a megabyte of header per connection (net/http's default), hold a connection open by
// sending its header slowly, or keep the server from stopping when it is told to.
package httplimit

import (
	"context"
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

// ShutdownTimeout is how long requests in flight have once a server is told to stop. It is
// shorter than the grace a command has after a signal (cli.Grace, 500 ms), so a server that
// a signal stops ends by itself and its command exits as it should (the proxy daemon 0),
// whatever a client is doing.
const ShutdownTimeout = 300 * time.Millisecond

// Shutdown stops srv: requests in flight get ShutdownTimeout, then every connection is
// closed. It returns once srv no longer serves.
func Shutdown(ctx context.Context, srv *http.Server) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return srv.Close()
	}
	return nil
}

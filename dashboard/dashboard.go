// Package dashboard serves the history store to people and programs: a home page of every
// experiment with its recent verdicts, a page per experiment with the trends of its headline
// figures across commits, a page per run (the HTML report), a badge of each experiment's last
// verdict, a JSON API of the same data, and /metrics for Prometheus. Reading may need a token
// and writing (stopping a live run) always does; tokens come from files (ReadToken).
//
//	request ─► auth (cookie or Bearer token) ─► handler ─► history.Store ─► template | JSON | SVG
//
// The dashboard knows nothing of how a run is stopped, which runs are live or how drills are
// scheduled: whoever serves it passes those in Options. The handler (New) starts no goroutine;
// Serve serves until its context is done and returns once the server has stopped.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
	"github.com/shakedown-dev/shakedown/internal/httplimit"
)

// DefaultListen is the address the dashboard listens on unless told otherwise.
const DefaultListen = "127.0.0.1:8088"

// Options configure a dashboard. Store is required; every other field has a zero value that
// works.
type Options struct {
	// Store is the history the dashboard shows. The caller opens and closes it.
	Store *history.Store
	// ReadToken, when set, is needed to read (pages, API, badge and metrics). When empty,
	// reading is open — only allowed on a loopback address (Serve refuses otherwise).
	ReadToken string
	// WriteToken is needed for write actions (stopping a run); it reads too. When empty,
	// write actions are refused (403).
	WriteToken string
	// Stop reverts everything run id injected, at once; by says who asked. Nil: the dashboard
	// cannot stop runs, and says so (501).
	Stop func(ctx context.Context, id, by string) error
	// Live lists the runs going on now, which are not in the history until they end: the home
	// page lists them, and a live run's page offers to stop it. Nil: none are known.
	Live func(ctx context.Context) ([]LiveRun, error)
	// Schedules lists the drills scheduled and their next times, for the home page and the
	// API. Nil: no schedules.
	Schedules func() []Schedule
	// Title names the dashboard in each page's header (default: the store's name).
	Title string
	// Logger gets a line per failed request and the server's own errors. Nil discards.
	Logger *slog.Logger
}

// Schedule is a scheduled drill as the dashboard shows it.
type Schedule struct {
	Name        string            `json:"name"`
	Experiments string            `json:"experiments"`     // the file or folder the drill runs
	Every       string            `json:"every,omitempty"` // a duration, or
	Cron        string            `json:"cron,omitempty"`  // a cron expression
	Lock        string            `json:"lock,omitempty"`
	Next        time.Time         `json:"next"`              // when it runs next (zero: not scheduled)
	Running     string            `json:"running,omitempty"` // the id of its run in progress
	LastRun     string            `json:"last_run,omitempty"`
	LastVerdict shakedown.Verdict `json:"last_verdict,omitempty"`
}

// LiveRun is a run going on now.
type LiveRun struct {
	ID         string    `json:"id"`
	Experiment string    `json:"experiment,omitempty"`
	Started    time.Time `json:"started,omitzero"`
}

// Serve serves the dashboard on ln until ctx is done, then shuts the server down and returns
// nil; it closes ln. Reading with no ReadToken is refused (KindInvalid) unless ln is a
// loopback address.
func Serve(ctx context.Context, ln net.Listener, o Options) error {
	defer ln.Close()
	if o.ReadToken == "" && o.WriteToken == "" && !Loopback(ln.Addr()) {
		return shakedown.Errorf(shakedown.KindInvalid,
			"listen on %s: not a loopback address, and no token file: give --read-token-file (and --write-token-file), or listen on 127.0.0.1", ln.Addr())
	}
	h, err := New(o)
	if err != nil {
		return err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := httplimit.Server(h)
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 60 * time.Second
	srv.IdleTimeout = 60 * time.Second
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return shakedown.Wrap(shakedown.KindInternal, "serve the dashboard", err)
	case <-ctx.Done():
	}
	// A signal gives the whole command a short grace: requests in flight get most of it, then
	// the connections are closed.
	httplimit.Shutdown(ctx, srv)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return shakedown.Wrap(shakedown.KindInternal, "serve the dashboard", err)
	}
	return nil
}

// ShutdownTimeout is how long requests in flight have to finish once Serve's context is done.
const ShutdownTimeout = httplimit.ShutdownTimeout

// Loopback reports whether addr is a loopback address (127.0.0.0/8, ::1): reachable from this
// machine only.
func Loopback(addr net.Addr) bool {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL is the address a browser opens for a listener's address.
func URL(addr net.Addr) string { return fmt.Sprintf("http://%s/", addr) }

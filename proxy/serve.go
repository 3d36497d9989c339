package proxy

import (
	"context"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/httplimit"
)

// DefaultAPI is the address the daemon's API listens on unless told otherwise.
const DefaultAPI = "127.0.0.1:8474"

// Config configures the daemon. The zero value serves on DefaultAPI.
type Config struct {
	API         string       // host:port of the HTTP API; DefaultAPI when empty
	AllowRemote bool         // needed to serve the API on an address that is not loopback
	Config      string       // a JSON file of proxies (as POST /populate takes) to create at start
	Logger      *slog.Logger // nil discards
	// Ready, when set, is called with the API's bound address once it accepts requests.
	Ready func(addr string)
}

// Serve runs the fault proxy daemon until ctx is done, then stops every proxy. It
// returns an error when it cannot start (bad address, address in use, bad config file).
func Serve(ctx context.Context, cfg Config) error {
	if cfg.API == "" {
		cfg.API = DefaultAPI
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkLoopback(cfg.API, cfg.AllowRemote); err != nil {
		return err
	}
	s := NewServer(log)
	defer s.Close()
	if cfg.Config != "" {
		b, err := os.ReadFile(cfg.Config)
		if err != nil {
			return shakedown.Wrap(shakedown.KindInvalid, "read proxy config", err)
		}
		cfgs, err := DecodePopulate(b)
		if err != nil {
			return shakedown.Wrap(shakedown.KindInvalid, "read proxy config "+cfg.Config, err)
		}
		if _, err := s.Populate(cfgs); err != nil {
			return shakedown.Wrap(shakedown.KindOf(err), "populate from "+cfg.Config, err)
		}
	}
	ln, err := net.Listen("tcp", cfg.API)
	if err != nil {
		return shakedown.Wrap(shakedown.KindConflict, "listen for the proxy API", err)
	}
	srv := httplimit.Server(s.Handler())
	srv.ReadTimeout = 15 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.IdleTimeout = 60 * time.Second
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	log.Info("proxy API listening", "api", ln.Addr().String())
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return shakedown.Wrap(shakedown.KindInternal, "serve the proxy API", err)
	case <-ctx.Done():
	}
	// Within the grace a signal gives the command: a client in the middle of a request (or
	// one net/http lingers over after refusing its header) does not make the daemon's stop
	// an interruption.
	if err := httplimit.Shutdown(ctx, srv); err != nil {
		return shakedown.Wrap(shakedown.KindInternal, "stop the proxy API", err)
	}
	<-errc
	return nil
}

// checkLoopback refuses an API address that is not loopback unless allowRemote.
func checkLoopback(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "proxy API address "+addr, err)
	}
	if allowRemote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return shakedown.Errorf(shakedown.KindInvalid, "proxy API address %s: cannot tell it is loopback; use --allow-remote to serve beyond this machine", addr)
		}
		for _, i := range ips {
			if !i.IsLoopback() {
				return shakedown.Errorf(shakedown.KindInvalid, "proxy API address %s is not loopback: use --allow-remote to serve beyond this machine", addr)
			}
		}
		return nil
	}
	if !ip.IsLoopback() {
		return shakedown.Errorf(shakedown.KindInvalid, "proxy API address %s is not loopback: use --allow-remote to serve beyond this machine", addr)
	}
	return nil
}

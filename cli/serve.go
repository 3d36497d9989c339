package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/dashboard"
	"github.com/shakedown-dev/shakedown/history"
)

// serveFlags are serve's flags.
type serveFlags struct {
	dsn, stateDir                 string
	listen                        string
	readTokenFile, writeTokenFile string
	title                         string
	schedule                      string // drills (drill.go)
}

func (a *app) serveCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the dashboard over the history: pages, a JSON API, badges and /metrics",
		Long: `Serve a dashboard over the history store until SIGINT or SIGTERM: every experiment with
its recent verdicts, the trends of its headline figures across commits, each run's report, a
badge of each experiment's last verdict (/badge/NAME.svg), a JSON API of the same data
(/api/…) and /metrics for Prometheus.

Reading needs a token when a token file is given: --read-token-file for reading,
--write-token-file for reading and for write actions (stopping a live run). The API takes
"Authorization: Bearer TOKEN"; the pages ask for it once (a cookie). With no token file
reading is open, and allowed only on a loopback address: serving beyond this machine
without a token file is refused. Write actions always need the write token.`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{onSignal: signalServes},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.serve(cmd, f)
		},
	}
	historyFlag(cmd, &f.dsn, &f.stateDir)
	cmd.Flags().StringVar(&f.listen, "listen", dashboard.DefaultListen, "the address to serve on (host:port; port 0 picks a free one)")
	cmd.Flags().StringVar(&f.readTokenFile, "read-token-file", "", "a file holding the token that reading needs")
	cmd.Flags().StringVar(&f.writeTokenFile, "write-token-file", "", "a file holding the token that write actions (and reading) need")
	cmd.Flags().StringVar(&f.title, "title", "", "what each page's header calls this dashboard (default: the history store's name)")
	drillFlag(cmd, &f.schedule)
	return cmd
}

// serve checks the tokens and the address, opens the store, and serves until the command's
// context is done.
func (a *app) serve(cmd *cobra.Command, f serveFlags) error {
	ctx := cmd.Context()
	o := dashboard.Options{Title: f.title, Logger: slog.New(slog.NewTextHandler(a.stderr, nil))}
	var err error
	if f.readTokenFile != "" {
		if o.ReadToken, err = dashboard.ReadToken(f.readTokenFile); err != nil {
			return shakedown.Wrap(shakedown.KindInvalid, "--read-token-file", err)
		}
	}
	if f.writeTokenFile != "" {
		if o.WriteToken, err = dashboard.ReadToken(f.writeTokenFile); err != nil {
			return shakedown.Wrap(shakedown.KindInvalid, "--write-token-file", err)
		}
	}
	dsn, err := a.historyDSN(f.dsn, f.stateDir)
	if err != nil {
		return err
	}
	ds, err := a.loadDrills(ctx, f)
	if err != nil {
		return err
	}
	if dsn.Off() {
		return shakedown.Errorf(shakedown.KindInvalid, "--history off: there is no history to serve")
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		kind := shakedown.KindInvalid
		if errors.Is(err, syscall.EADDRINUSE) {
			kind = shakedown.KindConflict
		}
		return shakedown.Wrap(kind, "--listen "+f.listen, err)
	}
	defer ln.Close()
	if o.ReadToken == "" && o.WriteToken == "" && !dashboard.Loopback(ln.Addr()) {
		return shakedown.Errorf(shakedown.KindInvalid,
			"--listen %s is not a loopback address, and no token file is given: anyone who reaches it could read the history; give --read-token-file (and --write-token-file for write actions), or listen on 127.0.0.1", f.listen)
	}
	s, err := openServed(ctx, dsn, ds != nil)
	if err != nil {
		return err
	}
	defer s.Close()
	defer ds.start(ctx, dashboard.URL(ln.Addr()), &o)() // serve returns once the drills have ended
	o.Store = s
	o.Live = func(context.Context) ([]dashboard.LiveRun, error) { return dashboardLiveRuns(f.stateDir) }
	o.Stop = a.dashboardStop(f.stateDir)
	fmt.Fprintf(a.stdout, "serving the dashboard of %s at %s\n", dsn, dashboard.URL(ln.Addr()))
	return dashboard.Serve(ctx, ln, o)
}

// openServed opens the store serve shows. The dashboard only reads it: a store that holds a
// history is opened read-only and left as it is. One that does not exist yet (no file, a
// database with no schema) is created, as a run would create it, so that the dashboard shows
// the runs recorded in it from then on; so is any store serve's drills record in. A file that
// exists and holds no history (an empty file, another program's database) is refused, never
// written.
func openServed(ctx context.Context, dsn history.DSN, drills bool) (*history.Store, error) {
	if drills {
		return history.Open(ctx, dsn)
	}
	exists := true
	if dsn.Driver == history.DriverSQLite {
		_, err := os.Stat(dsn.Path)
		exists = !errors.Is(err, fs.ErrNotExist)
	}
	if !exists {
		return history.Open(ctx, dsn)
	}
	s, err := history.OpenWith(ctx, dsn, history.Options{ReadOnly: true})
	switch {
	case errors.Is(err, history.ErrNoHistory) && dsn.Driver == history.DriverPostgres:
		return history.Open(ctx, dsn)
	case errors.Is(err, history.ErrNoHistory):
		return nil, shakedown.Errorf(shakedown.KindInvalid,
			"--history %s: the file holds no history (empty, or not shakedown's): not served, and left as it is", dsn)
	}
	return s, err
}

// dashboardLiveRuns lists the runs going on now whose journals are in stateDir, as stop finds
// them (liveRuns): those whose journal's lock is held.
func dashboardLiveRuns(stateDir string) ([]dashboard.LiveRun, error) {
	runs, _, err := liveRuns(stateDir)
	if err != nil {
		return nil, err
	}
	var out []dashboard.LiveRun
	for _, r := range runs {
		if r.Live {
			out = append(out, dashboard.LiveRun{ID: r.ID, Experiment: r.Meta.Experiment, Started: r.Meta.Started})
		}
	}
	return out, nil
}

// dashboardStop stops one live run of stateDir for the dashboard, as shakedown stop does.
func (a *app) dashboardStop(stateDir string) func(ctx context.Context, id, by string) error {
	return func(ctx context.Context, id, by string) error {
		_, err := a.stopRuns(ctx, stateDir, []string{id}, by)
		return err
	}
}

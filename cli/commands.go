package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/fault/network"
	"github.com/shakedown-dev/shakedown/fault/stress"
	"github.com/shakedown-dev/shakedown/internal/private"
	"github.com/shakedown-dev/shakedown/internal/userfile"
	"github.com/shakedown-dev/shakedown/journal"
	"github.com/shakedown-dev/shakedown/load"
	"github.com/shakedown-dev/shakedown/proxy"
	"github.com/shakedown-dev/shakedown/spec"
	"github.com/shakedown-dev/shakedown/watchdog"
)

func (a *app) recoverCommand() *cobra.Command {
	var stateDir string
	var sweep bool
	var rh remoteHosts
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Revert everything a dead run left injected",
		Long: `Revert everything that runs which are no longer alive left injected, from their journals
under the state dir. Safe to run at any time and more than once: live runs are left alone
and reverts are idempotent. A damaged journal is reported with its damaged lines, everything
that can still be read of it is reverted, and it is kept; a journal that is not private to
you (another user's, or one others could write) is refused and nothing in it is run. With
--sweep it also removes leftovers named after dead runs (nftables tables, qdiscs, freezer
cgroups, fill files) when no journal survived.
With --host (or --inventory) it does the same on hosts reached over SSH instead: the
journals that runs left in each host's state dir are replayed there, by shakedown's own
binary staged on the host.
Exit 0 when nothing is left injected, 4 when something could not be reverted or read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.WithoutCancel(cmd.Context())
			if len(rh.addrs) > 0 || rh.inventory != "" {
				return a.recoverHosts(ctx, rh)
			}
			done, failed := a.recoverJournals(ctx, stateDir)
			if sweep {
				live := a.runIsLive(stateDir)
				for _, sweep := range []func(context.Context, func(string) bool) ([]string, error){network.Sweep, stress.Sweep} {
					removed, err := sweep(ctx, live)
					for _, s := range removed {
						fmt.Fprintf(a.stdout, "swept  %s\n", s)
					}
					if err != nil {
						failed = true
						fmt.Fprintf(a.stderr, "shakedown: sweep: %v\n", err)
					}
					done += len(removed)
				}
			}
			if done == 0 && !failed {
				fmt.Fprintln(a.stdout, "nothing to recover")
			}
			if failed {
				return exitError{code: shakedown.VerdictNotRestored.ExitCode()}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", shakedown.DefaultStateDir, "the state dir runs kept their journals in")
	cmd.Flags().BoolVar(&sweep, "sweep", false, "also remove leftovers of dead runs found by their names when no journal survived")
	rh.flags(cmd)
	return cmd
}

// recoverJournals replays the journals of the dead runs in stateDir, newest first, and says
// what it did, run by run: each undo reverted or failed, each damaged journal with its lines,
// each refused journal with the reason. It returns how many things it did and whether
// anything may still be injected.
func (a *app) recoverJournals(ctx context.Context, stateDir string) (done int, failed bool) {
	ids, err := journal.RunIDs(stateDir)
	if err != nil {
		fmt.Fprintf(a.stderr, "shakedown: recover: %v\n", err)
		return 0, true
	}
	journal.RemoveStaleTemps(stateDir)
	defer removeStaleStopRequests(stateDir) // of runs whose journals are gone now
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i]
		if live, _ := journal.IsLive(stateDir, id); live {
			done++
			fmt.Fprintf(a.stdout, "live      run %s: its runner, or its watchdog, is at work on it; left alone\n", id)
			continue
		}
		results, err := journal.ReplayRun(ctx, stateDir, id, a.reg, journal.ReplayOptions{})
		for _, r := range results {
			if r.Again && r.Err == nil {
				continue // the second pass over an interrupted inject: said once is enough
			}
			done++
			if r.Err != nil {
				fmt.Fprintf(a.stdout, "FAILED    run %s fault %s: %s: %v\n", r.RunID, r.Fault, r.Undo.Summary, r.Err)
				continue
			}
			if r.Lapsed != nil {
				fmt.Fprintf(a.stdout, "lapsed    run %s fault %s: %s: %v\n", r.RunID, r.Fault, r.Undo.Summary, r.Lapsed)
				continue
			}
			fmt.Fprintf(a.stdout, "reverted  run %s fault %s: %s\n", r.RunID, r.Fault, r.Undo.Summary)
		}
		if err == nil {
			continue
		}
		failed = true
		var ce *journal.CorruptError
		switch {
		case errors.As(err, &ce):
			for _, d := range ce.Damaged {
				fmt.Fprintf(a.stdout, "DAMAGED   run %s journal %s %v\n", id, ce.Path, d)
			}
			fmt.Fprintf(a.stdout, "          what was written in the damaged part cannot be read, so it was not undone; "+
				"every entry that could be read was. Check the system by hand, then remove %s\n", ce.Path)
		case errors.Is(err, private.ErrUnsafe):
			fmt.Fprintf(a.stdout, "REFUSED   run %s: %v\n", id, err)
			fmt.Fprintf(a.stdout, "          nothing in it was run: only a journal private to you is replayed\n")
		}
		if !errors.As(err, &ce) && !errors.Is(err, private.ErrUnsafe) || hasOtherErrors(err) {
			fmt.Fprintf(a.stderr, "shakedown: recover: %v\n", err)
		}
	}
	return done, failed
}

// hasOtherErrors says whether err joins errors besides a damaged or refused journal.
func hasOtherErrors(err error) bool {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return false
	}
	for _, e := range j.Unwrap() {
		var ce *journal.CorruptError
		if !errors.As(e, &ce) && !errors.Is(e, private.ErrUnsafe) {
			return true
		}
	}
	return false
}

// runIsLive tells whether a run is still alive: its journal is locked, or its watchdog or
// runner still runs somewhere on this machine (a run of another state dir).
func (a *app) runIsLive(stateDir string) func(string) bool {
	return func(runID string) bool {
		if live, _ := journal.IsLive(stateDir, runID); live {
			return true
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, f := range procs {
			b, err := os.ReadFile(f)
			if err == nil && strings.Contains(string(b), runID) {
				return true
			}
		}
		return false
	}
}

func (a *app) faultsCommand() *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "faults",
		Short: "List the fault catalog: types, targets, parameters and defaults",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if markdown {
				return writeCatalogMarkdown(a.stdout, a.reg)
			}
			return writeCatalog(a.stdout, a.reg)
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "write the catalog as Markdown (docs/faults.md)")
	return cmd
}

func writeCatalog(w io.Writer, reg *shakedown.Registry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, ft := range reg.Faults() {
		targets := "none"
		if len(ft.Targets) > 0 {
			targets = strings.Join(ft.Targets, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\n", ft.Name, ft.Summary)
		fmt.Fprintf(tw, "  target:\t%s%s\n", targets, oneShot(ft.OneShot))
		if ft.Params != nil {
			for _, p := range spec.Params(ft.Params) {
				fmt.Fprintf(tw, "  %s\t%s%s%s\n", p.Name, p.Type, paramDefault(p), paramDoc(p))
			}
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func oneShot(b bool) string {
	if b {
		return " (one-shot: needs no duration)"
	}
	return ""
}

func paramDefault(p spec.Param) string {
	switch {
	case p.Required:
		return " (required)"
	case p.Default != "":
		return " (default " + p.Default + ")"
	}
	return ""
}

func paramDoc(p spec.Param) string {
	if p.Doc == "" {
		return ""
	}
	return "\t" + p.Doc
}

func writeCatalogMarkdown(w io.Writer, reg *shakedown.Registry) error {
	fmt.Fprintln(w, "# Fault catalog")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Generated by `shakedown faults --markdown` from the registry the binary runs with; `shakedown schema` derives the JSON Schema from the same place.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| type | target | summary |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, ft := range reg.Faults() {
		fmt.Fprintf(w, "| [`%s`](#%s) | %s | %s |\n", ft.Name, anchor(ft.Name), orNone(ft.Targets), ft.Summary)
	}
	for _, ft := range reg.Faults() {
		fmt.Fprintf(w, "\n## %s\n\n%s\n\n", ft.Name, ft.Summary)
		if ft.Doc != "" {
			fmt.Fprintf(w, "%s\n\n", ft.Doc)
		}
		fmt.Fprintf(w, "Target: %s.%s%s\n\n", orNone(ft.Targets), strings.TrimPrefix(oneShot(ft.OneShot), " "), rootNote(ft.Root))
		if ft.Params == nil {
			continue
		}
		if ps := spec.Params(ft.Params); len(ps) > 0 {
			fmt.Fprintln(w, "| parameter | type | default | meaning |")
			fmt.Fprintln(w, "|---|---|---|---|")
			for _, p := range ps {
				def := p.Default
				if p.Required {
					def = "required"
				}
				fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", p.Name, p.Type, def, p.Doc)
			}
		}
	}
	fmt.Fprintln(w, "\n# Targets")
	for _, tk := range reg.Targets() {
		fmt.Fprintf(w, "\n## %s\n\n%s\n\n", tk.Name, tk.Summary)
		if tk.Params != nil {
			for _, p := range spec.Params(tk.Params) {
				fmt.Fprintf(w, "- `%s` (%s): %s\n", p.Name, p.Type, p.Doc)
			}
		}
	}
	fmt.Fprintln(w, "\n# Probes")
	for _, pt := range reg.Probes() {
		fmt.Fprintf(w, "\n## %s\n\n%s\n\n", pt.Name, pt.Summary)
		if pt.Params != nil {
			for _, p := range spec.Params(pt.Params) {
				fmt.Fprintf(w, "- `%s` (%s)%s: %s\n", p.Name, p.Type, paramDefault(p), p.Doc)
			}
		}
	}
	return nil
}

func rootNote(root bool) string {
	if root {
		return " Needs root."
	}
	return ""
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}

func anchor(s string) string { return strings.ReplaceAll(s, ".", "") }

func (a *app) schemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the experiment file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := spec.Schema(a.reg)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, string(b))
			return err
		},
	}
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print shakedown's version (as --version does)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprintf(a.stdout, "shakedown version %s\n", shakedown.Version)
			return err
		},
	}
}

// maxProxyConfig is the largest proxy --config file: thousands of proxies.
const maxProxyConfig = 4 << 20

func (a *app) proxyCommand() *cobra.Command {
	var cfg proxy.Config
	var nice int
	cmd := &cobra.Command{
		Use:         "proxy",
		Short:       "Run the fault proxy daemon (Toxiproxy-compatible HTTP API)",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{onSignal: signalServes},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Logger = slog.New(slog.NewTextHandler(a.stderr, nil))
			if cfg.Config != "" {
				// The daemon reads it whole: a FIFO would hold it up, /dev/zero fill it.
				if err := userfile.Check(cfg.Config, maxProxyConfig); err != nil {
					return shakedown.Wrap(shakedown.KindInvalid, "--config", err)
				}
			}
			if cmd.Flags().Changed("nice") {
				if nice < -20 || nice > 19 {
					return shakedown.Errorf(shakedown.KindInvalid, "--nice %d is out of range (-20 to 19)", nice)
				}
				if err := proxy.SetNice(nice); err != nil {
					cfg.Logger.Warn("running at the priority it was started with", "want", fmt.Sprintf("nice %d", nice), "error", err)
				} else {
					cfg.Logger.Info("running its threads at nice " + strconv.Itoa(nice))
				}
			}
			return proxy.Serve(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.API, "api", "127.0.0.1:8474", "address of the HTTP API")
	cmd.Flags().BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow an API address that is not loopback")
	cmd.Flags().StringVar(&cfg.Config, "config", "", "a JSON file of proxies to create at start (as /populate takes)")
	cmd.Flags().Var(intFlag[int]{v: &nice, lo: math.MinInt32, hi: math.MaxInt32}, "nice", "run the daemon's threads at this nice value; below 0 (which needs root or CAP_SYS_NICE) its wake-ups go ahead of a busy host's other threads (default: as started)")
	return cmd
}

func (a *app) loadCommand() *cobra.Command {
	var (
		rate     string
		duration time.Duration
		opts     load.MainOptions
	)
	cmd := &cobra.Command{
		Use:   "load URL",
		Short: "Send open-model HTTP load at a constant rate and report latency and errors",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := shakedown.ParseRate(rate)
			if err != nil {
				return shakedown.Wrap(shakedown.KindInvalid, "--rate", err)
			}
			if duration <= 0 {
				return shakedown.Errorf(shakedown.KindInvalid, "--duration must be above zero")
			}
			ls := &shakedown.LoadSpec{Name: "load", URL: args[0], Headers: opts.Headers}
			a.red.Add((&shakedown.Experiment{Loads: []*shakedown.LoadSpec{ls}}).Secrets()...)
			return load.Main(cmd.Context(), args[0], r, duration, opts, a.stdout)
		},
	}
	cmd.Flags().StringVar(&rate, "rate", "50/s", "requests per second (50/s, 3000/m)")
	duration = 10 * time.Second
	cmd.Flags().Var(durationFlag{v: &duration}, "duration", "how long to send")
	registerLoadFlags(cmd, &opts)
	return cmd
}

func (a *app) watchdogCommand() *cobra.Command {
	var stateDir, runID string
	cmd := &cobra.Command{
		Use:         "watchdog",
		Short:       "Guard a run: revert from its journal if the runner dies or a fault outlives its TTL",
		Hidden:      true,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{onSignal: signalReverts},
		RunE: func(cmd *cobra.Command, args []string) error {
			// The watchdog's stderr is its per-run log (watchdog.LogPath), set up by
			// watchdog.Start; it never holds the runner's output open.
			log := slog.New(slog.NewTextHandler(a.stderr, nil))
			// The watchdog outlives the runner's cancellation by design: it is the thing that
			// cleans up after it.
			return watchdog.Main(context.WithoutCancel(cmd.Context()), stateDir, runID, a.reg, a.stdin, log)
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", shakedown.DefaultStateDir, "")
	cmd.Flags().StringVar(&runID, "run", "", "")
	return cmd
}

func (a *app) stressCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "stress",
		Short:              "Burn CPU, hold memory or churn I/O for a stress fault",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return stress.StressMain(cmd.Context(), args)
		},
	}
}

// registerLoadFlags adds the request flags of `shakedown load`.
func registerLoadFlags(cmd *cobra.Command, opts *load.MainOptions) {
	var headers []string
	cmd.Flags().StringVar(&opts.Method, "method", "GET", "HTTP method")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "a request header, \"Name: value\" (repeatable)")
	cmd.Flags().StringVar(&opts.Body, "body", "", "request body")
	opts.Timeout = shakedown.DefaultRequestTimeout
	cmd.Flags().Var(durationFlag{v: &opts.Timeout}, "timeout", "per-request timeout")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "write the report as JSON")
	cmd.Flags().Var(intFlag[int]{v: &opts.Workers, lo: 0, hi: maxInt}, "workers", "closed model: send as fast as this many workers can (ignores --rate)")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		for _, h := range headers {
			name, value, err := load.ParseHeader(h)
			if err != nil {
				return shakedown.Wrap(shakedown.KindInvalid, "--header", err)
			}
			if opts.Headers == nil {
				opts.Headers = map[string]string{}
			}
			opts.Headers[name] = value
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/demo"
	"github.com/shakedown-dev/shakedown/spec"
)

func (a *app) demoCommand() *cobra.Command {
	var out, progress string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start the embedded sample shop and run an experiment on it",
		Long: `Start the embedded sample shop — three replicas behind a balancer, a cache and a store, all
in this binary, no external services — and run demo's experiment on it: the cache gets 200 ms
slower and one replica is paused, and checkout must stay fast and error-free. Reports go to
--out. The exit code is the run's.`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{onSignal: signalVerdict},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			exe, err := os.Executable()
			if err != nil {
				return shakedown.Wrap(shakedown.KindInternal, "find own executable", err)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return shakedown.Wrap(shakedown.KindInternal, "demo", err)
			}
			fmt.Fprintln(a.stdout, "starting the embedded shop: 3 replicas, a balancer, a cache, a store …")
			t0 := time.Now()
			sys, err := demo.Start(ctx, exe, out, 3)
			if err != nil {
				return shakedown.Wrap(shakedown.KindInternal, "start the demo shop", err)
			}
			defer sys.Close()
			fmt.Fprintf(a.stdout, "shop up in %s at http://%s (cache %s, reached through %s)\n",
				time.Since(t0).Round(time.Millisecond), sys.Shop, sys.Cache, sys.CacheProxy)

			file := filepath.Join(out, "experiment.yaml")
			if err := os.WriteFile(file, demo.Experiment, 0o644); err != nil {
				return shakedown.Wrap(shakedown.KindInternal, "demo", err)
			}
			exp, err := spec.Load(file, demo.Experiment, sys.Vars(), a.reg)
			if err != nil {
				a.printProblems(file, err)
				return exitError{code: shakedown.VerdictInvalid.ExitCode()}
			}
			f := runFlags{stateDir: filepath.Join(out, "state")}
			outs := suiteOutputs{
				junit:    filepath.Join(out, "junit.xml"),
				json:     filepath.Join(out, "run.json"),
				markdown: filepath.Join(out, "summary.md"),
				html:     filepath.Join(out, "report.html"),
			}
			fmt.Fprintf(a.stdout, "running %s (the experiment is in %s)\n", exp.Name, file)
			_, err = a.runSuite(ctx, suite{exps: []*shakedown.Experiment{exp}, flags: &f, out: outs, timeout: 2 * time.Minute, progress: progress})
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", filepath.Join("out", "demo"), "where the reports, the experiment and the shop's logs go")
	cmd.Flags().StringVar(&progress, "progress", "auto", "live progress: auto, tty, plain or none")
	return cmd
}

func (a *app) demoReplicaCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "demo-replica",
		Short:              "One replica of the embedded demo shop",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return demo.ReplicaMain(cmd.Context(), args, a.stderr)
		},
	}
}

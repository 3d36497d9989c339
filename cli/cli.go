// Package cli is shakedown's command line: it parses flags, wires the adapters (spec, engine,
// journal, watchdog, fault families, probes, load, proxy, reports) together and maps every
// outcome to the exit-code table. cmd/shakedown calls Main; tests call it directly.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/shakedown-dev/shakedown"
)

// ExitInterrupted is the exit code of a command a signal ends: aborted.
const ExitInterrupted = 3

// exitError carries an exit code already explained to the user.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// app is one invocation's wiring.
type app struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	reg    *shakedown.Registry
	// engines are the run-wide flags of the target families (--docker-host, --remote-binary…).
	engines Engines
	// red hides secrets in everything this invocation writes: stdout and stderr pass
	// through it, and so do records, events and plans before they are formatted. Each
	// experiment loaded adds its secrets.
	red *shakedown.Redactor
}

// Main runs shakedown with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	red := shakedown.NewRedactor()
	a := &app{
		stdin:  stdin,
		stdout: redactWriter{w: stdout, red: red},
		stderr: redactWriter{w: stderr, red: red},
		getenv: os.Getenv,
		reg:    Registry(),
		red:    red,
	}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if ctx.Err() != nil && cutShort(cmd, err) {
		// Whatever the command was doing, and whatever its being cut short made it return,
		// it is aborted.
		fmt.Fprintln(a.stderr, "shakedown:", context.Cause(ctx))
		return ExitInterrupted
	}
	return a.exitCode(err)
}

// cutShort tells whether a signal cut cmd short, given what it returned: any command but those
// that say otherwise (onSignal), and a run that ended before it had a verdict.
func cutShort(cmd *cobra.Command, err error) bool {
	if cmd == nil {
		return true
	}
	switch cmd.Annotations[onSignal] {
	case signalVerdict:
		var verdict exitError
		return err != nil && !errors.As(err, &verdict)
	case signalServes, signalReverts:
		return false
	}
	return true
}

// What the first signal means to a command, in its annotation onSignal; by default that the
// command is cut short and exits 3 (aborted).
const (
	onSignal = "shakedown/on-signal"
	// signalVerdict: run and demo stop, revert and exit with the run's verdict, which says
	// how it ended (aborted, or not restored when a revert failed); stopped before they
	// have one, they are cut short.
	signalVerdict = "verdict"
	// signalServes: the proxy daemon serves until a signal stops it, its normal end.
	signalServes = "serves"
	// signalReverts: recover and the watchdog revert what they were asked to whatever
	// happens, and are not ended Grace after the signal (holdExit).
	signalReverts = "reverts"
)

func (a *app) exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var se *shakedown.Error
	if !errors.As(err, &se) {
		// Anything cobra says about usage (unknown command or flag, wrong arguments) is a
		// usage error.
		err = &shakedown.Error{Kind: shakedown.KindInvalid, Err: err}
	}
	fmt.Fprintln(a.stderr, "shakedown:", err)
	return shakedown.KindOf(err).ExitCode()
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "shakedown",
		Short: "Run resilience experiments with a verdict a pipeline can gate on",
		Long: `shakedown runs resilience experiments the way a test suite runs tests: from files kept
beside the system they exercise, with an exit code that says exactly what happened.

Exit codes: 0 passed, 1 failed, 2 invalid, 3 aborted, 4 not restored, 5 error, 6 not steady,
7 regressed (run --gate regressions).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		Version:           shakedown.Version,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return shakedown.Wrap(shakedown.KindInvalid, "", err)
	})
	var engines Engines
	root.PersistentFlags().StringVar(&engines.DockerHost, "docker-host", "", "Docker or Podman engine for container targets that name none (default $DOCKER_HOST)")
	root.PersistentFlags().StringVar(&engines.Kubeconfig, "kubeconfig", "", "kubeconfig for Kubernetes targets that name none (default $KUBECONFIG, ~/.kube/config, in-cluster)")
	root.PersistentFlags().StringVar(&engines.Context, "context", "", "kubeconfig context for Kubernetes targets that name none")
	root.PersistentFlags().StringVar(&engines.RemoteBinary, "remote-binary", "", "the shakedown binary to stage on hosts reached over SSH, for another architecture (default: this one)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		a.engines = engines
		if engines != (Engines{}) {
			a.reg = RegistryWith(engines)
		}
		if cmd.Annotations[onSignal] == signalReverts {
			holdExit(cmd.Context()) // for as long as the process lives
		}
		return nil
	}
	recoverCmd := a.recoverCommand()
	recoverCmd.Annotations = map[string]string{onSignal: signalReverts}
	root.AddCommand(
		a.validateCommand(),
		a.planCommand(),
		a.runCommand(),
		a.compareCommand(),
		recoverCmd,
		a.stopCommand(),
		a.faultsCommand(),
		a.schemaCommand(),
		a.proxyCommand(),
		a.loadCommand(),
		a.demoCommand(),
		a.versionCommand(),
		a.historyCommand(),
		a.demoReplicaCommand(),
		a.watchdogCommand(),
		a.remoteAgentCommand(),
		a.stressCommand(),
		a.serveCommand(),
		a.importCommand(),
	)
	return root
}

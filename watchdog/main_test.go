//go:build linux

package watchdog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"testing"

	"golang.org/x/sys/unix"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/journal"
)

// The test binary plays three parts:
//   - the test itself;
//   - "watchdog" as its first argument: the watchdog process, as the cli's hidden command;
//   - runnerEnv set: a runner that journals a real fault (SIGSTOP of a victim process),
//     injects it under a watchdog and then waits to be told to finish, or to be killed.
const (
	runnerEnv = "SHAKEDOWN_WATCHDOG_TEST_RUNNER" // "stateDir runID victimPID ttlNanoseconds marker"
	undoType  = "test.sigcont"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "watchdog" {
		os.Exit(watchdogMain(os.Args[2:]))
	}
	if v := os.Getenv(runnerEnv); v != "" {
		if err := runnerMain(v); err != nil {
			fmt.Fprintln(os.Stderr, "runner:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Orphaned watchdogs (their runner was killed) become children of the test, which can
	// then see how they exited.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	// Caught here, SIGINT and SIGHUP are at their default action (death) in the runners the
	// tests start, even when the test was started ignoring them (nohup, a background job).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT, syscall.SIGHUP)
	os.Exit(m.Run())
}

// sigcont is the undo of the test fault.
type sigcont struct {
	PID    int    `json:"pid"`
	Marker string `json:"marker"` // a file that gets one line per undo carried out
}

func registry() *shakedown.Registry {
	reg := shakedown.NewRegistry()
	reg.AddUndo(undoType, func(_ context.Context, data json.RawMessage) error {
		var a sigcont
		if err := json.Unmarshal(data, &a); err != nil {
			return err
		}
		if a.Marker != "" {
			f, err := os.OpenFile(a.Marker, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				return err
			}
			fmt.Fprintf(f, "%d %d\n", a.PID, time.Now().UnixNano())
			f.Close()
		}
		if err := syscall.Kill(a.PID, syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
		return nil
	})
	return reg
}

// watchdogMain is what the cli's hidden `watchdog` command does.
func watchdogMain(args []string) int {
	fs := flag.NewFlagSet("watchdog", flag.ContinueOnError)
	stateDir := fs.String("state-dir", "", "")
	runID := fs.String("run", "", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := Main(ctx, *stateDir, *runID, registry(), os.Stdin, log); err != nil {
		log.Error("watchdog", "err", err)
		return 1
	}
	return 0
}

// runnerMain is a run in miniature: journal, guard, inject; then on a line on stdin revert,
// close and stop.
func runnerMain(spec string) error {
	var stateDir, runID, marker string
	var pid int
	var ttl int64
	if _, err := fmt.Sscan(spec, &stateDir, &runID, &pid, &ttl, &marker); err != nil {
		return fmt.Errorf("parse %q: %w", spec, err)
	}
	j, err := journal.Open(stateDir, runID, journal.Meta{Experiment: "test"})
	if err != nil {
		return err
	}
	g, err := Start(context.Background(), os.Args[0], []string{"watchdog", "--state-dir", stateDir, "--run", runID}, stateDir, runID)
	if err != nil {
		return err
	}
	fmt.Println("watchdog", g.PID())
	data, _ := json.Marshal(sigcont{PID: pid, Marker: marker})
	undo := shakedown.Undo{Type: undoType, Data: data, Summary: "SIGCONT pid " + strconv.Itoa(pid)}
	id, err := j.Begin("pause-victim", []shakedown.Undo{undo}, time.Duration(ttl))
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return err
	}
	// The signal is delivered when the victim is next scheduled: wait until it has stopped.
	for deadline := time.Now().Add(5 * time.Second); !stopped(pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("victim %d did not stop", pid)
		}
	}
	if err := j.Injected(id); err != nil {
		return err
	}
	fmt.Println("injected")

	bufio.NewReader(os.Stdin).ReadString('\n')
	revertErr := syscall.Kill(pid, syscall.SIGCONT) // a no-op if the watchdog got there first
	if err := j.Done(id, revertErr); err != nil {
		return err
	}
	if err := j.Close(); err != nil {
		return err
	}
	if err := g.Stop(); err != nil {
		return err
	}
	fmt.Println("finished")
	return nil
}

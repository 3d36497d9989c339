//go:build linux

// Command supervise keeps one program running: it starts it, writes its pid to a file, and
// when it dies starts it again after a delay that doubles on every quick death (up to -max)
// and falls back to -delay once the program has stayed up for -stable.
//
//	supervise -pidfile run/web-1.pid -log log/web-1.log -- bin/shop -name web-1 …
//
// SIGTERM or SIGINT stop it: the program gets SIGTERM, then SIGKILL after -grace, the pidfile
// is removed and supervise exits. The program is started with a parent-death signal, so it
// does not outlive a supervisor that is killed outright. Like the sample system it serves
// (network namespaces, examples/shop/infra), it is for Linux.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "supervise:", err)
		os.Exit(1)
	}
}

type options struct {
	pidfile, log       string
	delay, max, stable time.Duration
	grace              time.Duration
	argv               []string
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("supervise", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.pidfile, "pidfile", "", "file to hold the running program's pid")
	fs.StringVar(&o.log, "log", "", "file the program's output is appended to (default: supervise's own)")
	fs.DurationVar(&o.delay, "delay", 3*time.Second, "wait this long before a restart")
	fs.DurationVar(&o.max, "max", 30*time.Second, "the longest wait before a restart")
	fs.DurationVar(&o.stable, "stable", 10*time.Second, "up this long, the program counts as healthy again")
	fs.DurationVar(&o.grace, "grace", 5*time.Second, "wait this long after SIGTERM before SIGKILL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.argv = fs.Args()
	if len(o.argv) == 0 {
		return errors.New("no program given: supervise [flags] -- program [args]")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("program", o.argv[0])
	wait := o.delay
	for {
		started := time.Now()
		err := once(ctx, o, log)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) >= o.stable {
			wait = o.delay
		}
		log.Warn("program ended; restarting", "err", err, "up", time.Since(started).Round(time.Millisecond), "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, o.max)
	}
}

// once runs the program until it ends or ctx is done, keeping the pidfile.
func once(ctx context.Context, o options, log *slog.Logger) error {
	cmd := exec.Command(o.argv[0], o.argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if o.log != "" {
		f, err := os.OpenFile(o.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	if o.pidfile != "" {
		if err := writeFile(o.pidfile, strconv.Itoa(cmd.Process.Pid)+"\n"); err != nil {
			log.Error("write pidfile", "err", err)
		}
		defer os.Remove(o.pidfile)
	}
	log.Info("started", "pid", cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	cmd.Process.Signal(syscall.SIGCONT) // a paused program must still see the signal
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(o.grace):
		cmd.Process.Kill()
		return <-done
	}
}

// writeFile replaces name's content atomically, so a reader never sees half a pid.
func writeFile(name, s string) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

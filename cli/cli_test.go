package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/shakedown-dev/shakedown/internal/pgtest"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

func TestMain(m *testing.M) {
	testscript.Main(pgtest.Wrap(m), map[string]func(){
		"shakedown": func() {
			ctx, stop := SignalContext(context.Background(), os.Stderr, os.Exit)
			code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		},
		"deadrunner": deadRunnerMain,
	})
}

// TestScripts runs the stories in testdata/script: one user session each, one per exit code
// and per command.
func TestScripts(t *testing.T) {
	victim := testenv.VictimBinary(t)
	// Caught here, SIGHUP is at its default action in the commands the scripts start, even
	// when this test was started ignoring it (nohup): the hangup stories need to know which.
	// (A cleanup, not a defer: the scripts run in parallel after this function returns.)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	t.Cleanup(func() { signal.Stop(hup) })
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("VICTIM", victim)
			// Each story has a registry of held faults of its own, shared by the runs it starts.
			env.Setenv("SHAKEDOWN_RUNTIME_DIR", filepath.Join(env.WorkDir, ".runtime"))
			env.Setenv("GITHUB_STEP_SUMMARY", "")
			// The stories choose their commits; the tests' own checkout says nothing of them.
			env.Setenv("GITHUB_SHA", "")
			env.Setenv("GITHUB_REF_NAME", "")
			env.Setenv("CI_COMMIT_SHA", "")
			env.Setenv("CI_COMMIT_REF_NAME", "")
			env.Setenv("SHAKEDOWN_HISTORY", "")
			// The SSH test bed (testbed/ssh.sh) of the remote stories, [need:sshbed].
			env.Setenv("BED", os.Getenv("SHAKEDOWN_TEST_SSH_TESTBED"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfile":     cmdWaitFile,
			"pidstate":     cmdPIDState,
			"exits":        cmdExits,
			"readvar":      cmdReadVar,
			"signal":       cmdSignal,
			"waitout":      cmdWaitOut,
			"killwatchdog": cmdKillWatchdog,
			"nowatchdog":   cmdNoWatchdog,
			"nosecrets":    cmdNoSecrets,
			"repeat":       cmdRepeat,
			"interrupt":    cmdInterrupt,
			"pgdb":         cmdPGDB(t),
			"freeport":     cmdFreePort,
			"runid":        cmdRunID,
		},
		// [need:root] and [need:PROG] hold when the script can run as root or find PROG;
		// under SHAKEDOWN_REQUIRE_ALL=1 a missing one fails the script instead of letting
		// it skip.
		Condition: func(cond string) (bool, error) {
			what, ok := strings.CutPrefix(cond, "need:")
			if !ok {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			have := os.Geteuid() == 0
			switch what {
			case "root":
			case "postgres":
				have = pgtest.Installed()
			case "sshbed":
				have = os.Getenv("SHAKEDOWN_TEST_SSH_TESTBED") != ""
			default:
				_, err := exec.LookPath(what)
				have = err == nil
			}
			if !have && testenv.RequireAll() {
				return false, fmt.Errorf("required but missing: %s (SHAKEDOWN_REQUIRE_ALL=1)", what)
			}
			return have, nil
		},
	})
}

// waitfile FILE... waits up to 10 s for each file to exist.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	for _, f := range args {
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := os.Stat(ts.MkAbs(f))
			if (err == nil) != neg {
				break
			}
			if time.Now().After(deadline) {
				ts.Fatalf("waitfile %s: not there after 10s", f)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// pidstate [-within D] PIDFILE running|stopped|gone waits up to D (10 s) for the process
// whose pid is in PIDFILE to be in that state, and logs how long that took.
func cmdPIDState(ts *testscript.TestScript, neg bool, args []string) {
	within := 10 * time.Second
	if len(args) == 4 && args[0] == "-within" {
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		within, args = d, args[2:]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: pidstate [-within D] PIDFILE running|stopped|gone")
	}
	pid := testenv.ReadPIDFile(ts.MkAbs(args[0]))
	if pid == 0 {
		ts.Fatalf("pidstate: no pid in %s", args[0])
	}
	start := time.Now()
	deadline := start.Add(within)
	for {
		got := procState(pid)
		if (got == args[1]) != neg {
			ts.Logf("pidstate: pid %d %s%s after %v", pid, map[bool]string{true: "not "}[neg], args[1], time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("pidstate: pid %d is %s after %v, want %s%s", pid, got, within, map[bool]string{true: "not "}[neg], args[1])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func procState(pid int) string {
	st, err := procfs.ReadStat(procfs.Root, pid)
	switch {
	case err != nil || st.Dead():
		return "gone"
	case st.State == 'T' || st.State == 't':
		return "stopped"
	default:
		return "running"
	}
}

// exits [-within D] [-rss MB] CODE PROG ARGS... runs PROG and requires its exit code to be
// exactly CODE; its output becomes stdout and stderr for the commands that follow. With
// -within it must end within D (it is killed then), with -rss its peak resident memory must
// stay under MB megabytes (four times that under the race detector).
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	within, rss := time.Duration(0), int64(0)
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		var err error
		switch args[0] {
		case "-within":
			within, err = time.ParseDuration(args[1])
		case "-rss":
			rss, err = strconv.ParseInt(args[1], 10, 64)
		default:
			ts.Fatalf("exits: unknown flag %s", args[0])
		}
		ts.Check(err)
		args = args[2:]
	}
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits [-within D] [-rss MB] CODE PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	cmd := scriptCommand(ts, args[1:])
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	ts.Check(cmd.Start())
	if within > 0 {
		t := time.AfterFunc(within, func() { cmd.Process.Kill() })
		defer t.Stop()
	}
	start := time.Now()
	err = cmd.Wait()
	took := time.Since(start)
	got := exitCode(ts, "exits", err)
	if within > 0 && took >= within {
		ts.Fatalf("%s still running after %v", args[1], within)
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss >> 10 // kilobytes on Linux
	ts.Logf("%s: exit %d after %v, peak memory %d MB", args[1], got, took.Round(time.Millisecond), peak)
	if raceDetector {
		rss *= 4
	}
	if rss > 0 && peak >= rss {
		ts.Fatalf("%s peaked at %d MB, want under %d MB", args[1], peak, rss)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// scriptCommand is PROG ARGS... as the script would run it, in its folder and environment.
func scriptCommand(ts *testscript.TestScript, args []string) *exec.Cmd {
	path, err := exec.LookPath(args[0])
	if err != nil {
		ts.Fatalf("%v", err)
	}
	cmd := exec.Command(path, args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "WORK="+ts.Getenv("WORK"), "HOME="+ts.Getenv("HOME"),
		"GITHUB_STEP_SUMMARY="+ts.Getenv("GITHUB_STEP_SUMMARY"), "TMPDIR="+ts.Getenv("TMPDIR"),
		"SHAKEDOWN_RUNTIME_DIR="+ts.Getenv("SHAKEDOWN_RUNTIME_DIR"),
		// Built with the race detector, a process sleeps a second before it exits; the
		// stories time exits.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	// What says which commit is under test and where runs are recorded, as the story set it.
	for _, k := range []string{"GITHUB_SHA", "GITHUB_REF_NAME", "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME", "SHAKEDOWN_HISTORY"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	return cmd
}

// repeat [-append] FILE COUNT TEXT writes TEXT (with Go escapes such as \n) COUNT times to
// FILE: the small files that would take gigabytes, without keeping them in the script.
func cmdRepeat(ts *testscript.TestScript, neg bool, args []string) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if len(args) > 0 && args[0] == "-append" {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		args = args[1:]
	}
	if neg || len(args) != 3 {
		ts.Fatalf("usage: repeat [-append] FILE COUNT TEXT")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	text, err := strconv.Unquote(`"` + args[2] + `"`)
	ts.Check(err)
	f, err := os.OpenFile(ts.MkAbs(args[0]), flags, 0o644)
	ts.Check(err)
	w := bufio.NewWriter(f)
	for range n {
		w.WriteString(text)
	}
	ts.Check(w.Flush())
	ts.Check(f.Close())
}

// interrupt [-ready REGEXP | -ready-socket] SIG CODE PROG ARGS... starts PROG, waits up to
// 10 s until it is at work — its output matches REGEXP, or it holds a socket — sends it SIG
// (INT, TERM or HUP) and requires it to exit with CODE within a second: the promise the first
// signal makes. Its output, stdout and stderr together, becomes stdout.
func cmdInterrupt(ts *testscript.TestScript, neg bool, args []string) {
	var ready *regexp.Regexp
	socket := false
	switch {
	case len(args) > 1 && args[0] == "-ready":
		var err error
		ready, err = regexp.Compile(args[1])
		ts.Check(err)
		args = args[2:]
	case len(args) > 0 && args[0] == "-ready-socket":
		socket = true
		args = args[1:]
	}
	if neg || len(args) < 3 || (ready == nil && !socket) {
		ts.Fatalf("usage: interrupt -ready REGEXP | -ready-socket SIG CODE PROG ARGS...")
	}
	sig, ok := map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP}[args[0]]
	if !ok {
		ts.Fatalf("interrupt: unknown signal %q", args[0])
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	var out lockedBuffer
	cmd := scriptCommand(ts, args[2:])
	cmd.Stdout, cmd.Stderr = &out, &out
	ts.Check(cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for !(ready != nil && ready.MatchString(out.String()) || socket && holdsSocket(cmd.Process.Pid)) {
		select {
		case err := <-exited:
			ts.Fatalf("%s ended (%v) before it was at work:\n%s", args[2], err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			ts.Fatalf("%s not at work after 10s:\n%s", args[2], out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.Check(cmd.Process.Signal(sig))
	sent := time.Now()
	select {
	case err = <-exited:
	case <-time.After(time.Second):
		cmd.Process.Kill()
		<-exited
		ts.Fatalf("%s still running a second after SIG%s:\n%s", args[2], args[0], out.String())
	}
	ts.Logf("%s: ended %v after SIG%s", args[2], time.Since(sent).Round(time.Millisecond), args[0])
	got := exitCode(ts, "interrupt", err)
	ts.Stdout().Write([]byte(out.String()))
	if got != want {
		ts.Fatalf("%s exited %d after SIG%s, want %d:\n%s", args[2], got, args[0], want, out.String())
	}
}

// exitCode is the exit code that cmd.Wait's err says; any other error fails the command op.
func exitCode(ts *testscript.TestScript, op string, err error) int {
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", op, err)
	}
	return 0
}

// holdsSocket tells whether process pid has a socket open.
func holdsSocket(pid int) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:") {
			return true
		}
	}
	return false
}

// lockedBuffer is a bytes.Buffer a process writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// freeport NAME sets $NAME to a TCP port free on loopback, for a program the script starts
// that must be told its port up front (testenv.Ports).
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	ports, err := testenv.FreePorts(1)
	ts.Check(err)
	ts.Setenv(args[0], strconv.Itoa(ports[0]))
}

// readvar FILE NAME sets $NAME to the trimmed content of FILE.
func cmdReadVar(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: readvar FILE NAME")
	}
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Setenv(args[1], strings.TrimSpace(string(b)))
}

// signal SIG REGEXP sends SIG (INT, TERM, HUP, KILL, STOP or CONT) to this script's background commands whose
// command line matches REGEXP: children of the test process working in the script's folder
// (scripts run in parallel in one test process).
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal INT|TERM|HUP|KILL|STOP|CONT REGEXP")
	}
	sig, ok := map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "KILL": syscall.SIGKILL,
		"STOP": syscall.SIGSTOP, "CONT": syscall.SIGCONT}[args[0]]
	if !ok {
		ts.Fatalf("signal: unknown signal %q", args[0])
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	sent := 0
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if cwd, err := os.Readlink(filepath.Join(filepath.Dir(f), "cwd")); err != nil || cwd != ts.MkAbs(".") {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "cmdline"))
		if re.MatchString(strings.ReplaceAll(string(cmdline), "\x00", " ")) {
			ts.Check(syscall.Kill(pid, sig))
			sent++
		}
	}
	if sent == 0 {
		ts.Fatalf("signal: no child process matches %q", args[1])
	}
}

// waitout [-within D] REGEXP PROG ARGS... runs PROG, in the script's folder and environment,
// until its output matches REGEXP (with !, until it no longer does), for up to D (10 s).
func cmdWaitOut(ts *testscript.TestScript, neg bool, args []string) {
	within := 10 * time.Second
	if len(args) > 1 && args[0] == "-within" {
		var err error
		within, err = time.ParseDuration(args[1])
		ts.Check(err)
		args = args[2:]
	}
	if len(args) < 2 {
		ts.Fatalf("usage: [!] waitout [-within D] REGEXP PROG ARGS...")
	}
	re, err := regexp.Compile(args[0])
	ts.Check(err)
	deadline := time.Now().Add(within)
	for {
		out, _ := scriptCommand(ts, args[1:]).CombinedOutput()
		if re.Match(out) != neg {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitout: %s %s after %v:\n%s", map[bool]string{false: "no match for", true: "still matches"}[neg], args[0], within, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killwatchdog [-stop] STATEDIR [replaced] kills (with -stop: stops, SIGSTOP) the watchdog
// guarding a run in STATEDIR (an absolute path, as the script gave run), and with "replaced"
// waits up to 10 s for another to be ready to guard it in its place (its log says so).
func cmdKillWatchdog(ts *testscript.TestScript, neg bool, args []string) {
	sig := syscall.SIGKILL
	if len(args) > 0 && args[0] == "-stop" {
		sig, args = syscall.SIGSTOP, args[1:]
	}
	if neg || len(args) < 1 || len(args) > 2 || len(args) == 2 && args[1] != "replaced" {
		ts.Fatalf("usage: killwatchdog [-stop] STATEDIR [replaced]")
	}
	stateDir := args[0]
	want := "watchdog --state-dir " + stateDir + " --run "
	// find returns a live watchdog of a run in stateDir other than pid not, ready when asked,
	// and its run.
	find := func(not int, ready bool) (int, string) {
		pids, _ := procfs.PIDs(procfs.Root)
		for _, pid := range pids {
			argv, err := procfs.ReadCmdline(procfs.Root, pid)
			line := strings.Join(argv, " ")
			if err != nil || pid == not || !strings.Contains(line, want) || procState(pid) != "running" {
				continue
			}
			run := strings.Fields(line[strings.Index(line, want)+len(want):])[0]
			if ready {
				log, _ := os.ReadFile(filepath.Join(stateDir, "watchdog", run+".log"))
				if !regexp.MustCompile(`msg="watchdog ready" .*pid=` + strconv.Itoa(pid) + ` `).Match(log) {
					continue
				}
			}
			return pid, run
		}
		return 0, ""
	}
	deadline := time.Now().Add(10 * time.Second)
	old, _ := find(0, true)
	for ; old == 0; old, _ = find(0, true) {
		if time.Now().After(deadline) {
			ts.Fatalf("killwatchdog: no watchdog guards a run in %s after 10s", stateDir)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.Check(syscall.Kill(old, sig))
	if len(args) < 2 {
		return
	}
	deadline = time.Now().Add(10 * time.Second)
	for next, _ := find(old, true); next == 0; next, _ = find(old, true) {
		if time.Now().After(deadline) {
			ts.Fatalf("killwatchdog: no watchdog took over from pid %d within 10s", old)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nosecrets SECRETS PATH... fails when any line of the file SECRETS occurs in any of the
// PATHs: files, directories (every file under them, recursively), or stdout and stderr, the
// output of the last command.
func cmdNoSecrets(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: nosecrets SECRETS PATH...")
	}
	var secrets []string
	for _, l := range strings.Split(ts.ReadFile(args[0]), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			secrets = append(secrets, l)
		}
	}
	if len(secrets) == 0 {
		ts.Fatalf("nosecrets: %s lists no secret", args[0])
	}
	check := func(name, content string) {
		for _, s := range secrets {
			if i := strings.Index(content, s); i >= 0 {
				line := content[strings.LastIndexByte(content[:i], '\n')+1:]
				if j := strings.IndexByte(line, '\n'); j >= 0 {
					line = line[:j]
				}
				ts.Fatalf("nosecrets: %s shows the secret %q: %s", name, s, line)
			}
		}
	}
	for _, p := range args[1:] {
		if p == "stdout" || p == "stderr" {
			check(p, ts.ReadFile(p))
			continue
		}
		err := filepath.WalkDir(ts.MkAbs(p), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			check(path, string(b))
			return nil
		})
		ts.Check(err)
	}
}

// nowatchdog STATEDIR waits up to 10 s for no watchdog of a run in STATEDIR (an absolute path)
// to be left: one that outlived its runner has finished its replay.
func cmdNoWatchdog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: nowatchdog STATEDIR")
	}
	want := "watchdog --state-dir " + args[0] + " --run "
	deadline := time.Now().Add(10 * time.Second)
	for {
		found := 0
		pids, _ := procfs.PIDs(procfs.Root)
		for _, pid := range pids {
			argv, err := procfs.ReadCmdline(procfs.Root, pid)
			if err == nil && strings.Contains(strings.Join(argv, " "), want) && procState(pid) != "gone" {
				found = pid
				break
			}
		}
		if found == 0 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("nowatchdog: watchdog %d of a run in %s still there after 10s", found, args[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pgdb NAME creates a database on the tests' PostgreSQL server (started on first use) and sets
// $NAME to its URL. Stories that use it hold [need:postgres].
func cmdPGDB(t *testing.T) func(ts *testscript.TestScript, neg bool, args []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: pgdb NAME")
		}
		url, err := pgtest.Start(t).NewDB()
		ts.Check(err)
		ts.Setenv(args[0], url)
	}
}

//go:build linux

// Command safety is the kill -9 campaign of shakedown's safety promise: every fault reverted
// on every path. Each trial runs a real experiment with the real binary — a process pause, an
// exec fault with a slow inject and a slow revert, a latency toxic in a running fault proxy,
// a partition of a network namespace (root only) — kills the runner, its watchdog, or both
// with SIGKILL at a random moment, runs `shakedown recover`, and then looks for anything left:
// a stopped victim, the exec fault's mark or processes, a toxic, an nft table, a journal.
//
//	go run ./bench/safety -trials 200 [-bin bin/shakedown] [-seed N]
//
// It prints one line per trial that left something, and a summary per fault and kill; it
// exits 1 when any trial left anything.
//
//	go run ./bench/safety -corrupt [-bin bin/shakedown]
//
// damages the journal of a real run killed during a process pause (runner and watchdog both
// killed) at every byte, one at a time (a bit flipped; a newline also made a letter and a
// carriage return), and runs `recover` on each copy with the victim stopped again: it must
// never exit 0 with the victim still stopped, and never lose a journal it did not fully undo.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	trials := flag.Int("trials", 200, "how many trials")
	bin := flag.String("bin", "bin/shakedown", "the shakedown binary")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the random moments and choices")
	corrupt := flag.Bool("corrupt", false, "damage a real journal at every byte instead")
	onlyFault := flag.String("fault", "", "only this fault: pause, exec, proxy or network")
	onlyKill := flag.String("kill", "", "only this kill: runner, watchdog or both")
	keep := flag.Bool("keep", false, "keep the folder of the trials, to look at what was left")
	flag.Parse()
	if *onlyFault != "" {
		faults = []string{*onlyFault}
	}
	if *onlyKill != "" {
		kills = []string{*onlyKill}
	}
	keepDir = *keep
	do := func() error { return run(*bin, *trials, *seed) }
	if *corrupt {
		do = func() error { return corruptCampaign(*bin) }
	}
	if err := do(); err != nil {
		fmt.Fprintln(os.Stderr, "safety:", err)
		os.Exit(1)
	}
}

// keepDir keeps the trials' folder.
var keepDir bool

// kinds of fault and of kill.
var (
	faults = []string{"pause", "exec", "proxy", "network"}
	kills  = []string{"runner", "watchdog", "both"}
)

type env struct {
	bin    string
	dir    string
	victim *exec.Cmd
	proxy  *exec.Cmd
	api    string // the proxy daemon's API address
	netns  string // "" when not root
}

func run(bin string, trials int, seed uint64) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "shakedown-safety-")
	if err != nil {
		return err
	}
	if keepDir {
		fmt.Println("trials in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	e := &env{bin: bin, dir: dir}
	defer e.close()
	if err := e.start(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	type key struct{ fault, kill string }
	count := map[key]int{}
	left := map[key]int{}
	failures := 0
	avail := faults
	if e.netns == "" {
		avail = slices.DeleteFunc(slices.Clone(faults), func(f string) bool { return f == "network" })
		fmt.Println("not root: no network trials")
	}
	fmt.Printf("seed %d, %d trials\n", seed, trials)
	for i := range trials {
		k := key{avail[rng.IntN(len(avail))], kills[rng.IntN(len(kills))]}
		at := time.Duration(rng.Int64N(int64(1800 * time.Millisecond)))
		count[k]++
		problems, err := e.trial(i, k.fault, k.kill, at)
		if err != nil {
			return fmt.Errorf("trial %d (%s, kill %s at %v): %w", i, k.fault, k.kill, at, err)
		}
		if len(problems) > 0 {
			left[k]++
			failures++
			fmt.Printf("trial %d: %s, kill %s at %v: LEFT %s\n", i, k.fault, k.kill, at.Round(time.Millisecond), strings.Join(problems, "; "))
		}
	}
	fmt.Printf("%-8s %-9s %7s %5s\n", "fault", "kill", "trials", "left")
	for _, f := range faults {
		for _, k := range kills {
			if n := count[key{f, k}]; n > 0 {
				fmt.Printf("%-8s %-9s %7d %5d\n", f, k, n, left[key{f, k}])
			}
		}
	}
	fmt.Printf("%d trials, %d left something\n", trials, failures)
	if failures > 0 {
		return fmt.Errorf("%d of %d trials left something injected", failures, trials)
	}
	return nil
}

// helper is exec.Command for a process the campaign keeps for its whole length (the
// victim, the proxy daemon): it dies with the campaign, however the campaign dies. The
// runners are not: the campaign kills them itself, at the moments it chooses. (The
// signal follows the thread that started the child; the runtime ends only threads locked
// to a goroutine, and the campaign locks none.)
func helper(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// start starts the victim, the proxy daemon and, as root, a network namespace.
func (e *env) start() error {
	e.victim = helper("sleep", "100000")
	if err := e.victim.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.dir, "victim.pid"), []byte(strconv.Itoa(e.victim.Process.Pid)), 0o644); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the daemon's API
	if err != nil {
		return err
	}
	e.api = ln.Addr().String()
	ln.Close()
	e.proxy = helper(e.bin, "proxy", "--api", e.api)
	if err := e.proxy.Start(); err != nil {
		return err
	}
	if err := waitFor(10*time.Second, func() bool {
		resp, err := http.Post("http://"+e.api+"/proxies", "application/json",
			strings.NewReader(`{"name":"link","listen":"127.0.0.1:0","upstream":"127.0.0.1:9","enabled":true}`))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 201 || resp.StatusCode == 409
	}); err != nil {
		return fmt.Errorf("proxy daemon: %w", err)
	}
	if os.Geteuid() == 0 {
		sweepNamespaces()
		e.netns = fmt.Sprintf("sdsafety%d", os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", e.netns).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns add: %v: %s", err, out)
		}
		exec.Command("ip", "-n", e.netns, "link", "set", "lo", "up").Run()
	}
	return nil
}

// sweepNamespaces deletes the namespaces of campaigns that died without deleting theirs
// (killed with SIGKILL): each is named after its campaign's pid, which no longer runs.
func sweepNamespaces() {
	names, _ := filepath.Glob("/run/netns/sdsafety*")
	for _, path := range names {
		name := filepath.Base(path)
		pid, err := strconv.Atoi(strings.TrimPrefix(name, "sdsafety"))
		if err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // its campaign runs
		}
		exec.Command("ip", "netns", "del", name).Run()
	}
}

func (e *env) close() {
	for _, c := range []*exec.Cmd{e.victim, e.proxy} {
		if c != nil && c.Process != nil {
			c.Process.Kill()
			c.Wait()
		}
	}
	if e.netns != "" {
		exec.Command("ip", "netns", "del", e.netns).Run()
	}
}

// experiment returns the file of one trial's experiment.
func (e *env) experiment(fault, dir string) string {
	head := "version: 1\nname: safety-" + fault + "\nphases: {baseline: 200ms, recovery: 0s}\n"
	var body string
	switch fault {
	case "pause":
		body = "targets:\n  v: {process: {pidfile: " + filepath.Join(e.dir, "victim.pid") + "}}\n" +
			"faults:\n  - {name: pause, type: process.pause, target: v, duration: 1s}\n"
	case "exec":
		mark := filepath.Join(dir, "mark")
		body = "faults:\n  - name: slow\n    type: exec\n    duration: 500ms\n    with:\n" +
			"      inject: [sh, -c, 'sleep 0.4; touch " + mark + "; sleep 0.2']\n" +
			"      revert: [sh, -c, 'sleep 0.3; rm -f " + mark + "']\n"
	case "proxy":
		body = "targets:\n  l: {proxy: {api: 'http://" + e.api + "', name: link}}\n" +
			"faults:\n  - {name: slow-link, type: proxy.latency, target: l, duration: 1s, with: {latency: 100ms}}\n"
	case "network":
		body = "targets:\n  h: {netns: {name: " + e.netns + "}}\n" +
			"faults:\n  - {name: cut, type: network.partition, target: h, duration: 1s}\n"
	}
	path := filepath.Join(dir, "exp.yaml")
	os.WriteFile(path, []byte(head+body), 0o644)
	return path
}

// trial runs one experiment, kills what kill says at the moment at, runs recover and returns
// what was left.
func (e *env) trial(i int, fault, kill string, at time.Duration) ([]string, error) {
	dir := filepath.Join(e.dir, fmt.Sprintf("t%03d", i))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	state := filepath.Join(dir, "state")
	exp := e.experiment(fault, dir)
	runner := exec.Command(e.bin, "run", "--progress", "none", "--state-dir", state, exp)
	runner.Dir = dir
	runner.Env = append(os.Environ(), "SHAKEDOWN_RUNTIME_DIR="+filepath.Join(dir, "runtime"))
	runner.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := runner.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- runner.Wait() }()
	timer := time.NewTimer(at)
	select {
	case <-timer.C:
		if kill == "both" {
			// Stopped first, the runner cannot replace its watchdog: both die at once, as
			// when a whole CI job is killed.
			runner.Process.Signal(syscall.SIGSTOP)
		}
		if kill == "watchdog" || kill == "both" {
			for _, pid := range watchdogs(state) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if kill == "runner" || kill == "both" {
			runner.Process.Kill()
		}
	case <-done:
		done <- nil // ended before the moment: nothing to kill
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		runner.Process.Kill()
		<-done
		return []string{"the runner did not end within 60s"}, nil
	}
	// A watchdog that outlived its runner is reverting right now; recover runs beside it, as
	// a user would. Both are idempotent.
	rec := exec.Command(e.bin, "recover", "--state-dir", state)
	rec.Env = runner.Env
	out, err := rec.CombinedOutput()
	var problems []string
	if err != nil {
		problems = append(problems, fmt.Sprintf("recover: %v: %s", err, strings.TrimSpace(string(out))))
	}
	// A watchdog still replaying (one that was being started when the runner was stopped,
	// say, and so escaped the kill) gets a moment to finish; then none may stay and nothing
	// may be left.
	var left []string
	waitFor(10*time.Second, func() bool {
		left = e.leftovers(fault, dir, state)
		return len(watchdogs(state)) == 0 && len(left) == 0
	})
	if w := watchdogs(state); len(w) > 0 {
		problems = append(problems, fmt.Sprintf("watchdogs %v still running", w))
	}
	return append(problems, left...), nil
}

// leftovers says what of the fault is still in, and whether a journal is left.
func (e *env) leftovers(fault, dir, state string) []string {
	var out []string
	switch fault {
	case "pause":
		if st := procState(e.victim.Process.Pid); st == 'T' || st == 't' {
			out = append(out, "victim stopped")
		}
	case "exec":
		// The inject's processes are killed before the revert; the mark never survives it.
		if _, err := os.Stat(filepath.Join(dir, "mark")); err == nil {
			out = append(out, "exec mark left")
		}
		if n := marked("SHAKEDOWN_INJECT=", dir); n > 0 {
			out = append(out, fmt.Sprintf("%d inject processes left", n))
		}
	case "proxy":
		resp, err := http.Get("http://" + e.api + "/proxies/link/toxics")
		if err != nil {
			out = append(out, "proxy API: "+err.Error())
			break
		}
		var toxics []json.RawMessage
		json.NewDecoder(resp.Body).Decode(&toxics)
		resp.Body.Close()
		if len(toxics) > 0 {
			out = append(out, fmt.Sprintf("%d toxics left", len(toxics)))
		}
	case "network":
		b, _ := exec.Command("ip", "netns", "exec", e.netns, "nft", "list", "tables").CombinedOutput()
		if strings.Contains(string(b), "shakedown_") {
			out = append(out, "nft table left: "+strings.TrimSpace(string(b)))
		}
	}
	// Journals only: a temporary file of an Open killed half way holds no entry, and recover
	// removes it once it is a minute old.
	if js, _ := filepath.Glob(filepath.Join(state, "runs", "*.jsonl")); len(js) > 0 {
		out = append(out, fmt.Sprintf("%d journal files left", len(js)))
	}
	return out
}

// watchdogs returns the pids of the watchdogs of runs in state.
func watchdogs(state string) []int {
	want := "watchdog\x00--state-dir\x00" + state + "\x00"
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), want) {
			if st := procState(pid); st != 'Z' && st != 0 {
				out = append(out, pid)
			}
		}
	}
	return out
}

// marked counts live processes working in dir whose environment has an entry starting with
// prefix.
func marked(prefix, dir string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err != nil || cwd != dir {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			if strings.HasPrefix(kv, prefix) {
				if st := procState(pid); st != 'Z' && st != 0 {
					n++
				}
				break
			}
		}
	}
	return n
}

func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0
	}
	return s[i+2]
}

func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// corruptCampaign: see the package comment.
func corruptCampaign(bin string) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "shakedown-corrupt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e := &env{bin: bin, dir: dir}
	defer e.close()
	e.victim = helper("sleep", "100000")
	if err := e.victim.Start(); err != nil {
		return err
	}
	victim := e.victim.Process.Pid
	os.WriteFile(filepath.Join(dir, "victim.pid"), []byte(strconv.Itoa(victim)), 0o644)
	state := filepath.Join(dir, "state")
	exp := filepath.Join(dir, "exp.yaml")
	os.WriteFile(exp, []byte("version: 1\nname: corrupt\nphases: {baseline: 0s}\ntargets:\n  v: {process: {pidfile: "+
		filepath.Join(dir, "victim.pid")+"}}\nfaults:\n  - {name: pause-web, type: process.pause, target: v, duration: 5m}\n"), 0o644)
	runner := exec.Command(bin, "run", "--progress", "none", "--state-dir", state, exp)
	runner.Env = append(os.Environ(), "SHAKEDOWN_RUNTIME_DIR="+filepath.Join(dir, "runtime"))
	if err := runner.Start(); err != nil {
		return err
	}
	if err := waitFor(20*time.Second, func() bool { st := procState(victim); return st == 'T' || st == 't' }); err != nil {
		return errors.New("the victim was never paused")
	}
	waitFor(5*time.Second, func() bool { return len(watchdogs(state)) > 0 })
	for _, pid := range watchdogs(state) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	runner.Process.Kill()
	runner.Wait()
	files, _ := filepath.Glob(filepath.Join(state, "runs", "*.jsonl"))
	if len(files) != 1 {
		return fmt.Errorf("%d journals after the kill, want 1", len(files))
	}
	orig, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	name := filepath.Base(files[0])
	type variant struct {
		at int
		to byte
	}
	var vs []variant
	for i, c := range orig {
		vs = append(vs, variant{i, c ^ 1})
		if c == '\n' {
			vs = append(vs, variant{i, 'x'}, variant{i, '\r'})
		}
	}
	var exit0, exit4, other, stillIn, lost int
	for _, v := range vs {
		syscall.Kill(victim, syscall.SIGSTOP)
		waitFor(5*time.Second, func() bool { st := procState(victim); return st == 'T' || st == 't' })
		sd := filepath.Join(dir, "c", strconv.Itoa(v.at)+"-"+strconv.Itoa(int(v.to)))
		os.MkdirAll(filepath.Join(sd, "runs"), 0o700)
		damaged := append([]byte(nil), orig...)
		damaged[v.at] = v.to
		path := filepath.Join(sd, "runs", name)
		os.WriteFile(path, damaged, 0o600)
		err := exec.Command(bin, "recover", "--state-dir", sd).Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			return err
		}
		// The undo's SIGCONT may be on its way; give it the moment a person would.
		waitFor(2*time.Second, func() bool { st := procState(victim); return st != 'T' && st != 't' })
		stopped := procState(victim) == 'T' || procState(victim) == 't'
		_, statErr := os.Stat(path)
		kept := statErr == nil
		switch code {
		case 0:
			exit0++
		case 4:
			exit4++
		default:
			other++
		}
		if stopped {
			stillIn++
		}
		if code == 0 && stopped || code != 0 && !kept {
			lost++
			fmt.Printf("byte %d (%q → %q): recover exit %d, victim stopped %v, journal kept %v\n", v.at, orig[v.at], v.to, code, stopped, kept)
		}
		os.RemoveAll(sd)
	}
	syscall.Kill(victim, syscall.SIGCONT)
	fmt.Printf("journal of %d bytes, %d damaged copies: recover exited 0 on %d, 4 on %d, other on %d; victim left stopped %d times; "+
		"exit 0 with the fault in, or a journal lost: %d\n", len(orig), len(vs), exit0, exit4, other, stillIn, lost)
	if lost > 0 {
		return fmt.Errorf("%d damaged journals broke the promise", lost)
	}
	return nil
}

package process

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/shakedown-dev/shakedown"
)

// helperEnv makes this test binary, started again by startAs, wait for its stdin to close.
const helperEnv = "SHAKEDOWN_PROCESS_TEST_HELPER"

// TestHelperProcess is not a test: it is what startAs runs.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("run by startAs")
	}
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// startAs starts path with argv until the test ends; the test binary itself (path "")
// runs TestHelperProcess, with argv[1:] after its own flags, as a shakedown command would
// read them.
func startAs(t *testing.T, path string, argv ...string) int {
	t.Helper()
	cmd := &exec.Cmd{Path: path, Args: argv}
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Path = exe
		cmd.Args = append([]string{argv[0], "-test.run=^TestHelperProcess$"}, argv[1:]...)
		cmd.Env = append(os.Environ(), helperEnv+"=1")
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// TestOwnProcessesNeverTargets checks that shakedown's runners and watchdogs — here this
// test binary, started as one — are left out of every selection, and that a selection of
// nothing else is refused as naming only them; the proxy daemon and other programs with the
// same arguments stay targets.
func TestOwnProcessesNeverTargets(t *testing.T) {
	if err := supported(); err != nil {
		t.Skip(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	tag := "st-" + strconv.Itoa(os.Getpid()) + "-" + filepath.Base(t.TempDir())
	runner := startAs(t, "", "shakedown", "run", "--state-dir", tag+"/a", "exp.yaml")
	watchdog := startAs(t, "", "/opt/sd/shakedown", "watchdog", "--state-dir", tag+"/a")
	remote := startAs(t, "", "shakedown", "remote-agent", "inject", tag+"/a")
	proxy := startAs(t, "", "shakedown", "proxy", "--config", "run", tag+"/a")
	other := startAs(t, sh, "sh", "-c", "read x", "run", "--state-dir", tag+"/a")

	tests := []struct {
		name     string
		sel      Selector
		want     []int
		notFound bool // KindNotFound: only shakedown's own processes matched
	}{
		{"runner and watchdog left out", Selector{Cmdline: regexp.QuoteMeta(tag)}, []int{proxy, other}, false},
		{"only own processes", Selector{Cmdline: `\$ (run|watchdog|remote-agent) .*` + regexp.QuoteMeta(tag)}, nil, true},
		{"runner by pid", Selector{PID: runner}, nil, true},
		{"watchdog by pid", Selector{PID: watchdog}, nil, true},
		{"remote agent by pid", Selector{PID: remote}, nil, true},
		{"proxy daemon by pid", Selector{PID: proxy}, []int{proxy}, false},
		{"another program by pid", Selector{PID: other}, []int{other}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A child shows its own command line once it has exec'd: wait for that.
			waitFor(t, "helpers started", func() bool {
				got, own, err := (&Selector{Cmdline: regexp.QuoteMeta(tag)}).find(t.Context(), "/proc")
				return err == nil && len(got) == 2 && len(own) == 3
			})
			got, err := tt.sel.Resolve(t.Context())
			if tt.notFound != shakedown.IsKind(err, shakedown.KindNotFound) || (!tt.notFound && err != nil) {
				t.Fatalf("Resolve(%s) error = %v, want KindNotFound: %v", tt.sel, err, tt.notFound)
			}
			var pids []int
			for _, in := range got {
				pids = append(pids, in.Ref.(Proc).PID)
			}
			if !slices.Equal(pids, tt.want) {
				t.Errorf("Resolve(%s) = pids %v, want %v", tt.sel, pids, tt.want)
			}
		})
	}
}

func TestOwnCommand(t *testing.T) {
	tests := []struct {
		argv []string
		want bool
	}{
		{[]string{"shakedown", "run", "exp.yaml"}, true},
		{[]string{"/usr/bin/shakedown", "watchdog", "--state-dir", "s", "--run", "r"}, true},
		{[]string{"shakedown", "--context", "prod", "run", "x.yaml"}, true},
		{[]string{"shakedown", "--context=prod", "serve"}, true},
		{[]string{"shakedown", "remote-agent", "inject"}, true},
		{[]string{"shakedown", "demo"}, true},
		{[]string{"shakedown", "recover"}, true},
		{[]string{"shakedown", "stop", "--all"}, true},
		{[]string{"shakedown", "proxy", "--config", "run"}, false},
		{[]string{"shakedown", "demo-replica", "--group", "a"}, false},
		{[]string{"shakedown", "stress", "cpu", "--run", "x"}, false},
		{[]string{"shakedown", "load", "http://x/run"}, false},
		{[]string{"shakedown", "--", "run"}, false},
		{[]string{"shakedown"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := ownCommand(tt.argv); got != tt.want {
			t.Errorf("ownCommand(%q) = %v, want %v", tt.argv, got, tt.want)
		}
	}
}

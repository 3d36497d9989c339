package container

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		in   string
		want Endpoint
		kind shakedown.Kind
		bad  bool
	}{
		{in: "", want: Endpoint{Host: DefaultHost, Scheme: "unix", Addr: "/var/run/docker.sock"}},
		{in: "unix:///tmp/x/docker.sock", want: Endpoint{Host: "unix:///tmp/x/docker.sock", Scheme: "unix", Addr: "/tmp/x/docker.sock"}},
		{in: "tcp://127.0.0.1:2376", want: Endpoint{Host: "tcp://127.0.0.1:2376", Scheme: "tcp", Addr: "127.0.0.1:2376"}},
		{in: "tcp://localhost", want: Endpoint{Host: "tcp://localhost", Scheme: "tcp", Addr: "localhost:2375"}},
		{in: "http://[::1]:2375", want: Endpoint{Host: "http://[::1]:2375", Scheme: "tcp", Addr: "[::1]:2375"}},
		{in: "unix://relative.sock", bad: true},
		{in: "ssh://me@host", bad: true},
		{in: "npipe:////./pipe/docker_engine", bad: true},
		{in: "/var/run/docker.sock", bad: true},
		{in: "tcp://", bad: true},
		{in: "tcp://h:1/path", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseHost(tt.in)
		if tt.bad {
			if !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Errorf("ParseHost(%q) = %+v, %v; want KindInvalid", tt.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseHost(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseHost(%q) (-want +got)\n%s", tt.in, diff)
		}
	}
}

// TestParseHostHidesPassword: a docker host refused for its user and password does not
// show the password.
func TestParseHostHidesPassword(t *testing.T) {
	for _, h := range []string{"tcp://me:Passw0rdInHost@h:2376", "ssh://me:Passw0rdInHost@h"} {
		_, err := ParseHost(h)
		if !shakedown.IsKind(err, shakedown.KindInvalid) || strings.Contains(err.Error(), "Passw0rdInHost") {
			t.Errorf("ParseHost(%q) = %v, want KindInvalid without the password", h, err)
		}
	}
}

func TestHostFrom(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "DOCKER_HOST" {
				return v
			}
			return ""
		}
	}
	tests := []struct{ explicit, env, want string }{
		{"unix:///a.sock", "unix:///b.sock", "unix:///a.sock"},
		{"", "unix:///b.sock", "unix:///b.sock"},
		{"", "", DefaultHost},
	}
	for _, tt := range tests {
		if got := HostFrom(tt.explicit, env(tt.env)); got != tt.want {
			t.Errorf("HostFrom(%q) with DOCKER_HOST=%q = %q, want %q", tt.explicit, tt.env, got, tt.want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		server, want string
		bad          bool
	}{
		{server: "1.41", want: "1.41"},
		{server: "1.47", want: "1.47"},
		{server: "1.51", want: MaxAPIVersion},
		{server: "2.0", want: MaxAPIVersion},
		{server: "1.24", bad: true},
		{server: "one", bad: true},
		{server: "", bad: true},
	}
	for _, tt := range tests {
		got, err := Negotiate(tt.server)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("Negotiate(%q) = %q, %v; want %q (error %v)", tt.server, got, err, tt.want, tt.bad)
		}
	}
}

func TestNormalizeSignal(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"", "SIGKILL", false}, {"KILL", "SIGKILL", false}, {"sigterm", "SIGTERM", false},
		{"9", "SIGKILL", false}, {"15", "SIGTERM", false}, {"40", "40", false},
		{"0", "", true}, {"65", "", true}, {"BOGUS", "", true}, {"SIG", "", true},
	}
	for _, tt := range tests {
		got, err := NormalizeSignal(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("NormalizeSignal(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestParseStartTime(t *testing.T) {
	stat := "1234 (a) b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615"
	got, err := ParseStartTime([]byte(stat))
	if err != nil || got != 987654 {
		t.Fatalf("ParseStartTime = %d, %v; want 987654", got, err)
	}
	for _, bad := range []string{"", "1234 (x", "1234 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 nope"} {
		if _, err := ParseStartTime([]byte(bad)); err == nil {
			t.Errorf("ParseStartTime(%q): no error", bad)
		}
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	if v, err := ParseStartTime(b); err != nil || v == 0 {
		t.Fatalf("ParseStartTime(/proc/self/stat) = %d, %v", v, err)
	}
}

func TestParseCgroups(t *testing.T) {
	in := "12:memory:/docker/abc\n11:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/system.slice/docker-abc.scope\nbroken\n"
	want := map[string]string{
		"cgroup.memory":  "/docker/abc",
		"cgroup.cpu":     "/docker/abc",
		"cgroup.cpuacct": "/docker/abc",
		"cgroup":         "/system.slice/docker-abc.scope",
	}
	if diff := cmp.Diff(want, ParseCgroups([]byte(in))); diff != "" {
		t.Errorf("ParseCgroups (-want +got)\n%s", diff)
	}
}

func TestHostSide(t *testing.T) {
	root := t.TempDir()
	id := strings.Repeat("ab", 32)
	dir := filepath.Join(root, "42")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "stat"), []byte("42 (srv) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5555 0 0"), 0o644)
	os.WriteFile(filepath.Join(dir, "cgroup"), []byte("4:memory:/docker/"+id+"\n"), 0o644)
	want := map[string]string{"pid": "42", "starttime": "5555", "netns_path": filepath.Join(dir, "ns", "net"),
		"cgroup.memory": "/docker/" + id, "cgroup": "/docker/" + id}
	if diff := cmp.Diff(want, hostSide(root, 42, id)); diff != "" {
		t.Errorf("hostSide (-want +got)\n%s", diff)
	}
	// a pid whose cgroup does not name the container is not its process
	if got := hostSide(root, 42, strings.Repeat("cd", 32)); got != nil {
		t.Errorf("hostSide of another container's id = %v, want nil", got)
	}
	if got := hostSide(root, 0, id); got != nil {
		t.Errorf("hostSide of pid 0 = %v, want nil", got)
	}
}

func TestSelectorValidate(t *testing.T) {
	tests := []struct {
		sel Selector
		ok  bool
	}{
		{Selector{Name: "web"}, true},
		{Selector{Labels: map[string]string{"app": "shop"}}, true},
		{Selector{ComposeService: "web", ComposeProject: "shop"}, true},
		{Selector{}, false},
		{Selector{Name: "web", ComposeService: "web"}, false},
		{Selector{ComposeProject: "shop"}, false},
		{Selector{Labels: map[string]string{"a=b": "c"}}, false},
		{Selector{Name: "web", DockerHost: "ssh://x"}, false},
	}
	for _, tt := range tests {
		err := tt.sel.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.sel, err, tt.ok)
		}
		if err != nil && !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Validate(%+v) = %v, want KindInvalid", tt.sel, err)
		}
	}
}

func TestFiltersAndMatch(t *testing.T) {
	s := Selector{ComposeService: "web", ComposeProject: "shop"}
	want := map[string][]string{"label": {LabelComposeProject + "=shop", LabelComposeService + "=web"}}
	if diff := cmp.Diff(want, s.filters()); diff != "" {
		t.Errorf("filters (-want +got)\n%s", diff)
	}
	byName := Selector{Name: "web"}
	tests := []struct {
		c    Summary
		want bool
	}{
		{Summary{ID: "0123456789abcdef", Names: []string{"/web"}}, true},
		{Summary{ID: "0123456789abcdef", Names: []string{"/web-1"}}, false},
		{Summary{ID: "0123456789abcdef", Names: []string{"/other/web"}}, false},
	}
	for _, tt := range tests {
		if got := byName.matches(tt.c); got != tt.want {
			t.Errorf("name=web matches %v = %v, want %v", tt.c.Names, got, tt.want)
		}
	}
	if !(&Selector{Name: "0123456789ab"}).matches(Summary{ID: "0123456789abcdef"}) {
		t.Errorf("a 12-character id prefix does not match")
	}
}

// TestUnreachableDaemon: a daemon that cannot be reached is KindUnavailable, before
// anything is injected.
func TestUnreachableDaemon(t *testing.T) {
	reg := registry()
	kind, _ := reg.Target(Kind)
	host := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	_, err := kind.Resolve(t.Context(), shakedown.Env{}, &Selector{Name: "web", DockerHost: host})
	if !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Fatalf("resolve against %s: %v, want KindUnavailable", host, err)
	}
}

// fakeDaemon answers the Engine API from a handler, for the client's edge cases.
func fakeDaemon(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cl, err := NewClient("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestClientStatuses(t *testing.T) {
	cl := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.43")
			w.Write([]byte("OK"))
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/v1.43/") {
			http.Error(w, `{"message":"wrong version"}`, http.StatusBadRequest)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/start"):
			w.WriteHeader(http.StatusNotModified)
		case strings.HasSuffix(r.URL.Path, "/pause"):
			w.WriteHeader(http.StatusConflict)
			w.Write([]byte(`{"message":"container is not running"}`))
		case strings.HasSuffix(r.URL.Path, "/json"):
			if r.URL.Query().Get("all") != "1" {
				http.Error(w, "listings must ask for all", http.StatusBadRequest)
				return
			}
			w.Write([]byte(`[]`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"no such container"}`))
		}
	})
	ctx := t.Context()
	if err := cl.Start(ctx, "x"); err != nil {
		t.Errorf("start of a running container: %v, want nil", err)
	}
	if err := cl.Pause(ctx, "x"); !shakedown.IsKind(err, shakedown.KindConflict) || statusOf(err) != 409 {
		t.Errorf("pause: %v, want KindConflict 409", err)
	}
	if err := cl.Kill(ctx, "x", "SIGKILL"); !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Errorf("kill: %v, want KindNotFound", err)
	}
	if _, err := cl.List(ctx, nil); err != nil {
		t.Errorf("list: %v", err)
	}
	if v, _ := cl.Version(ctx); v != "1.43" {
		t.Errorf("negotiated %q, want 1.43", v)
	}
}

func TestUndoBadData(t *testing.T) {
	reg := registry()
	for _, typ := range []string{UndoStart, UndoUnpause, UndoConnect} {
		fn, _ := reg.Undo(typ)
		for _, data := range []string{`{}`, `null`, `[`, `{"id":"x"}`} {
			if err := fn(context.Background(), json.RawMessage(data)); !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Errorf("%s undo of %s: %v, want KindInvalid", typ, data, err)
			}
		}
	}
}

func TestNewRejectsOtherKinds(t *testing.T) {
	reg := registry()
	ft, _ := reg.Fault("container.pause")
	_, err := ft.New(shakedown.Env{}, &shakedown.FaultSpec{Type: "container.pause"},
		[]shakedown.Instance{{Kind: "process", ID: "1@2", Name: "x"}})
	if !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Fatalf("container.pause on a process: %v, want KindInvalid", err)
	}
	// an instance rebuilt from its record (no Ref) still works
	f, err := ft.New(shakedown.Env{}, &shakedown.FaultSpec{Type: "container.pause"},
		[]shakedown.Instance{{Kind: Kind, ID: "abc", Name: "x", Attrs: map[string]string{"host": "unix:///x.sock", "name": "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"pause container x (abc) on unix:///x.sock"}, f.(shakedown.Planner).Plan()); diff != "" {
		t.Errorf("plan (-want +got)\n%s", diff)
	}
	var u Ref
	json.Unmarshal(f.Undo()[0].Data, &u)
	if diff := cmp.Diff(Ref{Host: "unix:///x.sock", ID: "abc", Name: "x"}, u); diff != "" {
		t.Errorf("undo data (-want +got)\n%s", diff)
	}
}

func TestParamsValidate(t *testing.T) {
	if err := (&GraceParams{Grace: shakedown.Duration(-time.Second)}).Validate(); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("negative grace: %v", err)
	}
	if err := (&DisconnectParams{}).Validate(); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("no network: %v", err)
	}
	if err := (&KillParams{Signal: "NOPE"}).Validate(); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("bad signal: %v", err)
	}
	if err := (&ProbeParams{Selector: Selector{Name: "x"}, Min: -1}).Validate(); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("negative min: %v", err)
	}
}

// TestRegisterWithDefaults: a run-wide docker host reaches targets that name none.
func TestRegisterWithDefaults(t *testing.T) {
	r := shakedown.NewRegistry()
	RegisterWith(r, Options{DockerHost: "unix://" + filepath.Join(t.TempDir(), "none.sock")})
	kind, _ := r.Target(Kind)
	if _, err := kind.Resolve(t.Context(), shakedown.Env{}, &Selector{Name: "web"}); !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Fatalf("resolve against the default host: %v, want KindUnavailable", err)
	}
}

// TestTLSConfigFiles: the certificate files DOCKER_CERT_PATH names are read only when they are
// regular files; a FIFO there is refused at once rather than waited on.
func TestTLSConfigFiles(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "ca.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := tlsConfig(dir)
		done <- err
	}()
	select {
	case err := <-done:
		if !shakedown.IsKind(err, shakedown.KindInvalid) || !errors.Is(err, userfile.ErrNotRegular) {
			t.Errorf("tlsConfig with a FIFO for ca.pem: %v, want invalid, not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tlsConfig with a FIFO for ca.pem: still blocked after 10s")
	}
	if _, err := tlsConfig(t.TempDir()); !shakedown.IsKind(err, shakedown.KindInvalid) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tlsConfig without files: %v, want invalid, not there", err)
	}
}

// TestApplyRevertsWhatMayHaveChanged: the revert of a change covers the containers it
// succeeded on and those whose outcome is unknown (a server error, no answer), never one
// the engine refused to change.
func TestApplyRevertsWhatMayHaveChanged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.41")
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/json"):
			http.Error(w, `{"message":"bad parameter"}`, http.StatusBadRequest)
		case strings.Contains(r.URL.Path, "/ok/"):
			w.WriteHeader(http.StatusNoContent)
		case strings.Contains(r.URL.Path, "/paused/"):
			http.Error(w, `{"message":"container paused is already paused"}`, http.StatusConflict)
		case strings.Contains(r.URL.Path, "/stopped/"):
			w.WriteHeader(http.StatusNotModified)
		case strings.Contains(r.URL.Path, "/gone/"):
			http.Error(w, `{"message":"no such container"}`, http.StatusNotFound)
		case strings.Contains(r.URL.Path, "/odd/"):
			http.Error(w, `{"message":"bad parameter"}`, http.StatusBadRequest)

		case strings.Contains(r.URL.Path, "/podpaused/"): // Podman's answer to a pause of a paused container
			http.Error(w, `{"message":"\"podpaused\" is already paused: container state improper"}`, http.StatusInternalServerError)
		case strings.Contains(r.URL.Path, "/unplugged/"):
			http.Error(w, `{"message":"container unplugged is not connected to network n"}`, http.StatusInternalServerError)
		case strings.Contains(r.URL.Path, "/broken/"):
			http.Error(w, `{"message":"containerd: timeout"}`, http.StatusInternalServerError)
		case strings.Contains(r.URL.Path, "/hangup/"):
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}
	}))
	t.Cleanup(srv.Close)
	host := "tcp://" + strings.TrimPrefix(srv.URL, "http://")
	var ctrs []Container
	for _, id := range []string{"ok", "paused", "podpaused", "stopped", "gone", "odd", "unplugged", "broken", "hangup"} {
		ctrs = append(ctrs, Container{Host: host, ID: id, Name: id})
	}
	changed, unsure, err := apply(t.Context(), "container.pause", ctrs, func(ctx context.Context, cl *Client, c Container) error {
		return cl.post(ctx, c.ID, "pause", nil)
	})
	ids := func(cs []Container) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	if diff := cmp.Diff([]string{"ok", "broken", "hangup"}, ids(changed)); diff != "" {
		t.Errorf("containers the revert covers (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"broken", "hangup"}, ids(unsure)); diff != "" {
		t.Errorf("containers whose change has an unknown outcome (-want +got)\n%s", diff)
	}
	if k := shakedown.KindOf(err); k == shakedown.KindInvalid || err == nil {
		t.Errorf("error %v of kind %s: want an error of the environment", err, k)
	}
	// An engine's "bad request", before or during the inject, is a failure of the
	// environment, not an invalid file (exit 2 would say that nothing was injected).
	err = (&base{ctrs: ctrs[:1]}).check(t.Context(), "container.pause", notPaused)
	if k := shakedown.KindOf(err); err == nil || k == shakedown.KindInvalid {
		t.Errorf("prepare when the engine answers 400: %v (kind %s), want an error of the environment", err, k)
	}
	// a run cancelled before the change was asked for: nothing for the revert
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	changed, _, err = apply(ctx, "container.pause", ctrs, func(ctx context.Context, cl *Client, c Container) error {
		return cl.post(ctx, c.ID, "pause", nil)
	})
	if len(changed) != 0 || !shakedown.IsKind(err, shakedown.KindAborted) {
		t.Errorf("cancelled before the change: the revert covers %d containers (%v), want none and KindAborted", len(changed), err)
	}
}

// silentDaemon is an engine at a unix socket that answers the version check, then holds
// every other call: it answers nothing (mode "silent"), trickles an endless JSON list
// ("trickle"), or sends its headers and then nothing ("stall").
func silentDaemon(t *testing.T, mode string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.41")
			return
		}
		switch mode {
		case "trickle":
			w.Write([]byte("["))
			for {
				if _, err := w.Write([]byte(`{"Id":"x","State":"running"},`)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-done:
					return
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		case "stall":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { close(done); srv.Close() })
	return "unix://" + sock
}

// TestEngineThatDoesNotAnswer: every call to an engine is bounded in time, even on a
// context without a deadline (plan's, a run's without --timeout): an engine that accepts
// the call and never ends its answer fails it as unavailable (exit 5), not as a
// cancellation, and no plan or inject waits for it for ever.
func TestEngineThatDoesNotAnswer(t *testing.T) {
	defer func(d time.Duration) { callTimeout = d }(callTimeout)
	callTimeout = 300 * time.Millisecond
	reg := registry()
	kind, _ := reg.Target(Kind)
	for _, mode := range []string{"silent", "trickle", "stall"} {
		t.Run(mode, func(t *testing.T) {
			host := silentDaemon(t, mode)
			calls := map[string]func(ctx context.Context) error{
				"resolve": func(ctx context.Context) error {
					_, err := kind.Resolve(ctx, shakedown.Env{}, &Selector{Name: "web", DockerHost: host})
					return err
				},
				"pause": func(ctx context.Context) error {
					f := build(t, reg, "container.pause", nil, []shakedown.Instance{{Kind: Kind, ID: "abc", Attrs: map[string]string{"host": host}}})
					_, err := f.Inject(ctx)
					return err
				},
			}
			for name, call := range calls {
				errc := make(chan error, 1)
				go func() { errc <- call(context.Background()) }()
				select {
				case err := <-errc:
					if !shakedown.IsKind(err, shakedown.KindUnavailable) {
						t.Errorf("%s against an engine that does not answer: %v (kind %s), want KindUnavailable", name, err, shakedown.KindOf(err))
					}
				case <-time.After(time.Minute):
					t.Fatalf("%s against an engine that does not answer: still waiting after a minute", name)
				}
			}
		})
	}
}

// TestEngineAnswersTooMuch: what the client keeps of an engine's answer is bounded, not
// only what it reads: a listing of more containers than any engine holds, or an answer
// larger than any real one, is an error and is not read further. (Unbounded, 64 MiB of
// tiny entries became 1.5 GiB of structures.)
func TestEngineAnswersTooMuch(t *testing.T) {
	big := func(w http.ResponseWriter, open, entry, end string) {
		w.Write([]byte(open))
		for range 200_000 {
			if _, err := w.Write([]byte(entry)); err != nil {
				return
			}
		}
		w.Write([]byte(end))
	}
	cl := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/_ping":
			w.Header().Set("Api-Version", "1.41")
		case strings.HasSuffix(r.URL.Path, "/containers/json"):
			big(w, "[", `{"Id":"x","State":"running","Labels":{"a":"b"}},`, `{}]`)
		case strings.HasSuffix(r.URL.Path, "/json"):
			big(w, `{"Id":"x","Config":{"Labels":{"x":"y"},"Env":[`, `"A=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",`, `""]}}`)
		}
	})
	if got, err := cl.List(t.Context(), nil); err == nil || shakedown.KindOf(err) == shakedown.KindInvalid {
		t.Errorf("list of 200000 containers: %d kept, err %v; want an error of the environment", len(got), err)
	}
	if _, err := cl.Inspect(t.Context(), "x"); err == nil || shakedown.KindOf(err) == shakedown.KindInvalid {
		t.Errorf("inspect answer of 8 MiB: err %v; want an error of the environment", err)
	}
}

// TestPersistWaitsForAnEngineOnce: undos try again while the engine cannot be reached, but
// the time away counts across undos, so a replay of many against an engine that is gone
// does not wait once for each.
func TestPersistWaitsForAnEngineOnce(t *testing.T) {
	defer func(d time.Duration) { awayFor = d }(awayFor)
	awayFor = 300 * time.Millisecond
	cl, err := NewClient("unix:///nowhere/engine.sock")
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	away := func(context.Context) error {
		tries++
		return shakedown.Errorf(shakedown.KindUnavailable, "cannot reach docker")
	}
	if err := persist(t.Context(), cl, away); !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Fatalf("first undo: %v, want KindUnavailable", err)
	}
	if tries < 2 {
		t.Errorf("first undo tried %d times, want it to try again", tries)
	}
	for i := range 3 {
		tries = 0
		persist(t.Context(), cl, away)
		if tries != 1 {
			t.Errorf("undo %d after the engine was away for longer than awayFor: %d tries, want 1", i+2, tries)
		}
	}
	// once it answers, the next outage is waited for again
	if err := persist(t.Context(), cl, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	tries = 0
	persist(t.Context(), cl, away)
	if tries < 2 {
		t.Errorf("after the engine answered again: %d tries, want it to try again", tries)
	}
	// failures other than an unreachable engine are not tried again
	tries = 0
	persist(t.Context(), cl, func(context.Context) error { tries++; return shakedown.Errorf(shakedown.KindConflict, "no") })
	if tries != 1 {
		t.Errorf("a conflict was tried %d times, want 1", tries)
	}
}

// TestNameSelectsOneContainer: a name selector stands for one container, as the engine
// looks it up: a full id or an exact name before an id prefix; a prefix that two ids share
// is ambiguous and refused.
func TestNameSelectsOneContainer(t *testing.T) {
	named := Summary{ID: "00000000000000000000000000000000000000000000000000000000000000aa", Names: []string{"/abcdef123456"}, State: "running"}
	byPrefix := Summary{ID: "abcdef123456ffffffffffffffffffffffffffffffffffffffffffffffffffff", Names: []string{"/x"}, State: "running"}
	twin := Summary{ID: "abcdef123456eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", Names: []string{"/y"}, State: "running"}
	ids := func(l []Summary) []string {
		var out []string
		for _, s := range l {
			out = append(out, s.Name())
		}
		return out
	}
	for _, tt := range []struct {
		name string
		list []Summary
		want []string
		kind shakedown.Kind
	}{
		{"abcdef123456", []Summary{byPrefix, named}, []string{"abcdef123456"}, 0},
		{"abcdef123456", []Summary{byPrefix}, []string{"x"}, 0},
		{byPrefix.ID, []Summary{byPrefix, named, twin}, []string{"x"}, 0},
		{"abcdef123456", []Summary{byPrefix, twin}, nil, shakedown.KindConflict},
		{"x", []Summary{byPrefix, twin}, []string{"x"}, 0},
	} {
		got, err := (&Selector{Name: tt.name}).pick(tt.list)
		if tt.kind != 0 {
			if !shakedown.IsKind(err, tt.kind) {
				t.Errorf("name=%s in %v: %v, want kind %s", tt.name, ids(tt.list), err, tt.kind)
			}
			continue
		}
		if err != nil || !slices.Equal(ids(got), tt.want) {
			t.Errorf("name=%s in %v: %v, %v; want %v", tt.name, ids(tt.list), ids(got), err, tt.want)
		}
	}
}

// TestClientRefusesTooLongAnswer: a daemon's answer longer than its bound is an error that
// says so, not a decode error of its cut beginning.
func TestClientRefusesTooLongAnswer(t *testing.T) {
	cl := fakeDaemon(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.43")
			return
		}
		io.WriteString(w, `[{"Id":"`)
		chunk := strings.Repeat("x", 1<<16)
		for range maxList / len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
		io.WriteString(w, `"}]`)
	})
	_, err := cl.List(t.Context(), nil)
	if !shakedown.IsKind(err, shakedown.KindUnavailable) || !errors.Is(err, endpoint.ErrTooLarge) {
		t.Errorf("listing of more than %d bytes: %v, want an unavailable error of an answer too long", maxList, err)
	}
}

// TestRevertOfAStopCutShort: a stop whose call is cut (the run interrupted, --timeout, no
// answer in time) goes on in the engine through its grace period. The live revert ends
// that stop at once (SIGKILL) and then starts the container, instead of finding it still
// running, doing nothing, and leaving it to be stopped after the run said "reverted".
func TestRevertOfAStopCutShort(t *testing.T) {
	var (
		mu      sync.Mutex
		running = map[string]bool{"cut": true, "done": true}
		calls   []string
	)
	stopAsked := make(chan struct{}, 2)
	doneStopped := make(chan struct{}, 1) // "done"'s stop answered: the run is cut only after it
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.41")
			return
		}
		parts := strings.Split(r.URL.Path, "/") // "", v1.41, containers, id, verb
		if len(parts) != 5 || parts[2] != "containers" {
			http.NotFound(w, r)
			return
		}
		id, verb := parts[3], parts[4]
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPost {
			calls = append(calls, verb+" "+id)
		}
		switch verb {
		case "json":
			json.NewEncoder(w).Encode(map[string]any{"Id": id, "Name": "/" + id, "State": map[string]any{"Running": running[id]}})
		case "stop":
			if id == "done" {
				running[id] = false
				w.WriteHeader(http.StatusNoContent)
				w.(http.Flusher).Flush()
				doneStopped <- struct{}{}
				return
			}
			// the engine stops it through its grace period, long after the call is cut
			stopAsked <- struct{}{}
			mu.Unlock()
			<-r.Context().Done()
			mu.Lock()
		case "kill":
			running[id] = false
			w.WriteHeader(http.StatusNoContent)
		case "start":
			running[id] = true
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(srv.Close)
	host := "tcp://" + strings.TrimPrefix(srv.URL, "http://")
	var ins []shakedown.Instance
	for _, id := range []string{"cut", "done"} {
		ins = append(ins, shakedown.Instance{Kind: Kind, ID: id, Attrs: map[string]string{"host": host, "name": id}})
	}
	f := build(t, registry(), "container.stop", nil, ins)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-stopAsked; <-doneStopped; cancel() }()
	rev, err := f.Inject(ctx)
	if err == nil || rev == nil {
		t.Fatalf("inject cut short: revert %v, err %v; want an error and a revert", rev != nil, err)
	}
	mu.Lock()
	calls = nil
	mu.Unlock()
	if err := rev(t.Context()); err != nil {
		t.Fatalf("revert: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(calls, "start done") {
		t.Errorf("revert calls %q: want the stopped container started", calls)
	}
	if i, j := slices.Index(calls, "kill cut"), slices.Index(calls, "start cut"); i < 0 || j < i {
		t.Errorf("revert calls %q: want the stop cut short ended (kill) and then the container started", calls)
	}
	if slices.Contains(calls, "kill done") {
		t.Errorf("revert calls %q: a container whose stop completed is not killed", calls)
	}
}

// flappingDaemon is an engine at a unix socket that can go away (its socket removed) and
// come back; every container it is asked about runs.
type flappingDaemon struct {
	t    *testing.T
	sock string
	srv  *http.Server
}

func newFlappingDaemon(t *testing.T) *flappingDaemon {
	d := &flappingDaemon{t: t, sock: filepath.Join(t.TempDir(), "d.sock")}
	d.up()
	t.Cleanup(d.down)
	return d
}

func (d *flappingDaemon) up() {
	ln, err := net.Listen("unix", d.sock)
	if err != nil {
		d.t.Fatal(err)
	}
	d.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.41")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"Id": "x", "State": map[string]any{"Running": true}})
	})}
	go d.srv.Serve(ln)
}

// down closes the listener (which removes the socket) and every connection.
func (d *flappingDaemon) down() {
	if d.srv != nil {
		d.srv.Close()
		d.srv = nil
	}
}

// TestEngineBackEndsItsTimeAway: the client is shared by every run of the process. After
// an outage that outlasted awayFor, any call the engine answers ends the time away, so the
// undo of a later outage tries again instead of giving up at its first failure.
func TestEngineBackEndsItsTimeAway(t *testing.T) {
	defer func(d time.Duration) { awayFor = d }(awayFor)
	awayFor = 500 * time.Millisecond
	d := newFlappingDaemon(t)
	cl, err := NewClient("unix://" + d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tries := 0
	undo := func(ctx context.Context) error {
		tries++
		_, err := cl.Inspect(ctx, "x")
		return err
	}
	if err := cl.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	d.down()
	if err := persist(t.Context(), cl, undo); !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Fatalf("undo with the engine away: %v, want KindUnavailable", err)
	}
	d.up()
	if _, err := cl.Inspect(t.Context(), "x"); err != nil { // a plain call, not an undo's
		t.Fatalf("inspect with the engine back: %v", err)
	}
	d.down()
	tries = 0
	if err := persist(t.Context(), cl, undo); !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Fatalf("undo with the engine away again: %v, want KindUnavailable", err)
	}
	if tries < 2 {
		t.Errorf("undo in a second outage, after the engine answered between: %d tries, want it to try again", tries)
	}
}

// TestPersistEndsWhenOnlySomeCallsAreAnswered: an undo one of whose calls the engine
// answers (ending the time away) and the next not, still tries for awayFor, not for ever.
func TestPersistEndsWhenOnlySomeCallsAreAnswered(t *testing.T) {
	defer func(d time.Duration) { awayFor = d }(awayFor)
	awayFor = 300 * time.Millisecond
	d := newFlappingDaemon(t)
	cl, err := NewClient("unix://" + d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background()) // no deadline, as a revert's may be long
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- persist(ctx, cl, func(ctx context.Context) error {
			if _, err := cl.Inspect(ctx, "x"); err != nil {
				return err
			}
			return shakedown.Errorf(shakedown.KindUnavailable, "docker did not answer in time")
		})
	}()
	select {
	case err := <-errc:
		if !shakedown.IsKind(err, shakedown.KindUnavailable) {
			t.Errorf("undo: %v, want KindUnavailable", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("undo still trying after a minute, with awayFor 300ms")
	}
}

package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// deadAddr returns a loopback address nothing listens on: a port below the ephemeral range,
// which the next test to listen on port 0 cannot be given meanwhile.
func deadAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testenv.Ports(t, 1)[0])
}

// patient bounds a probe that must hold: long, as only a broken probe waits it out, and a
// busy machine may be slow to answer.
const patient = 10 * time.Second

// newProber builds a prober through the registry, as the engine does.
func newProber(t testing.TB, typ string, params any, timeout time.Duration) shakedown.Prober {
	t.Helper()
	reg := shakedown.NewRegistry()
	Register(reg)
	pt, ok := reg.Probe(typ)
	if !ok {
		t.Fatalf("probe type %s not registered", typ)
	}
	p, err := pt.New(shakedown.Env{}, params, timeout)
	if err != nil {
		t.Fatalf("new %s probe with %+v: %v", typ, params, err)
	}
	if c, ok := p.(shakedown.Closer); ok {
		t.Cleanup(func() { c.Close() })
	}
	return p
}

func httpDefaults(t testing.TB) *HTTPParams {
	reg := shakedown.NewRegistry()
	Register(reg)
	pt, _ := reg.Probe("http")
	return pt.Params().(*HTTPParams)
}

var observedTime = regexp.MustCompile(`^\d+ in \d+(\.\d+)?(ms|s)$`)

func TestHTTPAgainstVictim(t *testing.T) {
	ok := testenv.StartVictim(t)
	failing := testenv.StartVictim(t, "-fail", "1")
	slow := testenv.StartVictim(t, "-delay", "5s")
	dead := deadAddr(t)

	tests := []struct {
		name    string
		url     string
		status  int
		body    string
		timeout time.Duration
		holds   bool
	}{
		{"healthz", "http://" + ok.Addr + "/healthz", 200, "", patient, true},
		{"body matches", "http://" + ok.Addr + "/healthz", 200, `^ok\s*$`, patient, true},
		{"body does not match", "http://" + ok.Addr + "/healthz", 200, `nope`, patient, false},
		{"any 2xx", "http://" + ok.Addr + "/", 0, "hello", patient, true},
		{"200 when 404 wanted", "http://" + ok.Addr + "/healthz/x", 404, "", patient, false},
		{"500 not 200", "http://" + failing.Addr + "/", 200, "", patient, false},
		{"500 not 2xx", "http://" + failing.Addr + "/", 0, "", patient, false},
		{"500 wanted", "http://" + failing.Addr + "/", 500, "", patient, true},
		{"dead port", "http://" + dead + "/", 200, "", patient, false},
		{"too slow", "http://" + slow.Addr + "/", 200, "", 100 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := httpDefaults(t)
			p.URL, p.Status, p.BodyRegexp = tt.url, tt.status, tt.body
			obs, err := newProber(t, "http", p, tt.timeout).Probe(t.Context())
			if tt.holds {
				if err != nil {
					t.Fatalf("probe %s: %v (observed %q), want it to hold", tt.url, err, obs)
				}
				if !observedTime.MatchString(obs) {
					t.Errorf("observed %q, want like \"200 in 3.2ms\"", obs)
				}
				return
			}
			if !shakedown.IsKind(err, shakedown.KindFailed) {
				t.Fatalf("probe %s: %v (observed %q), want KindFailed", tt.url, err, obs)
			}
			if obs == "" {
				t.Error("no observation for a probe that does not hold")
			}
		})
	}
}

func TestHTTPRequestAndKeepAlive(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/moved":
			http.Redirect(w, r, "/echo", http.StatusFound)
		case r.Method != http.MethodPost || r.Header.Get("X-Token") != "t1" || r.Host != "shop.test":
			http.Error(w, "wrong request", http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusCreated)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	p := httpDefaults(t)
	p.URL, p.Method, p.Status = srv.URL+"/echo", "POST", 201
	p.Headers = map[string]string{"X-Token": "t1", "Host": "shop.test"}
	pr := newProber(t, "http", p, patient)
	for i := range 5 {
		if obs, err := pr.Probe(t.Context()); err != nil {
			t.Fatalf("sample %d: %v (%s)", i, err, obs)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("5 samples opened %d connections, want 1 kept alive", n)
	}

	// Redirects are followed, unless a 3xx is what is wanted.
	for _, tt := range []struct {
		status int
		holds  bool
	}{{302, true}, {400, true}, {200, false}} {
		q := httpDefaults(t)
		q.URL, q.Status = srv.URL+"/moved", tt.status
		_, err := newProber(t, "http", q, patient).Probe(t.Context())
		if (err == nil) != tt.holds {
			t.Errorf("GET /moved wanting %d: error %v, want holds=%v", tt.status, err, tt.holds)
		}
	}
}

func TestHTTPValidate(t *testing.T) {
	tests := []struct {
		p  HTTPParams
		ok bool
	}{
		{HTTPParams{URL: "http://127.0.0.1:8080/healthz"}, true},
		{HTTPParams{URL: "https://shop.example/x", Method: "HEAD", Status: 204, BodyRegexp: "ok", Headers: map[string]string{"Accept": "text/plain"}}, true},
		{HTTPParams{URL: ""}, false},
		{HTTPParams{URL: "127.0.0.1:8080/healthz"}, false},
		{HTTPParams{URL: "ftp://127.0.0.1/"}, false},
		{HTTPParams{URL: "http:///path"}, false},
		{HTTPParams{URL: "http://127.0.0.1:99999/"}, false},
		{HTTPParams{URL: "http://127.0.0.1:0/"}, false},
		{HTTPParams{URL: "http://a/%zz"}, false},
		{HTTPParams{URL: "http://a/", Method: "GET X"}, false},
		{HTTPParams{URL: "http://a/", Status: 42}, false},
		{HTTPParams{URL: "http://a/", BodyRegexp: "("}, false},
		{HTTPParams{URL: "http://a/", Headers: map[string]string{"Bad Name": "x"}}, false},
		{HTTPParams{URL: "http://a/", Headers: map[string]string{"X": "a\r\nInjected: 1"}}, false},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if tt.ok && err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", tt.p, err)
		}
		if !tt.ok && !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Validate(%+v) = %v, want KindInvalid", tt.p, err)
		}
	}
	if d := httpDefaults(t); d.Method != "GET" || d.Status != 200 {
		t.Errorf("defaults %+v, want GET and 200", d)
	}
}

func TestTCP(t *testing.T) {
	v := testenv.StartVictim(t)
	obs, err := newProber(t, "tcp", &TCPParams{Address: v.Addr}, patient).Probe(t.Context())
	if err != nil {
		t.Fatalf("tcp probe of the victim: %v", err)
	}
	if !regexp.MustCompile(`^connected in \d+(\.\d+)?(ms|s)$`).MatchString(obs) {
		t.Errorf("observed %q, want like \"connected in 0.4ms\"", obs)
	}
	obs, err = newProber(t, "tcp", &TCPParams{Address: deadAddr(t)}, patient).Probe(t.Context())
	if !shakedown.IsKind(err, shakedown.KindFailed) || obs == "" {
		t.Fatalf("tcp probe of a dead port: %q, %v; want KindFailed with an observation", obs, err)
	}
}

func TestTCPValidate(t *testing.T) {
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", true}, {"[::1]:6379", true}, {"cache.internal:6379", true},
		{"", false}, {"127.0.0.1", false}, {":80", false}, {"127.0.0.1:", false},
		{"127.0.0.1:http", false}, {"127.0.0.1:70000", false}, {"127.0.0.1:0", false},
	} {
		err := (&TCPParams{Address: tt.addr}).Validate()
		if tt.ok != (err == nil) || (!tt.ok && !shakedown.IsKind(err, shakedown.KindInvalid)) {
			t.Errorf("Validate(%q) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
	}
}

func FuzzValidateAddresses(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "[::1]:1", "http://a:1/b", ":", "[", "http://[::1]:65535/",
		"127.0.0.1:99999", "http://127.0.0.1:99999/", "http://bob:hunter2/xx@h/", "garbage"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if (&TCPParams{Address: s}).Validate() == nil {
			_, port, err := net.SplitHostPort(s)
			if err == nil {
				var n int
				n, err = strconv.Atoi(port)
				if err == nil && (n < 1 || n > 65535) {
					err = errors.New("port out of range")
				}
			}
			if err != nil {
				t.Fatalf("tcp address %q accepted: %v", s, err)
			}
		}
		if (&HTTPParams{URL: s}).Validate() == nil {
			if _, err := http.NewRequest("GET", s, nil); err != nil {
				t.Fatalf("url %q accepted but no request can be made of it: %v", s, err)
			}
		}
	})
}

func TestExec(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		p    ExecParams
		code int // -1: holds
	}{
		{"true", ExecParams{Command: []string{"true"}}, -1},
		{"env and dir", ExecParams{Command: []string{"sh", "-c", `test "$WANT" = yes && test "$(pwd)" = "` + dir + `"`}, Env: map[string]string{"WANT": "yes"}, Dir: dir}, -1},
		{"exit 3", ExecParams{Command: []string{"sh", "-c", "echo broken >&2; exit 3"}}, 3},
		{"false", ExecParams{Command: []string{"false"}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := newProber(t, "exec", &tt.p, patient).Probe(t.Context())
			if tt.code < 0 {
				if err != nil {
					t.Fatalf("probe: %v (%s), want it to hold", err, obs)
				}
				if !strings.HasPrefix(obs, "exit 0 in ") {
					t.Errorf("observed %q, want \"exit 0 in …\"", obs)
				}
				return
			}
			var ee *exec.ExitError
			if !shakedown.IsKind(err, shakedown.KindFailed) || !errors.As(err, &ee) || ee.ExitCode() != tt.code {
				t.Fatalf("probe: %v (%s), want KindFailed with exit code %d", err, obs, tt.code)
			}
			if !strings.HasPrefix(obs, fmt.Sprintf("exit %d in ", tt.code)) {
				t.Errorf("observed %q, want it to start with the exit code", obs)
			}
		})
	}
}

func TestExecTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	p := &ExecParams{Command: []string{"sh", "-c", `sleep 60 & echo $! > ` + pidFile + `; wait`}}
	// The timeout gives a busy machine time to start the shell and its child first.
	obs, err := newProber(t, "exec", p, 2*time.Second).Probe(t.Context())
	if !shakedown.IsKind(err, shakedown.KindFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("probe: %v (%s), want a KindFailed timeout", err, obs)
	}
	child := testenv.ReadPIDFile(pidFile)
	if child <= 0 {
		t.Fatalf("no child pid in %s", pidFile)
	}
	testenv.WaitFor(t, fmt.Sprintf("background child %d gone after the timeout", child), 10*time.Second,
		func() bool { return !testenv.Running(child) })
}

// TestExecLeavesNothingBehind: a probe whose command passes but leaves a child running
// (started with &) does not leave it: sampled every second, such a probe would pile them
// up.
func TestExecLeavesNothingBehind(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	p := &ExecParams{Command: []string{"sh", "-c", `sleep 60 & echo $! > ` + pidFile + `; exit 0`}}
	if obs, err := newProber(t, "exec", p, 10*time.Second).Probe(t.Context()); err != nil {
		t.Fatalf("probe: %v (%s), want it to pass", err, obs)
	}
	child := testenv.ReadPIDFile(pidFile)
	if child <= 0 {
		t.Fatalf("no child pid in %s", pidFile)
	}
	testenv.WaitFor(t, fmt.Sprintf("background child %d gone after the sample", child), 10*time.Second,
		func() bool { return !testenv.Running(child) })
}

func TestExecNotFoundAndValidate(t *testing.T) {
	_, err := newProber(t, "exec", &ExecParams{Command: []string{filepath.Join(t.TempDir(), "nothing")}}, time.Second).Probe(t.Context())
	if !shakedown.IsKind(err, shakedown.KindNotFound) {
		t.Errorf("probe of a missing program: %v, want KindNotFound", err)
	}
	for _, p := range []ExecParams{{}, {Command: []string{""}}, {Command: []string{"true"}, Env: map[string]string{"": "x"}}} {
		if err := p.Validate(); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("Validate(%+v) = %v, want KindInvalid", p, err)
		}
	}
}

func TestNewRejectsBadParams(t *testing.T) {
	reg := shakedown.NewRegistry()
	Register(reg)
	for typ, params := range map[string]any{
		"http": &HTTPParams{URL: "nope"},
		"tcp":  &TCPParams{Address: "nope"},
		"exec": &ExecParams{},
	} {
		pt, _ := reg.Probe(typ)
		if _, err := pt.New(shakedown.Env{}, params, time.Second); !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("new %s with %+v: %v, want KindInvalid", typ, params, err)
		}
		if _, err := pt.New(shakedown.Env{}, 42, time.Second); err == nil {
			t.Errorf("new %s with an int: no error", typ)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		420 * time.Microsecond:  "0.42ms",
		3200 * time.Microsecond: "3.2ms",
		120 * time.Millisecond:  "120ms",
		1250 * time.Millisecond: "1.25s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func BenchmarkHTTPProbe(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	defer srv.Close()
	p := &HTTPParams{URL: srv.URL, Status: 200, BodyRegexp: "ok"}
	pr := newProber(b, "http", p, time.Second)
	for b.Loop() {
		if _, err := pr.Probe(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTCPProbe(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	pr := newProber(b, "tcp", &TCPParams{Address: ln.Addr().String()}, time.Second)
	for b.Loop() {
		if _, err := pr.Probe(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExecProbe(b *testing.B) {
	pr := newProber(b, "exec", &ExecParams{Command: []string{"true"}}, time.Second)
	for b.Loop() {
		if _, err := pr.Probe(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSecretsHidden: an exec probe's env: values in what it printed, an http probe's URL
// password and secret query parameters show as xxxxx in observations, errors and plans.
func TestSecretsHidden(t *testing.T) {
	ep := &ExecParams{Command: []string{"sh", "-c", `echo "no entry with $KEY" >&2; exit 1`}, Env: map[string]string{"KEY": "K3yInEnv"}}
	obs, err := newProber(t, "exec", ep, patient).Probe(t.Context())
	if err == nil {
		t.Fatalf("exec probe held (%s), want it to fail", obs)
	}
	if !strings.Contains(obs, "no entry with xxxxx") {
		t.Errorf("exec observation %q, want what it printed with the value hidden", obs)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	hp := httpDefaults(t)
	hp.URL = strings.Replace(srv.URL, "http://", "http://u:Passw0rdInURL@", 1) + "/?api_key=K3yInQuery"
	hp.Headers = map[string]string{"Authorization": "Bearer T0kenInHeader"}
	hobs, herr := newProber(t, "http", hp, patient).Probe(t.Context())
	if herr == nil {
		t.Fatalf("http probe held (%s), want status 418 to fail it", hobs)
	}
	bad := &HTTPParams{URL: "http://u:Passw0rdInURL@127.0.0.1:99999999/"}
	shown := strings.Join([]string{obs, err.Error(), ep.String(), hobs, herr.Error(), hp.String(), bad.Validate().Error()}, "\n")
	for _, secret := range []string{"K3yInEnv", "Passw0rdInURL", "K3yInQuery", "T0kenInHeader"} {
		if strings.Contains(shown, secret) {
			t.Errorf("the secret %q shows in:\n%s", secret, shown)
		}
	}
}

// rawServer serves each connection it accepts with serve, after reading the request's
// first line: a server that need not speak HTTP.
func rawServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(patient))
				bufio.NewReader(c).ReadString('\n')
				serve(c)
			})
		}
	})
	return "http://" + ln.Addr().String() + "/"
}

// TestHTTPHostileServer: whatever a server answers, a sample ends within its timeout, reads
// a bounded amount, and does not hold unless a whole answer came back as wanted.
func TestHTTPHostileServer(t *testing.T) {
	const timeout = time.Second
	endless := func(c net.Conn, head string, chunk string) {
		c.Write([]byte(head))
		for {
			if _, err := c.Write([]byte(chunk)); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name  string
		serve func(c net.Conn)
	}{
		{"a body that never ends", func(c net.Conn) { endless(c, "HTTP/1.1 200 OK\r\n\r\n", strings.Repeat("ok\n", 4096)) }},
		{"a chunked body that never ends", func(c net.Conn) {
			endless(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "1000\r\n"+strings.Repeat("o", 4096)+"\r\n")
		}},
		{"a body past its length", func(c net.Conn) { c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok")) }},
		{"a header one byte at a time", func(c net.Conn) {
			for _, b := range []byte("HTTP/1.1 200 OK\r\nX-Slow: yes\r\n\r\nok") {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}},
		{"a header that never ends", func(c net.Conn) { endless(c, "HTTP/1.1 200 OK\r\n", "X-Big: "+strings.Repeat("y", 4000)+"\r\n") }},
		{"a status line that is not HTTP", func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n\r\n")) }},
		{"a redirect to file://", func(c net.Conn) {
			c.Write([]byte("HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n"))
		}},
		{"a redirect loop", func(c net.Conn) {
			for {
				if _, err := c.Write([]byte("HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n")); err != nil {
					return
				}
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					return
				}
			}
		}},
	}
	for _, tt := range tests {
		for _, re := range []string{"", "ok"} {
			t.Run(fmt.Sprintf("%s, body_regexp %q", tt.name, re), func(t *testing.T) {
				p := httpDefaults(t)
				p.URL, p.BodyRegexp = rawServer(t, tt.serve), re
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				obs, err := newProber(t, "http", p, timeout).Probe(t.Context())
				took := time.Since(start)
				runtime.ReadMemStats(&after)
				if !shakedown.IsKind(err, shakedown.KindFailed) || obs == "" {
					t.Errorf("probe: %v (observed %q), want KindFailed with an observation", err, obs)
				}
				if took > timeout+time.Second {
					t.Errorf("probe took %v, want at most its timeout %v", took, timeout)
				}
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*endpoint.MaxAnswer {
					t.Errorf("probe allocated %d MiB", alloc>>20)
				}
			})
		}
	}
}

// TestHTTPSendsTheSecrets: the secrets of an http probe's URL — its password, a secret query
// parameter — are sent as written; only what shakedown shows of them is hidden.
func TestHTTPSendsTheSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, pw, _ := r.BasicAuth(); u != "u" || pw != "Passw0rdInURL" || r.URL.Query().Get("api_key") != "K3yInQuery" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	p := httpDefaults(t)
	p.URL = strings.Replace(srv.URL, "http://", "http://u:Passw0rdInURL@", 1) + "/?api_key=K3yInQuery"
	if obs, err := newProber(t, "http", p, patient).Probe(t.Context()); err != nil {
		t.Errorf("probe of %s: %v (observed %q), want it to hold", p.String(), err, obs)
	}
	p.URL = strings.Replace(deadAddr(t), "127.0.0.1", "http://u:Passw0rdInURL@127.0.0.1", 1) + "/?api_key=K3yInQuery"
	obs, err := newProber(t, "http", p, patient).Probe(t.Context())
	if err == nil {
		t.Fatalf("probe of a dead port held (%s)", obs)
	}
	for _, secret := range []string{"Passw0rdInURL", "K3yInQuery"} {
		if strings.Contains(obs+err.Error(), secret) {
			t.Errorf("the secret %q shows in %q, %v", secret, obs, err)
		}
	}
}

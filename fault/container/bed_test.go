package container

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// The engines the integration tests run against. They never read DOCKER_HOST, so a
// developer's own daemon is never touched.
const (
	envDocker = "SHAKEDOWN_TEST_DOCKER_HOST"
	envPodman = "SHAKEDOWN_TEST_PODMAN_HOST" // Podman's Docker-compatible socket
)

// engines returns the engines to run a test against: dockerd always (skipping when unset),
// Podman when its variable is set (or required).
func engines(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{"docker": testenv.NeedEnv(t, envDocker)}
	if h := os.Getenv(envPodman); h != "" {
		out["podman"] = h
	} else if testenv.RequireAll() {
		t.Fatalf("required but missing: %s is not set (SHAKEDOWN_REQUIRE_ALL=1)", envPodman)
	}
	return out
}

var (
	srvOnce sync.Once
	srvPath string
	srvErr  error
)

// serverBinary builds testdata/ctrsrv as a static binary, once.
func serverBinary(t testing.TB) string {
	t.Helper()
	srvOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shakedown-ctrsrv-")
		if err != nil {
			srvErr = err
			return
		}
		srvPath = filepath.Join(dir, "srv")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", srvPath, "./testdata/ctrsrv")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			srvErr = fmt.Errorf("%v: %s", err, out)
		}
	})
	if srvErr != nil {
		t.Fatalf("build test server: %v", srvErr)
	}
	return srvPath
}

// buildContext returns a tar build context: a FROM scratch Dockerfile and the binary.
func buildContext(bin []byte) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	df := []byte("FROM scratch\nCOPY srv /srv\nENTRYPOINT [\"/srv\"]\n")
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df))})
	tw.Write(df)
	tw.WriteHeader(&tar.Header{Name: "srv", Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	tw.Close()
	return &buf
}

var (
	imgMu    sync.Mutex
	imgBuilt = map[string]string{} // host → tag
)

// image builds the test image on the engine at host once per test binary and returns its
// tag.
func image(t testing.TB, cl *Client) string {
	t.Helper()
	imgMu.Lock()
	defer imgMu.Unlock()
	if tag, ok := imgBuilt[cl.Host()]; ok {
		return tag
	}
	bin, err := os.ReadFile(serverBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("localhost/shakedown-ctrsrv:t%d", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.BuildImage(ctx, tag, buildContext(bin)); err != nil {
		t.Fatalf("build image on %s: %v", cl.Host(), err)
	}
	imgBuilt[cl.Host()] = tag
	return tag
}

// bed is one engine with what a test created on it, removed at cleanup.
type bed struct {
	t     testing.TB
	host  string
	cl    *Client
	img   string
	label string // a label value unique to this test, on everything it creates
}

func newBed(t testing.TB, host string) *bed {
	t.Helper()
	cl, err := NewClient(host)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Ping(t.Context()); err != nil {
		t.Fatalf("engine at %s: %v", host, err)
	}
	b := &bed{t: t, host: host, cl: cl, label: fmt.Sprintf("t%d", rand.Uint64())}
	b.img = image(t, cl)
	t.Cleanup(func() { cl.Close() })
	return b
}

func (b *bed) name(s string) string { return "sd-" + b.label + "-" + s }

// network creates a bridge network with a subnet of its own.
func (b *bed) network(s string) string {
	b.t.Helper()
	name := b.name(s)
	var err error
	for range 10 {
		subnet := fmt.Sprintf("10.%d.%d.0/24", 200+rand.IntN(50), rand.IntN(256))
		if _, err = b.cl.CreateNetwork(b.t.Context(), name, subnet, map[string]string{"shakedown-test": b.label}); err == nil {
			break
		}
	}
	if err != nil {
		b.t.Fatalf("create network %s: %v", name, err)
	}
	b.t.Cleanup(func() { b.cl.RemoveNetwork(context.Background(), name) })
	return name
}

// run creates and starts a container of the test image and removes it at cleanup.
func (b *bed) run(s CreateSpec) string {
	b.t.Helper()
	ctx := b.t.Context()
	s.Image = b.img
	s.Name = b.name(s.Name)
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.Labels["shakedown-test"] = b.label
	id, err := b.cl.Create(ctx, s)
	if err != nil {
		b.t.Fatalf("create container %s: %v", s.Name, err)
	}
	b.t.Cleanup(func() { b.cl.Remove(context.Background(), id) })
	if err := b.cl.Start(ctx, id); err != nil {
		b.t.Fatalf("start container %s: %v", s.Name, err)
	}
	return id
}

// waitState waits until the container's state satisfies ok, or fails after 30 s.
func (b *bed) waitState(id, what string, ok func(*Details) bool) *Details {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := b.cl.Inspect(b.t.Context(), id)
		if err == nil && ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			state := "?"
			if d != nil {
				state = d.State.Status
			}
			b.t.Fatalf("container %s: not %s within 30s (state %s, err %v)", ShortID(id), what, state, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *bed) state(id string) string {
	b.t.Helper()
	d, err := b.cl.Inspect(b.t.Context(), id)
	if err != nil {
		b.t.Fatalf("inspect %s: %v", ShortID(id), err)
	}
	return d.State.Status
}

// resolve resolves a selector on this engine through the registered target kind.
func (b *bed) resolve(reg *shakedown.Registry, sel Selector) []shakedown.Instance {
	b.t.Helper()
	sel.DockerHost = b.host
	kind, _ := reg.Target(Kind)
	ins, err := kind.Resolve(b.t.Context(), shakedown.Env{RunID: "t"}, &sel)
	if err != nil {
		b.t.Fatalf("resolve %s: %v", sel.String(), err)
	}
	return ins
}

func ids(ins []shakedown.Instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.ID
	}
	return out
}

// TestMain removes the images the tests built once they are done.
func TestMain(m *testing.M) {
	code := m.Run()
	imgMu.Lock()
	for host, tag := range imgBuilt {
		if cl, err := NewClient(host); err == nil {
			cl.RemoveImage(context.Background(), tag)
			cl.Close()
		}
	}
	imgMu.Unlock()
	os.Exit(code)
}

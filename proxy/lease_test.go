package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// do sends one API request to h in-process and decodes the answer into out.
func do(t testing.TB, h http.Handler, method, path, body string, out any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	if out != nil && rec.Code < 300 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, rec.Body)
		}
	}
	return rec.Code
}

func TestToxicTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(nil)
		defer s.Close()
		h := s.Handler()
		do(t, h, "POST", "/proxies", `{"name":"p","upstream":"127.0.0.1:1","enabled":false}`, nil)
		if code := do(t, h, "POST", "/proxies/p/toxics", `{"type":"latency","ttl_ms":5000}`, &json.RawMessage{}); code != 200 {
			t.Fatalf("add: %d", code)
		}
		time.Sleep(4999 * time.Millisecond)
		synctest.Wait()
		if code := do(t, h, "GET", "/proxies/p/toxics/latency_downstream", "", nil); code != 200 {
			t.Fatalf("toxic gone before its TTL: %d", code)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if code := do(t, h, "GET", "/proxies/p/toxics/latency_downstream", "", nil); code != 404 {
			t.Fatalf("toxic still there after its TTL: %d", code)
		}
	})
}

func TestLeaseRenewAndExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewServer(nil)
		defer s.Close()
		h := s.Handler()
		do(t, h, "POST", "/proxies", `{"name":"p","upstream":"127.0.0.1:1","enabled":false}`, nil)
		var l Lease
		if code := do(t, h, "POST", "/leases", `{"ttl_ms":1000}`, &l); code != 201 {
			t.Fatalf("lease: %d", code)
		}
		body := fmt.Sprintf(`{"type":"latency","lease":%q}`, l.ID)
		if code := do(t, h, "POST", "/proxies/p/toxics", body, nil); code != 200 {
			t.Fatalf("add: %d", code)
		}
		// Renewed every 900 ms for ten seconds, the toxic stays.
		for range 11 {
			time.Sleep(900 * time.Millisecond)
			if code := do(t, h, "POST", "/leases/"+l.ID, "", nil); code != 200 {
				t.Fatalf("renew: %d", code)
			}
		}
		if code := do(t, h, "GET", "/proxies/p/toxics/latency_downstream", "", nil); code != 200 {
			t.Fatalf("toxic gone while its lease was renewed: %d", code)
		}
		// Renewals stop: it is gone one TTL after the last.
		time.Sleep(999 * time.Millisecond)
		synctest.Wait()
		if code := do(t, h, "GET", "/proxies/p/toxics/latency_downstream", "", nil); code != 200 {
			t.Fatalf("toxic gone before the lease ran out: %d", code)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if code := do(t, h, "GET", "/proxies/p/toxics/latency_downstream", "", nil); code != 404 {
			t.Fatalf("toxic still there after its lease expired: %d", code)
		}
		if code := do(t, h, "POST", "/leases/"+l.ID, "", nil); code != 404 {
			t.Fatalf("expired lease renewed: %d", code)
		}
	})
}

// leaseHolderEnv makes the test binary a lease holder: it takes a lease, adds a toxic
// under it, says "ready" and renews until killed.
//
// It renews every holderRenew a lease of holderTTL: a renewal may be late by the difference
// (a busy machine not scheduling the holder, a slow request) without the lease running out.
const (
	holderTTL   = 2 * time.Second
	holderRenew = 100 * time.Millisecond
)

const leaseHolderEnv = "SHAKEDOWN_PROXY_TEST_LEASE_HOLDER"

func TestMain(m *testing.M) {
	if api := os.Getenv(leaseHolderEnv); api != "" {
		holdLease(api)
		return
	}
	os.Exit(m.Run())
}

func holdLease(api string) {
	post := func(path, body string) []byte {
		resp, err := http.Post(api+path, "application/json", strings.NewReader(body))
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		if resp.StatusCode >= 300 {
			fmt.Println("error:", resp.Status, b.String())
			os.Exit(1)
		}
		return b.Bytes()
	}
	var l Lease
	json.Unmarshal(post("/leases", fmt.Sprintf(`{"ttl_ms":%d}`, holderTTL.Milliseconds())), &l)
	post("/proxies/held/toxics", fmt.Sprintf(`{"name":"held","type":"latency","lease":%q}`, l.ID))
	fmt.Println("ready")
	for {
		time.Sleep(holderRenew)
		post("/leases/"+l.ID, "")
	}
}

// A toxic held by a lease disappears once its holder is killed with SIGKILL.
func TestLeaseHolderKilled(t *testing.T) {
	s, url := startAPI(t)
	if _, err := s.Create("held", "127.0.0.1:0", testenv.EchoServer(t), true); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), leaseHolderEnv+"="+url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("holder said %q", line)
	}
	p, _ := s.Proxy("held")
	present := func() bool { _, err := p.Toxic("held"); return err == nil }
	// While the holder lives and renews, the toxic outlives several TTLs.
	for end := time.Now().Add(2*holderTTL + holderTTL/4); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if !present() {
			t.Fatal("toxic removed while its holder renewed the lease")
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testenv.WaitFor(t, "toxic removed after its holder was killed", holderTTL+10*time.Second, func() bool { return !present() })
	t.Logf("toxic gone %v after SIGKILL (lease TTL %v)", time.Since(killed).Round(time.Millisecond), holderTTL)
}

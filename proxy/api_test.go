package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// roundTrip sends msg through the proxy at addr and reads as many bytes back; it returns them
// with the time since it began to dial.
func roundTrip(t *testing.T, addr string, msg []byte) ([]byte, time.Duration, error) {
	t.Helper()
	// The clock starts before the dial: a toxic's time may start as the proxy accepts, which
	// can be before a busy client's Dial returns.
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial proxy: %v", err)
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		return nil, 0, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(msg))
	n, err := io.ReadFull(c, got)
	return got[:n], time.Since(start), err
}

// Toxiproxy's own Go client drives our API: every toxic is added, shown to act on real
// traffic, and removed.
func TestToxiproxyClientToxics(t *testing.T) {
	_, url := startAPI(t)
	client := toxiproxy.NewClient(url)
	backend := testenv.EchoServer(t)
	// Disabled and reset below, the proxy listens again on the same port: a port below the
	// ephemeral range, which no connection takes meanwhile.
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.Ports(t, 1)[0])
	px, err := client.CreateProxy("echo", listen, backend)
	if err != nil {
		t.Fatalf("CreateProxy: %v", err)
	}
	if px.Listen != listen || !px.Enabled {
		t.Fatalf("created proxy %+v: want it listening on %s, enabled", px, listen)
	}
	msg := []byte("hello through the proxy")
	if got, _, err := roundTrip(t, px.Listen, msg); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("round trip without toxic: %q, %v", got, err)
	}

	tests := []struct {
		typ    string
		stream string
		attrs  toxiproxy.Attributes
		check  func(t *testing.T, got []byte, d time.Duration, err error)
	}{
		{"latency", "downstream", toxiproxy.Attributes{"latency": 150}, func(t *testing.T, got []byte, d time.Duration, err error) {
			if err != nil || !bytes.Equal(got, msg) || d < 150*time.Millisecond {
				t.Errorf("latency: got %q after %v (%v), want the message after ≥150ms", got, d, err)
			}
		}},
		{"bandwidth", "upstream", toxiproxy.Attributes{"rate": 1}, func(t *testing.T, got []byte, d time.Duration, err error) {
			// 23 bytes at 1 KB/s take 23 ms.
			if err != nil || !bytes.Equal(got, msg) || d < 23*time.Millisecond {
				t.Errorf("bandwidth: got %q after %v (%v)", got, d, err)
			}
		}},
		{"slicer", "downstream", toxiproxy.Attributes{"average_size": 4, "size_variation": 1, "delay": 1000}, func(t *testing.T, got []byte, d time.Duration, err error) {
			if err != nil || !bytes.Equal(got, msg) || d < 4*time.Millisecond {
				t.Errorf("slicer: got %q after %v (%v)", got, d, err)
			}
		}},
		{"limit_data", "downstream", toxiproxy.Attributes{"bytes": 5}, func(t *testing.T, got []byte, d time.Duration, err error) {
			if string(got) != "hello" || err == nil {
				t.Errorf("limit_data: got %q (%v), want hello then the end", got, err)
			}
		}},
		{"timeout", "upstream", toxiproxy.Attributes{"timeout": 100}, func(t *testing.T, got []byte, d time.Duration, err error) {
			if len(got) != 0 || err == nil || d < 100*time.Millisecond {
				t.Errorf("timeout: got %q after %v (%v), want nothing and a close after 100ms", got, d, err)
			}
		}},
		{"reset_peer", "upstream", toxiproxy.Attributes{"timeout": 0}, func(t *testing.T, got []byte, d time.Duration, err error) {
			if len(got) != 0 || !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("reset_peer: got %q (%v), want connection reset", got, err)
			}
		}},
		{"slow_close", "downstream", toxiproxy.Attributes{"delay": 10}, func(t *testing.T, got []byte, d time.Duration, err error) {
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("slow_close: got %q (%v)", got, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			tox, err := px.AddToxic("", tt.typ, tt.stream, 1, tt.attrs)
			if err != nil {
				t.Fatalf("AddToxic: %v", err)
			}
			if want := tt.typ + "_" + tt.stream; tox.Name != want || tox.Stream != tt.stream || tox.Toxicity != 1 {
				t.Errorf("toxic %+v: want name %s", tox, want)
			}
			listed, err := px.Toxics()
			if err != nil || len(listed) != 1 || listed[0].Name != tox.Name {
				t.Fatalf("Toxics: %+v, %v", listed, err)
			}
			got, d, err := roundTrip(t, px.Listen, msg)
			tt.check(t, got, d, err)
			if err := px.RemoveToxic(tox.Name); err != nil {
				t.Fatalf("RemoveToxic: %v", err)
			}
			if got, _, err := roundTrip(t, px.Listen, msg); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("round trip after removal: %q, %v", got, err)
			}
		})
	}

	t.Run("update", func(t *testing.T) {
		if _, err := px.AddToxic("lat", "latency", "", 1, toxiproxy.Attributes{"latency": 10, "jitter": 1}); err != nil {
			t.Fatal(err)
		}
		up, err := px.UpdateToxic("lat", 0.5, toxiproxy.Attributes{"latency": 20})
		if err != nil {
			t.Fatal(err)
		}
		want := toxiproxy.Toxic{Name: "lat", Type: "latency", Stream: "downstream", Toxicity: 0.5,
			Attributes: toxiproxy.Attributes{"latency": 20.0, "jitter": 1.0}}
		if diff := cmp.Diff(want, *up); diff != "" {
			t.Errorf("updated toxic (-want +got):\n%s", diff)
		}
	})

	t.Run("disable and reset", func(t *testing.T) {
		if err := px.Disable(); err != nil {
			t.Fatal(err)
		}
		if _, err := net.Dial("tcp", px.Listen); err == nil {
			t.Fatal("disabled proxy still accepts")
		}
		if err := client.ResetState(); err != nil {
			t.Fatal(err)
		}
		again, err := client.Proxy("echo")
		if err != nil || !again.Enabled || len(again.ActiveToxics) != 0 {
			t.Fatalf("after reset: %+v, %v; want enabled with no toxics", again, err)
		}
		if got, _, err := roundTrip(t, px.Listen, msg); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip after reset: %q, %v", got, err)
		}
	})

	t.Run("populate", func(t *testing.T) {
		made, err := client.Populate([]toxiproxy.Proxy{
			{Name: "echo", Listen: px.Listen, Upstream: backend, Enabled: true},
			{Name: "second", Listen: "127.0.0.1:0", Upstream: backend, Enabled: true},
		})
		if err != nil || len(made) != 2 {
			t.Fatalf("Populate: %+v, %v", made, err)
		}
		all, err := client.Proxies()
		if err != nil || len(all) != 2 {
			t.Fatalf("Proxies: %v, %v", all, err)
		}
		if l := all["second"].Listen; l == "127.0.0.1:0" {
			t.Fatalf("populated proxy listens on %s, want the bound address", l)
		}
		if got, _, err := roundTrip(t, all["second"].Listen, msg); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("round trip through populated proxy: %q, %v", got, err)
		}
		if err := all["second"].Delete(); err != nil {
			t.Fatal(err)
		}
	})
}

// Bad input gets Toxiproxy's error shape and status, and disturbs nothing.
func TestAPIBadInput(t *testing.T) {
	_, url := startAPI(t)
	client := toxiproxy.NewClient(url)
	backend := testenv.EchoServer(t)
	px, err := client.CreateProxy("echo", "127.0.0.1:0", backend)
	if err != nil {
		t.Fatal(err)
	}
	// A live connection must survive every bad request below.
	live, err := net.Dial("tcp", px.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"malformed proxy", "POST", "/proxies", `{"name":`, 400},
		{"proxy without name", "POST", "/proxies", `{"upstream":"127.0.0.1:1"}`, 400},
		{"proxy without upstream", "POST", "/proxies", `{"name":"x"}`, 400},
		{"duplicate proxy", "POST", "/proxies", `{"name":"echo","upstream":"127.0.0.1:1","listen":"127.0.0.1:0"}`, 409},
		{"listen in use", "POST", "/proxies", `{"name":"clash","upstream":"127.0.0.1:1","listen":"` + px.Listen + `"}`, 500},
		{"unknown proxy", "GET", "/proxies/nope", ``, 404},
		{"malformed toxic", "POST", "/proxies/echo/toxics", `{"type":"latency",`, 400},
		{"unknown toxic type", "POST", "/proxies/echo/toxics", `{"type":"teleport"}`, 400},
		{"bad stream", "POST", "/proxies/echo/toxics", `{"type":"latency","stream":"sideways"}`, 400},
		{"negative latency", "POST", "/proxies/echo/toxics", `{"type":"latency","attributes":{"latency":-5}}`, 400},
		{"absurd latency", "POST", "/proxies/echo/toxics", `{"type":"latency","attributes":{"latency":99999999999}}`, 400},
		{"attribute of wrong type", "POST", "/proxies/echo/toxics", `{"type":"latency","attributes":{"latency":"slow"}}`, 400},
		{"toxicity above one", "POST", "/proxies/echo/toxics", `{"type":"latency","toxicity":2}`, 400},
		{"slicer of size zero", "POST", "/proxies/echo/toxics", `{"type":"slicer","attributes":{"average_size":0}}`, 400},
		{"http toxic downstream", "POST", "/proxies/echo/toxics", `{"type":"http_abort","stream":"downstream"}`, 400},
		{"bad http status", "POST", "/proxies/echo/toxics", `{"type":"http_abort","attributes":{"status":42}}`, 400},
		{"unknown lease", "POST", "/proxies/echo/toxics", `{"type":"latency","lease":"nope"}`, 404},
		{"unknown toxic", "DELETE", "/proxies/echo/toxics/nope", ``, 404},
		{"negative lease ttl", "POST", "/leases", `{"ttl_ms":-1}`, 400},
		{"renew unknown lease", "POST", "/leases/nope", ``, 404},
		{"populate not a list", "POST", "/populate", `{"name":"x"}`, 400},
		{"populate without upstream", "POST", "/populate", `[{"name":"x"}]`, 400},
		{"proxy name with a slash", "POST", "/proxies", `{"name":"a/..","upstream":"127.0.0.1:1","listen":"127.0.0.1:0"}`, 400},
		{"proxy name a dot segment", "POST", "/proxies", `{"name":"..","upstream":"127.0.0.1:1","listen":"127.0.0.1:0"}`, 400},
		{"toxic name a dot segment", "POST", "/proxies/echo/toxics", `{"type":"latency","name":".."}`, 400},
		{"toxic name the other dot segment", "POST", "/proxies/echo/toxics", `{"type":"latency","name":"."}`, 400},
		{"populate name a dot segment", "POST", "/populate", `[{"name":".","upstream":"127.0.0.1:1","listen":"127.0.0.1:0"}]`, 400},
		{"listen without port", "POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1","listen":"nonsense"}`, 400},
		{"listen port out of range", "POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1","listen":"127.0.0.1:99999"}`, 400},
		{"listen host not a host", "POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1","listen":"a b:80"}`, 400},
		{"listen of wrong type", "POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1","listen":80}`, 400},
		{"upstream without port", "POST", "/proxies", `{"name":"x","upstream":"nonsense"}`, 400},
		{"upstream on port zero", "POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:0"}`, 400},
		{"enabled of wrong type", "POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1","enabled":"yes"}`, 400},
		{"move to a malformed listen", "POST", "/proxies/echo", `{"listen":"nonsense"}`, 400},
		{"re-point to a malformed upstream", "PATCH", "/proxies/echo", `{"upstream":"127.0.0.1"}`, 400},
		{"update of wrong type", "POST", "/proxies/echo", `{"enabled":1}`, 400},
		{"populate malformed listen", "POST", "/populate", `[{"name":"x","upstream":"127.0.0.1:1","listen":"127.0.0.1:http:1"}]`, 400},
		{"populate with data after the list", "POST", "/populate", `[] garbage`, 400},
		{"populate with a second list", "POST", "/populate", `[] []`, 400},
		{"proxy with data after it", "POST", "/proxies", `{"name":"x","upstream":"127.0.0.1:1","listen":"127.0.0.1:0"} x`, 400},
		{"toxic with data after it", "POST", "/proxies/echo/toxics", `{"type":"latency"}}`, 400},
		{"toxic update with data after it", "PATCH", "/proxies/echo/toxics/latency_downstream", `{"toxicity":0.5} {}`, 400},
		{"lease with data after it", "POST", "/leases", `{"ttl_ms":1000} garbage`, 400},
		{"lease ttl that overflows a duration", "POST", "/leases", `{"ttl_ms":288230376151712504}`, 400},
		{"lease ttl beyond int64", "POST", "/leases", `{"ttl_ms":9223372036854775808}`, 400},
		{"lease ttl of wrong type", "POST", "/leases", `{"ttl_ms":"5"}`, 400},
		{"lease ttl not whole", "POST", "/leases", `{"ttl_ms":1.5}`, 400},
		{"renewal ttl that overflows a duration", "POST", "/leases/nope", `{"ttl_ms":288230376151712504}`, 400},
		{"toxic ttl that overflows a duration", "POST", "/proxies/echo/toxics", `{"type":"latency","ttl_ms":288230376151712504}`, 400},
		{"latency that overflows a duration", "POST", "/proxies/echo/toxics", `{"type":"latency","attributes":{"latency":288230376151712504}}`, 400},
		{"jitter that overflows a duration", "POST", "/proxies/echo/toxics", `{"type":"latency","attributes":{"jitter":9223372036854775807}}`, 400},
		{"slow close that overflows a duration", "POST", "/proxies/echo/toxics", `{"type":"slow_close","attributes":{"delay":288230376151712504}}`, 400},
		{"timeout that overflows a duration", "POST", "/proxies/echo/toxics", `{"type":"timeout","attributes":{"timeout":288230376151712504}}`, 400},
		{"reset that overflows a duration", "POST", "/proxies/echo/toxics", `{"type":"reset_peer","attributes":{"timeout":288230376151712504}}`, 400},
		{"slicer delay that overflows a duration", "POST", "/proxies/echo/toxics", `{"type":"slicer","attributes":{"average_size":10,"delay":9223372036854775807}}`, 400},
		{"http delay that overflows a duration", "POST", "/proxies/echo/toxics", `{"type":"http_delay","attributes":{"delay":288230376151712504}}`, 400},
		{"rate beyond its bound", "POST", "/proxies/echo/toxics", `{"type":"bandwidth","attributes":{"rate":9223372036854775807}}`, 400},
		{"negative bytes", "POST", "/proxies/echo/toxics", `{"type":"limit_data","attributes":{"bytes":-1}}`, 400},
		{"toxicity beyond float32", "POST", "/proxies/echo/toxics", `{"type":"latency","toxicity":1e39}`, 400},
		{"oversized body", "POST", "/proxies", strings.Repeat(" ", maxBody) + `{"name":"x","upstream":"127.0.0.1:1"}`, 413},
		{"oversized populate", "POST", "/populate", "[" + strings.Repeat(" ", maxBody) + "]", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url+tt.path, strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e apiError
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("body is not Toxiproxy's error shape: %v", err)
			}
			if resp.StatusCode != tt.want || e.Status != tt.want || e.Message == "" {
				t.Errorf("%s %s %s: status %d, body %+v; want %d", tt.method, tt.path, tt.body, resp.StatusCode, e, tt.want)
			}
		})
	}
	// The client sees the same errors as *ApiError.
	_, err = px.AddToxic("", "teleport", "", 1, nil)
	var ae *toxiproxy.ApiError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Errorf("AddToxic of an unknown type: %v, want an ApiError with status 400", err)
	}
	msg := []byte("still alive")
	live.Write(msg)
	got := make([]byte, len(msg))
	live.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(live, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("live connection disturbed: %q, %v", got, err)
	}
	if ts, _ := px.Toxics(); len(ts) != 0 {
		t.Errorf("bad requests left toxics: %+v", ts)
	}
	all, err := client.Proxies()
	if err != nil || len(all) != 1 || all["echo"].Listen != px.Listen || !all["echo"].Enabled {
		t.Errorf("bad requests changed the proxies: %+v, %v; want echo alone, as it was", all, err)
	}
}

// An error about a number quotes the number the client sent, whatever became of it.
func TestAPIErrorsQuoteTheNumberSent(t *testing.T) {
	_, url := startAPI(t)
	if _, err := toxiproxy.NewClient(url).CreateProxy("p", "127.0.0.1:0", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	const big = "288230376151712504" // times a million, wraps around to 760 ms
	tests := []struct{ path, body string }{
		{"/leases", `{"ttl_ms":` + big + `}`},
		{"/proxies/p/toxics", `{"type":"latency","ttl_ms":` + big + `}`},
		{"/proxies/p/toxics", `{"type":"latency","attributes":{"latency":` + big + `}}`},
		{"/proxies/p/toxics", `{"type":"timeout","attributes":{"timeout":` + big + `}}`},
		{"/proxies/p/toxics", `{"type":"bandwidth","attributes":{"rate":` + big + `}}`},
		{"/proxies/p/toxics", `{"type":"slicer","attributes":{"average_size":` + big + `}}`},
		{"/leases", `{"ttl_ms":-` + big + `}`},
	}
	for _, tt := range tests {
		resp, err := http.Post(url+tt.path, "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		var e apiError
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(e.Message, big) {
			t.Errorf("POST %s %s: %d %q; want 400 quoting %s", tt.path, tt.body, resp.StatusCode, e.Message, big)
		}
	}
}

func TestAPIBrowsersRefused(t *testing.T) {
	_, url := startAPI(t)
	req, _ := http.NewRequest("POST", url+"/reset", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("status %d, want 403", resp.StatusCode)
	}
}

func TestAPIVersionAndMetrics(t *testing.T) {
	_, url := startAPI(t)
	client := toxiproxy.NewClient(url)
	v, err := client.Version()
	if err != nil || !bytes.Contains(v, []byte(`"version"`)) {
		t.Fatalf("Version: %s, %v", v, err)
	}
	px, err := client.CreateProxy("m", "127.0.0.1:0", testenv.EchoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	px.AddToxic("", "latency", "", 1, toxiproxy.Attributes{"latency": 1})
	roundTrip(t, px.Listen, []byte("abc"))
	want := []string{
		`shakedown_proxy_bytes_total{direction="upstream",proxy="m"} 3`,
		`shakedown_proxy_connections_total{proxy="m"} 1`,
		`shakedown_proxy_toxics{proxy="m",type="latency"} 1`,
	}
	// A link counts its bytes once it has written them: the echo may come back first.
	var body []byte
	defer func() {
		if t.Failed() {
			t.Logf("last metrics:\n%s", body)
		}
	}()
	testenv.WaitFor(t, "metrics count the round trip", 10*time.Second, func() bool {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range want {
			if !bytes.Contains(body, []byte(w)) {
				return false
			}
		}
		return true
	})
}

// An update changes the fields it gives and keeps the others: a proxy moved or re-pointed
// stays enabled or disabled as it was.
func TestAPIUpdateKeepsWhatItDoesNotGive(t *testing.T) {
	s := NewServer(nil)
	defer s.Close()
	h := s.Handler()
	ports := testenv.Ports(t, 2)
	a, b := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	if code := do(t, h, "POST", "/proxies", `{"name":"p","listen":"`+a+`","upstream":"127.0.0.1:1"}`, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	steps := []struct {
		body string
		want Info
	}{
		{`{"listen":"` + b + `"}`, Info{Name: "p", Listen: b, Upstream: "127.0.0.1:1", Enabled: true}},
		{`{"upstream":"127.0.0.1:2"}`, Info{Name: "p", Listen: b, Upstream: "127.0.0.1:2", Enabled: true}},
		{`{"enabled":false}`, Info{Name: "p", Listen: b, Upstream: "127.0.0.1:2", Enabled: false}},
		{`{"listen":"` + a + `"}`, Info{Name: "p", Listen: a, Upstream: "127.0.0.1:2", Enabled: false}},
		{`{"enabled":true}`, Info{Name: "p", Listen: a, Upstream: "127.0.0.1:2", Enabled: true}},
		{`{}`, Info{Name: "p", Listen: a, Upstream: "127.0.0.1:2", Enabled: true}},
	}
	for _, st := range steps {
		var got Info
		if code := do(t, h, "PATCH", "/proxies/p", st.body, &got); code != 200 {
			t.Fatalf("PATCH %s: %d", st.body, code)
		}
		got.Toxics = nil
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Fatalf("PATCH %s (-want +got):\n%s", st.body, diff)
		}
		c, err := net.Dial("tcp", got.Listen)
		if err == nil {
			c.Close()
		}
		if (err == nil) != got.Enabled {
			t.Fatalf("PATCH %s: enabled %t, but dialing %s: %v", st.body, got.Enabled, got.Listen, err)
		}
	}
}

// TestAPIErrorsSayEveryProblem: a toxic with several bad fields is refused with all of
// them, each named, on one line (as Toxiproxy's messages are).
func TestAPIErrorsSayEveryProblem(t *testing.T) {
	_, url := startAPI(t)
	if _, err := toxiproxy.NewClient(url).CreateProxy("p", "127.0.0.1:0", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	body := `{"type":"http_abort","toxicity":2,"attributes":{"status":99,"percent":101}}`
	resp, err := http.Post(url+"/proxies/p/toxics", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e apiError
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 400 || strings.Contains(e.Message, "\n") {
		t.Fatalf("POST %s: %d %q; want 400 and one line", body, resp.StatusCode, e.Message)
	}
	for _, field := range []string{"toxicity: ", "status: ", "percent: "} {
		if !strings.Contains(e.Message, field) {
			t.Errorf("POST %s: %q does not name %s", body, e.Message, field)
		}
	}
}

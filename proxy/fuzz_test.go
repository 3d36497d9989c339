package proxy

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func FuzzDecodeToxic(f *testing.F) {
	for _, s := range []string{
		`{"type":"latency","attributes":{"latency":100,"jitter":10}}`,
		`{"name":"x","type":"slicer","stream":"upstream","toxicity":0.5,"attributes":{"average_size":10,"size_variation":2,"delay":5}}`,
		`{"type":"http_abort","attributes":{"status":503,"percent":50,"match":{"method":"GET","path_prefix":"/a","headers":{"X":"1"}}}}`,
		`{"type":"bandwidth","attributes":{"rate":-1}}`,
		`{"type":"limit_data","ttl_ms":10,"lease":"abc","attributes":null}`,
		`[]`, `null`, `{"type":"down"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tox, err := DecodeToxic(data)
		if err != nil {
			return
		}
		// What decodes must survive its own JSON unchanged, and make a stage without
		// panicking on a few bytes.
		b, err := json.Marshal(tox)
		if err != nil {
			t.Fatalf("marshal %+v: %v", tox, err)
		}
		again, err := DecodeToxic(b)
		if err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		if !reflect.DeepEqual(tox, again) {
			t.Fatalf("round trip changed %+v into %+v", tox, again)
		}
		if st := tox.Attributes.stage(time.Unix(0, 0)); st != nil {
			st.push(event{kind: evData, data: []byte("GET / HTTP/1.1\r\n\r\nxyz"), at: time.Unix(0, 0)}, nil)
			st.push(event{kind: evEOF, at: time.Unix(1, 0)}, nil)
		}
	})
}

// FuzzAPI sends arbitrary bodies to the API's write routes: every answer is a success or
// Toxiproxy's error shape with a matching status, nothing panics, a body is taken only
// when it is one JSON value and nothing more, and a lease lives the ttl_ms it was asked
// for. Bodies that would make a proxy listen (create, populate, enable) only go through
// their decoders: the fuzzer must not open listeners on any address.
func FuzzAPI(f *testing.F) {
	f.Add(0, []byte(`{"type":"latency","attributes":{"latency":5}}`))
	f.Add(1, []byte(`{"attributes":{"latency":7},"toxicity":0.3}`))
	f.Add(2, []byte(`{"listen":"127.0.0.1:1","enabled":false}`))
	f.Add(3, []byte(`{"ttl_ms":100}`))
	f.Add(3, []byte(`{"ttl_ms": 288230376151712504}`))
	f.Add(4, []byte(`{"ttl_ms":100} {}`))
	f.Add(5, []byte(`{"name":"a","listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}`))
	f.Add(6, []byte(`[{"name":"a","upstream":"127.0.0.1:1"}]`))
	f.Add(6, []byte(`[] garbage`))
	f.Add(6, []byte(`[{"name":"a","listen":"127.0.0.1:99999","upstream":"127.0.0.1:1"}]`))
	s := NewServer(nil)
	defer s.Close()
	p, err := s.Create("p", "127.0.0.1:0", "127.0.0.1:1", false)
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	var l Lease
	if code := do(f, h, "POST", "/leases", `{"ttl_ms":86400000}`, &l); code != http.StatusCreated {
		f.Fatalf("lease: %d", code)
	}
	f.Fuzz(func(t *testing.T, route int, body []byte) {
		// Each input starts from the same state: the fuzzer can tell what it covers, and
		// minimize what it finds.
		defer func() {
			p.ResetToxics()
			if err := p.Update("127.0.0.1:0", "127.0.0.1:1", false); err != nil {
				t.Fatal(err)
			}
			for _, o := range s.Leases() {
				if o.ID != l.ID {
					s.Release(o.ID)
				}
			}
			if _, err := s.Renew(l.ID, 24*time.Hour); err != nil {
				// Renewed with a short ttl_ms, it ran out: the next input renews another.
				if l, err = s.NewLease(24 * time.Hour); err != nil {
					t.Fatal(err)
				}
			}
		}()
		routes := []struct{ method, path string }{
			{"POST", "/proxies/p/toxics"},
			{"PATCH", "/proxies/p/toxics/latency_downstream"},
			{"POST", "/proxies/p"},
			{"POST", "/leases"},
			{"POST", "/leases/" + l.ID},
			{"POST", "/proxies"},
			{"POST", "/populate"},
		}
		r := routes[(route%len(routes)+len(routes))%len(routes)]
		switch r.path {
		case "/proxies", "/populate":
			var err error
			if r.path == "/proxies" {
				_, err = DecodeProxy(body)
			} else {
				_, err = DecodePopulate(body)
			}
			if err == nil && !json.Valid(body) {
				t.Fatalf("%s %s took %q, which is not one JSON value", r.method, r.path, body)
			}
			return
		case "/proxies/p":
			// Through the API only what keeps p disabled and asks no DNS.
			var u proxyPatch
			if decodeJSON(body, &u) == nil && !quietPatch(u) {
				return
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, bytes.NewReader(body)))
		if rec.Code < 300 {
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: %d with invalid JSON %q", r.method, r.path, rec.Code, rec.Body)
			}
			if len(bytes.TrimSpace(body)) > 0 && !json.Valid(body) {
				t.Fatalf("%s %s took %q, which is not one JSON value", r.method, r.path, body)
			}
			checkLeaseTTL(t, r.path, body, rec.Body.Bytes())
			return
		}
		var e apiError
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Status != rec.Code || e.Message == "" {
			t.Fatalf("%s %s %q: %d %q is not Toxiproxy's error shape", r.method, r.path, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusInternalServerError {
			t.Fatalf("%s %s %q: 500 %s", r.method, r.path, body, rec.Body)
		}
	})
}

// quietPatch reports whether a proxy update leaves a disabled proxy disabled and names no
// host that would be looked up.
func quietPatch(u proxyPatch) bool {
	if u.Enabled != nil && *u.Enabled {
		return false
	}
	if u.Listen == nil {
		return true
	}
	host, _, err := net.SplitHostPort(*u.Listen)
	return err != nil || host == "" || net.ParseIP(host) != nil
}

// checkLeaseTTL fails t when a lease taken or renewed with ttl_ms N in the request does not
// live N milliseconds.
func checkLeaseTTL(t *testing.T, path string, req, resp []byte) {
	if !strings.HasPrefix(path, "/leases") {
		return
	}
	var in struct {
		TTLMillis int64 `json:"ttl_ms"`
	}
	json.Unmarshal(req, &in)
	var got Lease
	if err := json.Unmarshal(resp, &got); err != nil {
		t.Fatalf("POST %s answered %s: %v", path, resp, err)
	}
	if in.TTLMillis > 0 && got.TTLMillis != in.TTLMillis {
		t.Fatalf("POST %s %s: the lease lives %d ms", path, req, got.TTLMillis)
	}
}

package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
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
// Toxiproxy's error shape with a matching status, and nothing panics.
func FuzzAPI(f *testing.F) {
	f.Add(0, []byte(`{"type":"latency","attributes":{"latency":5}}`))
	f.Add(1, []byte(`{"attributes":{"latency":7},"toxicity":0.3}`))
	f.Add(2, []byte(`{"listen":"127.0.0.1:1","enabled":false}`))
	f.Add(3, []byte(`{"ttl_ms":100}`))
	f.Add(4, []byte(`[{"name":"a","upstream":"127.0.0.1:1"}]`))
	s := NewServer(nil)
	defer s.Close()
	if _, err := s.Create("p", "127.0.0.1:0", "127.0.0.1:1", false); err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, route int, body []byte) {
		routes := []struct{ method, path string }{
			{"POST", "/proxies/p/toxics"},
			{"PATCH", "/proxies/p/toxics/latency_downstream"},
			{"POST", "/proxies/p"},
			{"POST", "/leases"},
			{"POST", "/proxies"},
		}
		r := routes[(route%len(routes)+len(routes))%len(routes)]
		if r.path == "/proxies/p" || r.path == "/proxies" {
			// Only decode: do not let the fuzzer open listeners on any address.
			if r.path == "/proxies" {
				DecodeProxy(body)
			} else {
				DecodePopulate(bytes.NewReader(body))
			}
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(r.method, r.path, bytes.NewReader(body)))
		if rec.Code < 300 {
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: %d with invalid JSON %q", r.method, r.path, rec.Code, rec.Body)
			}
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

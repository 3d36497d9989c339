package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shakedown-dev/shakedown"
)

// APIVersion is what GET /version answers: the Toxiproxy API it speaks, and shakedown's
// version as build metadata.
var APIVersion = "2.12.0+shakedown." + shakedown.Version

// maxBody bounds a request body the API reads.
const maxBody = 1 << 20

// apiError is Toxiproxy's error shape.
type apiError struct {
	Message string `json:"error"`
	Status  int    `json:"status"`
}

// status maps an error to the status Toxiproxy answers it with.
func status(err error) int {
	// Toxiproxy answers a listen failure (address in use, say) with 500.
	if errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EACCES) {
		return http.StatusInternalServerError
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return shakedown.KindOf(err).HTTPStatus()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{Message: err.Error(), Status: code})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	code := status(err)
	// One line, as Toxiproxy's messages are: several problems (one per field) joined.
	writeJSON(w, code, apiError{Message: strings.ReplaceAll(err.Error(), "\n", "; "), Status: code})
}

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, badBody(err)
	}
	return b, nil
}

// Handler returns the HTTP API: Toxiproxy's routes, /leases, and /metrics.
//
// It answers as Toxiproxy does, but refuses with 400 what Toxiproxy takes and cannot
// honour: a body with more than one JSON value, an address that is not host:port, a
// proxy name its routes could not reach, a number beyond its bound (which Toxiproxy may
// let wrap around). A body beyond 1 MiB is 413.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /reset", handler(s.reset))
	mux.Handle("GET /proxies", handler(s.proxyIndex))
	mux.Handle("POST /proxies", handler(s.proxyCreate))
	mux.HandleFunc("POST /populate", s.populate)
	mux.Handle("GET /proxies/{proxy}", s.onProxy(s.proxyShow))
	mux.Handle("POST /proxies/{proxy}", s.onProxy(s.proxyUpdate))
	mux.Handle("PATCH /proxies/{proxy}", s.onProxy(s.proxyUpdate))
	mux.Handle("DELETE /proxies/{proxy}", handler(s.proxyDelete))
	mux.Handle("GET /proxies/{proxy}/toxics", s.onProxy(s.toxicIndex))
	mux.Handle("POST /proxies/{proxy}/toxics", s.onProxy(s.toxicCreate))
	mux.Handle("GET /proxies/{proxy}/toxics/{toxic}", s.onProxy(s.toxicShow))
	mux.Handle("POST /proxies/{proxy}/toxics/{toxic}", s.onProxy(s.toxicUpdate))
	mux.Handle("PATCH /proxies/{proxy}/toxics/{toxic}", s.onProxy(s.toxicUpdate))
	mux.Handle("DELETE /proxies/{proxy}/toxics/{toxic}", s.onProxy(s.toxicDelete))
	mux.Handle("GET /version", handler(s.version))
	mux.Handle("GET /leases", handler(s.leaseIndex))
	mux.Handle("POST /leases", handler(s.leaseCreate))
	mux.Handle("GET /leases/{lease}", handler(s.leaseShow))
	mux.Handle("POST /leases/{lease}", handler(s.leaseRenew))
	mux.Handle("DELETE /leases/{lease}", handler(s.leaseDelete))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As Toxiproxy: browsers may not drive the API (a web page could otherwise).
		if strings.HasPrefix(r.UserAgent(), "Mozilla/") {
			http.Error(w, "User agent not allowed", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		mux.ServeHTTP(w, r)
	})
}

// handler is an API route: it answers a status and a value to encode as JSON, or an error
// that goes out in Toxiproxy's shape. A nil value answers the status with no body.
type handler func(r *http.Request) (int, any, error)

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	code, v, err := h(r)
	switch {
	case err != nil:
		writeError(w, err)
	case v == nil:
		w.WriteHeader(code)
	default:
		writeJSON(w, code, v)
	}
}

// onProxy is a route on the proxy named by {proxy} in the path; an unknown name answers
// Toxiproxy's "proxy not found".
func (s *Server) onProxy(h func(p *Proxy, r *http.Request) (int, any, error)) handler {
	return func(r *http.Request) (int, any, error) {
		p, err := s.Proxy(r.PathValue("proxy"))
		if err != nil {
			return 0, nil, err
		}
		return h(p, r)
	}
}

// noContent is what a route answers when it did what was asked and has nothing to say.
func noContent(err error) (int, any, error) { return http.StatusNoContent, nil, err }

// ok answers 200 with v, or the error; created answers 201.
func ok(v any, err error) (int, any, error)      { return answer(http.StatusOK, v, err) }
func created(v any, err error) (int, any, error) { return answer(http.StatusCreated, v, err) }

func answer(code int, v any, err error) (int, any, error) {
	if err != nil {
		return 0, nil, err
	}
	return code, v, nil
}

func (s *Server) reset(r *http.Request) (int, any, error) { return noContent(s.Reset()) }

func (s *Server) proxyIndex(r *http.Request) (int, any, error) {
	out := map[string]Info{}
	for _, p := range s.Proxies() {
		out[p.name] = p.Info()
	}
	return http.StatusOK, out, nil
}

// DecodeProxy decodes and checks a proxy as POST /proxies receives it; enabled defaults
// to true.
func DecodeProxy(b []byte) (ProxyConfig, error) {
	in := ProxyConfig{}
	if err := decodeJSON(b, &in); err != nil {
		return in, err
	}
	if in.Enabled == nil {
		t := true
		in.Enabled = &t
	}
	return in, in.check()
}

func (s *Server) proxyCreate(r *http.Request) (int, any, error) {
	b, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	in, err := DecodeProxy(b)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.Create(in.Name, in.Listen, in.Upstream, *in.Enabled)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, p.Info(), nil
}

func (s *Server) populate(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r)
	var cfgs []ProxyConfig
	if err == nil {
		cfgs, err = DecodePopulate(b)
	}
	var made []*Proxy
	if err == nil {
		made, err = s.Populate(cfgs)
	}
	infos := make([]Info, 0, len(made))
	for _, p := range made {
		infos = append(infos, p.Info())
	}
	if err != nil {
		code := status(err)
		writeJSON(w, code, struct {
			apiError
			Proxies []Info `json:"proxies"`
		}{apiError{err.Error(), code}, infos})
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Proxies []Info `json:"proxies"`
	}{infos})
}

func (s *Server) proxyShow(p *Proxy, r *http.Request) (int, any, error) {
	return http.StatusOK, p.Info(), nil
}

func (s *Server) proxyUpdate(p *Proxy, r *http.Request) (int, any, error) {
	b, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	// Fields not given keep their values, as in Toxiproxy.
	var in proxyPatch
	if err := decodeJSON(b, &in); err != nil {
		return 0, nil, err
	}
	if err := p.update(in); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, p.Info(), nil
}

func (s *Server) proxyDelete(r *http.Request) (int, any, error) {
	return noContent(s.Delete(r.PathValue("proxy")))
}

func (s *Server) toxicIndex(p *Proxy, r *http.Request) (int, any, error) {
	return http.StatusOK, p.Toxics(), nil
}

func (s *Server) toxicCreate(p *Proxy, r *http.Request) (int, any, error) {
	b, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	t, err := DecodeToxic(b)
	if err != nil {
		return 0, nil, err
	}
	// s.AddToxic, not p.AddToxic: it checks the toxic's lease.
	return ok(s.AddToxic(r.PathValue("proxy"), t)) // Toxiproxy answers 200 here, not 201
}

func (s *Server) toxicShow(p *Proxy, r *http.Request) (int, any, error) {
	return ok(p.Toxic(r.PathValue("toxic")))
}

func (s *Server) toxicUpdate(p *Proxy, r *http.Request) (int, any, error) {
	b, err := readBody(r)
	if err != nil {
		return 0, nil, err
	}
	return ok(p.UpdateToxic(r.PathValue("toxic"), b))
}

func (s *Server) toxicDelete(p *Proxy, r *http.Request) (int, any, error) {
	return noContent(p.RemoveToxic(r.PathValue("toxic")))
}

func (s *Server) version(r *http.Request) (int, any, error) {
	return http.StatusOK, map[string]string{"version": APIVersion}, nil
}

// leaseRequest is the body of POST /leases and POST /leases/{id}; both may be empty.
type leaseRequest struct {
	TTLMillis int64 `json:"ttl_ms"`
}

func decodeLease(r *http.Request) (time.Duration, error) {
	b, err := readBody(r)
	if err != nil {
		return 0, err
	}
	var in leaseRequest
	if len(bytes.TrimSpace(b)) > 0 {
		if err := decodeJSON(b, &in); err != nil {
			return 0, err
		}
	}
	// Checked in milliseconds, as sent: converted first, a large value would wrap around.
	if err := oneMillis("ttl_ms", in.TTLMillis); err != nil {
		return 0, err
	}
	return ms(in.TTLMillis), nil
}

func (s *Server) leaseIndex(r *http.Request) (int, any, error) {
	return http.StatusOK, s.Leases(), nil
}

func (s *Server) leaseCreate(r *http.Request) (int, any, error) {
	ttl, err := decodeLease(r)
	if err != nil {
		return 0, nil, err
	}
	return created(s.NewLease(ttl))
}

func (s *Server) leaseShow(r *http.Request) (int, any, error) {
	return ok(s.Lease(r.PathValue("lease")))
}

func (s *Server) leaseRenew(r *http.Request) (int, any, error) {
	ttl, err := decodeLease(r)
	if err != nil {
		return 0, nil, err
	}
	return ok(s.Renew(r.PathValue("lease"), ttl))
}

func (s *Server) leaseDelete(r *http.Request) (int, any, error) {
	return noContent(s.Release(r.PathValue("lease")))
}

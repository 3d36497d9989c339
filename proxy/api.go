package proxy

import (
	"encoding/json"
	"errors"
	"io"
	"net"
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
	writeJSON(w, code, apiError{Message: err.Error(), Status: code})
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
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /reset", s.reset)
	mux.HandleFunc("GET /proxies", s.proxyIndex)
	mux.HandleFunc("POST /proxies", s.proxyCreate)
	mux.HandleFunc("POST /populate", s.populate)
	mux.HandleFunc("GET /proxies/{proxy}", s.proxyShow)
	mux.HandleFunc("POST /proxies/{proxy}", s.proxyUpdate)
	mux.HandleFunc("PATCH /proxies/{proxy}", s.proxyUpdate)
	mux.HandleFunc("DELETE /proxies/{proxy}", s.proxyDelete)
	mux.HandleFunc("GET /proxies/{proxy}/toxics", s.toxicIndex)
	mux.HandleFunc("POST /proxies/{proxy}/toxics", s.toxicCreate)
	mux.HandleFunc("GET /proxies/{proxy}/toxics/{toxic}", s.toxicShow)
	mux.HandleFunc("POST /proxies/{proxy}/toxics/{toxic}", s.toxicUpdate)
	mux.HandleFunc("PATCH /proxies/{proxy}/toxics/{toxic}", s.toxicUpdate)
	mux.HandleFunc("DELETE /proxies/{proxy}/toxics/{toxic}", s.toxicDelete)
	mux.HandleFunc("GET /version", s.version)
	mux.HandleFunc("GET /leases", s.leaseIndex)
	mux.HandleFunc("POST /leases", s.leaseCreate)
	mux.HandleFunc("GET /leases/{lease}", s.leaseShow)
	mux.HandleFunc("POST /leases/{lease}", s.leaseRenew)
	mux.HandleFunc("DELETE /leases/{lease}", s.leaseDelete)
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

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	if err := s.Reset(); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) proxyIndex(w http.ResponseWriter, r *http.Request) {
	out := map[string]Info{}
	for _, p := range s.Proxies() {
		out[p.name] = p.Info()
	}
	writeJSON(w, http.StatusOK, out)
}

// DecodeProxy decodes a proxy as POST /proxies receives it; enabled defaults to true.
func DecodeProxy(b []byte) (ProxyConfig, error) {
	in := ProxyConfig{}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, badBody(err)
	}
	if in.Enabled == nil {
		t := true
		in.Enabled = &t
	}
	if in.Name == "" {
		return in, missing("name")
	}
	if in.Upstream == "" {
		return in, missing("upstream")
	}
	return in, nil
}

func (s *Server) proxyCreate(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	in, err := DecodeProxy(b)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.Create(in.Name, in.Listen, in.Upstream, *in.Enabled)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, p.Info())
}

func (s *Server) populate(w http.ResponseWriter, r *http.Request) {
	cfgs, err := DecodePopulate(r.Body)
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

func (s *Server) proxyShow(w http.ResponseWriter, r *http.Request) {
	p, err := s.Proxy(r.PathValue("proxy"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p.Info())
}

func (s *Server) proxyUpdate(w http.ResponseWriter, r *http.Request) {
	p, err := s.Proxy(r.PathValue("proxy"))
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	info := p.Info()
	in := struct {
		Listen   string `json:"listen"`
		Upstream string `json:"upstream"`
		Enabled  bool   `json:"enabled"`
	}{info.Listen, info.Upstream, info.Enabled}
	if err := json.Unmarshal(b, &in); err != nil {
		writeError(w, badBody(err))
		return
	}
	if err := p.Update(in.Listen, in.Upstream, in.Enabled); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p.Info())
}

func (s *Server) proxyDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.Delete(r.PathValue("proxy")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) toxicIndex(w http.ResponseWriter, r *http.Request) {
	p, err := s.Proxy(r.PathValue("proxy"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p.Toxics())
}

func (s *Server) toxicCreate(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Proxy(r.PathValue("proxy")); err != nil {
		writeError(w, err)
		return
	}
	b, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := DecodeToxic(b)
	if err != nil {
		writeError(w, err)
		return
	}
	t, err = s.AddToxic(r.PathValue("proxy"), t)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t) // Toxiproxy answers 200 here, not 201
}

func (s *Server) toxicShow(w http.ResponseWriter, r *http.Request) {
	p, err := s.Proxy(r.PathValue("proxy"))
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := p.Toxic(r.PathValue("toxic"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) toxicUpdate(w http.ResponseWriter, r *http.Request) {
	p, err := s.Proxy(r.PathValue("proxy"))
	if err != nil {
		writeError(w, err)
		return
	}
	b, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	t, err := p.UpdateToxic(r.PathValue("toxic"), b)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) toxicDelete(w http.ResponseWriter, r *http.Request) {
	p, err := s.Proxy(r.PathValue("proxy"))
	if err != nil {
		writeError(w, err)
		return
	}
	if err := p.RemoveToxic(r.PathValue("toxic")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": APIVersion})
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
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &in); err != nil {
			return 0, badBody(err)
		}
	}
	if in.TTLMillis < 0 {
		return 0, shakedown.Errorf(shakedown.KindInvalid, "ttl_ms must not be negative, got %d", in.TTLMillis)
	}
	return ms(in.TTLMillis), nil
}

func (s *Server) leaseIndex(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Leases())
}

func (s *Server) leaseCreate(w http.ResponseWriter, r *http.Request) {
	ttl, err := decodeLease(r)
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.NewLease(ttl)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, l)
}

func (s *Server) leaseShow(w http.ResponseWriter, r *http.Request) {
	l, err := s.Lease(r.PathValue("lease"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) leaseRenew(w http.ResponseWriter, r *http.Request) {
	ttl, err := decodeLease(r)
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.Renew(r.PathValue("lease"), ttl)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) leaseDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.Release(r.PathValue("lease")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func resolveTCP(addr string) (string, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

package dashboard

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/webassets"
)

// defaultPolicy is the Content-Security-Policy of every answer that sets none of its own.
const defaultPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// MaxBody is the most a request body may hold (a login form, a stop request).
const MaxBody = 16 << 10

// dashboard is the handler New returns.
type dashboard struct {
	o       Options
	mux     *http.ServeMux
	guesses throttle // wrong tokens per client
}

// New returns the dashboard's handler. It needs Options.Store (KindInvalid without it).
func New(o Options) (http.Handler, error) {
	if o.Store == nil {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "dashboard: no history store")
	}
	d := &dashboard{o: o, mux: http.NewServeMux()}
	d.routes()
	return d, nil
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("X-Frame-Options", "DENY")
	// Every answer (JSON, an error, a 404) has a policy that lets nothing run, load or frame
	// it; a page replaces it with its own, which frames nothing either.
	w.Header().Set("Content-Security-Policy", defaultPolicy)
	switch {
	case d.openRead() && !localHost(r.Host):
		d.logf(r, "refused a request for host %q from %s", r.Host, r.RemoteAddr)
		writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not this dashboard's: with no token file it answers only to localhost and loopback addresses", r.Host))
		return
	case !sameOrigin(r):
		d.logf(r, "refused a %s from another site's page (%s)", r.Method, r.RemoteAddr)
		writeError(w, http.StatusForbidden, "a request that changes something, from another site's page, is refused")
		return
	}
	if presents(r) {
		if wait := d.guesses.wait(client(r)); wait > 0 {
			d.logf(r, "refused a token from %s: too many wrong ones", r.RemoteAddr)
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			writeError(w, http.StatusTooManyRequests, "too many wrong tokens from this address: try again later")
			return
		}
	}
	d.mux.ServeHTTP(w, r)
}

// The dashboard's routes:
//
//	GET  /                            home: every experiment, its recent verdicts, marks; drills
//	GET  /experiments/NAME            trends of its headline figures across its runs
//	GET  /runs/ID                     the run's HTML report (or, running, a stop button)
//	GET  /badge/NAME.svg              the last verdict, as a badge
//	GET  /metrics                     Prometheus
//	GET  /login, POST /login, /logout the token, kept in a cookie
//	GET  /assets/…                    the pages' script, style and uPlot
//	GET  /api/experiments[/NAME]      JSON of the same data
//	GET  /api/runs/ID                 the run record
//	GET  /api/schedules               the drills
//	POST /api/runs/ID/stop            stop a live run (write token)
func (d *dashboard) routes() {
	d.mux.HandleFunc("GET /{$}", d.page(d.home))
	d.mux.HandleFunc("GET /experiments/{name}", d.page(d.experiment))
	d.mux.HandleFunc("GET /runs/{id}", d.page(d.run))
	d.mux.HandleFunc("GET /badge/{file}", d.badge)
	d.mux.HandleFunc("GET /metrics", d.metrics)
	d.mux.HandleFunc("GET /login", d.loginForm)
	d.mux.HandleFunc("POST /login", d.login)
	d.mux.HandleFunc("POST /logout", d.logout)
	d.mux.HandleFunc("GET /assets/{file}", assets)

	d.api("/api/experiments", http.MethodGet, accessRead, d.apiExperiments)
	d.api("/api/experiments/{name}", http.MethodGet, accessRead, d.apiExperiment)
	d.api("/api/runs/{id}", http.MethodGet, accessRead, d.apiRun)
	d.api("/api/runs/{id}/stop", http.MethodPost, accessWrite, d.apiStop)
	d.api("/api/schedules", http.MethodGet, accessRead, d.apiSchedules)
	d.api("/api/live", http.MethodGet, accessRead, d.apiLive)
	d.mux.HandleFunc("/api/", d.authorized(accessRead, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.URL.Path)
	}))
}

// api registers an API endpoint that answers method only, for callers with at least need.
// Everything it answers, errors included, is JSON.
func (d *dashboard) api(pattern, method string, need access, h http.HandlerFunc) {
	d.mux.HandleFunc(pattern, d.authorized(need, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method))
			return
		}
		h(w, r)
	}))
}

// authorized refuses an API request that may not do what need says: 401 without a token (or
// with a wrong one), 403 with the read token where the write token is needed, or where the
// dashboard has no write token at all.
func (d *dashboard) authorized(need access, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := d.authorize(r)
		switch {
		case !ok:
			d.logf(r, "refused a wrong token from %s", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="shakedown"`)
			writeError(w, http.StatusUnauthorized, errWrongToken)
			return
		case a == accessNone:
			w.Header().Set("WWW-Authenticate", `Bearer realm="shakedown"`)
			writeError(w, http.StatusUnauthorized, "a token is needed: Authorization: Bearer TOKEN")
			return
		case need == accessWrite && d.o.WriteToken == "":
			writeError(w, http.StatusForbidden, "write actions are disabled: the dashboard was started without --write-token-file")
			return
		case a < need:
			writeError(w, http.StatusForbidden, "this needs the write token; the token given only reads")
			return
		}
		h(w, r)
	}
}

// page wraps a page handler: a reader who has not logged in is sent to the login form, and
// a wrong cookie is dropped on the way.
func (d *dashboard) page(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := d.authorize(r)
		if !ok {
			http.SetCookie(w, &http.Cookie{Name: cookieName, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
		if a < accessRead {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r)
	}
}

func (d *dashboard) logf(r *http.Request, format string, args ...any) {
	if d.o.Logger != nil {
		d.o.Logger.Warn(fmt.Sprintf(format, args...), "method", r.Method, "path", r.URL.Path)
	}
}

// apiError is the body of every API error.
type apiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// writeError answers an API request with a JSON error.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(apiError{Error: msg, Status: status})
}

// writeErr answers an API request with err, its status from its kind.
func writeErr(w http.ResponseWriter, err error) {
	var se *shakedown.Error
	status := http.StatusInternalServerError
	if errors.As(err, &se) {
		status = se.Kind.HTTPStatus()
	}
	writeError(w, status, err.Error())
}

// writeJSON answers an API request with v.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

var (
	//go:embed web/dashboard.js
	dashboardJS string
	//go:embed web/dashboard.css
	dashboardCSS string
)

// assets serves the pages' script and style, and uPlot's, from the binary.
func assets(w http.ResponseWriter, r *http.Request) {
	var body, ctype string
	switch r.PathValue("file") {
	case "dashboard.js":
		body, ctype = dashboardJS, "text/javascript; charset=utf-8"
	case "dashboard.css":
		body, ctype = dashboardCSS, "text/css; charset=utf-8"
	case "uPlot.iife.min.js":
		body, ctype = webassets.UPlotJS, "text/javascript; charset=utf-8"
	case "uPlot.min.css":
		body, ctype = webassets.UPlotCSS, "text/css; charset=utf-8"
	case "uPlot.LICENSE":
		body, ctype = webassets.UPlotLicense, "text/plain; charset=utf-8"
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	io.WriteString(w, body)
}

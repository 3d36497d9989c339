package dashboard

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// dashboard is the handler New returns.
type dashboard struct {
	o   Options
	mux *http.ServeMux
}

// New returns the dashboard's handler.
func New(o Options) (http.Handler, error) {
	if o.Store == nil {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "dashboard: no history store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &dashboard{o: o, mux: http.NewServeMux()}
	d.routes()
	return d, nil
}

func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("X-Frame-Options", "DENY")
	d.mux.ServeHTTP(w, r)
}

func (d *dashboard) routes() {
	d.mux.HandleFunc("GET /{$}", d.page(d.home))
}

// page wraps a page handler: a reader who has not logged in is sent to the login form.
func (d *dashboard) page(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a, _ := d.authorize(r); a < accessRead {
			http.Redirect(w, r, "/login?next="+r.URL.RequestURI(), http.StatusSeeOther)
			return
		}
		h(w, r)
	}
}

func (d *dashboard) home(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte("<!doctype html><title>shakedown</title><h1>shakedown</h1>\n"))
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

// writeErr answers an API request with err's kind's status.
func writeErr(w http.ResponseWriter, err error) {
	var se *shakedown.Error
	status := http.StatusInternalServerError
	if errors.As(err, &se) {
		status = se.Kind.HTTPStatus()
	}
	writeError(w, status, err.Error())
}

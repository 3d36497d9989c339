package dashboard

import (
	"net/http"
	"strings"
	"time"
)

// The login form: a person types the read or the write token once; it is kept in a cookie.

type loginPage struct {
	layout
	Next  string
	Error string
}

func (d *dashboard) loginForm(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, http.StatusOK, "login", loginPage{layout: d.layout(r, "shakedown: log in"), Next: localPath(r.URL.Query().Get("next"))})
}

// login checks the token a person typed and, when it is the read or the write token, keeps it
// in a cookie no script can read and no other site's page sends.
func (d *dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		d.render(w, r, http.StatusBadRequest, "login", loginPage{layout: d.layout(r, "shakedown: log in"), Next: "/", Error: "the form did not arrive whole: try again"})
		return
	}
	next := localPath(r.PostForm.Get("next"))
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if d.grant(r, tok) == accessNone {
		d.logf(r, "refused a login from %s", r.RemoteAddr)
		d.render(w, r, http.StatusUnauthorized, "login", loginPage{layout: d.layout(r, "shakedown: log in"), Next: next, Error: errWrongToken})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int((30 * 24 * time.Hour).Seconds())})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *dashboard) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

package dashboard

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/history"
)

// badgeColours are the badge's colours per verdict (shields.io's palette).
var badgeColours = map[shakedown.Verdict]string{
	shakedown.VerdictPassed:      "#4c1",
	shakedown.VerdictFailed:      "#e05d44",
	shakedown.VerdictRegressed:   "#fe7d37",
	shakedown.VerdictNotSteady:   "#dfb317",
	shakedown.VerdictNotRestored: "#8250df",
	shakedown.VerdictAborted:     "#9f9f9f",
	shakedown.VerdictError:       "#555",
	shakedown.VerdictInvalid:     "#9f9f9f",
}

// badge answers /badge/NAME.svg: the experiment's last verdict, a shields-style badge for a
// README. An experiment with no run gets a grey "unknown" badge, with 404.
func (d *dashboard) badge(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if a, ok := d.authorize(r); !ok || a < accessRead {
		w.Header().Set("WWW-Authenticate", `Bearer realm="shakedown"`)
		writeError(w, http.StatusUnauthorized, "a token is needed: Authorization: Bearer TOKEN")
		return
	}
	status, verdict := http.StatusOK, shakedown.Verdict("")
	es, err := d.o.Store.List(r.Context(), history.Filter{Experiments: []string{name}, Limit: 1})
	if err != nil {
		d.logf(r, "badge: %v", err)
		status = http.StatusInternalServerError
	}
	if len(es) > 0 {
		verdict = es[0].Verdict
	}
	if verdict == "" && status == http.StatusOK {
		status = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-cache, max-age=0")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	io.WriteString(w, shakedown.Displayable(badgeSVG(name, verdict)))
}

// badgeSVG draws a badge: the label on grey, the verdict on its colour.
func badgeSVG(label string, v shakedown.Verdict) string {
	msg, colour := verdictText(v), badgeColours[v]
	if colour == "" {
		colour = "#9f9f9f"
	}
	lw, mw := textWidth(label)+10, textWidth(msg)+10
	w := lw + mw
	l, m := html.EscapeString(label), html.EscapeString(msg)
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">
<title>%s: %s</title>
<linearGradient id="s" x2="0" y2="100%%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">
<text x="%d" y="15" fill="#010101" fill-opacity=".3">%s</text><text x="%d" y="14">%s</text>
<text x="%d" y="15" fill="#010101" fill-opacity=".3">%s</text><text x="%d" y="14">%s</text>
</g>
</svg>
`, w, l, m, l, m, w, lw, lw, mw, colour, w, lw/2, l, lw/2, l, lw+mw/2, m, lw+mw/2, m)
}

// textWidth estimates the width in pixels of s in 11px Verdana: close enough for a badge.
func textWidth(s string) int {
	w := 0.0
	for _, c := range s {
		switch {
		case strings.ContainsRune("iIl.,:;|!'", c):
			w += 3.5
		case strings.ContainsRune("mwMW", c):
			w += 10
		case c >= 'A' && c <= 'Z':
			w += 7.5
		default:
			w += 6.5
		}
	}
	return int(w + 0.5)
}

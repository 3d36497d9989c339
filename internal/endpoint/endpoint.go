// Package endpoint checks what shakedown is told to reach or to send: host:port addresses,
// http and https URLs and HTTP headers. Every field that takes one of them — a load's url
// and headers, a probe's, a proxy target's addresses and API, an alert's Prometheus, a
// drill's notify URL, the flags of `shakedown load` — is checked here by the same rules,
// so that what validate and plan accept a run accepts too. Its errors are of
// shakedown.KindInvalid, and never show a URL's password. It also bounds what comes back
// (answer.go): the header and body of an answer read from such a URL.
package endpoint

import (
	"errors"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// HTTPURL parses s as an http:// or https:// URL with a host, and a port from 1 to 65535
// when it has one. What it says of a URL shows the URL with its password hidden
// (shakedown.RedactURL); net/url's own error is not shown for a URL with a user or
// password, since it quotes pieces of them ("invalid port \":hunter2\" after host").
func HTTPURL(s string) (*url.URL, error) {
	shown := strconv.Quote(shakedown.RedactURL(s))
	u, err := url.Parse(s)
	if err != nil {
		if shakedown.HasUserinfo(s) {
			return nil, shakedown.Errorf(shakedown.KindInvalid, "URL %s does not parse (a password with / ? # @ or a space in it must be %%-escaped)", shown)
		}
		var ue *url.Error // it quotes the URL whole
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, shakedown.Errorf(shakedown.KindInvalid, "URL %s: %v", shown, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "want an http:// or https:// URL, not %s", shown)
	}
	if u.Hostname() == "" {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "URL %s has no host", shown)
	}
	if p := u.Port(); p != "" && !validPort(p, 1) {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "URL %s: port %s is not from 1 to 65535", shown, p)
	}
	return u, nil
}

// Dial checks that addr is an address to connect to: host:port, the host a name or an IP
// address, the port a number from 1 to 65535.
func Dial(addr string) error { return hostPort(addr, false) }

// Listen checks that addr is an address to listen on: as Dial, but the host may be empty
// (every address) and the port 0 (one the system picks).
func Listen(addr string) error { return hostPort(addr, true) }

func hostPort(addr string, listen bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return shakedown.Errorf(shakedown.KindInvalid, "address %q: want host:port", addr)
	}
	switch {
	case host == "" && !listen:
		return shakedown.Errorf(shakedown.KindInvalid, "address %q: no host", addr)
	case !validHost(host):
		return shakedown.Errorf(shakedown.KindInvalid, "address %q: %q is neither a host name nor an IP address", addr, host)
	}
	minPort := 1
	if listen {
		minPort = 0
	}
	if !validPort(port, minPort) {
		return shakedown.Errorf(shakedown.KindInvalid, "address %q: port %q is not a number from %d to 65535", addr, port, minPort)
	}
	return nil
}

// validPort reports whether p is a number from min to 65535, written as a number is: no
// sign, no leading zero, so that one port has one spelling (host:22 and host:022 are not
// two hosts). A service name ("http"), which net.Dial would look up, is not taken: what a
// port is should not depend on the machine's /etc/services.
func validPort(p string, min int) bool {
	if p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" || len(p) > 1 && p[0] == '0' {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= min && n <= 65535
}

// validHost reports whether h is empty, an IP address (with a zone, for IPv6) or made of
// what host names are made of.
func validHost(h string) bool {
	if h == "" {
		return true
	}
	ip, _, _ := strings.Cut(h, "%")
	if net.ParseIP(ip) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

// token is an HTTP token (RFC 9110, 5.6.2): what header names and methods are made of.
var token = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// Token reports whether s is an HTTP token, as a method or a header name must be.
func Token(s string) bool { return token.MatchString(s) }

// Header checks a header to send: its name a token (RFC 9110), its value free of CR, LF and
// NUL, which would end it early or make another header of the rest. The value is not
// quoted: it may be a credential.
func Header(name, value string) error {
	if !Token(name) {
		return shakedown.Errorf(shakedown.KindInvalid, "header name %q: want letters, digits and !#$%%&'*+-.^_`|~ only", name)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return shakedown.Errorf(shakedown.KindInvalid, "header %s: its value holds a line break or NUL", name)
	}
	return nil
}

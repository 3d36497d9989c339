// Package remote reaches Linux hosts over SSH, agentless: it dials a host with its key
// verified against known_hosts, runs argument lists there (never shell strings from users),
// and stages files (shakedown's own binary) in a per-user directory on the host, verified by
// SHA-256 and reused while they match.
//
//	Host ──Dial──▶ Client ──Run(argv)──────▶ [sudo -n --] 'arg0' 'arg1' …  (the login shell splits it back)
//	                  │
//	                  └──Stage(file)───▶ /tmp/shakedown-<uid>/<sha256[:16]>/<name>  (dir 0700, sum checked)
//
// A host that cannot be reached is an error of kind shakedown.KindUnavailable; a host key
// that is unknown or does not match, or a login that is refused, one of kind
// shakedown.KindPermission: both end a run with exit 5. The remote login shell must be a
// POSIX shell (sh, bash, dash, zsh), which reads the quoting of Quote.
package remote

import (
	"net"
	"strings"
	"time"
	"unicode"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// Host says how to reach one host. The zero values of the optional fields work.
type Host struct {
	Address string // host or host:port (an IPv6 address in brackets with a port); port 22 when absent
	User    string // login user; the current user when empty

	Identity string // private key file (unencrypted); may be empty when an ssh-agent holds the key
	// AgentSocket is the ssh-agent to ask for keys: $SSH_AUTH_SOCK when empty, none when "-".
	AgentSocket string

	KnownHosts string // known_hosts file the host's key must be in; required unless InsecureIgnoreHostKey
	// InsecureIgnoreHostKey accepts any host key. A run that sets it must say so loudly.
	InsecureIgnoreHostKey bool

	Sudo bool // run commands as root with "sudo -n --" (the login user needs passwordless sudo)

	ConnectTimeout time.Duration // for the TCP connection and the SSH handshake; default 10s
	Keepalive      time.Duration // interval of keepalive requests; default 5s; 3 unanswered close the connection
}

// Default values of Host's optional fields.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepalive      = 5 * time.Second
)

// HostPort returns address with port 22 added when it has none. An IPv6 address without a
// port may be written bare ("::1") or in brackets ("[::1]").
func HostPort(address string) (string, error) {
	if address == "" {
		return "", shakedown.Errorf(shakedown.KindInvalid, "empty host address")
	}
	if strings.Contains(address, "@") { // not quoted: user:password@host holds a password
		return "", shakedown.Errorf(shakedown.KindInvalid, "host address with an @: must be host or host:port; the login user is given as user:")
	}
	if strings.ContainsAny(address, " \t\r\n\x00/") {
		return "", shakedown.Errorf(shakedown.KindInvalid, "host address %q: must be host or host:port", address)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		// No port: a name, an IPv4 address, a bare or bracketed IPv6 address.
		host = address
		if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
			host = host[1 : len(host)-1]
		}
		if strings.Contains(host, ":") && net.ParseIP(host) == nil || strings.ContainsAny(host, "[]") {
			return "", shakedown.Errorf(shakedown.KindInvalid, "host address %q: must be host or host:port", address)
		}
		port = "22"
	}
	if host == "" || strings.ContainsAny(host, "[]") {
		return "", shakedown.Errorf(shakedown.KindInvalid, "host address %q: no host", address)
	}
	hp := net.JoinHostPort(host, port)
	if err := endpoint.Dial(hp); err != nil {
		return "", shakedown.Errorf(shakedown.KindInvalid, "host %v", err)
	}
	return hp, nil
}

// Endpoint returns the form in which two spellings of one address agree, to find a host
// listed twice: HostPort's host:port with an IP address in its shortest form (an IPv4
// address written as IPv6, ::ffff:a.b.c.d, as IPv4) and a name in lower case without a final
// dot. Two names of one machine in DNS still differ: Client.RemoteAddr tells them apart once
// dialled.
func Endpoint(address string) (string, error) {
	hp, err := HostPort(address)
	if err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", shakedown.Errorf(shakedown.KindInvalid, "host address %q: %v", address, err)
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	} else {
		host = strings.TrimSuffix(strings.ToLower(host), ".")
	}
	return net.JoinHostPort(host, port), nil
}

// CheckUser refuses a login user name that would only make trouble where it is shown or
// passed on: one with a control character or a space, with one of the characters a shell
// gives a meaning to ('"`$\;&<>|()), or that begins with a dash (OpenSSH's own client
// refuses the same). Empty is the current user; an @ (a domain's
// user) passes.
func CheckUser(name string) error {
	if strings.HasPrefix(name, "-") {
		return shakedown.Errorf(shakedown.KindInvalid, "user %q: begins with a dash", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) || strings.ContainsRune("'\"`$\\;&<>|()", r) {
			return shakedown.Errorf(shakedown.KindInvalid, "user %q: %q is not a character of a login name", name, r)
		}
	}
	return nil
}

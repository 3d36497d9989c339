package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/shakedown-dev/shakedown"
)

// decodeJSON decodes data, which must hold one JSON value and nothing after it but
// spaces, into v. Every body the API reads goes through it; its errors are "bad request
// body" (KindInvalid), as Toxiproxy words them. Fields v does not know are ignored, as
// Toxiproxy does: its clients send more than a request needs.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return badBody(err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badBody(fmt.Errorf("data after the JSON value at offset %d", end))
	}
	return nil
}

// checkListen reports whether addr is an address a proxy can listen on: host:port, the
// host a name or an IP address (empty for every address), the port a number or a service
// name. An empty addr is Toxiproxy's too: every address, a port the system picks.
func checkListen(addr string) error {
	if addr == "" {
		return nil
	}
	return checkAddr("listen", addr, 0)
}

// checkUpstream reports whether addr is an address a proxy can dial: as checkListen, but
// the port may not be 0.
func checkUpstream(addr string) error { return checkAddr("upstream", addr, 1) }

func checkAddr(field, addr string, minPort int) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: %v", field, err)
	}
	if !validHost(host) {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: address %s: %q is neither a host name nor an IP address", field, addr, host)
	}
	// LookupPort takes a number in [0, 65535] or a service name ("http"), as Listen and
	// Dial do.
	n, err := net.LookupPort("tcp", port)
	if err != nil || n < minPort {
		return shakedown.Errorf(shakedown.KindInvalid, "%s: address %s: port %q is not a service name nor a number in [%d, 65535]", field, addr, port, minPort)
	}
	return nil
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

func resolveTCP(addr string) (string, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

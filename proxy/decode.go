package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
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

// checkListen reports whether addr is an address a proxy can listen on (endpoint.Listen).
// An empty addr is Toxiproxy's too: every address, a port the system picks.
func checkListen(addr string) error {
	if addr == "" {
		return nil
	}
	return shakedown.Wrap(shakedown.KindInvalid, "listen", endpoint.Listen(addr))
}

// checkUpstream reports whether addr is an address a proxy can dial (endpoint.Dial).
func checkUpstream(addr string) error {
	return shakedown.Wrap(shakedown.KindInvalid, "upstream", endpoint.Dial(addr))
}

func resolveTCP(addr string) (string, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return "", err
	}
	return a.String(), nil
}

package probe

import (
	"context"
	"net"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// TCPParams are the parameters of the tcp probe.
type TCPParams struct {
	Address string `json:"address" required:"true" doc:"host:port to connect to"`
}

// String says what the probe asks, for a plan.
func (p *TCPParams) String() string { return "connect to " + p.Address }

// Validate checks that the address is a host and a numeric port.
func (p *TCPParams) Validate() error {
	if err := endpoint.Dial(p.Address); err != nil {
		return &shakedown.FieldError{Field: "address", Index: -1, Err: err}
	}
	return nil
}

// TCP is a tcp prober.
type TCP struct {
	address string
	dialer  net.Dialer
}

// NewTCP returns a tcp prober whose connection attempts each take at most timeout
// (DefaultTimeout when zero).
func NewTCP(p *TCPParams, timeout time.Duration) (*TCP, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &TCP{address: p.Address, dialer: net.Dialer{Timeout: orDefault(timeout)}}, nil
}

// Probe opens a connection and closes it at once.
func (t *TCP) Probe(ctx context.Context) (string, error) {
	start := time.Now()
	conn, err := t.dialer.DialContext(ctx, "tcp", t.address)
	if err != nil {
		return netObservation(err, time.Since(start)), shakedown.Wrap(shakedown.KindFailed, "connect "+t.address, err)
	}
	obs := "connected in " + since(start)
	conn.Close()
	return obs, nil
}

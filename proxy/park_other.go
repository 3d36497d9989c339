//go:build !linux

package proxy

import (
	"errors"
	"net"
)

// canPark is false: elsewhere a proxy that stops listening closes its listener, and its
// port is free until it listens again.
const canPark = false

func park(net.Listener) error     { return errors.ErrUnsupported }
func relisten(net.Listener) error { return errors.ErrUnsupported }

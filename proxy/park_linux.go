package proxy

import (
	"net"

	"golang.org/x/sys/unix"
)

// canPark says that park and relisten work here.
const canPark = true

// park stops ln listening but keeps its address bound: connections to it are refused, as
// with no listener, but a port the proxy asked for by number stays the proxy's — no
// outgoing connection is given it meanwhile — so that relisten can take it up again. An
// Accept waiting on ln ends with EINVAL; the connections waiting to be accepted are
// refused.
func park(ln net.Listener) error {
	return control(ln, func(fd int) error { return unix.Shutdown(fd, unix.SHUT_RD) })
}

// relisten makes a parked ln listen again on the address it kept.
func relisten(ln net.Listener) error {
	return control(ln, func(fd int) error { return unix.Listen(fd, listenBacklog) })
}

// listenBacklog asks for the longest queue; the kernel caps it at net.core.somaxconn, as
// for Go's own listeners.
const listenBacklog = 1<<16 - 1

func control(ln net.Listener, f func(fd int) error) error {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return unix.EOPNOTSUPP
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The floor relay is the least any user-space TCP relay can do on this machine: for each
// direction an OS thread of its own that splices, blocking, from one socket into a pipe
// and from the pipe into the other, with no poller, no scheduler and no bookkeeping. A
// proxy does not do much better than it in the bulk figure (shakedown's is within a few
// per cent either way), so the bulk figure is also given against it: what is left between
// it and no proxy at all is the kernel's, not the proxy's.

// serveRelay relays every connection to listen on to upstream until the process ends.
func serveRelay(listen, upstream string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		u, err := net.Dial("tcp", upstream)
		if err != nil {
			c.Close()
			continue
		}
		go relayPump(c.(*net.TCPConn), u.(*net.TCPConn))
		go relayPump(u.(*net.TCPConn), c.(*net.TCPConn))
	}
}

// relayPump moves bytes from src to dst until src ends, then half-closes dst.
func relayPump(src, dst *net.TCPConn) {
	runtime.LockOSThread()
	defer dst.CloseWrite()
	// Blocking descriptors of their own: the splices wait in the kernel, not in the poller.
	sf, err := src.File()
	if err != nil {
		return
	}
	defer sf.Close()
	df, err := dst.File()
	if err != nil {
		return
	}
	defer df.Close()
	s, d := int(sf.Fd()), int(df.Fd())
	if unix.SetNonblock(s, false) != nil || unix.SetNonblock(d, false) != nil {
		return
	}
	var p [2]int
	if unix.Pipe2(p[:], unix.O_CLOEXEC) != nil {
		return
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	unix.FcntlInt(uintptr(p[0]), unix.F_SETPIPE_SZ, 1<<20)
	for {
		n, err := unix.Splice(s, nil, p[1], nil, 1<<20, unix.SPLICE_F_MOVE)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return
		}
		for n > 0 {
			m, err := unix.Splice(p[0], nil, d, nil, int(n), unix.SPLICE_F_MOVE)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			n -= m
		}
	}
}

// relay is a reference relay running as a process of its own.
type relay struct {
	addr string // where it listens
	cmd  *exec.Cmd
}

// startRelay starts a reference relay as a process of its own, relaying a free local
// address to upstream, and returns it once it listens: the floor relay, or with loop the
// one-thread relay (loop.go), delaying what comes back by delay.
func startRelay(self, upstream string, loop bool, delay time.Duration) (*relay, error) {
	addr := freeAddr()
	args := []string{"-relay", addr + "=" + upstream}
	if loop {
		args = append(args, "-loop", "-delay", delay.String())
	}
	cmd := command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &relay{addr: addr, cmd: cmd}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "listening\n" {
		r.stop()
		return nil, fmt.Errorf("the reference relay did not listen on %s", addr)
	}
	return r, nil
}

func (r *relay) stop() { r.cmd.Process.Kill(); r.cmd.Wait() }

// cpu returns the CPU time the relay has used.
func (r *relay) cpu() time.Duration { return processCPU(r.cmd.Process.Pid) }

// parseRelay splits -relay's LISTEN=UPSTREAM.
func parseRelay(v string) (listen, upstream string, err error) {
	listen, upstream, ok := strings.Cut(v, "=")
	if !ok || listen == "" || upstream == "" {
		return "", "", fmt.Errorf("-relay %q: want LISTEN=UPSTREAM", v)
	}
	return listen, upstream, nil
}

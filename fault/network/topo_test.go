//go:build linux

package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/shakedown-dev/shakedown/internal/testenv"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

var topoSeq atomic.Int32

// topo is two network namespaces, a and b, joined by a veth pair: 10.250.N.1 in a, .2 in b.
type topo struct {
	id       string
	a, b     string
	ipA, ipB netip.Addr
}

// newTopo builds two namespaces joined by veth; the test's cleanup deletes them.
func newTopo(tb testing.TB) *topo {
	tb.Helper()
	testenv.NeedRoot(tb)
	n := topoSeq.Add(1)
	id := fmt.Sprintf("%d%d", os.Getpid()%100000, n)
	tp := &topo{id: id, a: "sdta" + id, b: "sdtb" + id,
		ipA: netip.AddrFrom4([4]byte{10, 250, byte(n), 1}), ipB: netip.AddrFrom4([4]byte{10, 250, byte(n), 2})}
	for _, name := range []string{tp.a, tp.b} {
		newNamedNS(tb, name)
	}
	va, vb := "va"+id, "vb"+id
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: va}, PeerName: vb}); err != nil {
		tb.Fatalf("add veth %s: %v", va, err)
	}
	for _, side := range []struct {
		link, ns string
		ip       netip.Addr
	}{{va, tp.a, tp.ipA}, {vb, tp.b, tp.ipB}} {
		l, err := netlink.LinkByName(side.link)
		if err != nil {
			tb.Fatalf("find %s: %v", side.link, err)
		}
		h, err := netns.GetFromName(side.ns)
		if err != nil {
			tb.Fatal(err)
		}
		if err := netlink.LinkSetNsFd(l, int(h)); err != nil {
			tb.Fatalf("move %s to %s: %v", side.link, side.ns, err)
		}
		nh, err := netlink.NewHandleAt(h)
		if err != nil {
			tb.Fatal(err)
		}
		for _, name := range []string{side.link, "lo"} {
			l, err := nh.LinkByName(name)
			if err != nil {
				tb.Fatalf("%s in %s: %v", name, side.ns, err)
			}
			if name != "lo" {
				addr := &netlink.Addr{IPNet: &net.IPNet{IP: side.ip.AsSlice(), Mask: net.CIDRMask(24, 32)}}
				if err := nh.AddrAdd(l, addr); err != nil {
					tb.Fatalf("address %s: %v", side.ip, err)
				}
			}
			if err := nh.LinkSetUp(l); err != nil {
				tb.Fatalf("up %s: %v", name, err)
			}
		}
		nh.Close()
		h.Close()
	}
	// Traffic flows only once the kernel has marked both ends up (link watch runs late).
	for _, side := range []struct{ link, ns string }{{va, tp.a}, {vb, tp.b}} {
		h, err := netns.GetFromName(side.ns)
		if err != nil {
			tb.Fatal(err)
		}
		nh, err := netlink.NewHandleAt(h)
		if err != nil {
			tb.Fatal(err)
		}
		testenv.WaitFor(tb, side.link+" up", patient, func() bool {
			l, err := nh.LinkByName(side.link)
			return err == nil && l.Attrs().OperState == netlink.OperUp
		})
		nh.Close()
		h.Close()
	}
	return tp
}

func newNamedNS(tb testing.TB, name string) {
	tb.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine, never back in the pool
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		tb.Fatalf("create netns %s: %v", name, err)
	}
	tb.Cleanup(func() { netns.DeleteNamed(name) })
}

// in runs fn on a thread in namespace ns; sockets fn opens stay in ns.
func in(tb testing.TB, ns string, fn func()) {
	tb.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := netns.GetFromName(ns)
		if err != nil {
			done <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil // the thread is left locked, so it dies with the goroutine
	}()
	if err := <-done; err != nil {
		tb.Fatalf("enter netns %s: %v", ns, err)
	}
}

// listenTCP listens on port 0 of ip in ns and echoes every connection.
func listenTCP(tb testing.TB, ns string, ip netip.Addr) *net.TCPAddr {
	tb.Helper()
	var ln net.Listener
	var err error
	in(tb, ns, func() { ln, err = net.Listen("tcp4", net.JoinHostPort(ip.String(), "0")) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// listenUDP opens a UDP socket on port (0 for any) of ip in ns; echo says whether it echoes.
func listenUDP(tb testing.TB, ns string, ip netip.Addr, port int, echo bool) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	var err error
	in(tb, ns, func() { c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: ip.AsSlice(), Port: port}) })
	if err != nil {
		tb.Fatal(err)
	}
	c.SetReadBuffer(8 << 20)
	tb.Cleanup(func() { c.Close() })
	if echo {
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFromUDP(buf)
				if err != nil {
					return
				}
				c.WriteToUDP(buf[:n], from)
			}
		}()
	}
	return c
}

// dialTCP dials addr from ns with a timeout.
func dialTCP(tb testing.TB, ns string, addr *net.TCPAddr, timeout time.Duration) (net.Conn, error) {
	tb.Helper()
	var c net.Conn
	var err error
	in(tb, ns, func() { c, err = net.DialTimeout("tcp4", addr.String(), timeout) })
	return c, err
}

// dialUDP opens a connected UDP socket from ns to addr.
func dialUDP(tb testing.TB, ns string, addr *net.UDPAddr) *net.UDPConn {
	tb.Helper()
	var c *net.UDPConn
	var err error
	in(tb, ns, func() { c, err = net.DialUDP("udp4", nil, addr) })
	if err != nil {
		tb.Fatal(err)
	}
	c.SetReadBuffer(8 << 20)
	tb.Cleanup(func() { c.Close() })
	return c
}

// udpRoundTrip sends one datagram and waits up to timeout for its echo.
func udpRoundTrip(c *net.UDPConn, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	msg := []byte(fmt.Sprint(start.UnixNano()))
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	buf := make([]byte, 2048)
	c.SetReadDeadline(start.Add(timeout))
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, err
		}
		if string(buf[:n]) == string(msg) {
			return time.Since(start), nil
		}
	}
}

// ours lists what this package may have left in ns: shakedown tables and our-range root qdiscs.
func ours(tb testing.TB, ns string) []string {
	tb.Helper()
	h, err := nsHandle(ns)
	if err != nil {
		tb.Fatal(err)
	}
	defer h.Close()
	c, err := nftConn(h)
	if err != nil {
		tb.Fatal(err)
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, t := range ts {
		if _, ok := RunOf(t.Name); ok {
			out = append(out, "table "+t.Name)
		}
	}
	nh, err := netlink.NewHandleAt(h)
	if err != nil {
		tb.Fatal(err)
	}
	defer nh.Close()
	qs, err := ourQdiscs(nh, func(major uint16) bool { return major >= 0x8000 })
	if err != nil {
		tb.Fatal(err)
	}
	for _, q := range qs {
		out = append(out, fmt.Sprintf("qdisc %s %x: on link %d", q.Type(), q.Attrs().Handle>>16, q.Attrs().LinkIndex))
	}
	return out
}

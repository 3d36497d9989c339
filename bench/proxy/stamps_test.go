//go:build linux

package main

import (
	"net"
	"sync"
	"testing"
	"time"
)

// A probe's four kernel times come in the order the bytes went: the request left the
// driver, reached the echo backend, the answer left the backend, reached the driver;
// and each answer's leaving time is its own, with probes on many connections at once.
func TestProbeTimesAreInOrder(t *testing.T) {
	be, err := startBackends(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c, err := net.Dial("tcp", be.echo)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			p, err := newProber(c)
			if err != nil {
				t.Error(err)
				return
			}
			for range 50 {
				pt, err := p.probe()
				if err != nil {
					t.Error(err)
					return
				}
				if !(pt.start.UnixNano() <= pt.sent && pt.sent <= pt.recv && pt.recv <= pt.left && pt.left <= pt.arrived) {
					t.Errorf("times out of order: start %d, sent %d, received %d, answer left %d, arrived %d",
						pt.start.UnixNano(), pt.sent, pt.recv, pt.left, pt.arrived)
					return
				}
				if pt.trip < 0 || pt.trip > time.Duration(pt.arrived-pt.sent) {
					t.Errorf("trip %v of a round trip of %dns", pt.trip, pt.arrived-pt.sent)
					return
				}
			}
		})
	}
	wg.Wait()
}

//go:build linux

package main

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// The web backend answers each request once, however its bytes are split, pipelined
// ones included, and the clients count them.
func TestWebBackendAnswersEveryRequestOnce(t *testing.T) {
	addr, err := serveWeb()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := "GET / HTTP/1.1\r\nHost: x\r\nX-A: \r\r\n\r\n"
	all := []byte(req + req + req)
	for _, piece := range [][]byte{all[:1], all[1:17], all[17 : len(req)+2], all[len(req)+2:]} {
		if _, err := c.Write(piece); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // apart on the wire, not a wait for readiness
	}
	got := make([]byte, 3*len(webAnswer))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if want := bytes.Repeat(webAnswer, 3); !bytes.Equal(got, want) {
		t.Fatalf("answers %q, want %q", got, want)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := c.Read(got); n != 0 {
		t.Fatalf("a fourth answer: %q", got[:n])
	}

	rate, err := requestRate(addr, 4, 200*time.Millisecond)
	if err != nil || rate == 0 {
		t.Fatalf("rate %v, %v", rate, err)
	}
	lc, err := newLatencyClient(addr, 32) // more than the requests sent: none waits for one

	if err != nil {
		t.Fatal(err)
	}
	defer lc.close()
	lat, err := lc.run(100, 200*time.Millisecond)
	if err != nil || len(lat) != 20 {
		t.Fatalf("%d latencies, want 20: %v", len(lat), err)
	}
	for _, l := range lat {
		if l <= 0 || l > 10*time.Second {
			t.Fatalf("latency %v", l)
		}
	}
}

// An answer is taken byte for byte, in pieces of any size, and refused when it differs
// or comes with no request out.
func TestAnswersFeed(t *testing.T) {
	var a answers
	if _, err := a.feed([]byte("H")); err == nil {
		t.Fatal("an answer with no request out was taken")
	}
	a = answers{waiting: true}
	for i := range webAnswer {
		done, err := a.feed(webAnswer[i : i+1])
		if err != nil || done != (i == len(webAnswer)-1) {
			t.Fatalf("byte %d: done %v, %v", i, done, err)
		}
	}
	a = answers{waiting: true}
	if _, err := a.feed(append(append([]byte(nil), webAnswer...), 'H')); err == nil {
		t.Fatal("a second answer to one request was taken")
	}
	a = answers{waiting: true}
	if _, err := a.feed([]byte("HTTP/1.1 500 ")); err == nil {
		t.Fatal("another answer was taken")
	}
}

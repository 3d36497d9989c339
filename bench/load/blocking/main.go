//go:build linux

// Command blocking is the simplest sender at a fixed rate, for bench/load/run.sh to
// measure beside shakedown's generator and vegeta: one OS thread that sleeps in the kernel
// until each request is due (clock_nanosleep to an absolute time), writes a prepared GET
// on one kept-alive connection and reads the answer, all with blocking system calls and no
// scheduler, poller, timer heap or bookkeeping. It only knows answers with a
// Content-Length (the bench's target sends one), and it cannot send while it waits for an
// answer: it is a reference for what sending on a schedule costs the kernel, not a load
// generator. (shakedown's generator uses less: its one wait per event serves both the due
// time and the answer, where this one sleeps twice.)
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	target := flag.String("url", "", "target URL (http://host:port/path)")
	rate := flag.Int("rate", 2000, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	flag.Parse()
	if err := run(*target, *rate, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "blocking:", err)
		os.Exit(1)
	}
}

func run(target string, rate int, duration time.Duration) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || rate <= 0 {
		return fmt.Errorf("want -url http://host:port/path and -rate above 0")
	}
	runtime.LockOSThread()
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		return err
	}
	f, err := c.(*net.TCPConn).File() // a blocking descriptor of its own
	if err != nil {
		return err
	}
	c.Close()
	fd := int(f.Fd())
	if err := unix.SetNonblock(fd, false); err != nil {
		return err
	}
	req := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: blocking\r\n\r\n")
	buf := make([]byte, 64<<10)
	n := int64(duration.Seconds() * float64(rate))
	var now unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
	start := now.Nano()
	for i := range n {
		due := unix.NsecToTimespec(start + i*int64(time.Second)/int64(rate))
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &due, nil) == unix.EINTR {
		}
		if _, err := unix.Write(fd, req); err != nil {
			return err
		}
		if err := readAnswer(fd, buf); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
	}
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
	elapsed := time.Duration(now.Nano() - start)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"requests":      n,
		"achieved_rate": float64(n) / elapsed.Seconds(),
	})
}

// readAnswer reads one answer with a Content-Length, headers and body, into buf.
func readAnswer(fd int, buf []byte) error {
	have := 0
	for {
		m, err := unix.Read(fd, buf[have:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if m == 0 {
			return fmt.Errorf("connection closed")
		}
		have += m
		head, _, ok := bytes.Cut(buf[:have], []byte("\r\n\r\n"))
		if !ok {
			if have == len(buf) {
				return fmt.Errorf("answer head too long")
			}
			continue
		}
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
			return fmt.Errorf("answer %q", head)
		}
		i := bytes.Index(bytes.ToLower(head), []byte("\r\ncontent-length: "))
		if i < 0 {
			return fmt.Errorf("answer without Content-Length")
		}
		v, _, _ := bytes.Cut(head[i+len("\r\ncontent-length: "):], []byte("\r\n"))
		size, err := strconv.Atoi(string(v))
		if err != nil || size < 0 || len(head)+4+size > len(buf) {
			return fmt.Errorf("answer Content-Length %q", v)
		}
		if have >= len(head)+4+size {
			return nil
		}
	}
}

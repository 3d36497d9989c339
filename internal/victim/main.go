// Command victim is the small program tests run faults against: an HTTP server on a free
// loopback port that writes its address and pid to files, answers /healthz, and serves / with
// a configurable delay and error rate, or with every Nth request bad. It exits 0 on SIGTERM
// or SIGINT.
//
//	victim -addr-file F [-pidfile F] [-listen 127.0.0.1:0] [-delay 0] [-fail 0]
//	       [-bad-every N [-bad-delay D] [-bad-while F]]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	addrFile := flag.String("addr-file", "", "write the address listened on to this file")
	pidFile := flag.String("pidfile", "", "write the pid to this file")
	delay := flag.Duration("delay", 0, "delay before answering /")
	fail := flag.Float64("fail", 0, "fraction of / requests answered 500")
	badEvery := flag.Int64("bad-every", 0, "answer every Nth request to / with 500, after -bad-delay")
	badDelay := flag.Duration("bad-delay", 0, "how long a bad request waits")
	badWhile := flag.String("bad-while", "", "with -bad-every: only while this file exists, counting from when it appears")
	flag.Parse()
	var counted atomic.Int64 // requests to / since the bad ones began
	bad := func() bool {
		if *badEvery <= 0 {
			return false
		}
		if *badWhile != "" {
			if _, err := os.Stat(*badWhile); err != nil {
				counted.Store(0)
				return false
			}
		}
		return counted.Add(1)%*badEvery == 0
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "victim:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		wait := *delay
		isBad := bad()
		if isBad {
			wait += *badDelay
		}
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.Context().Done():
				return
			}
		}
		if isBad || *fail > 0 && rand.Float64() < *fail {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "hello")
	})
	srv := &http.Server{Handler: mux}

	// Write the files atomically only once the socket is open, so a reader that sees them can
	// connect at once.
	if err := writeAtomic(*pidFile, fmt.Sprint(os.Getpid())); err != nil {
		fmt.Fprintln(os.Stderr, "victim:", err)
		os.Exit(1)
	}
	if err := writeAtomic(*addrFile, ln.Addr().String()); err != nil {
		fmt.Fprintln(os.Stderr, "victim:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "victim:", err)
		os.Exit(1)
	}
}

func writeAtomic(path, content string) error {
	if path == "" {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

package demo

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/shakedown-dev/shakedown/demo/shop"
)

// CacheServer is a tiny in-memory server speaking the subset of the Redis protocol the shop
// uses (PING, GET, SET), standing in for Redis in the embedded demo.
type CacheServer struct {
	ln    net.Listener
	mu    sync.Mutex
	data  map[string]string
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartCache listens on addr (127.0.0.1:0 for any free port) and serves until Close.
func StartCache(addr string) (*CacheServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	s := &CacheServer{ln: ln, data: map[string]string{}, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the cache listens on.
func (s *CacheServer) Addr() string { return s.ln.Addr().String() }

// Close stops the server and waits for its connections to end.
func (s *CacheServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *CacheServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *CacheServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	for {
		args, err := shop.ReadCommand(r)
		if err != nil {
			return
		}
		reply := s.exec(args)
		if _, err := w.WriteString(reply); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

var errArgs = errors.New("wrong number of arguments")

func (s *CacheServer) exec(args []string) string {
	if len(args) == 0 {
		return "-ERR empty command\r\n"
	}
	switch strings.ToUpper(args[0]) {
	case "PING":
		return "+PONG\r\n"
	case "GET":
		if len(args) != 2 {
			return "-ERR " + errArgs.Error() + "\r\n"
		}
		s.mu.Lock()
		v, ok := s.data[args[1]]
		s.mu.Unlock()
		if !ok {
			return "$-1\r\n"
		}
		return fmt.Sprintf("$%d\r\n%s\r\n", len(v), v)
	case "SET":
		if len(args) < 3 {
			return "-ERR " + errArgs.Error() + "\r\n"
		}
		s.mu.Lock()
		s.data[args[1]] = args[2]
		s.mu.Unlock()
		return "+OK\r\n"
	}
	return "-ERR unknown command '" + args[0] + "'\r\n"
}

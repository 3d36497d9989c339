package shop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Redis is a Cache that speaks the Redis protocol (RESP) to one address, with a small pool of
// connections. A context deadline bounds each call; a connection that saw an error or a
// deadline is closed, never reused.
type Redis struct {
	Addr string
	// TTL, when set, makes entries written by Set expire after it (SET … PX), so that prices
	// are read again from the store now and then.
	TTL time.Duration

	mu   sync.Mutex
	idle []*respConn
}

type respConn struct {
	c net.Conn
	r *bufio.Reader
}

const maxIdle = 16

// Get implements Cache.
func (c *Redis) Get(ctx context.Context, key string) (string, bool, error) {
	v, err := c.do(ctx, "GET", key)
	if err != nil {
		return "", false, err
	}
	if v == nil {
		return "", false, nil
	}
	return *v, true, nil
}

// Set implements Cache.
func (c *Redis) Set(ctx context.Context, key, value string) error {
	args := []string{"SET", key, value}
	if c.TTL > 0 {
		args = append(args, "PX", strconv.FormatInt(c.TTL.Milliseconds(), 10))
	}
	_, err := c.do(ctx, args...)
	return err
}

// Ping checks that the server answers.
func (c *Redis) Ping(ctx context.Context) error {
	_, err := c.do(ctx, "PING")
	return err
}

func (c *Redis) do(ctx context.Context, args ...string) (*string, error) {
	conn, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	conn.c.SetDeadline(deadline)
	// Close the connection when ctx ends early so a blocked read returns.
	stop := context.AfterFunc(ctx, func() { conn.c.SetDeadline(time.Now()) })
	v, err := roundTrip(conn, args)
	if !stop() || err != nil {
		conn.c.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("redis %s: %w", args[0], err)
	}
	c.put(conn)
	return v, nil
}

func (c *Redis) get(ctx context.Context) (*respConn, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		conn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return conn, nil
	}
	c.mu.Unlock()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return &respConn{c: nc, r: bufio.NewReader(nc)}, nil
}

func (c *Redis) put(conn *respConn) {
	conn.c.SetDeadline(time.Time{})
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) >= maxIdle {
		conn.c.Close()
		return
	}
	c.idle = append(c.idle, conn)
}

// Close closes idle connections.
func (c *Redis) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.idle {
		conn.c.Close()
	}
	c.idle = nil
	return nil
}

func roundTrip(conn *respConn, args []string) (*string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	return ReadReply(conn.r)
}

// ReadReply reads one RESP reply: a simple string, an error, an integer or a bulk string.
// A nil bulk string is a nil result.
func ReadReply(r *bufio.Reader) (*string, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if line == "" {
		return nil, errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		s := line[1:]
		return &s, nil
	case '-':
		return nil, errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > 64<<20 {
			return nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		s := string(buf[:n])
		return &s, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// ReadCommand reads one RESP command (an array of bulk strings), for servers.
func ReadCommand(r *bufio.Reader) ([]string, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if line == "" || line[0] != '*' {
		// An inline command: words separated by spaces.
		return strings.Fields(line), nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 1024 {
		return nil, fmt.Errorf("bad array length %q", line)
	}
	args := make([]string, 0, n)
	for range n {
		v, err := ReadReply(r)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, errors.New("nil in command")
		}
		args = append(args, *v)
	}
	return args, nil
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

package remote

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/shakedown-dev/shakedown"
)

// Client is a connection to one host. It is safe for concurrent use; Close releases it.
type Client struct {
	host Host
	addr string // host:port
	conn *ssh.Client

	done chan struct{} // closed by Close: stops the keepalive loop
	wg   sync.WaitGroup
	once sync.Once
}

// HostKeyError is a host key that known_hosts does not vouch for: the host is not in the
// file (Want is empty) or it is there with other keys.
type HostKeyError struct {
	Host       string   // host:port dialled
	KnownHosts string   // the file
	Want       []string // SHA256 fingerprints the file lists for the host, with file:line
	Offered    string   // SHA256 fingerprint of the key the host offered
}

func (e *HostKeyError) Error() string {
	if len(e.Want) == 0 {
		return fmt.Sprintf("host %s is not in %s (it offered %s)", e.Host, e.KnownHosts, e.Offered)
	}
	return fmt.Sprintf("host key mismatch for %s: %s expects %s, the host offered %s (another machine, or its key changed)",
		e.Host, e.KnownHosts, strings.Join(e.Want, " or "), e.Offered)
}

// Dial connects to h and logs in. The connection and handshake end with ctx or after
// h.ConnectTimeout, whichever is first; after Dial, ctx no longer matters. The caller must
// Close the client.
func Dial(ctx context.Context, h Host) (*Client, error) {
	addr, err := HostPort(h.Address)
	if err != nil {
		return nil, err
	}
	op := "ssh " + addr
	cfg, closeAgent, err := clientConfig(h, addr)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), op, err)
	}
	defer closeAgent()
	timeout := h.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var d net.Dialer
	tcp, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, shakedown.Wrap(ctxKind(ctx, shakedown.KindUnavailable), op, err)
	}
	// The handshake has no context of its own: a deadline on the socket, moved to now when
	// ctx ends, bounds it.
	if dl, ok := ctx.Deadline(); ok {
		tcp.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { tcp.SetDeadline(time.Now()) })
	c, chans, reqs, err := ssh.NewClientConn(tcp, addr, cfg)
	stop()
	if err != nil {
		tcp.Close()
		return nil, shakedown.Wrap(handshakeKind(ctx, err), op, err)
	}
	tcp.SetDeadline(time.Time{})
	cl := &Client{host: h, addr: addr, conn: ssh.NewClient(c, chans, reqs), done: make(chan struct{})}
	interval := h.Keepalive
	if interval <= 0 {
		interval = DefaultKeepalive
	}
	cl.wg.Go(func() { cl.keepalive(interval) })
	return cl, nil
}

// Addr returns the host:port the client is connected to.
func (c *Client) Addr() string { return c.addr }

// RemoteAddr returns the address the connection reached: two names of one host in DNS
// reach the same.
func (c *Client) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Close closes the connection and waits for the keepalive loop.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		err = c.conn.Close()
		c.wg.Wait()
	})
	return err
}

// keepalive sends a keepalive request every interval; when three in a row go unanswered
// (a host or a network that is gone without a word), it closes the connection so that
// every session on it ends with an error instead of hanging.
func (c *Client) keepalive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	answered := make(chan error, 1)
	missed := 0
	pending := false
	for {
		select {
		case <-c.done:
			return
		case err := <-answered:
			pending = false
			if err != nil {
				c.conn.Close()
				return
			}
			missed = 0
		case <-t.C:
			if pending {
				if missed++; missed >= 3 {
					c.conn.Close()
					return
				}
				continue
			}
			pending = true
			c.wg.Go(func() {
				_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
				answered <- err
			})
		}
	}
}

// clientConfig builds the SSH client configuration for h: user, auth methods and host key
// check. closeAgent releases the agent connection once the handshake is over.
func clientConfig(h Host, addr string) (cfg *ssh.ClientConfig, closeAgent func(), err error) {
	closeAgent = func() {}
	name := h.User
	if name == "" {
		u, err := user.Current()
		if err != nil {
			return nil, closeAgent, shakedown.Errorf(shakedown.KindInvalid, "no user given and no current user: %w", err)
		}
		name = u.Username
	}
	if err := CheckUser(name); err != nil {
		return nil, closeAgent, err
	}
	cfg = &ssh.ClientConfig{User: name}
	if err := hostKeyCheck(cfg, h, addr); err != nil {
		return nil, closeAgent, err
	}
	var signers []ssh.Signer
	if h.Identity != "" {
		s, err := readIdentity(h.Identity)
		if err != nil {
			return nil, closeAgent, err
		}
		signers = append(signers, s)
	}
	sock := h.AgentSocket
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	var agentSigners func() ([]ssh.Signer, error)
	if sock != "" && sock != "-" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			if h.Identity == "" {
				return nil, closeAgent, shakedown.Errorf(shakedown.KindUnavailable, "ssh-agent at %s: %w", sock, err)
			}
		} else {
			closeAgent = func() { conn.Close() }
			agentSigners = agent.NewClient(conn).Signers
		}
	}
	if len(signers) == 0 && agentSigners == nil {
		return nil, closeAgent, shakedown.Errorf(shakedown.KindInvalid, "no identity file and no ssh-agent (SSH_AUTH_SOCK) to log in to %s with", addr)
	}
	cfg.Auth = []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		all := signers
		if agentSigners != nil {
			more, err := agentSigners()
			if err != nil && len(all) == 0 {
				return nil, err
			}
			all = append(all[:len(all):len(all)], more...)
		}
		return all, nil
	})}
	return cfg, closeAgent, nil
}

func readIdentity(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "identity: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &pm):
		return nil, shakedown.Errorf(shakedown.KindInvalid, "identity %s is encrypted: load it into ssh-agent instead", path)
	case err != nil:
		return nil, shakedown.Errorf(shakedown.KindInvalid, "identity %s: %w", path, err)
	}
	return s, nil
}

// hostKeyCheck sets cfg's host key callback (and the host key algorithms to ask for, those
// of the keys known_hosts lists for the host, so that a host with several keys offers one
// the file knows).
func hostKeyCheck(cfg *ssh.ClientConfig, h Host, addr string) error {
	if h.InsecureIgnoreHostKey {
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey()
		return nil
	}
	if h.KnownHosts == "" {
		return shakedown.Errorf(shakedown.KindInvalid, "no known_hosts file to check the host key of %s against (insecure_ignore_host_key is not set)", addr)
	}
	check, err := knownhosts.New(h.KnownHosts)
	if err != nil {
		return shakedown.Errorf(shakedown.KindInvalid, "known_hosts: %w", err)
	}
	if algos := knownAlgorithms(check, addr); len(algos) > 0 {
		cfg.HostKeyAlgorithms = algos
	}
	cfg.HostKeyCallback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return err
		}
		he := &HostKeyError{Host: addr, KnownHosts: h.KnownHosts, Offered: ssh.FingerprintSHA256(key)}
		for _, k := range ke.Want {
			he.Want = append(he.Want, fmt.Sprintf("%s (%s:%d)", ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
		}
		return he
	}
	return nil
}

// knownAlgorithms returns the host key algorithms of the keys known_hosts lists for addr,
// found by asking the check about a key no file holds: its KeyError lists them.
func knownAlgorithms(check ssh.HostKeyCallback, addr string) []string {
	probe, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))) // all zeros
	if err != nil {
		return nil
	}
	tcpAddr, _ := net.ResolveTCPAddr("tcp", addr)
	var remote net.Addr = &net.TCPAddr{}
	if tcpAddr != nil {
		remote = tcpAddr
	}
	var ke *knownhosts.KeyError
	if !errors.As(check(addr, remote, probe), &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		for _, a := range keyAlgorithms(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// keyAlgorithms returns the signature algorithms a host key of type t signs with.
func keyAlgorithms(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}

// handshakeKind is the kind of a failed handshake: a refused key or login is a permission
// problem; a deadline or a dropped connection, an unreachable host.
func handshakeKind(ctx context.Context, err error) shakedown.Kind {
	var he *HostKeyError
	if errors.As(err, &he) || strings.Contains(err.Error(), "unable to authenticate") {
		return shakedown.KindPermission
	}
	return ctxKind(ctx, shakedown.KindUnavailable)
}

// ctxKind is KindAborted when ctx was cancelled (not timed out), else k.
func ctxKind(ctx context.Context, k shakedown.Kind) shakedown.Kind {
	if errors.Is(ctx.Err(), context.Canceled) {
		return shakedown.KindAborted
	}
	return k
}

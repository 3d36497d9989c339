package container

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// API versions this client speaks. It asks the daemon for its version once and uses the
// lower of the two; daemons older than MinAPIVersion are refused.
const (
	MaxAPIVersion = "1.47"
	MinAPIVersion = "1.25"
)

// DefaultHost is the endpoint used when neither the target nor DOCKER_HOST names one.
const DefaultHost = "unix:///var/run/docker.sock"

// Endpoint is a parsed DOCKER_HOST value.
type Endpoint struct {
	Host   string // as given, for messages and undo records
	Scheme string // "unix" or "tcp"
	Addr   string // socket path or host:port
}

// ParseHost reads a DOCKER_HOST value: unix:///path, tcp://host:port or http://host:port.
// The empty string means DefaultHost. Other schemes (ssh, npipe) are refused as KindInvalid.
func ParseHost(host string) (Endpoint, error) {
	if host == "" {
		host = DefaultHost
	}
	scheme, rest, ok := strings.Cut(host, "://")
	if !ok {
		return Endpoint{}, shakedown.Errorf(shakedown.KindInvalid, "docker host %q: want unix:///path or tcp://host:port", shakedown.RedactURL(host))
	}
	switch scheme {
	case "unix":
		if rest == "" || !strings.HasPrefix(rest, "/") {
			return Endpoint{}, shakedown.Errorf(shakedown.KindInvalid, "docker host %q: want an absolute socket path", shakedown.RedactURL(host))
		}
		return Endpoint{Host: host, Scheme: "unix", Addr: filepath.Clean(rest)}, nil
	case "tcp", "http":
		u, err := url.Parse("tcp://" + rest)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil {
			return Endpoint{}, shakedown.Errorf(shakedown.KindInvalid, "docker host %q: want tcp://host:port", shakedown.RedactURL(host))
		}
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "2375")
		}
		return Endpoint{Host: host, Scheme: "tcp", Addr: addr}, nil
	}
	return Endpoint{}, shakedown.Errorf(shakedown.KindInvalid, "docker host %q: scheme %q is not supported (want unix or tcp)", shakedown.RedactURL(host), scheme)
}

// HostFrom returns the endpoint to use: explicit when given, else getenv("DOCKER_HOST"),
// else DefaultHost.
func HostFrom(explicit string, getenv func(string) string) string {
	if explicit != "" {
		return explicit
	}
	if getenv != nil {
		if h := getenv("DOCKER_HOST"); h != "" {
			return h
		}
	}
	return DefaultHost
}

// Client is a small Docker Engine API client: the calls shakedown's container faults,
// target and probe make, over a unix socket or TCP. It works with dockerd and with Podman's
// compatible service. It is safe for concurrent use.
type Client struct {
	ep        Endpoint
	http      *http.Client
	mu        sync.Mutex
	version   string    // negotiated; empty until the first call
	awaySince time.Time // since when undos have found the engine unreachable; zero once it answers any call
}

// NewClient returns a client for host (a DOCKER_HOST value). It does no I/O. For tcp hosts
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are honoured as the docker CLI does.
func NewClient(host string) (*Client, error) {
	ep, err := ParseHost(host)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     30 * time.Second,
	}
	scheme := "http"
	switch ep.Scheme {
	case "unix":
		d := net.Dialer{Timeout: 5 * time.Second}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", ep.Addr)
		}
	case "tcp":
		d := net.Dialer{Timeout: 5 * time.Second}
		tr.DialContext = d.DialContext
		if os.Getenv("DOCKER_TLS_VERIFY") != "" {
			cfg, err := tlsConfig(os.Getenv("DOCKER_CERT_PATH"))
			if err != nil {
				return nil, err
			}
			tr.TLSClientConfig = cfg
			scheme = "https"
		}
	}
	c := &Client{ep: ep, http: &http.Client{Transport: roundTripper{tr, scheme, ep}}}
	return c, nil
}

// roundTripper fills in the scheme and host of every request.
type roundTripper struct {
	tr     *http.Transport
	scheme string
	ep     Endpoint
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	r.URL.Scheme = rt.scheme
	if rt.ep.Scheme == "unix" {
		r.URL.Host = "docker"
	} else {
		r.URL.Host = rt.ep.Addr
	}
	return rt.tr.RoundTrip(r)
}

// maxPEM is the most of a certificate or key file read.
const maxPEM = 1 << 20

func tlsConfig(dir string) (*tls.Config, error) {
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	// DOCKER_CERT_PATH names them: regular files only, of a certificate's size.
	var pem [3][]byte
	for i, name := range []string{"ca.pem", "cert.pem", "key.pem"} {
		b, err := userfile.Read(filepath.Join(dir, name), maxPEM)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "docker TLS", err)
		}
		pem[i] = b
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem[0]) {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "docker TLS: %s holds no certificate", filepath.Join(dir, "ca.pem"))
	}
	cert, err := tls.X509KeyPair(pem[1], pem[2])
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInvalid, "docker TLS "+dir, err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// away records whether an undo just found the engine unreachable, and returns since when
// it has been (zero once it answered). Any call the engine answers also ends the time away
// (answered): the client is shared by every run of the process, and an outage long over
// must not keep a later one's undo from trying again.
func (c *Client) away(unreachable bool) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !unreachable:
		c.awaySince = time.Time{}
	case c.awaySince.IsZero():
		c.awaySince = time.Now()
	}
	return c.awaySince
}

// answered notes that the engine answered a call with status: it is not away, unless the
// answer itself says it is unavailable.
func (c *Client) answered(status int) {
	if shakedown.KindOfStatus(status) != shakedown.KindUnavailable {
		c.away(false)
	}
}

// Host returns the DOCKER_HOST value the client talks to.
func (c *Client) Host() string { return c.ep.Host }

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// APIError is an answer of the daemon other than success.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("docker API: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// statusOf returns the HTTP status of an *APIError in err's chain, or 0.
func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// callTimeout bounds each call to the engine, its answer read to the end; a call that waits
// on purpose (a stop's grace period) has that wait on top. An engine that takes the call and
// never ends its answer — hung, trickling, or a socket something else listens on — fails the
// call as unavailable instead of holding a plan, an inject or a replay until someone cancels
// it. (A variable for tests.)
var callTimeout = 30 * time.Second

// errNoAnswer is the cause of a call's context when callTimeout ends it.
var errNoAnswer = errors.New("no answer in time")

// bound returns ctx limited to one call that may wait on purpose for wait.
func bound(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, callTimeout+wait, errNoAnswer)
}

// failed turns the failure of a call on a context from bound into a shakedown error: an
// engine that did not answer in time is KindUnavailable, a cancelled context KindAborted,
// anything else what transportErr says.
func (c *Client) failed(ctx context.Context, op string, err error) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errNoAnswer):
		return shakedown.Wrap(shakedown.KindUnavailable, op, fmt.Errorf("docker at %s did not answer within %v: %w", c.ep.Host, callTimeout, err))
	case ctx.Err() != nil:
		return shakedown.Wrap(shakedown.KindAborted, op, err)
	}
	return c.transportErr(op, err)
}

// Version returns the API version the client uses with this daemon, asking it once.
func (c *Client) Version(ctx context.Context) (string, error) {
	c.mu.Lock()
	v := c.version
	c.mu.Unlock()
	if v != "" {
		return v, nil
	}
	pctx, cancel := bound(ctx, 0)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, "/_ping", nil)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindInternal, "docker ping", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", c.failed(pctx, "docker ping", err)
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil {
		return "", c.failed(pctx, "docker ping", err)
	}
	c.answered(resp.StatusCode)
	server := resp.Header.Get("Api-Version")
	if resp.StatusCode != http.StatusOK || server == "" {
		// very old daemons do not send the header; /version always says it
		var ver struct{ ApiVersion string }
		if err := c.do(ctx, http.MethodGet, "/version", nil, nil, &ver); err != nil {
			return "", err
		}
		server = ver.ApiVersion
	}
	v, err = Negotiate(server)
	if err != nil {
		return "", shakedown.Wrap(shakedown.KindUnavailable, "docker at "+c.ep.Host, err)
	}
	c.mu.Lock()
	c.version = v
	c.mu.Unlock()
	return v, nil
}

// Negotiate returns the API version to speak with a daemon that says it speaks server.
func Negotiate(server string) (string, error) {
	if _, _, ok := parseVersion(server); !ok {
		return "", fmt.Errorf("daemon API version %q is not a version", server)
	}
	if CompareVersions(server, MinAPIVersion) < 0 {
		return "", fmt.Errorf("daemon API version %s is older than %s", server, MinAPIVersion)
	}
	if CompareVersions(server, MaxAPIVersion) > 0 {
		return MaxAPIVersion, nil
	}
	return server, nil
}

func parseVersion(v string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || x < 0 || y < 0 || x > 1000 || y > 100000 {
		return 0, 0, false
	}
	return x, y, true
}

// CompareVersions compares API versions "1.41" and "1.47": -1, 0 or 1. Unparseable versions
// sort first.
func CompareVersions(a, b string) int {
	x1, y1, ok1 := parseVersion(a)
	x2, y2, ok2 := parseVersion(b)
	switch {
	case !ok1 && !ok2:
		return 0
	case !ok1:
		return -1
	case !ok2:
		return 1
	case x1 != x2:
		return cmp.Compare(x1, x2)
	}
	return cmp.Compare(y1, y2)
}

// transportErr turns a failure to reach the daemon into a KindUnavailable error.
func (c *Client) transportErr(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return shakedown.Wrap(shakedown.KindAborted, op, err)
	}
	if errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission) {
		return shakedown.Wrap(shakedown.KindPermission, op+": docker at "+c.ep.Host, err)
	}
	return shakedown.Wrap(shakedown.KindUnavailable, op+": cannot reach docker at "+c.ep.Host, err)
}

// do sends one request to /v<version><path> with query q and, when in is not nil, a JSON
// body; it decodes a JSON answer into out when out is not nil. A status of 300 or more is an
// *APIError wrapped in a shakedown error of the matching kind (a 400 is KindInternal).
// The call, its answer read, is bounded by callTimeout.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	return c.doWait(ctx, 0, method, path, q, in, out)
}

// doWait is do for a call that waits on purpose for up to wait (a stop's grace period)
// before it answers.
func (c *Client) doWait(ctx context.Context, wait time.Duration, method, path string, q url.Values, in, out any) error {
	ctx, cancel := bound(ctx, wait)
	defer cancel()
	resp, err := c.send(ctx, method, path, q, in, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	op := "docker " + method + " " + path
	if out == nil {
		if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil && ctx.Err() != nil {
			return c.failed(ctx, op, err)
		}
		return nil
	}
	var err2 error
	if list, ok := out.(*[]Summary); ok {
		err2 = decodeList(endpoint.Bounded(resp.Body, maxList), list)
	} else {
		err2 = json.NewDecoder(endpoint.Bounded(resp.Body, maxAnswer)).Decode(out)
	}
	switch {
	case err2 == nil:
	case ctx.Err() != nil:
		return c.failed(ctx, op+": read answer", err2)
	case errors.Is(err2, endpoint.ErrTooLarge):
		return shakedown.Wrap(shakedown.KindUnavailable, op+": read answer", err2) // more than any engine answers
	default:
		return shakedown.Wrap(shakedown.KindInternal, op+": decode answer", err2)
	}
	return nil
}

// Bounds on what is read and kept of an engine's answer: far above any real one (an
// inspect answer is some kilobytes, tens with a large environment; a listing about one per
// container), and far below what would hold the runner's memory hostage — unbounded, 64 MiB
// of tiny list entries became 1.5 GiB of structures.
const (
	maxAnswer = 4 << 20  // one object: a container's or a network's details
	maxList   = 32 << 20 // a listing
	maxListed = 10_000   // containers in one listing
)

// decodeList decodes a JSON list of containers one at a time, refusing more than maxListed.
func decodeList(r io.Reader, out *[]Summary) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	switch {
	case err != nil:
		return err
	case tok == nil: // null
		return nil
	case tok != json.Delim('['):
		return fmt.Errorf("want a list, got %v", tok)
	}
	for dec.More() {
		if len(*out) == maxListed {
			return fmt.Errorf("the engine lists more than %d containers, more than any engine holds: not read further", maxListed)
		}
		var s Summary
		if err := dec.Decode(&s); err != nil {
			return err
		}
		*out = append(*out, s)
	}
	_, err = dec.Token()
	return err
}

// send is do without decoding: the caller closes the body of a successful response.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, in any, contentType string) (*http.Response, error) {
	op := "docker " + method + " " + path
	prefix := ""
	if path != "/version" && path != "/_ping" {
		v, err := c.Version(ctx)
		if err != nil {
			return nil, err
		}
		prefix = "/v" + v
	}
	var body io.Reader
	switch b := in.(type) {
	case nil:
	case io.Reader:
		body = b
	default:
		buf, err := json.Marshal(in)
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
		}
		body = bytes.NewReader(buf)
		contentType = "application/json"
	}
	u := prefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, op, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.failed(ctx, op, err)
	}
	c.answered(resp.StatusCode)
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if err != nil && ctx.Err() != nil {
			return nil, c.failed(ctx, op, err)
		}
		ae := &APIError{Status: resp.StatusCode, Message: errorMessage(b)}
		kind := shakedown.KindOfStatus(resp.StatusCode)
		if kind == shakedown.KindInvalid {
			// The engine refused a request of shakedown's: a failure of the tool or the
			// environment (exit 5), not an invalid experiment file (exit 2, which says
			// that nothing was injected, and may come in the middle of an inject).
			kind = shakedown.KindInternal
		}
		return nil, shakedown.Wrap(kind, op, ae)
	}
	return resp, nil
}

// errorMessage reads the daemon's {"message": "..."} error body, or returns it as text.
func errorMessage(b []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		return m.Message
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Ping checks that the daemon answers and negotiates the API version.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Version(ctx)
	return err
}

package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// HTTPParams are the parameters of the http probe.
type HTTPParams struct {
	URL        string            `json:"url" required:"true" doc:"the http:// or https:// URL to request"`
	Method     string            `json:"method,omitempty" doc:"the request method (default GET)"`
	Status     int               `json:"status,omitempty" doc:"the status the answer must have (default 200; 0 accepts any 2xx); redirects are followed unless it is a 3xx"`
	BodyRegexp string            `json:"body_regexp,omitempty" doc:"a Go regexp the first MiB of the answer's body must match"`
	Headers    map[string]string `json:"headers,omitempty" doc:"request headers; Host sets the virtual host; the values of Authorization, Cookie and other credential-like names are secrets, shown as xxxxx in everything shakedown writes"`
}

// String says what the probe asks, for a plan: "GET http://…/healthz, status 200".
func (p *HTTPParams) String() string {
	method := p.Method
	if method == "" {
		method = http.MethodGet
	}
	s := method + " " + shakedown.RedactURL(p.URL)
	switch p.Status {
	case 0:
		s += ", any 2xx"
	default:
		s += ", status " + strconv.Itoa(p.Status)
	}
	if p.BodyRegexp != "" {
		s += ", body matches " + strconv.Quote(p.BodyRegexp)
	}
	return s
}

// Validate checks the URL, method, status, regexp and headers.
func (p *HTTPParams) Validate() error {
	if _, err := endpoint.HTTPURL(p.URL); err != nil {
		return &shakedown.FieldError{Field: "url", Index: -1, Err: err}
	}
	if p.Method != "" && !endpoint.Token(p.Method) {
		return shakedown.Errorf(shakedown.KindInvalid, "http probe: bad method %q", p.Method)
	}
	if p.Status != 0 && (p.Status < 100 || p.Status > 599) {
		return shakedown.Errorf(shakedown.KindInvalid, "http probe: status %d is not an HTTP status", p.Status)
	}
	if p.BodyRegexp != "" {
		if _, err := regexp.Compile(p.BodyRegexp); err != nil {
			return shakedown.Errorf(shakedown.KindInvalid, "http probe: body_regexp: %w", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Headers)) {
		if err := endpoint.Header(k, p.Headers[k]); err != nil {
			return &shakedown.FieldError{Field: "headers", Index: -1, Err: err}
		}
	}
	return nil
}

// HTTP is an http prober. It keeps connections alive between samples; Close releases them.
type HTTP struct {
	p         HTTPParams
	shown     string // the URL as messages show it: without its password
	body      *regexp.Regexp
	client    *http.Client
	transport *http.Transport
	timeout   time.Duration
}

// maxBody is how much of a body the http probe matches its regexp against.
const maxBody = 1 << 20

// NewHTTP returns an http prober whose samples each take at most timeout (DefaultTimeout when
// zero). The caller must Close it.
func NewHTTP(p *HTTPParams, timeout time.Duration) (*HTTP, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	timeout = orDefault(timeout)
	tr := endpoint.Transport()
	tr.MaxIdleConnsPerHost = 4
	h := &HTTP{p: *p, shown: shakedown.RedactURL(p.URL), transport: tr, timeout: timeout}
	if h.p.Method == "" {
		h.p.Method = http.MethodGet
	}
	h.client = &http.Client{Transport: endpoint.Capped(tr), Timeout: timeout}
	if p.Status >= 300 && p.Status < 400 {
		h.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	if p.BodyRegexp != "" {
		h.body = regexp.MustCompile(p.BodyRegexp)
	}
	return h, nil
}

// Probe sends one request.
func (h *HTTP) Probe(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, h.p.Method, h.p.URL, nil)
	if err != nil {
		return "bad request", shakedown.Errorf(shakedown.KindInvalid, "http probe: %s: no request can be made of it", h.shown)
	}
	for k, v := range h.p.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	start := time.Now()
	resp, err := h.client.Do(req)
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = shakedown.RedactURL(ue.URL) // the request's URL holds its secrets; a redirect's may
	}
	if err != nil {
		obs := netObservation(err, time.Since(start))
		return obs, shakedown.Wrap(shakedown.KindFailed, fmt.Sprintf("%s %s", h.p.Method, h.shown), err)
	}
	defer resp.Body.Close()
	// The answer is judged once it has ended: one that never ends, or ends past
	// endpoint.MaxAnswer, does not hold.
	keep := 0
	if h.body != nil {
		keep = maxBody
	}
	body, err := endpoint.ReadAnswer(resp.Body, keep)
	obs := fmt.Sprintf("%d in %s", resp.StatusCode, since(start))
	if err != nil {
		return obs + ": " + netObservation(err, time.Since(start)), shakedown.Wrap(shakedown.KindFailed, fmt.Sprintf("%s %s: read body", h.p.Method, h.shown), err)
	}
	switch {
	case h.p.Status == 0 && (resp.StatusCode < 200 || resp.StatusCode > 299):
		return obs, shakedown.Errorf(shakedown.KindFailed, "%s %s: status %d, want 2xx", h.p.Method, h.shown, resp.StatusCode)
	case h.p.Status != 0 && resp.StatusCode != h.p.Status:
		return obs, shakedown.Errorf(shakedown.KindFailed, "%s %s: status %d, want %d", h.p.Method, h.shown, resp.StatusCode, h.p.Status)
	case h.body != nil && !h.body.Match(body):
		return obs + ", body does not match", shakedown.Errorf(shakedown.KindFailed, "%s %s: body does not match %q", h.p.Method, h.shown, h.p.BodyRegexp)
	}
	return obs, nil
}

// Close drops the kept-alive connections.
func (h *HTTP) Close() error {
	h.transport.CloseIdleConnections()
	return nil
}

// netObservation says in a few words why a network operation failed.
func netObservation(err error, took time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out after " + formatDuration(took)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "cannot resolve " + dns.Name
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text quotes the whole URL: the observation says what went wrong
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Direction is the way bytes flow on a link.
type Direction int

// The two directions of a proxied connection.
const (
	Upstream   Direction = iota // from the client to the upstream server
	Downstream                  // from the upstream server back to the client
)

func (d Direction) String() string {
	if d == Upstream {
		return "upstream"
	}
	return "downstream"
}

// ParseDirection reads "upstream" or "downstream" (any case).
func ParseDirection(s string) (Direction, error) {
	switch strings.ToLower(s) {
	case "upstream":
		return Upstream, nil
	case "downstream":
		return Downstream, nil
	}
	return 0, errInvalidStream
}

// Toxic is one fault on one direction of a proxy, in the shape Toxiproxy's API uses.
// TTLMillis, ExpiresAt and Lease are shakedown's extensions; Toxiproxy's clients ignore
// them.
type Toxic struct {
	// Attributes is a pointer to the type's attribute struct (*Latency, *Bandwidth, …).
	Attributes Attrs   `json:"attributes"`
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	Stream     string  `json:"stream"`
	Toxicity   float32 `json:"toxicity"`
	// TTLMillis, when above zero, removes the toxic that many milliseconds after it was
	// added (or last updated with a TTL).
	TTLMillis int64      `json:"ttl_ms,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Lease names a lease (see Server) that holds the toxic: when the lease expires, the
	// toxic is removed.
	Lease string `json:"lease,omitempty"`
}

// Attrs are the attributes of one toxic type.
type Attrs interface {
	validate() error
	// stage returns the link stage that carries out the toxic, or nil for a toxic that
	// acts on the whole proxy (down).
	stage(now time.Time) stage
}

// Maximums that keep attributes sane: anything beyond is refused as absurd.
const (
	maxMillis    = int64(24 * time.Hour / time.Millisecond) // a day
	maxRateKBps  = int64(1 << 40)                           // KB/s
	maxSliceSize = 1 << 30
	maxHeaderMap = 64
)

// Latency delays data by Latency ± Jitter milliseconds.
type Latency struct {
	Latency int64 `json:"latency"`
	Jitter  int64 `json:"jitter"`
}

// Bandwidth limits the rate to Rate KB/s (1 KB = 1000 bytes); 0 means unlimited.
type Bandwidth struct {
	Rate int64 `json:"rate"`
}

// SlowClose delays the close (end of stream) by Delay milliseconds.
type SlowClose struct {
	Delay int64 `json:"delay"`
}

// Timeout drops all data, and closes the connection after Timeout milliseconds (never
// when 0). Removing it closes the connections it held, whose streams lost data.
type Timeout struct {
	Timeout int64 `json:"timeout"`
}

// ResetPeer resets the connection (TCP RST) Timeout milliseconds after data arrives.
type ResetPeer struct {
	Timeout int64 `json:"timeout"`
}

// Slicer cuts data into pieces of AverageSize ± SizeVariation bytes, Delay microseconds
// apart.
type Slicer struct {
	AverageSize   int `json:"average_size"`
	SizeVariation int `json:"size_variation"`
	Delay         int `json:"delay"`
}

// LimitData closes the connection once Bytes bytes have passed.
type LimitData struct {
	Bytes int64 `json:"bytes"`
}

// Down takes the whole proxy down while it exists: it stops listening and drops its
// connections; removing it brings the proxy back.
type Down struct{}

// Match selects HTTP requests: all of its non-empty fields must match.
type Match struct {
	Method     string            `json:"method,omitempty"`      // exact, any case
	PathPrefix string            `json:"path_prefix,omitempty"` // prefix of the request path
	Headers    map[string]string `json:"headers,omitempty"`     // header name → exact value ("" or "*": present)
}

// HTTPAbort answers Status, without asking upstream, to Percent of the HTTP/1.x
// requests that match. It acts on the upstream stream.
type HTTPAbort struct {
	Status  int     `json:"status"`
	Percent float64 `json:"percent"`
	Body    string  `json:"body,omitempty"`
	Match   Match   `json:"match"`
}

// HTTPDelay holds Percent of the matching HTTP/1.x requests for Delay milliseconds
// before they go upstream.
type HTTPDelay struct {
	Delay   int64   `json:"delay"`
	Percent float64 `json:"percent"`
	Match   Match   `json:"match"`
}

// toxicTypes maps each type name to a constructor of its attributes with defaults.
var toxicTypes = map[string]func() Attrs{
	"latency":    func() Attrs { return new(Latency) },
	"bandwidth":  func() Attrs { return new(Bandwidth) },
	"slow_close": func() Attrs { return new(SlowClose) },
	"timeout":    func() Attrs { return new(Timeout) },
	"reset_peer": func() Attrs { return new(ResetPeer) },
	"slicer":     func() Attrs { return new(Slicer) },
	"limit_data": func() Attrs { return new(LimitData) },
	"down":       func() Attrs { return new(Down) },
	"http_abort": func() Attrs { return &HTTPAbort{Status: http.StatusServiceUnavailable, Percent: 100} },
	"http_delay": func() Attrs { return &HTTPDelay{Percent: 100} },
}

// ToxicTypes returns the names of the toxic types the proxy knows.
func ToxicTypes() []string {
	out := make([]string, 0, len(toxicTypes))
	for n := range toxicTypes {
		out = append(out, n)
	}
	return out
}

// NewAttrs returns the attributes of toxic type typ with their defaults, or false for an
// unknown type.
func NewAttrs(typ string) (Attrs, bool) {
	f, ok := toxicTypes[typ]
	if !ok {
		return nil, false
	}
	return f(), true
}

// millis checks a whole number of milliseconds.
func millis(errs *shakedown.FieldErrors, name string, v int64) {
	if v < 0 || v > maxMillis {
		errs.Add(name, "must lie in [0, %d] ms, got %d", maxMillis, v)
	}
}

// Each validate reports every problem of the attributes, each at its field.

func (a *Latency) validate() error {
	var errs shakedown.FieldErrors
	millis(&errs, "latency", a.Latency)
	millis(&errs, "jitter", a.Jitter)
	return errs.Err()
}

func (a *Bandwidth) validate() error {
	var errs shakedown.FieldErrors
	if a.Rate < 0 || a.Rate > maxRateKBps {
		errs.Add("rate", "must lie in [0, %d] KB/s, got %d", maxRateKBps, a.Rate)
	}
	return errs.Err()
}

func (a *SlowClose) validate() error { return oneMillis("delay", a.Delay) }
func (a *Timeout) validate() error   { return oneMillis("timeout", a.Timeout) }
func (a *ResetPeer) validate() error { return oneMillis("timeout", a.Timeout) }
func (a *Down) validate() error      { return nil }

func oneMillis(name string, v int64) error {
	var errs shakedown.FieldErrors
	millis(&errs, name, v)
	return errs.Err()
}

func (a *Slicer) validate() error {
	var errs shakedown.FieldErrors
	if a.AverageSize < 1 || a.AverageSize > maxSliceSize {
		errs.Add("average_size", "must lie in [1, %d], got %d", maxSliceSize, a.AverageSize)
	}
	if a.SizeVariation < 0 || a.SizeVariation >= max(a.AverageSize, 1) {
		errs.AddAgainst("size_variation", []string{"average_size"}, "must lie in [0, average_size), got %d", a.SizeVariation)
	}
	if a.Delay < 0 || int64(a.Delay) > maxMillis*1000 {
		errs.Add("delay", "must lie in [0, %d] µs, got %d", maxMillis*1000, a.Delay)
	}
	return errs.Err()
}

func (a *LimitData) validate() error {
	var errs shakedown.FieldErrors
	if a.Bytes < 0 {
		errs.Add("bytes", "must not be negative, got %d", a.Bytes)
	}
	return errs.Err()
}

func (m *Match) validate(errs *shakedown.FieldErrors) {
	if len(m.Headers) == 0 {
		// One form for "no header to match": an empty map reads back from JSON as none.
		m.Headers = nil
	}
	if len(m.Headers) > maxHeaderMap {
		errs.Add("match", "headers has more than %d entries", maxHeaderMap)
	}
	if strings.ContainsAny(m.Method, " \r\n") {
		errs.Add("match", "method %q is not a method", m.Method)
	}
}

func percent(errs *shakedown.FieldErrors, p float64) {
	if !(p >= 0 && p <= 100) {
		errs.Add("percent", "must lie in [0, 100], got %v", p)
	}
}

func (a *HTTPAbort) validate() error {
	var errs shakedown.FieldErrors
	if a.Status < 100 || a.Status > 599 {
		errs.Add("status", "must lie in [100, 599], got %d", a.Status)
	}
	if len(a.Body) > 1<<16 {
		errs.Add("body", "is longer than 64 KiB")
	}
	percent(&errs, a.Percent)
	a.Match.validate(&errs)
	return errs.Err()
}

func (a *HTTPDelay) validate() error {
	var errs shakedown.FieldErrors
	millis(&errs, "delay", a.Delay)
	percent(&errs, a.Percent)
	a.Match.validate(&errs)
	return errs.Err()
}

// Errors of the API, worded as Toxiproxy words them.
var (
	errInvalidStream  = shakedown.Errorf(shakedown.KindInvalid, "stream was invalid, can be either upstream or downstream")
	errInvalidType    = shakedown.Errorf(shakedown.KindInvalid, "invalid toxic type")
	errToxicExists    = shakedown.Errorf(shakedown.KindConflict, "toxic already exists")
	errToxicNotFound  = shakedown.Errorf(shakedown.KindNotFound, "toxic not found")
	errProxyExists    = shakedown.Errorf(shakedown.KindConflict, "proxy already exists")
	errProxyNotFound  = shakedown.Errorf(shakedown.KindNotFound, "proxy not found")
	errLeaseNotFound  = shakedown.Errorf(shakedown.KindNotFound, "lease not found")
	errHTTPStreamOnly = shakedown.Errorf(shakedown.KindInvalid, "http toxics act on requests: stream must be upstream")
)

func badBody(err error) error {
	return shakedown.Errorf(shakedown.KindInvalid, "bad request body: %v", err)
}

func missing(field string) error {
	return shakedown.Errorf(shakedown.KindInvalid, "missing required field: %s", field)
}

// DecodeToxic decodes a toxic as POST /proxies/{proxy}/toxics receives it, fills in
// Toxiproxy's defaults (stream downstream, toxicity 1, name type_stream) and validates
// it.
func DecodeToxic(data []byte) (Toxic, error) {
	var in struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Stream     *string         `json:"stream"`
		Toxicity   *float32        `json:"toxicity"`
		Attributes json.RawMessage `json:"attributes"`
		TTLMillis  int64           `json:"ttl_ms"`
		Lease      string          `json:"lease"`
	}
	if err := decodeJSON(data, &in); err != nil {
		return Toxic{}, err
	}
	t := Toxic{Name: in.Name, Type: in.Type, Stream: "downstream", Toxicity: 1, TTLMillis: in.TTLMillis, Lease: in.Lease}
	if strings.HasPrefix(in.Type, "http_") {
		t.Stream = "upstream"
	}
	if in.Stream != nil {
		t.Stream = *in.Stream
	}
	if in.Toxicity != nil {
		t.Toxicity = *in.Toxicity
	}
	attrs, ok := NewAttrs(t.Type)
	if !ok {
		// Toxiproxy checks the stream before the type.
		if _, err := ParseDirection(t.Stream); err != nil {
			return Toxic{}, err
		}
		return Toxic{}, errInvalidType
	}
	if len(in.Attributes) > 0 && !bytes.Equal(in.Attributes, []byte("null")) {
		if err := json.Unmarshal(in.Attributes, attrs); err != nil {
			return Toxic{}, badBody(err)
		}
	}
	t.Attributes = attrs
	if err := t.normalize(); err != nil {
		return Toxic{}, err
	}
	return t, nil
}

// Validate reports whether AddToxic would take t, once its defaults are filled in.
func (t Toxic) Validate() error { return t.normalize() }

// normalize fills defaults and validates t; it is what every way of adding a toxic goes
// through.
func (t *Toxic) normalize() error {
	if t.Attributes == nil {
		a, ok := NewAttrs(t.Type)
		if !ok {
			return errInvalidType
		}
		t.Attributes = a
	}
	if t.Stream == "" {
		t.Stream = "downstream"
		if strings.HasPrefix(t.Type, "http_") {
			t.Stream = "upstream"
		}
	}
	if _, ok := toxicTypes[t.Type]; !ok {
		return errInvalidType
	}
	if want, ok := NewAttrs(t.Type); ok && fmt.Sprintf("%T", want) != fmt.Sprintf("%T", t.Attributes) {
		return shakedown.Errorf(shakedown.KindInvalid, "attributes of type %T do not fit toxic type %s", t.Attributes, t.Type)
	}
	// Every problem is said, each at its field; the stream's in Toxiproxy's words.
	var errs []error
	if d, err := ParseDirection(t.Stream); err != nil {
		errs = append(errs, err)
	} else if t.Stream = d.String(); strings.HasPrefix(t.Type, "http_") && d != Upstream {
		errs = append(errs, errHTTPStreamOnly)
	}
	if t.Name == "" {
		t.Name = t.Type + "_" + t.Stream
	}
	var fields shakedown.FieldErrors
	if !routable(t.Name) {
		fields.Add("name", "%q is too long, a dot segment or holds one of / ? #", t.Name)
	}
	if !(t.Toxicity >= 0 && t.Toxicity <= 1) || math.IsNaN(float64(t.Toxicity)) {
		fields.Add("toxicity", "must lie in [0, 1], got %v", t.Toxicity)
	}
	if t.TTLMillis < 0 || t.TTLMillis > maxMillis {
		fields.Add("ttl_ms", "must lie in [0, %d], got %d", maxMillis, t.TTLMillis)
	}
	fields.AddErr("attributes", -1, t.Attributes.validate())
	return errors.Join(append(errs, fields.Err())...)
}

// cloneAttrs returns a deep copy of a through JSON, so updates never touch attributes a
// link is using.
func cloneAttrs(typ string, a Attrs) Attrs {
	c, _ := NewAttrs(typ)
	b, err := json.Marshal(a)
	if err == nil {
		_ = json.Unmarshal(b, c)
	}
	return c
}

package proxy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shakedown-dev/shakedown"
	engine "github.com/shakedown-dev/shakedown/proxy"
)

// toxicParams is what every parameter struct of this package can say: its toxic.
type toxicParams interface {
	toxic() (typ string, attrs engine.Attrs, stream string, toxicity float64, describe string)
}

func msec(d shakedown.Duration) int64 { return d.D().Milliseconds() }

// validateToxic checks the parameters as the proxy will (one place for the limits), and
// reports every problem, each at its field.
func validateToxic(p toxicParams) error {
	typ, attrs, stream, toxicity, _ := p.toxic()
	var errs shakedown.FieldErrors
	if stream != "upstream" && stream != "downstream" {
		errs.Add("stream", "must be upstream or downstream, got %q", stream)
		stream = "" // the proxy's default, so that the rest is checked all the same
	}
	if !(toxicity >= 0 && toxicity <= 1) {
		errs.Add("toxicity", "must lie in [0, 1], got %v", toxicity)
		toxicity = 1
	}
	err := engine.Toxic{Type: typ, Stream: stream, Toxicity: float32(toxicity), Attributes: attrs}.Validate()
	return errors.Join(errs.Err(), err)
}

// LatencyParams are the parameters of proxy.latency.
type LatencyParams struct {
	Latency  shakedown.Duration `json:"latency" required:"true" doc:"delay added to the data (whole milliseconds)"`
	Jitter   shakedown.Duration `json:"jitter,omitempty" doc:"random ± added to each delay"`
	Stream   string             `json:"stream,omitempty" doc:"upstream (client to server) or downstream (server to client, the default)"`
	Toxicity float64            `json:"toxicity,omitempty" doc:"fraction of connections affected, 0..1 (default 1)"`
}

func (p *LatencyParams) toxic() (string, engine.Attrs, string, float64, string) {
	return "latency", &engine.Latency{Latency: msec(p.Latency), Jitter: msec(p.Jitter)}, p.Stream, p.Toxicity,
		fmt.Sprintf("latency %v ± %v", p.Latency, p.Jitter)
}

// Validate checks the parameters.
func (p *LatencyParams) Validate() error { return validateToxic(p) }

// BandwidthParams are the parameters of proxy.bandwidth.
type BandwidthParams struct {
	Rate     int64   `json:"rate" required:"true" doc:"the rate limit in KB/s (1 KB = 1000 bytes)"`
	Stream   string  `json:"stream,omitempty" doc:"upstream or downstream (default)"`
	Toxicity float64 `json:"toxicity,omitempty" doc:"fraction of connections affected, 0..1 (default 1)"`
}

func (p *BandwidthParams) toxic() (string, engine.Attrs, string, float64, string) {
	return "bandwidth", &engine.Bandwidth{Rate: p.Rate}, p.Stream, p.Toxicity, fmt.Sprintf("rate %d KB/s", p.Rate)
}

// Validate checks the parameters.
func (p *BandwidthParams) Validate() error { return validateToxic(p) }

// TimeoutParams are the parameters of proxy.timeout and proxy.reset.
type TimeoutParams struct {
	Timeout  shakedown.Duration `json:"timeout,omitempty" doc:"timeout: drop data and close after this long (0: never close); reset: reset this long after data arrives"`
	Stream   string             `json:"stream,omitempty" doc:"upstream or downstream (default)"`
	Toxicity float64            `json:"toxicity,omitempty" doc:"fraction of connections affected, 0..1 (default 1)"`
	reset    bool
}

func (p *TimeoutParams) toxic() (string, engine.Attrs, string, float64, string) {
	if p.reset {
		return "reset_peer", &engine.ResetPeer{Timeout: msec(p.Timeout)}, p.Stream, p.Toxicity, fmt.Sprintf("reset after %v", p.Timeout)
	}
	return "timeout", &engine.Timeout{Timeout: msec(p.Timeout)}, p.Stream, p.Toxicity, fmt.Sprintf("timeout %v", p.Timeout)
}

// Validate checks the parameters.
func (p *TimeoutParams) Validate() error { return validateToxic(p) }

// SlowCloseParams are the parameters of proxy.slow_close.
type SlowCloseParams struct {
	Delay    shakedown.Duration `json:"delay" required:"true" doc:"how long the close is held back"`
	Stream   string             `json:"stream,omitempty" doc:"upstream or downstream (default)"`
	Toxicity float64            `json:"toxicity,omitempty" doc:"fraction of connections affected, 0..1 (default 1)"`
}

func (p *SlowCloseParams) toxic() (string, engine.Attrs, string, float64, string) {
	return "slow_close", &engine.SlowClose{Delay: msec(p.Delay)}, p.Stream, p.Toxicity, fmt.Sprintf("close delayed %v", p.Delay)
}

// Validate checks the parameters.
func (p *SlowCloseParams) Validate() error { return validateToxic(p) }

// SlicerParams are the parameters of proxy.slicer.
type SlicerParams struct {
	AverageSize   int                `json:"average_size" required:"true" doc:"average size of the pieces data is cut into, in bytes"`
	SizeVariation int                `json:"size_variation,omitempty" doc:"± bytes around the average; less than average_size"`
	Delay         shakedown.Duration `json:"delay,omitempty" doc:"pause between pieces (microsecond resolution)"`
	Stream        string             `json:"stream,omitempty" doc:"upstream or downstream (default)"`
	Toxicity      float64            `json:"toxicity,omitempty" doc:"fraction of connections affected, 0..1 (default 1)"`
}

func (p *SlicerParams) toxic() (string, engine.Attrs, string, float64, string) {
	return "slicer", &engine.Slicer{AverageSize: p.AverageSize, SizeVariation: p.SizeVariation, Delay: int(p.Delay.D().Microseconds())},
		p.Stream, p.Toxicity, fmt.Sprintf("pieces of %d ± %d bytes, %v apart", p.AverageSize, p.SizeVariation, p.Delay)
}

// Validate checks the parameters.
func (p *SlicerParams) Validate() error { return validateToxic(p) }

// LimitDataParams are the parameters of proxy.limit_data.
type LimitDataParams struct {
	Bytes    int64   `json:"bytes" required:"true" doc:"bytes let through on each connection before it is closed"`
	Stream   string  `json:"stream,omitempty" doc:"upstream or downstream (default)"`
	Toxicity float64 `json:"toxicity,omitempty" doc:"fraction of connections affected, 0..1 (default 1)"`
}

func (p *LimitDataParams) toxic() (string, engine.Attrs, string, float64, string) {
	return "limit_data", &engine.LimitData{Bytes: p.Bytes}, p.Stream, p.Toxicity, fmt.Sprintf("close after %d bytes", p.Bytes)
}

// Validate checks the parameters.
func (p *LimitDataParams) Validate() error { return validateToxic(p) }

// downParams are the (absent) parameters of proxy.down.
type downParams struct{}

func (p *downParams) toxic() (string, engine.Attrs, string, float64, string) {
	return "down", &engine.Down{}, "downstream", 1, "proxy down: connections refused and dropped"
}

// Match selects HTTP requests for http.abort and http.delay.
type Match struct {
	Method     string            `json:"method,omitempty" doc:"request method (any case); all when empty"`
	PathPrefix string            `json:"path_prefix,omitempty" doc:"prefix of the request path"`
	Headers    map[string]string `json:"headers,omitempty" doc:"header name → exact value (\"*\": present)"`
}

// AbortParams are the parameters of http.abort.
type AbortParams struct {
	Status   int     `json:"status,omitempty" doc:"the status the proxy answers with (default 503)"`
	Percent  float64 `json:"percent,omitempty" doc:"percent of matching requests answered so (default 100)"`
	Match    Match   `json:"match,omitempty" doc:"which requests: method, path_prefix, headers"`
	Toxicity float64 `json:"toxicity,omitempty" doc:"fraction of connections affected, 0..1 (default 1)"`
}

func (p *AbortParams) toxic() (string, engine.Attrs, string, float64, string) {
	return "http_abort", &engine.HTTPAbort{Status: p.Status, Percent: p.Percent, Match: engine.Match(p.Match)},
		"upstream", p.Toxicity, fmt.Sprintf("answer %d to %g%% of %s", p.Status, p.Percent, describeMatch(p.Match))
}

// Validate checks the parameters.
func (p *AbortParams) Validate() error { return validateToxic(p) }

// DelayParams are the parameters of http.delay.
type DelayParams struct {
	Delay    shakedown.Duration `json:"delay" required:"true" doc:"how long matching requests are held before they go upstream"`
	Percent  float64            `json:"percent,omitempty" doc:"percent of matching requests delayed (default 100)"`
	Match    Match              `json:"match,omitempty" doc:"which requests: method, path_prefix, headers"`
	Toxicity float64            `json:"toxicity,omitempty" doc:"fraction of connections affected, 0..1 (default 1)"`
}

func (p *DelayParams) toxic() (string, engine.Attrs, string, float64, string) {
	return "http_delay", &engine.HTTPDelay{Delay: msec(p.Delay), Percent: p.Percent, Match: engine.Match(p.Match)},
		"upstream", p.Toxicity, fmt.Sprintf("delay %v for %g%% of %s", p.Delay, p.Percent, describeMatch(p.Match))
}

// Validate checks the parameters.
func (p *DelayParams) Validate() error { return validateToxic(p) }

func describeMatch(m Match) string {
	var parts []string
	if m.Method != "" {
		parts = append(parts, strings.ToUpper(m.Method))
	}
	if m.PathPrefix != "" {
		parts = append(parts, m.PathPrefix+"*")
	}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		v := m.Headers[k]
		if shakedown.SecretName(k) && v != "*" {
			v = shakedown.Redacted // a credential to match is still a credential
		}
		parts = append(parts, k+": "+v)
	}
	if len(parts) == 0 {
		return "all requests"
	}
	return "requests " + strings.Join(parts, " ")
}

const toxicDoc = " Toxiproxy's toxic semantics. On a daemon proxy the toxic is held by a lease the run renews " +
	"and carries a TTL of the fault's duration plus a margin, so the daemon removes it if the runner dies. " +
	"The revert removes it; an inline proxy ends with the run."

func faultTypes() []shakedown.FaultType {
	mk := func(name, summary string, params func() any) shakedown.FaultType {
		return shakedown.FaultType{
			Name:    name,
			Summary: summary,
			Doc:     summary + "." + toxicDoc,
			Targets: []string{Kind},
			Params:  params,
			New: func(env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
				return newFault(name, params, env, spec, targets)
			},
		}
	}
	return []shakedown.FaultType{
		mk("proxy.latency", "add latency (± jitter) to the data of each connection",
			func() any { return &LatencyParams{Stream: "downstream", Toxicity: 1} }),
		mk("proxy.bandwidth", "limit each connection to a rate in KB/s",
			func() any { return &BandwidthParams{Stream: "downstream", Toxicity: 1} }),
		mk("proxy.timeout", "stop all data and close connections after timeout (never when 0)",
			func() any { return &TimeoutParams{Stream: "downstream", Toxicity: 1} }),
		mk("proxy.reset", "reset connections (TCP RST) timeout after data arrives",
			func() any { return &TimeoutParams{Stream: "downstream", Toxicity: 1, reset: true} }),
		mk("proxy.slow_close", "hold back the close of connections by delay",
			func() any { return &SlowCloseParams{Stream: "downstream", Toxicity: 1} }),
		mk("proxy.slicer", "cut data into small pieces, delay apart",
			func() any { return &SlicerParams{Stream: "downstream", Toxicity: 1} }),
		mk("proxy.limit_data", "close each connection after bytes bytes",
			func() any { return &LimitDataParams{Stream: "downstream", Toxicity: 1} }),
		mk("proxy.down", "take the proxy down: refuse and drop connections, its port kept", nil),
		mk("http.abort", "answer status, without asking upstream, to percent of the HTTP/1.x requests that match",
			func() any { return &AbortParams{Status: 503, Percent: 100, Toxicity: 1} }),
		mk("http.delay", "hold percent of the matching HTTP/1.x requests for delay before they go upstream",
			func() any { return &DelayParams{Percent: 100, Toxicity: 1} }),
	}
}

func newFault(name string, params func() any, env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	var tp toxicParams = &downParams{}
	if params != nil {
		var ok bool
		tp, ok = spec.Params.(toxicParams)
		if !ok || spec.Params == nil {
			tp, _ = params().(toxicParams)
		}
	}
	if r, ok := spec.Params.(*TimeoutParams); ok && name == "proxy.reset" {
		c := *r
		c.reset = true
		tp = &c
	}
	if len(targets) == 0 {
		return nil, shakedown.Errorf(shakedown.KindNotFound, "%s %s: no proxy target", name, spec.Name)
	}
	typ, attrs, stream, toxicity, describe := tp.toxic()
	t := engine.Toxic{
		Name:       toxicName(env, spec),
		Type:       typ,
		Stream:     stream,
		Toxicity:   float32(toxicity),
		Attributes: attrs,
	}
	if spec.Duration > 0 {
		t.TTLMillis = shakedown.TTL(spec.Duration).Milliseconds()
	}
	return &fault{ft: name, toxic: t, targets: targets, describe: describe}, nil
}

// toxicName names the toxic after the run and the fault, so that it is recognisable in
// the daemon and never clashes with another run's.
func toxicName(env shakedown.Env, spec *shakedown.FaultSpec) string {
	n := "shakedown"
	if env.RunID != "" {
		n += "-" + env.RunID
	}
	r := strings.NewReplacer("/", "_", "?", "_", "#", "_", " ", "_")
	return r.Replace(n + "-" + spec.Name)
}

// Package monitor asks real monitoring whether a system is healthy and whether its alerts
// fire: the `prometheus` probe (an instant PromQL query whose value must lie within bounds)
// and alert sources for detection expectations (Prometheus's /api/v1/alerts and
// Alertmanager's /api/v2/alerts).
//
// An endpoint that cannot be reached, or that does not answer as Prometheus or Alertmanager
// does, is an error of kind shakedown.KindUnavailable naming its URL; a query Prometheus
// refuses is shakedown.KindInvalid; a value out of bounds, or a result that is not one
// number, is shakedown.KindFailed.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// Register adds the probe types of this package to r.
func Register(r *shakedown.Registry) {
	r.AddProbe(shakedown.ProbeType{
		Name:    "prometheus",
		Summary: "an instant PromQL query whose single value must lie within min and max",
		Params:  func() any { return &PrometheusParams{} },
		New: func(env shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
			p, err := shakedown.ParamsAs[PrometheusParams](params, "prometheus probe")
			if err != nil {
				return nil, err
			}
			return NewPrometheus(p, timeout)
		},
	})
}

// PrometheusParams are the parameters of a `prometheus` probe.
type PrometheusParams struct {
	URL   string   `json:"url" required:"true" doc:"base URL of the Prometheus server, e.g. http://127.0.0.1:9090"`
	Query string   `json:"query" required:"true" doc:"PromQL expression; its result must be a scalar or a vector of exactly one sample"`
	Min   *float64 `json:"min,omitempty" doc:"the value must be at least this"`
	Max   *float64 `json:"max,omitempty" doc:"the value must be at most this"`
}

// String says what the probe asks, for a plan.
func (p *PrometheusParams) String() string {
	s := fmt.Sprintf("query %q at %s", p.Query, shakedown.RedactURL(p.URL))
	if p.Min != nil {
		s += fmt.Sprintf(", min %g", *p.Min)
	}
	if p.Max != nil {
		s += fmt.Sprintf(", max %g", *p.Max)
	}
	return s
}

// Validate checks the parameters.
func (p *PrometheusParams) Validate() error {
	if err := checkURL(p.URL); err != nil {
		return err
	}
	switch {
	case p.Query == "":
		return shakedown.Errorf(shakedown.KindInvalid, "query is required")
	case p.Min == nil && p.Max == nil:
		return shakedown.Errorf(shakedown.KindInvalid, "give min, max or both")
	case p.Min != nil && p.Max != nil && *p.Min > *p.Max:
		return shakedown.Errorf(shakedown.KindInvalid, "min %v is above max %v", *p.Min, *p.Max)
	}
	return nil
}

func checkURL(s string) error {
	if _, err := endpoint.HTTPURL(s); err != nil {
		return &shakedown.FieldError{Field: "url", Index: -1, Err: err}
	}
	return nil
}

// Prometheus is a `prometheus` probe.
type Prometheus struct {
	p       PrometheusParams
	api     v1.API
	timeout time.Duration
	now     func() time.Time
}

// DefaultQueryTimeout bounds one sample of a Prometheus probe made with no timeout, as
// probe.DefaultTimeout bounds the other probes'.
const DefaultQueryTimeout = 5 * time.Second

// NewPrometheus makes a probe that runs p.Query, each sample bounded by timeout
// (DefaultQueryTimeout when 0 or less: no query waits on a server forever). It does no I/O.
func NewPrometheus(p *PrometheusParams, timeout time.Duration) (*Prometheus, error) {
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	if err := p.Validate(); err != nil {
		return nil, shakedown.Wrap(shakedown.KindInvalid, "prometheus probe", err)
	}
	c, err := api.NewClient(api.Config{Address: p.URL, RoundTripper: endpoint.Capped(endpoint.Transport())})
	if err != nil { // not shown: net/url's error quotes the URL, password and all
		return nil, shakedown.Errorf(shakedown.KindInvalid, "prometheus probe: url %q: no client can be made of it", shakedown.RedactURL(p.URL))
	}
	return &Prometheus{p: *p, api: v1.NewAPI(c), timeout: timeout, now: time.Now}, nil
}

// Probe runs the query once. It holds (nil error) when the result is one number within the
// bounds; observed is the value, or what came back instead.
func (pr *Prometheus) Probe(ctx context.Context) (observed string, err error) {
	ctx, cancel := context.WithTimeout(ctx, pr.timeout)
	defer cancel()
	op := fmt.Sprintf("query %q at %s", pr.p.Query, shakedown.RedactURL(pr.p.URL))
	val, _, _, err := pr.api.Query(ctx, pr.p.Query, pr.now())
	if err != nil {
		return "", apiError(op, err)
	}
	v, observed, ok := single(val)
	if !ok {
		return observed, shakedown.Errorf(shakedown.KindFailed, "%s: %s, want one number", op, observed)
	}
	switch {
	case math.IsNaN(v), math.IsInf(v, 0):
		// Not a measure: a ratio over nothing (0/0, 1/0) most often. +Inf is above any min,
		// -Inf below any max, yet neither says the system is healthy.
		return observed, shakedown.Errorf(shakedown.KindFailed, "%s: %s is not a finite number within %s", op, observed, pr.bounds())
	case pr.p.Min != nil && v < *pr.p.Min, pr.p.Max != nil && v > *pr.p.Max:
		return observed, shakedown.Errorf(shakedown.KindFailed, "%s: %s is not within %s", op, observed, pr.bounds())
	}
	return observed, nil
}

func (pr *Prometheus) bounds() string {
	switch {
	case pr.p.Min != nil && pr.p.Max != nil:
		return fmt.Sprintf("[%v, %v]", *pr.p.Min, *pr.p.Max)
	case pr.p.Min != nil:
		return fmt.Sprintf("min %v", *pr.p.Min)
	}
	return fmt.Sprintf("max %v", *pr.p.Max)
}

// single returns the one number a query result holds, or says what it holds instead.
func single(val model.Value) (float64, string, bool) {
	switch v := val.(type) {
	case *model.Scalar:
		return float64(v.Value), fmtValue(float64(v.Value)), true
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, "no series", false
		case 1:
			return float64(v[0].Value), fmtValue(float64(v[0].Value)), true
		}
		return 0, fmt.Sprintf("%d series", len(v)), false
	case model.Matrix:
		return 0, fmt.Sprintf("a range vector of %d series", len(v)), false
	case *model.String:
		return 0, fmt.Sprintf("the string %q", v.Value), false
	case nil:
		return 0, "no result", false
	}
	return 0, fmt.Sprintf("a result of type %v", val.Type()), false
}

func fmtValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// apiError gives an error from the Prometheus client its kind.
func apiError(op string, err error) error {
	var ae *v1.Error
	if errors.As(err, &ae) && ae.Type == v1.ErrBadData {
		return shakedown.Wrap(shakedown.KindInvalid, op, err)
	}
	return shakedown.Wrap(shakedown.KindUnavailable, op, err)
}

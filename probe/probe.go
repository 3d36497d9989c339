// Package probe holds shakedown's basic probes — http, tcp and exec — which sample whether
// one clause of the steady state holds: an HTTP endpoint answers as expected, a TCP port
// accepts connections, a command exits 0.
//
// A prober's Probe returns a short observation for people ("200 in 3.2ms") and a nil error
// when the probe holds; otherwise an error of kind shakedown.KindFailed that says why.
package probe

import (
	"fmt"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Register adds the http, tcp and exec probe types to r.
func Register(r *shakedown.Registry) {
	r.AddProbe(shakedown.ProbeType{
		Name:    "http",
		Summary: "an HTTP request answers with the expected status (and body)",
		Params:  func() any { return &HTTPParams{Method: "GET", Status: 200} },
		New: func(_ shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
			p, err := shakedown.ParamsAs[HTTPParams](params, "http probe")
			if err != nil {
				return nil, err
			}
			return NewHTTP(p, timeout)
		},
	})
	r.AddProbe(shakedown.ProbeType{
		Name:    "tcp",
		Summary: "a TCP connection to an address opens",
		Params:  func() any { return &TCPParams{} },
		New: func(_ shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
			p, err := shakedown.ParamsAs[TCPParams](params, "tcp probe")
			if err != nil {
				return nil, err
			}
			return NewTCP(p, timeout)
		},
	})
	r.AddProbe(shakedown.ProbeType{
		Name:    "exec",
		Summary: "a command exits 0",
		Params:  func() any { return &ExecParams{} },
		New: func(env shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
			p, err := shakedown.ParamsAs[ExecParams](params, "exec probe")
			if err != nil {
				return nil, err
			}
			return NewExec(env, p, timeout)
		},
	})
}

// DefaultTimeout bounds one sample when a prober is built with no timeout.
const DefaultTimeout = 5 * time.Second

func orDefault(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return DefaultTimeout
	}
	return timeout
}

// since formats the time since start for an observation: "0.42ms", "3.2ms", "120ms", "1.25s".
func since(start time.Time) string { return formatDuration(time.Since(start)) }

func formatDuration(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 1:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 10:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	default:
		return fmt.Sprintf("%.2fs", ms/1000)
	}
}

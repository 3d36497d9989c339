package spec_test

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// The parameter structs below mirror the real adapters' closely enough to exercise every
// decoding path; the real ones register themselves from their own packages.

type processParams struct {
	PID     int    `json:"pid" doc:"process id"`
	Pidfile string `json:"pidfile" doc:"file holding the pid"`
	Name    string `json:"name" doc:"process name (comm)"`
	Cmdline string `json:"cmdline" doc:"regexp on the command line"`
}

func (p *processParams) Validate() error {
	n := 0
	for _, set := range []bool{p.PID != 0, p.Pidfile != "", p.Name != "", p.Cmdline != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of pid, pidfile, name, cmdline")
	}
	return nil
}

type proxyParams struct {
	Listen   string `json:"listen" doc:"address the inline proxy listens on"`
	Upstream string `json:"upstream" doc:"address it forwards to"`
	API      string `json:"api" doc:"URL of a running shakedown proxy"`
	Name     string `json:"name" doc:"proxy name in that daemon"`
}

func (p *proxyParams) Validate() error {
	inline := p.Listen != "" || p.Upstream != ""
	remote := p.API != "" || p.Name != ""
	switch {
	case inline && remote:
		return errors.New("give listen and upstream, or api and name, not both")
	case inline && (p.Listen == "" || p.Upstream == ""):
		return errors.New("an inline proxy needs listen and upstream")
	case remote && (p.API == "" || p.Name == ""):
		return errors.New("a daemon proxy needs api and name")
	case !inline && !remote:
		return errors.New("give listen and upstream, or api and name")
	}
	return nil
}

type latencyParams struct {
	Latency  shakedown.Duration `json:"latency" required:"true" doc:"added to each chunk"`
	Jitter   shakedown.Duration `json:"jitter" doc:"random ± on top"`
	Toxicity float64            `json:"toxicity" doc:"fraction of connections affected"`
	Stream   string             `json:"stream" doc:"upstream or downstream"`
}

func (p *latencyParams) Validate() error {
	if p.Toxicity < 0 || p.Toxicity > 1 {
		return errors.New("toxicity must lie in [0, 1]")
	}
	if p.Stream != "upstream" && p.Stream != "downstream" {
		return errors.New("stream must be upstream or downstream")
	}
	return nil
}

type killParams struct {
	Signal  string   `json:"signal" doc:"signal to send"`
	Restart []string `json:"restart" doc:"argv run as the revert"`
}

type execParams struct {
	Inject []string          `json:"inject" required:"true" doc:"argv run to inject"`
	Revert []string          `json:"revert" doc:"argv run to revert"`
	Env    map[string]string `json:"env" doc:"extra environment"`
	Limits struct {
		CPU     *int     `json:"cpu" doc:"cpu seconds"`
		Timeout Duration `json:"timeout" doc:"per command"`
	} `json:"limits"`
	Extra any `json:"extra"`
}

// Duration is a time.Duration field the way a params struct may hold it.
type Duration = time.Duration

type httpParams struct {
	URL        string `json:"url" required:"true" doc:"URL to GET"`
	Method     string `json:"method" doc:"HTTP method"`
	Status     int    `json:"status" doc:"status that counts as up"`
	BodyRegexp string `json:"body_regexp" doc:"regexp the body must match"`
}

func (p *httpParams) Validate() error {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("url must be http or https")
	}
	return nil
}

type tcpParams struct {
	Address string `json:"address" required:"true"`
}

func testRegistry() *shakedown.Registry {
	r := shakedown.NewRegistry()
	resolve := func(context.Context, shakedown.Env, any) ([]shakedown.Instance, error) {
		return nil, errors.New("not resolvable in spec tests")
	}
	newFault := func(shakedown.Env, *shakedown.FaultSpec, []shakedown.Instance) (shakedown.Fault, error) {
		return nil, errors.New("not runnable in spec tests")
	}
	newProbe := func(shakedown.Env, any, time.Duration) (shakedown.Prober, error) {
		return nil, errors.New("not runnable in spec tests")
	}
	r.AddTarget(shakedown.TargetKind{Name: "process", Params: func() any { return &processParams{} }, Resolve: resolve})
	r.AddTarget(shakedown.TargetKind{Name: "proxy", Params: func() any { return &proxyParams{} }, Resolve: resolve})
	r.AddTarget(shakedown.TargetKind{Name: "host", Resolve: resolve})
	r.AddFault(shakedown.FaultType{Name: "proxy.latency", Targets: []string{"proxy"},
		Params: func() any { return &latencyParams{Toxicity: 1, Stream: "downstream"} }, New: newFault})
	r.AddFault(shakedown.FaultType{Name: "process.pause", Targets: []string{"process"}, New: newFault})
	r.AddFault(shakedown.FaultType{Name: "process.kill", Targets: []string{"process"}, OneShot: true,
		Params: func() any { return &killParams{Signal: "KILL"} }, New: newFault})
	r.AddFault(shakedown.FaultType{Name: "exec", Params: func() any { return &execParams{} }, New: newFault})
	r.AddProbe(shakedown.ProbeType{Name: "http", Params: func() any { return &httpParams{Method: "GET", Status: 200} }, New: newProbe})
	r.AddProbe(shakedown.ProbeType{Name: "tcp", Params: func() any { return &tcpParams{} }, New: newProbe})
	return r
}

func testRegistryNewFault(shakedown.Env, *shakedown.FaultSpec, []shakedown.Instance) (shakedown.Fault, error) {
	return nil, errors.New("not runnable in spec tests")
}

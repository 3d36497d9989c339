// Package container is shakedown's container fault family, through the Docker Engine API
// (dockerd, or Podman's compatible service): the `container` target kind, the faults
// container.kill, container.stop, container.pause, container.restart and
// container.disconnect with their undo types, and the `container` probe (running, healthy).
//
// It speaks the Engine API with a small client of its own over a unix socket or TCP,
// negotiating the API version with the daemon, rather than with the Docker Go client: the
// dozen calls it makes do not justify that client's dependency tree in a static binary, and
// owning the calls lets it handle Podman's differences (paused containers left out of
// default listings) in one place.
//
// Container instances carry, when the daemon runs on this machine, the container's init
// pid, its start time, its network namespace path and its cgroup, so that host-side faults
// (network, stress) can act inside a container.
package container

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Register adds the container target kind, the container.* fault types, their undo types
// and the container probe to r. Targets and probes that name no docker_host use
// $DOCKER_HOST, else the default socket.
func Register(r *shakedown.Registry) { RegisterWith(r, Options{}) }

// Options are defaults a command line sets for the whole run (--docker-host).
type Options struct {
	DockerHost string // used by targets and probes that name no docker_host
}

// RegisterWith is Register with defaults for targets and probes that leave them out.
func RegisterWith(r *shakedown.Registry, o Options) {
	r.AddTarget(shakedown.TargetKind{
		Name:    Kind,
		Summary: "running or paused containers of a Docker or Podman engine, by name, labels or Compose service",
		Params:  func() any { return &Selector{} },
		Resolve: func(ctx context.Context, _ shakedown.Env, params any) ([]shakedown.Instance, error) {
			sel, err := shakedown.ParamsAs[Selector](params, "container target")
			if err != nil {
				return nil, err
			}
			s := *sel
			if s.DockerHost == "" {
				s.DockerHost = o.DockerHost
			}
			return s.Resolve(ctx)
		},
	})
	for _, t := range []shakedown.FaultType{killType, stopType, pauseType, restartType, disconnectType} {
		r.AddFault(t)
	}
	r.AddUndo(UndoStart, undoRef(ensureStarted))
	r.AddUndo(UndoHalt, undoRef(halt))
	r.AddUndo(UndoUnpause, undoRef(ensureUnpaused))
	r.AddUndo(UndoConnect, undoConnect)
	r.AddProbe(shakedown.ProbeType{
		Name:    "container",
		Summary: "the selected containers run (and, with healthy, pass their health check)",
		Params:  func() any { return &ProbeParams{} },
		New: func(_ shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
			p, err := shakedown.ParamsAs[ProbeParams](params, "container probe")
			if err != nil {
				return nil, err
			}
			if err := p.Validate(); err != nil {
				return nil, err
			}
			pp := *p
			if pp.DockerHost == "" {
				pp.DockerHost = o.DockerHost
			}
			return &Prober{Params: pp, Timeout: timeout}, nil
		},
	})
}

// ProbeParams are the parameters of the container probe: a selector, how many of its
// containers must hold, and whether they must be healthy.
type ProbeParams struct {
	Selector
	Min     int  `json:"min" doc:"how many matching containers must run; 0 means all of them, and at least one"`
	Healthy bool `json:"healthy" doc:"the containers must also report healthy (they need a health check)"`
}

// Validate checks the selector and the count.
func (p *ProbeParams) Validate() error {
	var errs shakedown.FieldErrors
	errs.Merge(p.Selector.Validate())
	if p.Min < 0 {
		errs.Add("min", "%d is negative", p.Min)
	}
	return errs.Err()
}

// Prober samples the container probe.
type Prober struct {
	Params  ProbeParams
	Timeout time.Duration
}

// Probe holds when enough matching containers run (unpaused) and, with Healthy, report
// healthy. Paused containers are listed too, and count as not running.
func (p *Prober) Probe(ctx context.Context) (string, error) {
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	host := HostFrom(p.Params.DockerHost, os.Getenv)
	cl, err := ClientFor(host)
	if err != nil {
		return "", err
	}
	list, err := cl.List(ctx, p.Params.filters())
	if err != nil {
		return "", err
	}
	matched, err := p.Params.pick(list)
	if err != nil {
		return "", err
	}
	want := p.Params.Min
	if want == 0 {
		want = max(1, len(matched))
	}
	good := 0
	var bad []string
	for _, s := range matched {
		state := strings.ToLower(s.State)
		if state != "running" {
			bad = append(bad, s.Name()+" "+state)
			continue
		}
		if p.Params.Healthy {
			d, err := cl.Inspect(ctx, s.ID)
			if err != nil {
				bad = append(bad, s.Name()+" gone")
				continue
			}
			if h := d.Health(); h != "healthy" {
				if h == "" {
					h = "no health check"
				}
				bad = append(bad, s.Name()+" "+h)
				continue
			}
		}
		good++
	}
	sort.Strings(bad)
	what := "running"
	if p.Params.Healthy {
		what = "running and healthy"
	}
	obs := fmt.Sprintf("%d of %d %s", good, len(matched), what)
	if len(bad) > 0 {
		obs += " (" + strings.Join(bad, ", ") + ")"
	}
	if good < want {
		return obs, shakedown.Errorf(shakedown.KindFailed, "container %s: %s, want %d", p.Params.Selector.String(), obs, want)
	}
	return obs, nil
}

// Package proxy provides the `proxy` target kind and the proxy.* and http.* faults: link
// faults carried out by shakedown's fault proxy, either one the run starts in-process
// (`listen`/`upstream`) or one in a running `shakedown proxy` daemon (`api`/`name`).
//
// Faults on a daemon proxy are held by a lease the fault renews while it is injected and
// carry a TTL of their duration plus a margin: if the runner dies, the daemon removes
// them by itself.
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
	engine "github.com/shakedown-dev/shakedown/proxy"
)

// Kind is the name of the target kind.
const Kind = "proxy"

// UndoToxic is the undo type that deletes a toxic (and its lease) from a daemon proxy:
// ToxicUndo.
const UndoToxic = "proxy.toxic"

// Lease timing of faults on daemon proxies: a lease lives leaseTTL unless renewed, and
// the fault renews it every leaseRenew.
var (
	leaseTTL   = 10 * time.Second
	leaseRenew = 2 * time.Second
	// lapseMargin is what a daemon that does not answer is given beyond the lease's TTL to
	// have removed the toxic, before its undo counts as done (shakedown.Lapse).
	lapseMargin = time.Second
)

// Register adds the proxy target kind, its faults and its undo to r.
func Register(r *shakedown.Registry) {
	r.AddTarget(shakedown.TargetKind{
		Name:    Kind,
		Summary: "a TCP link through shakedown's fault proxy: started by the run (listen, upstream) or in a running `shakedown proxy` (api, name)",
		Params:  func() any { return &Target{} },
		Resolve: resolve,
	})
	for _, ft := range faultTypes() {
		ft.Stacks = true // each toxic has a name of its run's own; its revert removes that one
		r.AddFault(ft)
	}
	r.AddUndo(UndoToxic, undoToxic)
}

// Target are the parameters of a proxy target: listen and upstream, or api and name.
type Target struct {
	Listen   string `json:"listen,omitempty" doc:"inline proxy: the address it listens on, for the run's duration (clients connect here)"`
	Upstream string `json:"upstream,omitempty" doc:"inline proxy: the address it forwards to"`
	API      string `json:"api,omitempty" doc:"daemon proxy: URL of a running shakedown proxy's API (http://127.0.0.1:8474)"`
	Name     string `json:"name,omitempty" doc:"daemon proxy: the proxy's name there"`
}

// Validate checks that exactly one of the two forms is given, and its addresses: listen a
// host:port to listen on, upstream one to connect to, api an http(s) URL (its scheme may be
// left out).
func (p *Target) Validate() error {
	inline := p.Listen != "" || p.Upstream != ""
	daemon := p.API != "" || p.Name != ""
	switch {
	case inline && daemon:
		return shakedown.Errorf(shakedown.KindInvalid, "proxy target: give listen and upstream, or api and name, not both")
	case inline && (p.Listen == "" || p.Upstream == ""):
		return shakedown.Errorf(shakedown.KindInvalid, "proxy target: an inline proxy needs both listen and upstream")
	case daemon && (p.API == "" || p.Name == ""):
		return shakedown.Errorf(shakedown.KindInvalid, "proxy target: a daemon proxy needs both api and name")
	case !inline && !daemon:
		return shakedown.Errorf(shakedown.KindInvalid, "proxy target: give listen and upstream, or api and name")
	}
	// Each problem at its own field (a *shakedown.FieldError), an error of KindInvalid.
	var errs []error
	check := func(field string, err error) {
		if err != nil {
			errs = append(errs, &shakedown.FieldError{Field: field, Index: -1, Err: err})
		}
	}
	if inline {
		check("listen", endpoint.Listen(p.Listen))
		check("upstream", endpoint.Dial(p.Upstream))
	} else {
		check("api", checkAPI(p.API))
	}
	return errors.Join(errs...)
}

// inlineRef is the handle of a proxy the run started; the engine closes it at the end.
type inlineRef struct {
	p *engine.Proxy
}

func (r *inlineRef) Close() error { return r.p.Close() }

// daemonRef is the handle of a proxy in a daemon.
type daemonRef struct {
	api, name string
}

func targetParams(params any) (*Target, error) {
	switch p := params.(type) {
	case *Target:
		if p != nil {
			return p, p.Validate()
		}
	case Target:
		return &p, p.Validate()
	}
	return nil, shakedown.Errorf(shakedown.KindInvalid, "proxy target: parameters of type %T", params)
}

func resolve(ctx context.Context, env shakedown.Env, params any) ([]shakedown.Instance, error) {
	t, err := targetParams(params)
	if err != nil {
		return nil, err
	}
	if t.API == "" {
		inst := shakedown.Instance{
			Kind:  Kind,
			ID:    "inline:" + t.Listen,
			Name:  fmt.Sprintf("inline proxy %s → %s", t.Listen, t.Upstream),
			Attrs: map[string]string{"mode": "inline", "listen": t.Listen, "upstream": t.Upstream},
		}
		if env.DryRun {
			return []shakedown.Instance{inst}, nil
		}
		p := engine.NewProxy(proxyName(env), t.Listen, t.Upstream, nil)
		if err := p.Start(); err != nil {
			return nil, shakedown.Wrap(shakedown.KindOf(err), "start inline proxy on "+t.Listen, err)
		}
		inst.Attrs["listen"] = p.Addr()
		inst.Ref = &inlineRef{p: p}
		return []shakedown.Instance{inst}, nil
	}
	api := apiURL(t.API)
	var info engine.Info
	if err := call(ctx, "GET", api+"/proxies/"+url.PathEscape(t.Name), nil, &info); err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), fmt.Sprintf("find proxy %s at %s", t.Name, shakedown.RedactURL(api)), err)
	}
	return []shakedown.Instance{{
		Kind:  Kind,
		ID:    shakedown.RedactURL(api) + "/proxies/" + t.Name, // an identity, shown and stored: no password
		Name:  fmt.Sprintf("proxy %s (%s → %s) at %s", info.Name, info.Listen, info.Upstream, shakedown.RedactURL(api)),
		Attrs: map[string]string{"mode": "daemon", "api": api, "name": info.Name, "listen": info.Listen, "upstream": info.Upstream},
		Ref:   &daemonRef{api: api, name: info.Name},
	}}, nil
}

func proxyName(env shakedown.Env) string {
	if env.RunID == "" {
		return "shakedown"
	}
	return "shakedown-" + env.RunID
}

// checkAPI checks a daemon's API address: an http(s) URL, or host:port when it has no
// scheme (apiURL adds http://).
func checkAPI(api string) error {
	if strings.Contains(api, "://") {
		_, err := endpoint.HTTPURL(api)
		return err
	}
	if strings.Contains(api, "@") { // not quoted: it may hold a password
		return shakedown.Errorf(shakedown.KindInvalid, "an API address with a user or password needs its scheme: http://user:password@host:port")
	}
	return endpoint.Dial(strings.TrimRight(api, "/"))
}

func apiURL(api string) string {
	api = strings.TrimRight(api, "/")
	if !strings.HasPrefix(api, "http://") && !strings.HasPrefix(api, "https://") {
		api = "http://" + api
	}
	return api
}

// ToxicUndo is the data of a proxy.toxic undo.
type ToxicUndo struct {
	API   string `json:"api"`
	Proxy string `json:"proxy"`
	Toxic string `json:"toxic"`
	Lease string `json:"lease,omitempty"`
	// LeaseTTLMillis is the TTL of the lease that holds the toxic. When it is set, a daemon
	// that does not answer holds the toxic no longer than that once nothing renews the
	// lease: the undo fails with a shakedown.Lapse. (Journals written before it was kept
	// lack it, and their undos fail as any other.)
	LeaseTTLMillis int64 `json:"lease_ttl_ms,omitempty"`
}

func undoToxic(ctx context.Context, data json.RawMessage) error {
	var u ToxicUndo
	if err := json.Unmarshal(data, &u); err != nil {
		return shakedown.Wrap(shakedown.KindInvalid, "decode proxy.toxic undo", err)
	}
	return removeToxic(ctx, u)
}

// removeToxic deletes the toxic and its lease; "already gone" is success. A daemon that
// does not answer fails it with a shakedown.Lapse when the toxic is held by a lease: the
// daemon keeps nothing when it dies, and removes the toxic itself when the lease runs out.
func removeToxic(ctx context.Context, u ToxicUndo) error {
	err := call(ctx, "DELETE", u.API+"/proxies/"+url.PathEscape(u.Proxy)+"/toxics/"+url.PathEscape(u.Toxic), nil, nil)
	if err != nil && !shakedown.IsKind(err, shakedown.KindNotFound) {
		err = shakedown.Wrap(shakedown.KindOf(err), fmt.Sprintf("remove toxic %s from proxy %s at %s", u.Toxic, u.Proxy, shakedown.RedactURL(u.API)), err)
		return u.lapse(err)
	}
	if u.Lease != "" {
		err := call(ctx, "DELETE", u.API+"/leases/"+u.Lease, nil, nil)
		if err != nil && !shakedown.IsKind(err, shakedown.KindNotFound) {
			return u.lapse(shakedown.Wrap(shakedown.KindOf(err), "release lease "+u.Lease, err))
		}
	}
	return nil
}

// lapse returns err as a shakedown.Lapse when the daemon did not answer and the toxic is
// held by a lease, err otherwise.
func (u ToxicUndo) lapse(err error) error {
	if u.LeaseTTLMillis <= 0 || !shakedown.IsKind(err, shakedown.KindUnavailable) {
		return err
	}
	return &shakedown.Lapse{After: time.Duration(u.LeaseTTLMillis)*time.Millisecond + lapseMargin, Err: err}
}

// fault is one proxy.* or http.* fault on its targets.
type fault struct {
	ft       string // the fault type, for messages
	toxic    engine.Toxic
	targets  []shakedown.Instance
	describe string
}

func (f *fault) Undo() []shakedown.Undo {
	var out []shakedown.Undo
	for _, inst := range f.targets {
		d, ok := inst.Ref.(*daemonRef)
		if !ok {
			continue // an inline proxy ends with the runner: nothing can outlive it
		}
		data, _ := json.Marshal(ToxicUndo{API: d.api, Proxy: d.name, Toxic: f.toxic.Name, LeaseTTLMillis: leaseTTL.Milliseconds()})
		out = append(out, shakedown.Undo{Type: UndoToxic, Data: data,
			Summary: fmt.Sprintf("remove toxic %s from proxy %s at %s", f.toxic.Name, d.name, shakedown.RedactURL(d.api))})
	}
	return out
}

func (f *fault) Plan() []string {
	var out []string
	for _, inst := range f.targets {
		line := fmt.Sprintf("add toxic %s (%s, %s, toxicity %g) as %s to %s", f.toxic.Type, f.describe, f.toxic.Stream, f.toxic.Toxicity, f.toxic.Name, inst.Name)
		if inst.Attrs["mode"] == "daemon" {
			line += fmt.Sprintf(", held by a lease renewed every %v (TTL %v) and a toxic TTL of %v", leaseRenew, leaseTTL, time.Duration(f.toxic.TTLMillis)*time.Millisecond)
		}
		out = append(out, line)
	}
	return out
}

func (f *fault) Inject(ctx context.Context) (shakedown.Revert, error) {
	var reverts []shakedown.Revert
	// Every target's failure is told: one that lapses must not hide one that does not.
	revertAll := func(ctx context.Context) error {
		var errs []error
		for i := len(reverts) - 1; i >= 0; i-- {
			errs = append(errs, reverts[i](ctx))
		}
		return errors.Join(errs...)
	}
	for _, inst := range f.targets {
		var r shakedown.Revert
		var err error
		switch ref := inst.Ref.(type) {
		case *inlineRef:
			r, err = f.injectInline(ref)
		case *daemonRef:
			r, err = f.injectDaemon(ctx, ref)
		default:
			err = shakedown.Errorf(shakedown.KindInternal, "%s: target %s was not resolved to a running proxy", f.ft, inst.Name)
		}
		if r != nil {
			reverts = append(reverts, r)
		}
		if err != nil {
			if len(reverts) == 0 {
				return nil, err
			}
			return revertAll, err
		}
	}
	return revertAll, nil
}

func (f *fault) injectInline(ref *inlineRef) (shakedown.Revert, error) {
	if _, err := ref.p.AddToxic(f.toxic); err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), fmt.Sprintf("inject %s on %s", f.ft, ref.p), err)
	}
	return func(context.Context) error {
		if err := ref.p.RemoveToxic(f.toxic.Name); err != nil && !shakedown.IsKind(err, shakedown.KindNotFound) {
			return shakedown.Wrap(shakedown.KindNotRestored, "revert "+f.ft, err)
		}
		return nil
	}, nil
}

func (f *fault) injectDaemon(ctx context.Context, ref *daemonRef) (shakedown.Revert, error) {
	var lease engine.Lease
	body, _ := json.Marshal(map[string]int64{"ttl_ms": leaseTTL.Milliseconds()})
	if err := call(ctx, "POST", ref.api+"/leases", body, &lease); err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), fmt.Sprintf("inject %s: take a lease at %s", f.ft, shakedown.RedactURL(ref.api)), err)
	}
	undo := ToxicUndo{API: ref.api, Proxy: ref.name, Toxic: f.toxic.Name, Lease: lease.ID, LeaseTTLMillis: leaseTTL.Milliseconds()}
	t := f.toxic
	t.Lease = lease.ID
	body, err := json.Marshal(t)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInternal, "encode toxic", err)
	}
	if err := call(ctx, "POST", ref.api+"/proxies/"+url.PathEscape(ref.name)+"/toxics", body, nil); err != nil {
		call(context.WithoutCancel(ctx), "DELETE", ref.api+"/leases/"+lease.ID, nil, nil)
		return nil, shakedown.Wrap(shakedown.KindOf(err), fmt.Sprintf("inject %s on proxy %s at %s", f.ft, ref.name, shakedown.RedactURL(ref.api)), err)
	}
	// Renew the lease while the fault is injected; the revert stops and waits for it.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(leaseRenew)
		defer tick.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-tick.C:
				cctx, c := context.WithTimeout(rctx, leaseRenew)
				call(cctx, "POST", ref.api+"/leases/"+lease.ID, nil, nil)
				c()
			}
		}
	}()
	var once sync.Once
	return func(ctx context.Context) error {
		once.Do(func() { cancel(); <-done })
		if err := removeToxic(ctx, undo); err != nil {
			return shakedown.Wrap(shakedown.KindNotRestored, "revert "+f.ft, err)
		}
		return nil
	}, nil
}

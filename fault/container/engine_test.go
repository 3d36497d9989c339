package container

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/shakedown-dev/shakedown"
)

func registry() *shakedown.Registry {
	r := shakedown.NewRegistry()
	Register(r)
	return r
}

// build makes a fault of a registered type with params (the type's defaults when nil).
func build(t *testing.T, reg *shakedown.Registry, typ string, params any, ins []shakedown.Instance) shakedown.Fault {
	t.Helper()
	ft, ok := reg.Fault(typ)
	if !ok {
		t.Fatalf("fault type %s is not registered", typ)
	}
	if params == nil && ft.Params != nil {
		params = ft.Params()
	}
	f, err := ft.New(shakedown.Env{RunID: "t"}, &shakedown.FaultSpec{Name: "f", Type: typ, Params: params, Duration: time.Minute}, ins)
	if err != nil {
		t.Fatalf("new %s: %v", typ, err)
	}
	if c, ok := f.(shakedown.Closer); ok {
		t.Cleanup(func() { c.Close() }) // as the run does when it ends: a held fault's watcher stops
	}
	return f
}

// inject prepares, takes the undos and injects, as the engine does.
func inject(t *testing.T, f shakedown.Fault) (shakedown.Revert, []shakedown.Undo) {
	t.Helper()
	if p, ok := f.(shakedown.Preparer); ok {
		if err := p.Prepare(t.Context()); err != nil {
			t.Fatalf("prepare: %v", err)
		}
	}
	undos := f.Undo()
	rev, err := f.Inject(t.Context())
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	return rev, undos
}

// replay carries out undos through the registry twice, as the journal does for an inject
// that returned: the second time must be a no-op.
func replay(t *testing.T, reg *shakedown.Registry, undos []shakedown.Undo) {
	t.Helper()
	for round := range 2 {
		for _, u := range shakedown.InOrder(undos, true) {
			fn, ok := reg.Undo(u.Type)
			if !ok {
				t.Fatalf("undo type %s is not registered", u.Type)
			}
			if err := fn(context.Background(), u.Data); err != nil {
				t.Fatalf("undo %s (round %d): %v", u.Summary, round+1, err)
			}
		}
	}
}

func running(d *Details) bool { return d.State.Running && !d.State.Paused }

func TestResolveIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			web1 := b.run(CreateSpec{Name: "web-1", Labels: map[string]string{"app": "shop", LabelComposeService: "web", LabelComposeProject: b.label}})
			web2 := b.run(CreateSpec{Name: "web-2", Labels: map[string]string{"app": "shop", LabelComposeService: "web", LabelComposeProject: b.label}})
			db := b.run(CreateSpec{Name: "db", Labels: map[string]string{"app": "shop", LabelComposeService: "db", LabelComposeProject: b.label}})
			gone := b.run(CreateSpec{Name: "gone", Labels: map[string]string{"app": "shop"}})
			for _, id := range []string{web1, web2, db, gone} {
				b.waitState(id, "running", running)
			}
			// a paused container must still be found: Podman leaves it out of listings
			// that do not ask for all containers
			if err := b.cl.Pause(t.Context(), web2); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.cl.Unpause(context.Background(), web2) })
			// an exited one is not a target
			if err := b.cl.Stop(t.Context(), gone, time.Second); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				sel  Selector
				want []string
			}{
				{Selector{Name: b.name("web-1")}, []string{web1}},
				{Selector{Name: web1[:12]}, []string{web1}},
				{Selector{Name: b.name("web")}, nil}, // names match exactly, not by substring
				{Selector{Labels: map[string]string{"app": "shop", "shakedown-test": b.label}}, []string{db, web1, web2}},
				{Selector{ComposeService: "web", ComposeProject: b.label}, []string{web1, web2}},
				{Selector{ComposeService: "db", ComposeProject: b.label}, []string{db}},
				{Selector{Name: b.name("gone")}, nil},
				{Selector{Labels: map[string]string{"shakedown-test": "nothing"}}, nil},
			}
			for _, tt := range tests {
				got := ids(b.resolve(reg, tt.sel))
				if diff := cmp.Diff(slices.Sorted(slices.Values(tt.want)), slices.Sorted(slices.Values(got))); diff != "" {
					t.Errorf("resolve %s: (-want +got)\n%s", tt.sel.String(), diff)
				}
			}
			ins := b.resolve(reg, Selector{Name: b.name("web-2")})
			if len(ins) != 1 || ins[0].Attrs["state"] != "paused" {
				t.Fatalf("paused container: got %+v", ins)
			}
		})
	}
}

// TestHostSideAttrsIntegration checks what network and stress faults read of a container
// instance: its init pid and start time, its network namespace and its cgroup.
func TestHostSideAttrsIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			id := b.run(CreateSpec{Name: "attrs"})
			d := b.waitState(id, "running", running)
			ins := b.resolve(registry(), Selector{Name: b.name("attrs")})
			if len(ins) != 1 {
				t.Fatalf("resolve: %d instances, want 1", len(ins))
			}
			a := ins[0].Attrs
			if a["pid"] != strconv.Itoa(d.State.Pid) {
				t.Errorf("pid attr %q, want %d", a["pid"], d.State.Pid)
			}
			stat, err := os.ReadFile("/proc/" + a["pid"] + "/stat")
			if err != nil {
				t.Fatal(err)
			}
			st, _ := ParseStartTime(stat)
			if a["starttime"] != strconv.FormatUint(st, 10) {
				t.Errorf("starttime attr %q, want %d", a["starttime"], st)
			}
			theirs, err1 := os.Readlink(a["netns_path"])
			ours, err2 := os.Readlink("/proc/self/ns/net")
			if err1 != nil || err2 != nil || theirs == ours {
				t.Errorf("netns_path %s: %q (%v); ours %q (%v): want a namespace of its own", a["netns_path"], theirs, err1, ours, err2)
			}
			if a["cgroup"] == "" || !containsID(a, id) {
				t.Errorf("cgroup attrs %v do not name the container %s", a, ShortID(id))
			}
		})
	}
}

func containsID(attrs map[string]string, id string) bool {
	for k, v := range attrs {
		if len(k) >= 6 && k[:6] == "cgroup" && len(v) > 0 && contains(v, id) {
			return true
		}
	}
	return false
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestStopIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			id := b.run(CreateSpec{Name: "stop"})
			b.waitState(id, "running", running)
			ins := b.resolve(reg, Selector{Name: b.name("stop")})
			f := build(t, reg, "container.stop", &GraceParams{Grace: shakedown.Duration(2 * time.Second)}, ins)
			rev, _ := inject(t, f)
			if s := b.state(id); s != "exited" && s != "stopped" {
				t.Fatalf("after inject: state %s, want exited", s)
			}
			if err := rev(t.Context()); err != nil {
				t.Fatalf("revert: %v", err)
			}
			b.waitState(id, "running", running)
			if err := rev(t.Context()); err != nil { // idempotent
				t.Fatalf("second revert: %v", err)
			}
			// the journal's undo does the same when the runner could not
			f = build(t, reg, "container.stop", nil, ins)
			_, undos := inject(t, f)
			if len(undos) != 2 || undos[0].Type != UndoHalt || !undos[0].Interrupt || undos[1].Type != UndoStart {
				t.Fatalf("undos %+v, want an interrupting %s and a %s", undos, UndoHalt, UndoStart)
			}
			replay(t, reg, undos)
			b.waitState(id, "running", running)
		})
	}
}

func TestPauseIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			a := b.run(CreateSpec{Name: "p1", Labels: map[string]string{"role": "p"}})
			c := b.run(CreateSpec{Name: "p2", Labels: map[string]string{"role": "p"}})
			b.waitState(a, "running", running)
			b.waitState(c, "running", running)
			ins := b.resolve(reg, Selector{Labels: map[string]string{"role": "p", "shakedown-test": b.label}})
			f := build(t, reg, "container.pause", nil, ins)
			rev, undos := inject(t, f)
			for _, id := range []string{a, c} {
				if s := b.state(id); s != "paused" {
					t.Fatalf("after inject: %s is %s, want paused", ShortID(id), s)
				}
			}
			// the paused containers are still targets (and the probe says they do not run)
			if got := b.resolve(reg, Selector{Labels: map[string]string{"role": "p", "shakedown-test": b.label}}); len(got) != 2 {
				t.Fatalf("paused containers resolved: %d, want 2", len(got))
			}
			pr := &Prober{Params: ProbeParams{Selector: Selector{Labels: map[string]string{"role": "p", "shakedown-test": b.label}, DockerHost: host}}}
			if obs, err := pr.Probe(t.Context()); !shakedown.IsKind(err, shakedown.KindFailed) {
				t.Fatalf("probe of paused containers: %q, %v; want KindFailed", obs, err)
			}
			if err := rev(t.Context()); err != nil {
				t.Fatalf("revert: %v", err)
			}
			for _, id := range []string{a, c} {
				b.waitState(id, "running", running)
			}
			if obs, err := pr.Probe(t.Context()); err != nil {
				t.Fatalf("probe after revert: %q, %v", obs, err)
			}
			replay(t, reg, undos) // nothing is paused: a no-op
			// undo after a real pause
			f = build(t, reg, "container.pause", nil, ins)
			_, undos = inject(t, f)
			replay(t, reg, undos)
			for _, id := range []string{a, c} {
				b.waitState(id, "running", running)
			}
		})
	}
}

func TestKillIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			// through the engine's API: Docker counts it as stopped by hand, no restart
			id := b.run(CreateSpec{Name: "kill-api"})
			b.waitState(id, "running", running)
			ins := b.resolve(reg, Selector{Name: b.name("kill-api")})
			f := build(t, reg, "container.kill", &KillParams{Signal: "SIGKILL", Via: "api"}, ins)
			rev, undos := inject(t, f)
			if rev != nil || len(undos) != 0 {
				t.Fatalf("kill is one-shot: revert %v, undos %v", rev != nil, undos)
			}
			b.waitState(id, "exited", func(d *Details) bool { return !d.State.Running })
			// killing a container that no longer runs fails
			f = build(t, reg, "container.kill", nil, ins)
			if _, err := f.Inject(t.Context()); err == nil {
				t.Fatalf("kill of a stopped container: no error")
			}

			// from the host, as a crash: the restart policy brings it back
			id = b.run(CreateSpec{Name: "kill-host", Restart: "unless-stopped"})
			before := b.waitState(id, "running", running)
			ins = b.resolve(reg, Selector{Name: b.name("kill-host")})
			if ins[0].Attrs["pid"] == "" {
				t.Fatalf("no host-side pid for a container of a local engine: %v", ins[0].Attrs)
			}
			f = build(t, reg, "container.kill", &KillParams{Signal: "KILL", Via: "host"}, ins)
			if plan := f.(shakedown.Planner).Plan(); len(plan) != 1 || !strings.Contains(plan[0], "pid "+ins[0].Attrs["pid"]) {
				t.Errorf("plan %q does not name the pid", plan)
			}
			inject(t, f)
			after := b.waitState(id, "restarted", func(d *Details) bool { return running(d) && d.State.Pid != before.State.Pid })
			t.Logf("%s: restarted by its policy, pid %d -> %d", eng, before.State.Pid, after.State.Pid)
			// the resolved pid is gone now: a second kill refuses to signal whatever took it
			if _, err := f.Inject(t.Context()); !shakedown.IsKind(err, shakedown.KindNotFound) {
				t.Fatalf("second kill of a gone process: %v, want KindNotFound", err)
			}
		})
	}
}

func TestRestartIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			id := b.run(CreateSpec{Name: "restart"})
			before := b.waitState(id, "running", running)
			ins := b.resolve(reg, Selector{Name: b.name("restart")})
			f := build(t, reg, "container.restart", &GraceParams{Grace: shakedown.Duration(time.Second)}, ins)
			rev, undos := inject(t, f)
			if rev != nil {
				t.Fatalf("restart returned a revert")
			}
			after := b.waitState(id, "running", running)
			if after.State.StartedAt == before.State.StartedAt || after.State.Pid == before.State.Pid {
				t.Fatalf("restart: started at %s pid %d, before %s pid %d", after.State.StartedAt, after.State.Pid, before.State.StartedAt, before.State.Pid)
			}
			replay(t, reg, undos) // running already: a no-op
		})
	}
}

func TestDisconnectIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			net := b.network("net")
			id := b.run(CreateSpec{Name: "dis", Network: net, Aliases: []string{"cache", "cache-primary"}})
			before := b.waitState(id, "running", running)
			att := attachment(before, net, "")
			if att == nil {
				t.Fatalf("container is not on %s: %+v", net, before.NetworkSettings.Networks)
			}
			ins := b.resolve(reg, Selector{Name: b.name("dis")})
			f := build(t, reg, "container.disconnect", &DisconnectParams{Network: net}, ins)
			rev, _ := inject(t, f)
			if d := b.waitState(id, "running", running); attachment(d, net, "") != nil {
				t.Fatalf("after inject: still on %s", net)
			}
			check := func(when string) {
				t.Helper()
				d := b.waitState(id, "running", running)
				a := attachment(d, net, "")
				if a == nil {
					t.Fatalf("%s: not on %s", when, net)
				}
				if a.IPAddress != att.IPAddress {
					t.Errorf("%s: address %s, want %s as before", when, a.IPAddress, att.IPAddress)
				}
				for _, al := range []string{"cache", "cache-primary"} {
					if !slices.Contains(a.Aliases, al) {
						t.Errorf("%s: aliases %v lack %q", when, a.Aliases, al)
					}
				}
			}
			if err := rev(t.Context()); err != nil {
				t.Fatalf("revert: %v", err)
			}
			check("after revert")
			if err := rev(t.Context()); err != nil {
				t.Fatalf("second revert: %v", err)
			}
			// the journal's undo, after a fresh disconnect
			f = build(t, reg, "container.disconnect", &DisconnectParams{Network: net}, ins)
			_, undos := inject(t, f)
			if len(undos) != 1 || undos[0].Type != UndoConnect {
				t.Fatalf("undos %+v", undos)
			}
			replay(t, reg, undos)
			check("after undo")
			// a container that is not on the network is refused before anything is done
			other := b.network("other")
			f = build(t, reg, "container.disconnect", &DisconnectParams{Network: other}, ins)
			if err := f.(shakedown.Preparer).Prepare(t.Context()); !shakedown.IsKind(err, shakedown.KindConflict) {
				t.Fatalf("prepare on a network the container is not on: %v, want KindConflict (exit 5, not 2: the file is valid)", err)
			}
		})
	}
}

func TestProbeHealthIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			id := b.run(CreateSpec{Name: "health", Healthcheck: []string{"CMD", "/srv", "-check"}, Interval: 500 * time.Millisecond})
			b.waitState(id, "healthy", func(d *Details) bool {
				if d.Health() == "healthy" {
					return true
				}
				if eng == "podman" {
					// Podman runs health checks from systemd timers; without systemd (as on
					// the test bed) nothing runs them, so the test asks for each check
					// until one passes, and no more after.
					b.cl.do(t.Context(), "GET", "/libpod/containers/"+id+"/healthcheck", nil, nil, nil)
				}
				return false
			})
			reg := registry()
			pt, _ := reg.Probe("container")
			pr, err := pt.New(shakedown.Env{}, &ProbeParams{Selector: Selector{Name: b.name("health"), DockerHost: host}, Healthy: true}, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if obs, err := pr.Probe(t.Context()); err != nil {
				t.Fatalf("probe of a healthy container: %q, %v", obs, err)
			}
			plain := b.run(CreateSpec{Name: "nohealth"})
			b.waitState(plain, "running", running)
			pr2, _ := pt.New(shakedown.Env{}, &ProbeParams{Selector: Selector{Name: b.name("nohealth"), DockerHost: host}, Healthy: true}, 5*time.Second)
			if _, err := pr2.Probe(t.Context()); !shakedown.IsKind(err, shakedown.KindFailed) {
				t.Fatalf("healthy probe of a container without a health check: %v, want KindFailed", err)
			}
		})
	}
}

// TestGoneContainerUndo checks that undos of a container that no longer exists succeed.
func TestGoneContainerUndoIntegration(t *testing.T) {
	for eng, host := range engines(t) {
		t.Run(eng, func(t *testing.T) {
			b := newBed(t, host)
			reg := registry()
			id := b.run(CreateSpec{Name: "gone"})
			b.waitState(id, "running", running)
			ins := b.resolve(reg, Selector{Name: b.name("gone")})
			f := build(t, reg, "container.pause", nil, ins)
			_, undos := inject(t, f)
			if err := b.cl.Remove(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			replay(t, reg, undos)
			replay(t, reg, build(t, reg, "container.stop", nil, ins).Undo())
		})
	}
}

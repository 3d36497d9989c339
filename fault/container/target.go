package container

import (
	"context"
	"github.com/shakedown-dev/shakedown/internal/procfs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/shakedown-dev/shakedown"
)

// Kind is the name of the target kind.
const Kind = "container"

// Compose's labels, by which compose_service and compose_project select.
const (
	LabelComposeService = "com.docker.compose.service"
	LabelComposeProject = "com.docker.compose.project"
)

// Selector is the parameter set of the container target: exactly one of name, labels and
// compose_service, and optionally the daemon to ask.
type Selector struct {
	Name           string            `json:"name,omitempty" doc:"the container with this name (or id)"`
	Labels         map[string]string `json:"labels,omitempty" doc:"containers carrying all of these labels"`
	ComposeService string            `json:"compose_service,omitempty" doc:"the containers of this Compose service"`
	ComposeProject string            `json:"compose_project,omitempty" doc:"with compose_service: only in this Compose project"`
	DockerHost     string            `json:"docker_host,omitempty" doc:"the Engine API endpoint (unix:///path or tcp://host:port); default $DOCKER_HOST, else unix:///var/run/docker.sock"`
}

// Validate checks that exactly one way of finding containers is given.
func (s *Selector) Validate() error {
	n := 0
	for _, set := range []bool{s.Name != "", len(s.Labels) > 0, s.ComposeService != ""} {
		if set {
			n++
		}
	}
	var errs shakedown.FieldErrors
	if n != 1 {
		errs.Whole("container target: give exactly one of name, labels, compose_service (got %d)", n)
	}
	if s.ComposeProject != "" && s.ComposeService == "" {
		errs.Add("compose_project", "needs compose_service")
	}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		if k == "" || strings.Contains(k, "=") {
			errs.Add("labels", "key %q is not a key", k)
		}
	}
	if s.DockerHost != "" {
		if _, err := ParseHost(s.DockerHost); err != nil {
			errs.AddErr("docker_host", -1, err)
		}
	}
	return errs.Err()
}

// String describes the selector as people read it.
func (s Selector) String() string {
	switch {
	case s.Name != "":
		return "name=" + s.Name
	case s.ComposeService != "":
		if s.ComposeProject != "" {
			return "compose_service=" + s.ComposeProject + "/" + s.ComposeService
		}
		return "compose_service=" + s.ComposeService
	default:
		keys := make([]string, 0, len(s.Labels))
		for k := range s.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + s.Labels[k]
		}
		return "labels=" + strings.Join(parts, ",")
	}
}

// filters returns the Engine API list filters for the selector. Names are matched exactly
// on this side: the daemon's name filter matches substrings.
func (s *Selector) filters() map[string][]string {
	var labels []string
	for k, v := range s.Labels {
		labels = append(labels, k+"="+v)
	}
	if s.ComposeService != "" {
		labels = append(labels, LabelComposeService+"="+s.ComposeService)
		if s.ComposeProject != "" {
			labels = append(labels, LabelComposeProject+"="+s.ComposeProject)
		}
	}
	if len(labels) == 0 {
		return nil
	}
	sort.Strings(labels)
	return map[string][]string{"label": labels}
}

func (s *Selector) matches(c Summary) bool {
	if s.Name == "" {
		return true
	}
	if c.ID == s.Name || (len(s.Name) >= 12 && strings.HasPrefix(c.ID, s.Name)) {
		return true
	}
	for _, n := range c.Names {
		if strings.TrimPrefix(n, "/") == s.Name {
			return true
		}
	}
	return false
}

// pick returns the containers of list the selector stands for, whatever their state. A
// name stands for one container, found as the engine finds it: by full id or exact name
// first, by id prefix only when neither matches; a prefix that several ids share is
// KindConflict, as it is to the engine. Otherwise a container named like another's id
// prefix would double a name selector's blast radius.
func (s *Selector) pick(list []Summary) ([]Summary, error) {
	var exact, prefix []Summary
	for _, c := range list {
		switch {
		case !s.matches(c):
		case s.Name == "" || c.ID == s.Name || slices.ContainsFunc(c.Names, func(n string) bool { return strings.TrimPrefix(n, "/") == s.Name }):
			exact = append(exact, c)
		default:
			prefix = append(prefix, c)
		}
	}
	switch {
	case s.Name == "" || len(exact) > 0:
		return exact, nil
	case len(prefix) > 1:
		names := make([]string, len(prefix))
		for i, c := range prefix {
			names[i] = c.Name() + " (" + ShortID(c.ID) + ")"
		}
		return nil, shakedown.Errorf(shakedown.KindConflict, "container name %q is an id prefix of %d containers: %s; give more of the id",
			s.Name, len(prefix), strings.Join(names, ", "))
	}
	return prefix, nil
}

var clients sync.Map // DOCKER_HOST value → *Client

// ClientFor returns the shared client for a DOCKER_HOST value.
func ClientFor(host string) (*Client, error) {
	if c, ok := clients.Load(host); ok {
		return c.(*Client), nil
	}
	c, err := NewClient(host)
	if err != nil {
		return nil, err
	}
	got, _ := clients.LoadOrStore(host, c)
	return got.(*Client), nil
}

// Container is one resolved container; it is the Ref of the instances the target resolves to.
type Container struct {
	Host    string // the DOCKER_HOST value of its daemon
	ID      string
	Name    string
	State   string // "running" or "paused" when resolved
	Details *Details
	// PID and StartTime name the container's init process as this machine sees it; zero
	// when the daemon is elsewhere.
	PID       int
	StartTime uint64
}

// Label returns the name people read: "web-1 (0123456789ab)".
func (c Container) Label() string { return c.Name + " (" + ShortID(c.ID) + ")" }

// live says which states a target may resolve to: a container that runs, or one that is
// paused (and so still has its processes). Exited, created and restarting ones have none.
func live(state string) bool {
	switch strings.ToLower(state) {
	case "running", "paused":
		return true
	}
	return false
}

// Resolve finds the containers the selector stands for now, running or paused, in name
// order. Finding none is not an error. A daemon that cannot be reached is KindUnavailable.
func (s *Selector) Resolve(ctx context.Context) ([]shakedown.Instance, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	host := HostFrom(s.DockerHost, os.Getenv)
	c, err := ClientFor(host)
	if err != nil {
		return nil, err
	}
	list, err := c.List(ctx, s.filters())
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "resolve container "+s.String(), err)
	}
	all, err := s.pick(list)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindOf(err), "resolve container "+s.String(), err)
	}
	var picked []Summary
	for _, sum := range all {
		if live(sum.State) {
			picked = append(picked, sum)
		}
	}
	out := make([]shakedown.Instance, len(picked))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, sum := range picked {
		g.Go(func() error {
			d, err := c.Inspect(gctx, sum.ID)
			if shakedown.IsKind(err, shakedown.KindNotFound) {
				return nil // removed since the listing
			}
			if err != nil {
				return shakedown.Wrap(shakedown.KindOf(err), "inspect container "+sum.Name(), err)
			}
			ctr := Container{Host: host, ID: d.ID, Name: strings.TrimPrefix(d.Name, "/"), State: d.State.Status, Details: d}
			out[i] = instance(ctr, procRoot)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out = slices.DeleteFunc(out, func(in shakedown.Instance) bool { return in.ID == "" || !live(in.Attrs["state"]) })
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// procRoot is where the proc filesystem is mounted.
var procRoot = "/proc"

// instance builds the Instance of a container. When its init process is visible on this
// machine (the daemon is local and the process's cgroup names the container), the
// attributes carry what host-side faults need to act inside it: "pid", "starttime" (field
// 22 of /proc/PID/stat, so a reused pid is never touched), "netns_path" and "cgroup".
func instance(c Container, root string) shakedown.Instance {
	attrs := map[string]string{
		"id":    c.ID,
		"name":  c.Name,
		"host":  c.Host,
		"state": c.State,
	}
	if d := c.Details; d != nil {
		attrs["image"] = d.Config.Image
		if h := d.Health(); h != "" {
			attrs["health"] = h
		}
		if v := d.Config.Labels[LabelComposeService]; v != "" {
			attrs["compose_service"] = v
		}
		if v := d.Config.Labels[LabelComposeProject]; v != "" {
			attrs["compose_project"] = v
		}
		for k, v := range hostSide(root, d.State.Pid, c.ID) {
			attrs[k] = v
		}
	}
	c.PID, _ = strconv.Atoi(attrs["pid"])
	c.StartTime, _ = strconv.ParseUint(attrs["starttime"], 10, 64)
	return shakedown.Instance{Kind: Kind, ID: c.ID, Name: c.Label(), Attrs: attrs, Ref: c}
}

// hostSide returns the pid, starttime, netns_path and cgroup attributes of a container's
// init process when it runs on this machine, or nil.
func hostSide(root string, pid int, id string) map[string]string {
	if pid <= 0 || id == "" {
		return nil
	}
	dir := filepath.Join(root, strconv.Itoa(pid))
	cg, err := os.ReadFile(filepath.Join(dir, "cgroup"))
	if err != nil || !strings.Contains(string(cg), id) {
		return nil // not on this machine, or a pid that now belongs to someone else
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil
	}
	start, err := ParseStartTime(stat)
	if err != nil {
		return nil
	}
	out := ParseCgroups(cg)
	out["pid"] = strconv.Itoa(pid)
	out["starttime"] = strconv.FormatUint(start, 10)
	out["netns_path"] = filepath.Join(dir, "ns", "net")
	if out["cgroup"] == "" {
		for _, c := range []string{"cgroup.memory", "cgroup.cpu", "cgroup.pids"} {
			if out[c] != "" {
				out["cgroup"] = out[c]
				break
			}
		}
	}
	return out
}

// ParseStartTime reads a process's start time (field 22, in clock ticks since boot) from
// the contents of /proc/PID/stat.
func ParseStartTime(stat []byte) (uint64, error) {
	st, err := procfs.ParseStat(stat)
	if err != nil {
		return 0, shakedown.Wrap(shakedown.KindInternal, "proc stat", err)
	}
	return st.StartTime, nil
}

// ParseCgroups reads /proc/PID/cgroup: "cgroup" for the unified (v2) path, "cgroup.<ctrl>"
// for each v1 controller, as the process target writes them.
func ParseCgroups(b []byte) map[string]string { return procfs.ParseCgroups(b) }

// containerOf returns the container an instance stands for: its Ref when the container
// target made it, else what its ID and attributes say.
func containerOf(in shakedown.Instance) (Container, error) {
	if r, ok := shakedown.RefAs[Container](in); ok {
		return r, nil
	}
	if in.Kind != Kind {
		return Container{}, shakedown.Errorf(shakedown.KindInvalid, "target %s is a %s, not a container", in.Name, in.Kind)
	}
	if in.ID == "" || in.Attrs["host"] == "" {
		return Container{}, shakedown.Errorf(shakedown.KindInvalid, "container instance %q has no id or host", in.Name)
	}
	name := in.Attrs["name"]
	if name == "" {
		name = ShortID(in.ID)
	}
	c := Container{Host: in.Attrs["host"], ID: in.ID, Name: name, State: in.Attrs["state"]}
	c.PID, _ = strconv.Atoi(in.Attrs["pid"])
	c.StartTime, _ = strconv.ParseUint(in.Attrs["starttime"], 10, 64)
	return c, nil
}

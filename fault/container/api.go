package container

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shakedown-dev/shakedown"
)

// Summary is one entry of the daemon's container list.
type Summary struct {
	ID     string            `json:"Id"`
	Names  []string          `json:"Names"`
	Image  string            `json:"Image"`
	State  string            `json:"State"`
	Status string            `json:"Status"`
	Labels map[string]string `json:"Labels"`
}

// Name returns the container's name without the leading slash.
func (s Summary) Name() string {
	for _, n := range s.Names {
		n = strings.TrimPrefix(n, "/")
		if !strings.Contains(n, "/") { // legacy links add "other/alias" names
			return n
		}
	}
	return ShortID(s.ID)
}

// Details is what the daemon says of one container (the parts shakedown reads).
type Details struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	Image string `json:"Image"`
	State struct {
		Status     string `json:"Status"`
		Running    bool   `json:"Running"`
		Paused     bool   `json:"Paused"`
		Restarting bool   `json:"Restarting"`
		Pid        int    `json:"Pid"`
		StartedAt  string `json:"StartedAt"`
		Health     *struct {
			Status        string `json:"Status"`
			FailingStreak int    `json:"FailingStreak"`
		} `json:"Health,omitempty"`
	} `json:"State"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	NetworkSettings struct {
		Networks map[string]*Attachment `json:"Networks"`
	} `json:"NetworkSettings"`
}

// Attachment is a container's attachment to one network.
type Attachment struct {
	NetworkID         string   `json:"NetworkID"`
	Aliases           []string `json:"Aliases"`
	IPAddress         string   `json:"IPAddress"`
	GlobalIPv6Address string   `json:"GlobalIPv6Address"`
	MacAddress        string   `json:"MacAddress"`
	IPAMConfig        *IPAM    `json:"IPAMConfig"`
}

// IPAM is the static addressing of an endpoint.
type IPAM struct {
	IPv4Address string `json:"IPv4Address,omitempty"`
	IPv6Address string `json:"IPv6Address,omitempty"`
}

// Label returns the name people read: "web-1 (0123456789ab)".
func (d *Details) Label() string {
	return strings.TrimPrefix(d.Name, "/") + " (" + ShortID(d.ID) + ")"
}

// Health returns the health status ("healthy", "unhealthy", "starting"), or "" when the
// container has no health check.
func (d *Details) Health() string {
	if d.State.Health == nil || d.State.Health.Status == "none" {
		return ""
	}
	return d.State.Health.Status
}

// ShortID returns the first 12 characters of a container id.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// List lists containers matching filters (the Engine API's label/name/… filters). It always
// asks for all containers, whatever their state: Podman's compatible API leaves paused
// containers out of the default listing, and callers filter by State themselves.
func (c *Client) List(ctx context.Context, filters map[string][]string) ([]Summary, error) {
	q := url.Values{"all": {"1"}}
	if len(filters) > 0 {
		b, _ := json.Marshal(filters)
		q.Set("filters", string(b))
	}
	var out []Summary
	if err := c.do(ctx, http.MethodGet, "/containers/json", q, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Inspect returns a container's details.
func (c *Client) Inspect(ctx context.Context, id string) (*Details, error) {
	var d Details
	if err := c.do(ctx, http.MethodGet, "/containers/"+url.PathEscape(id)+"/json", nil, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func (c *Client) post(ctx context.Context, id, verb string, q url.Values) error {
	return c.postWait(ctx, id, verb, q, 0)
}

// postWait is post for a call that waits on purpose for up to wait before it answers.
func (c *Client) postWait(ctx context.Context, id, verb string, q url.Values, wait time.Duration) error {
	return c.doWait(ctx, wait, http.MethodPost, "/containers/"+url.PathEscape(id)+"/"+verb, q, nil, nil)
}

func seconds(d time.Duration) string { return strconv.Itoa(int((d + time.Second - 1) / time.Second)) }

// Kill sends a signal ("KILL", "SIGTERM", "9") to the container's main process.
func (c *Client) Kill(ctx context.Context, id, signal string) error {
	return c.post(ctx, id, "kill", url.Values{"signal": {signal}})
}

// Stop stops a container, killing it after timeout. A container that is not running is
// stopped already: success.
func (c *Client) Stop(ctx context.Context, id string, timeout time.Duration) error {
	err := c.stop(ctx, id, timeout)
	if statusOf(err) == http.StatusNotModified {
		return nil
	}
	return err
}

// stop is Stop that says "not modified" (an *APIError of status 304) when the container was
// not running.
func (c *Client) stop(ctx context.Context, id string, timeout time.Duration) error {
	return c.postWait(ctx, id, "stop", url.Values{"t": {seconds(timeout)}}, timeout)
}

// Start starts a container. A running container is started already: success.
func (c *Client) Start(ctx context.Context, id string) error {
	err := c.post(ctx, id, "start", nil)
	if statusOf(err) == http.StatusNotModified {
		return nil
	}
	return err
}

// Restart stops (killing after timeout) and starts a container.
func (c *Client) Restart(ctx context.Context, id string, timeout time.Duration) error {
	return c.postWait(ctx, id, "restart", url.Values{"t": {seconds(timeout)}}, timeout)
}

// Pause freezes every process of a container.
func (c *Client) Pause(ctx context.Context, id string) error { return c.post(ctx, id, "pause", nil) }

// Unpause thaws a paused container.
func (c *Client) Unpause(ctx context.Context, id string) error {
	return c.post(ctx, id, "unpause", nil)
}

// Remove removes a container and its anonymous volumes, forcing it when running.
func (c *Client) Remove(ctx context.Context, id string) error {
	err := c.do(ctx, http.MethodDelete, "/containers/"+url.PathEscape(id), url.Values{"force": {"1"}, "v": {"1"}}, nil, nil)
	if shakedown.IsKind(err, shakedown.KindNotFound) {
		return nil
	}
	return err
}

// Network is what the daemon says of one network.
type Network struct {
	ID     string `json:"Id"`
	Name   string `json:"Name"`
	Driver string `json:"Driver"`
	IPAM   struct {
		Config []struct {
			Subnet  string `json:"Subnet"`
			Gateway string `json:"Gateway"`
		} `json:"Config"`
	} `json:"IPAM"`
}

// InspectNetwork returns a network's details.
func (c *Client) InspectNetwork(ctx context.Context, idOrName string) (*Network, error) {
	var n Network
	if err := c.do(ctx, http.MethodGet, "/networks/"+url.PathEscape(idOrName), nil, nil, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// Disconnect detaches a container from a network.
func (c *Client) Disconnect(ctx context.Context, network, id string, force bool) error {
	body := map[string]any{"Container": id, "Force": force}
	return c.do(ctx, http.MethodPost, "/networks/"+url.PathEscape(network)+"/disconnect", nil, body, nil)
}

// ConnectConfig is how a container joins a network.
type ConnectConfig struct {
	Aliases []string `json:"Aliases,omitempty"`
	IPv4    string   `json:"-"`
	IPv6    string   `json:"-"`
}

// Connect attaches a container to a network with the given aliases and, when set, a fixed
// address.
func (c *Client) Connect(ctx context.Context, network, id string, cfg ConnectConfig) error {
	ep := map[string]any{}
	if len(cfg.Aliases) > 0 {
		ep["Aliases"] = cfg.Aliases
	}
	if cfg.IPv4 != "" || cfg.IPv6 != "" {
		ep["IPAMConfig"] = IPAM{IPv4Address: cfg.IPv4, IPv6Address: cfg.IPv6}
	}
	body := map[string]any{"Container": id, "EndpointConfig": ep}
	return c.do(ctx, http.MethodPost, "/networks/"+url.PathEscape(network)+"/connect", nil, body, nil)
}

// CreateSpec is the part of a container's create request shakedown's tests and examples use.
type CreateSpec struct {
	Name        string
	Image       string
	Cmd         []string
	Labels      map[string]string
	Network     string   // joined at create time, when set
	Aliases     []string // on Network
	IPv4        string   // fixed address on Network
	Healthcheck []string // e.g. ["CMD", "/srv", "-check"]
	Interval    time.Duration
	Restart     string // restart policy: "", "always", "unless-stopped", "on-failure"
	StopSignal  string // what a stop sends first, e.g. "SIGWINCH" for one that waits out its grace
}

// Create creates a container and returns its id.
func (c *Client) Create(ctx context.Context, s CreateSpec) (string, error) {
	cfg := map[string]any{"Image": s.Image, "Labels": s.Labels}
	if len(s.Cmd) > 0 {
		cfg["Cmd"] = s.Cmd
	}
	if s.StopSignal != "" {
		cfg["StopSignal"] = s.StopSignal
	}
	if len(s.Healthcheck) > 0 {
		iv := s.Interval
		if iv <= 0 {
			iv = time.Second
		}
		// A check may take a while on a busy machine: it has its own, longer deadline, and
		// one slow answer does not make the container unhealthy.
		cfg["Healthcheck"] = map[string]any{"Test": s.Healthcheck, "Interval": iv.Nanoseconds(),
			"Timeout": (10 * time.Second).Nanoseconds(), "Retries": 3}
	}
	hc := map[string]any{}
	if s.Restart != "" {
		hc["RestartPolicy"] = map[string]any{"Name": s.Restart}
	}
	if s.Network != "" {
		ep := map[string]any{"Aliases": s.Aliases}
		if s.IPv4 != "" {
			ep["IPAMConfig"] = IPAM{IPv4Address: s.IPv4}
		}
		hc["NetworkMode"] = s.Network
		cfg["NetworkingConfig"] = map[string]any{"EndpointsConfig": map[string]any{s.Network: ep}}
	}
	cfg["HostConfig"] = hc
	var out struct {
		ID string `json:"Id"`
	}
	q := url.Values{}
	if s.Name != "" {
		q.Set("name", s.Name)
	}
	if err := c.do(ctx, http.MethodPost, "/containers/create", q, cfg, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// CreateNetwork creates a bridge network, with a subnet when one is given, and returns its
// id.
func (c *Client) CreateNetwork(ctx context.Context, name, subnet string, labels map[string]string) (string, error) {
	body := map[string]any{"Name": name, "Driver": "bridge", "CheckDuplicate": true, "Labels": labels}
	if subnet != "" {
		body["IPAM"] = map[string]any{"Config": []map[string]string{{"Subnet": subnet}}}
	}
	var out struct {
		ID string `json:"Id"`
	}
	if err := c.do(ctx, http.MethodPost, "/networks/create", nil, body, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// RemoveNetwork removes a network; one that is gone is removed already.
func (c *Client) RemoveNetwork(ctx context.Context, idOrName string) error {
	err := c.do(ctx, http.MethodDelete, "/networks/"+url.PathEscape(idOrName), nil, nil, nil)
	if shakedown.IsKind(err, shakedown.KindNotFound) {
		return nil
	}
	return err
}

// BuildImage builds an image tagged tag from a tar build context (with its Dockerfile at
// the root), without BuildKit, and returns once the daemon says it is built.
func (c *Client) BuildImage(ctx context.Context, tag string, context io.Reader) error {
	q := url.Values{"t": {tag}, "rm": {"1"}, "forcerm": {"1"}}
	resp, err := c.send(ctx, http.MethodPost, "/build", q, context, "application/x-tar")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return shakedown.Wrap(shakedown.KindInternal, "docker build "+tag, err)
		}
		if msg.Error != "" {
			return shakedown.Errorf(shakedown.KindInternal, "docker build %s: %s", tag, msg.Error)
		}
	}
}

// RemoveImage removes an image; one that is gone is removed already.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	err := c.do(ctx, http.MethodDelete, "/images/"+url.PathEscape(ref), url.Values{"force": {"1"}}, nil, nil)
	if shakedown.IsKind(err, shakedown.KindNotFound) {
		return nil
	}
	return err
}

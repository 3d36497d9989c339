package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/endpoint"
)

// alertTimeout bounds one question to an alert source when the context sets no deadline.
const alertTimeout = 10 * time.Second

// Alert is an alert source: one alert, by name and labels, in Prometheus or Alertmanager.
type Alert struct {
	spec   shakedown.AlertSpec
	prom   v1.API // set for Prometheus
	client *http.Client
}

// NewAlert checks spec (exactly one of prometheus and alertmanager, a name) and makes the
// source. It does no I/O.
func NewAlert(spec *shakedown.AlertSpec) (*Alert, error) {
	const op = "alert"
	switch {
	case spec.Name == "":
		return nil, shakedown.Errorf(shakedown.KindInvalid, "%s: name is required", op)
	case (spec.Prometheus == "") == (spec.Alertmanager == ""):
		return nil, shakedown.Errorf(shakedown.KindInvalid, "alert %s: give exactly one of prometheus and alertmanager", spec.Name)
	}
	a := &Alert{spec: *spec, client: &http.Client{Transport: endpoint.Capped(endpoint.Transport())}}
	if spec.Prometheus != "" {
		if err := checkURL(spec.Prometheus); err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "alert "+spec.Name+": prometheus", err)
		}
		c, err := api.NewClient(api.Config{Address: spec.Prometheus, RoundTripper: endpoint.Capped(endpoint.Transport())})
		if err != nil {
			return nil, shakedown.Wrap(shakedown.KindInvalid, "alert "+spec.Name, err)
		}
		a.prom = v1.NewAPI(c)
	} else if err := checkURL(spec.Alertmanager); err != nil {
		return nil, shakedown.Wrap(shakedown.KindInvalid, "alert "+spec.Name+": alertmanager", err)
	}
	return a, nil
}

// String names the alert and where it is watched.
func (a *Alert) String() string {
	where := a.spec.Prometheus
	if where == "" {
		where = a.spec.Alertmanager
	}
	return fmt.Sprintf("alert %s%s at %s", a.spec.Name, fmtLabels(a.spec.Labels), shakedown.RedactURL(where))
}

// Firing reports whether the alert fires now: in Prometheus, an alert of that alertname and
// labels in state "firing" (not "pending"); in Alertmanager, one in state "active" (not
// silenced, inhibited, or not yet processed). Labels the spec does not name may be
// anything. An endpoint that cannot be asked is an error of kind KindUnavailable.
func (a *Alert) Firing(ctx context.Context) (bool, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, alertTimeout)
		defer cancel()
	}
	if a.prom != nil {
		res, err := a.prom.Alerts(ctx)
		if err != nil {
			return false, shakedown.Wrap(shakedown.KindUnavailable, "ask "+shakedown.RedactURL(a.spec.Prometheus)+" for alerts", err)
		}
		for _, al := range res.Alerts {
			if al.State != v1.AlertStateFiring {
				continue
			}
			labels := make(map[string]string, len(al.Labels))
			for k, v := range al.Labels {
				labels[string(k)] = string(v)
			}
			if a.matches(labels) {
				return true, nil
			}
		}
		return false, nil
	}
	alerts, err := a.alertmanager(ctx)
	if err != nil {
		return false, err
	}
	for _, al := range alerts {
		if al.Status.State == "active" && a.matches(al.Labels) {
			return true, nil
		}
	}
	return false, nil
}

func (a *Alert) matches(labels map[string]string) bool {
	if labels["alertname"] != a.spec.Name {
		return false
	}
	for k, v := range a.spec.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// amAlert is the part of an Alertmanager v2 alert that matters here.
type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State string `json:"state"` // "active", "suppressed" or "unprocessed"
	} `json:"status"`
}

func (a *Alert) alertmanager(ctx context.Context) ([]amAlert, error) {
	u := strings.TrimSuffix(a.spec.Alertmanager, "/") + "/api/v2/alerts"
	op := "ask " + shakedown.RedactURL(u) + " for alerts"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInvalid, op, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // capped at endpoint.MaxAnswer
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, shakedown.Errorf(shakedown.KindUnavailable, "%s: %s", op, resp.Status)
	}
	alerts, err := decodeAlertmanager(body)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	return alerts, nil
}

// decodeAlertmanager reads the body of GET /api/v2/alerts.
func decodeAlertmanager(body []byte) ([]amAlert, error) {
	var alerts []amAlert
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, fmt.Errorf("not an Alertmanager v2 alert list: %w", err)
	}
	return alerts, nil
}

func fmtLabels(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/shakedown-dev/shakedown"
)

// ProbeParams are the parameters of the kubernetes probe: a Deployment whose ready replicas
// must equal its desired count, or pods matching labels of which min_ready must be Ready.
type ProbeParams struct {
	Cluster
	Namespace  string            `json:"namespace,omitempty" doc:"the namespace; default \"default\""`
	Deployment string            `json:"deployment,omitempty" doc:"holds when this Deployment's ready, updated and current replicas all equal its desired count"`
	Labels     map[string]string `json:"labels,omitempty" doc:"holds when min_ready pods carrying these labels are Ready"`
	Fields     string            `json:"fields,omitempty" doc:"with labels: a field selector the pods must also match"`
	MinReady   int               `json:"min_ready,omitempty" doc:"with labels: how many pods must be Ready; default 1"`
}

// Validate checks that exactly one of deployment and labels is given.
func (p *ProbeParams) Validate() error {
	var errs shakedown.FieldErrors
	if (p.Deployment == "") == (len(p.Labels) == 0) {
		errs.Whole("give exactly one of deployment and labels")
	}
	if p.Deployment != "" {
		validNamespace(&errs, p.Namespace)
		if e := validation.IsDNS1123Subdomain(p.Deployment); len(e) > 0 {
			errs.Add("deployment", "%q: %s", p.Deployment, strings.Join(e, "; "))
		}
		if p.MinReady != 0 {
			errs.Add("min_ready", "goes with labels, not deployment")
		}
		if p.Fields != "" {
			errs.Add("fields", "goes with labels, not deployment")
		}
		return errs.Err()
	}
	if p.MinReady < 0 {
		errs.Add("min_ready", "%d is negative", p.MinReady)
	}
	pp := PodsParams{Namespace: p.Namespace, Labels: p.Labels, Fields: p.Fields}
	pp.validate(&errs)
	return errs.Err()
}

var probeType = shakedown.ProbeType{
	Name:    "kubernetes",
	Summary: "a Deployment has all its desired replicas ready, or enough pods matching labels are Ready",
	Params:  func() any { return &ProbeParams{} },
	New: func(_ shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
		p, err := shakedown.ParamsAs[ProbeParams](params, "kubernetes probe")
		if err != nil {
			return nil, err
		}
		if err := p.Validate(); err != nil {
			return nil, err
		}
		return &Prober{Params: *p, Timeout: timeout}, nil
	},
}

// Prober samples the kubernetes probe. Each sample reads the API server afresh (one get
// and one list): a sample must not answer from a watch that has not yet seen the fault,
// or a Deployment would look ready the instant after its pods were deleted.
type Prober struct {
	Params  ProbeParams
	Timeout time.Duration
}

// Probe holds when the Deployment is fully ready, or enough matching pods are Ready.
func (p *Prober) Probe(ctx context.Context) (string, error) {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := connect(p.Params.Cluster)
	if err != nil {
		return "", err
	}
	ns := nsOr(p.Params.Namespace)
	if p.Params.Deployment != "" {
		d, err := c.cs.AppsV1().Deployments(ns).Get(ctx, p.Params.Deployment, getOpts)
		if apierrors.IsNotFound(err) {
			return "deployment not found", shakedown.Errorf(shakedown.KindFailed, "deployment %s/%s not found", ns, p.Params.Deployment)
		}
		if err != nil {
			return "", apiErr(err, "get", "deployments", ns, p.Params.Deployment)
		}
		ok, obs := DeploymentReady(d)
		if ok {
			// the status can lag the pods by a moment: count them too
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil {
				return "", shakedown.Wrap(shakedown.KindInvalid, "deployment "+ns+"/"+d.Name+" selector", err)
			}
			pods, err := c.listPods(ctx, ns, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				return "", err
			}
			ready, live := countReady(pods)
			want := desiredReplicas(d)
			if ready != int(want) || live != int(want) {
				ok = false
				obs = fmt.Sprintf("%d/%d ready (%d pods ready of %d not terminating)", d.Status.ReadyReplicas, want, ready, live)
			}
		}
		if !ok {
			return obs, shakedown.Errorf(shakedown.KindFailed, "deployment %s/%s: %s", ns, p.Params.Deployment, obs)
		}
		return obs, nil
	}
	pp := PodsParams{Labels: p.Params.Labels, Fields: p.Params.Fields}
	pods, err := c.listPods(ctx, ns, pp.listOptions())
	if err != nil {
		return "", err
	}
	ready, total := countReady(pods)
	want := max(1, p.Params.MinReady)
	obs := fmt.Sprintf("%d of %d pods ready", ready, total)
	if ready < want {
		return obs, shakedown.Errorf(shakedown.KindFailed, "pods %s in %s: %s, want %d", labels.SelectorFromSet(p.Params.Labels), ns, obs, want)
	}
	return obs, nil
}

// countReady counts the pods that are not being deleted, and of those the Ready ones.
func countReady(pods []corev1.Pod) (ready, live int) {
	for i := range pods {
		if pods[i].DeletionTimestamp != nil {
			continue
		}
		live++
		if podReady(&pods[i]) {
			ready++
		}
	}
	return ready, live
}

// desiredReplicas returns a Deployment's desired replica count: 1 when its spec leaves it
// out, as the API server defaults it.
func desiredReplicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas != nil {
		return *d.Spec.Replicas
	}
	return 1
}

// DeploymentReady reports whether a Deployment has rolled out fully: the controller has seen
// its latest spec and its current, updated, ready and available replicas all equal the
// desired count. The observation reads "3/3 ready".
func DeploymentReady(d *appsv1.Deployment) (bool, string) {
	want := desiredReplicas(d)
	s := d.Status
	obs := fmt.Sprintf("%d/%d ready", s.ReadyReplicas, want)
	switch {
	case s.ObservedGeneration < d.Generation:
		return false, obs + " (rollout not yet observed)"
	case s.UpdatedReplicas != want:
		return false, obs + fmt.Sprintf(" (%d updated)", s.UpdatedReplicas)
	case s.Replicas != want:
		return false, obs + fmt.Sprintf(" (%d current)", s.Replicas)
	case s.ReadyReplicas != want:
		return false, obs
	case s.AvailableReplicas != want:
		return false, obs + fmt.Sprintf(" (%d available)", s.AvailableReplicas)
	}
	return true, obs
}

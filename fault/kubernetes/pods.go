package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"golang.org/x/sync/errgroup"

	"github.com/shakedown-dev/shakedown"
)

// Parallelism bounds how many API calls one fault makes at once (deletes, evictions,
// patches). With the client's raised rate limits, a hundred deletes take a few round trips.
const Parallelism = 32

// DeleteParams are the parameters of pod.delete.
type DeleteParams struct {
	Grace *shakedown.Duration `json:"grace,omitempty" doc:"grace period for the pods to stop; default each pod's own terminationGracePeriodSeconds"`
}

// Validate checks the grace period.
func (p *DeleteParams) Validate() error {
	var errs shakedown.FieldErrors
	validGrace(&errs, p.Grace)
	return errs.Err()
}

func validGrace(errs *shakedown.FieldErrors, g *shakedown.Duration) {
	if g != nil && (*g < 0 || g.D() > 24*time.Hour) {
		errs.Add("grace", "%s: want 0 to 24h", *g)
	}
}

// EvictParams are the parameters of pod.evict.
type EvictParams struct {
	Grace    *shakedown.Duration `json:"grace,omitempty" doc:"grace period for the pods to stop; default each pod's own"`
	RetryFor shakedown.Duration  `json:"retry_for" doc:"how long to keep asking while a PodDisruptionBudget refuses (429)"`
}

// Validate checks the durations.
func (p *EvictParams) Validate() error {
	var errs shakedown.FieldErrors
	validGrace(&errs, p.Grace)
	if p.RetryFor < 0 || p.RetryFor.D() > time.Hour {
		errs.Add("retry_for", "%s: want 0 to 1h", p.RetryFor)
	}
	return errs.Err()
}

// DefaultRetryFor is how long pod.evict and node.drain retry an eviction a disruption
// budget refuses. A budget's status can lag the pods it counts by ten seconds or more.
const DefaultRetryFor = 60 * time.Second

var (
	podDeleteType = shakedown.FaultType{
		Name:    "pod.delete",
		Summary: "delete the selected pods (one-shot)",
		Doc: "Deletes each selected pod, `grace` giving it time to stop (default: its own " +
			"terminationGracePeriodSeconds). The delete is conditional on the pod's UID, so a " +
			"replacement of the same name is never touched. One-shot: the run watches the pods' " +
			"controller bring them back. Deletes run 32 at a time.",
		Targets: []string{KindPods},
		OneShot: true,
		Params:  func() any { return &DeleteParams{} },
		New:     newPodDelete,
	}
	podEvictType = shakedown.FaultType{
		Name:    "pod.evict",
		Summary: "evict the selected pods through the eviction API, respecting disruption budgets (one-shot)",
		Doc: "Evicts each selected pod with a policy/v1 Eviction, so PodDisruptionBudgets apply: while a " +
			"budget refuses (HTTP 429) the eviction is asked again, with backoff, for up to `retry_for`; " +
			"a pod still refused then fails the fault. One-shot.",
		Targets: []string{KindPods},
		OneShot: true,
		Params:  func() any { return &EvictParams{RetryFor: shakedown.Duration(DefaultRetryFor)} },
		New:     newPodEvict,
	}
)

func podsOf(typ string, targets []shakedown.Instance) ([]Pod, error) {
	pods := make([]Pod, 0, len(targets))
	for _, in := range targets {
		p, err := podOf(in)
		if err != nil {
			return nil, err
		}
		pods = append(pods, p)
	}
	if len(pods) == 0 {
		return nil, shakedown.Errorf(shakedown.KindNotFound, "%s: no pods selected", typ)
	}
	return pods, nil
}

func graceSeconds(g *shakedown.Duration) *int64 {
	if g == nil {
		return nil
	}
	s := int64((g.D() + time.Second - 1) / time.Second)
	return &s
}

type podDelete struct {
	pods  []Pod
	grace *int64
}

func newPodDelete(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	if err := shakedown.ValidateParams(spec.Params); err != nil {
		return nil, err
	}
	pods, err := podsOf(spec.Type, targets)
	if err != nil {
		return nil, err
	}
	f := &podDelete{pods: pods}
	if p, ok := spec.Params.(*DeleteParams); ok && p != nil {
		f.grace = graceSeconds(p.Grace)
	}
	return f, nil
}

func graceText(g *int64) string {
	if g == nil {
		return "the pod's own grace period"
	}
	return fmt.Sprintf("grace %ds", *g)
}

func (f *podDelete) Plan() []string {
	out := make([]string, len(f.pods))
	for i, p := range f.pods {
		out[i] = "delete pod " + p.label() + " (" + graceText(f.grace) + ")"
	}
	return out
}

// Undo is empty: a deleted pod is its controller's to bring back.
func (f *podDelete) Undo() []shakedown.Undo { return nil }

func (f *podDelete) Inject(ctx context.Context) (shakedown.Revert, error) {
	return nil, eachPod(ctx, f.pods, func(ctx context.Context, c *conn, p Pod) error {
		return c.deletePod(ctx, p, f.grace)
	})
}

// deletePod deletes one pod if it is still the one resolved. One that is gone already
// counts as deleted.
func (c *conn) deletePod(ctx context.Context, p Pod, grace *int64) error {
	opts := metav1.DeleteOptions{GracePeriodSeconds: grace}
	if p.UID != "" {
		uid := types.UID(p.UID)
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts)
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	if apierrors.IsConflict(err) && p.UID != "" {
		return nil // the UID precondition failed: the pod resolved is gone, a replacement took its name
	}
	return apiErr(err, "delete", "pods", p.Namespace, p.Name)
}

// eachPod runs fn on every pod, Parallelism at a time, and joins the errors.
func eachPod(ctx context.Context, pods []Pod, fn func(context.Context, *conn, Pod) error) error {
	errs := make([]error, len(pods))
	var g errgroup.Group
	g.SetLimit(Parallelism)
	for i, p := range pods {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				errs[i] = shakedown.Wrap(shakedown.KindAborted, "pod "+p.label(), err)
				return nil
			}
			c, err := connect(p.Cluster)
			if err == nil {
				err = fn(ctx, c, p)
			}
			errs[i] = err
			return nil
		})
	}
	g.Wait()
	return joinKind(errs)
}

// joinKind joins errors as shakedown.Join does, the most severe kind outermost so the run's exit
// code says what went wrong.
func joinKind(errs []error) error {
	n := 0
	for _, e := range errs {
		if e != nil {
			n++
		}
	}
	if n < 2 {
		return shakedown.Join(errs...)
	}
	return shakedown.Wrap(shakedown.KindOf(shakedown.Join(errs...)), fmt.Sprintf("%d of %d failed", n, len(errs)), errors.Join(errs...))
}

type podEvict struct {
	pods     []Pod
	grace    *int64
	retryFor time.Duration
}

func newPodEvict(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	if err := shakedown.ValidateParams(spec.Params); err != nil {
		return nil, err
	}
	pods, err := podsOf(spec.Type, targets)
	if err != nil {
		return nil, err
	}
	f := &podEvict{pods: pods, retryFor: DefaultRetryFor}
	if p, ok := spec.Params.(*EvictParams); ok && p != nil {
		f.grace = graceSeconds(p.Grace)
		f.retryFor = p.RetryFor.D()
	}
	return f, nil
}

func (f *podEvict) Plan() []string {
	out := make([]string, len(f.pods))
	for i, p := range f.pods {
		out[i] = fmt.Sprintf("evict pod %s (%s; retry up to %s while a disruption budget refuses)", p.label(), graceText(f.grace), f.retryFor)
	}
	return out
}

func (f *podEvict) Undo() []shakedown.Undo { return nil }

func (f *podEvict) Inject(ctx context.Context) (shakedown.Revert, error) {
	return nil, eachPod(ctx, f.pods, func(ctx context.Context, c *conn, p Pod) error {
		return c.evict(ctx, p, f.grace, f.retryFor)
	})
}

// evict evicts one pod, asking again with backoff while a disruption budget refuses (429)
// for up to retryFor. A pod that is gone counts as evicted.
func (c *conn) evict(ctx context.Context, p Pod, grace *int64, retryFor time.Duration) error {
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: grace},
	}
	if p.UID != "" {
		uid := types.UID(p.UID)
		ev.DeleteOptions.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	deadline := time.Now().Add(retryFor)
	backoff := 250 * time.Millisecond
	for {
		err := c.cs.CoreV1().Pods(p.Namespace).EvictV1(ctx, ev)
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err) && p.UID != "":
			return nil // a replacement took the name; the pod resolved is gone
		case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			return nil // its namespace is being deleted, and the pod with it
		case !apierrors.IsTooManyRequests(err):
			return apiErr(err, "create", "pods/eviction", p.Namespace, p.Name)
		}
		// 429: a PodDisruptionBudget says no for now
		wait := backoff
		if s, ok := apierrors.SuggestsClientDelay(err); ok && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		left := time.Until(deadline)
		if left <= 0 {
			return shakedown.Errorf(shakedown.KindUnavailable,
				"evict pod %s: its disruption budget still refuses after %s: %w", p.label(), retryFor, err)
		}
		wait = min(wait, left) // one last try at the deadline
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return shakedown.Wrap(shakedown.KindAborted, "evict pod "+p.label(), ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 4*time.Second)
	}
}

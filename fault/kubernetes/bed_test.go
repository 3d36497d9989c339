package kubernetes

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// envKubeconfig names the kubeconfig of the cluster the integration tests use. They never
// read KUBECONFIG, so a developer's own cluster is never touched.
const envKubeconfig = "SHAKEDOWN_TEST_KUBECONFIG"

// bed is a test's namespace on the test cluster, deleted at cleanup.
type bed struct {
	t       testing.TB
	cluster Cluster
	c       *conn
	ns      string
}

func newBed(t testing.TB) *bed {
	t.Helper()
	kc := testenv.NeedEnv(t, envKubeconfig)
	cl := Cluster{Kubeconfig: kc}
	c, err := connect(cl)
	if err != nil {
		t.Fatalf("connect to %s: %v", kc, err)
	}
	ns := fmt.Sprintf("sd-%x", rand.Uint32())
	ctx := context.Background()
	_, err = c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		c.cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	return &bed{t: t, cluster: cl, c: c, ns: ns}
}

func ptr[T any](v T) *T { return &v }

// deployment creates a Deployment of n replicas labelled app=name, whose pods kwok runs,
// and waits until it is fully ready.
func (b *bed) deployment(name string, n int32) *appsv1.Deployment {
	b.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(n),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{{Name: "app", Image: "shop:fake"}},
					TerminationGracePeriodSeconds: ptr(int64(0)),
					Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists,
						Effect: corev1.TaintEffectNoSchedule}},
				},
			},
		},
	}
	d, err := b.c.cs.AppsV1().Deployments(b.ns).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		b.t.Fatalf("create deployment %s: %v", name, err)
	}
	b.waitReady(name, 2*time.Minute)
	return d
}

// watchDeployment returns a view of one Deployment.
func watchDeployment(ctx context.Context, c *conn, ns, name string) *view[*appsv1.Deployment] {
	deps := c.cs.AppsV1().Deployments(ns)
	opts := metav1.ListOptions{FieldSelector: "metadata.name=" + name}
	return newView(ctx, opts,
		func(ctx context.Context, o metav1.ListOptions) ([]*appsv1.Deployment, string, error) {
			l, err := deps.List(ctx, o)
			if err != nil {
				return nil, "", apiErr(err, "list", "deployments", ns, "")
			}
			return itemRefs(l.Items), l.ResourceVersion, nil
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return deps.Watch(ctx, o) })
}

// waitReady waits, following a watch, until the Deployment is fully ready, and returns how
// long that took.
func (b *bed) waitReady(name string, within time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	v := watchDeployment(ctx, b.c, b.ns, name)
	defer v.Close()
	var last string
	err := v.Wait(ctx, func(ds []*appsv1.Deployment) bool {
		if len(ds) == 0 {
			return false
		}
		ok, obs := DeploymentReady(ds[0])
		last = obs
		return ok
	})
	if err != nil {
		b.t.Fatalf("deployment %s/%s not ready within %s (%s): %v", b.ns, name, within, last, err)
	}
	return time.Since(start)
}

// resolvePods resolves a pods target in the bed's namespace through the registry.
func (b *bed) resolvePods(reg *shakedown.Registry, labels map[string]string) []shakedown.Instance {
	b.t.Helper()
	kind, _ := reg.Target(KindPods)
	ins, err := kind.Resolve(context.Background(), shakedown.Env{RunID: "t"}, &PodsParams{Cluster: b.cluster, Namespace: b.ns, Labels: labels})
	if err != nil {
		b.t.Fatalf("resolve pods %v: %v", labels, err)
	}
	return ins
}

func (b *bed) podExists(name, uid string) bool {
	b.t.Helper()
	p, err := b.c.cs.CoreV1().Pods(b.ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		b.t.Fatalf("get pod %s: %v", name, err)
	}
	return string(p.UID) == uid && p.DeletionTimestamp == nil
}

func registry() *shakedown.Registry {
	r := shakedown.NewRegistry()
	Register(r)
	return r
}

// build makes a fault of a registered type with params (the type's defaults when nil).
func build(t testing.TB, reg *shakedown.Registry, env shakedown.Env, typ, name string, params any, ins []shakedown.Instance) shakedown.Fault {
	t.Helper()
	ft, ok := reg.Fault(typ)
	if !ok {
		t.Fatalf("fault type %s is not registered", typ)
	}
	if params == nil && ft.Params != nil {
		params = ft.Params()
	}
	f, err := ft.New(env, &shakedown.FaultSpec{Name: name, Type: typ, Params: params, Duration: time.Minute}, ins)
	if err != nil {
		t.Fatalf("new %s: %v", typ, err)
	}
	return f
}

// inject prepares, takes the undos and injects, as the engine does.
func inject(t testing.TB, f shakedown.Fault) (shakedown.Revert, []shakedown.Undo) {
	t.Helper()
	if p, ok := f.(shakedown.Preparer); ok {
		if err := p.Prepare(context.Background()); err != nil {
			t.Fatalf("prepare: %v", err)
		}
	}
	undos := f.Undo()
	rev, err := f.Inject(context.Background())
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	return rev, undos
}

// replay carries out undos through the registry twice: the second time must be a no-op.
func replay(t testing.TB, reg *shakedown.Registry, undos []shakedown.Undo) {
	t.Helper()
	for round := range 2 {
		for _, u := range undos {
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

package kubernetes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

func TestResolveIntegration(t *testing.T) {
	b := newBed(t)
	reg := registry()
	b.deployment("web", 5)
	b.deployment("db", 1)
	if got := b.resolvePods(reg, map[string]string{"app": "web"}); len(got) != 5 {
		t.Fatalf("pods app=web: %d, want 5", len(got))
	}
	ins := b.resolvePods(reg, nil)
	if len(ins) != 6 {
		t.Fatalf("all pods: %d, want 6", len(ins))
	}
	a := ins[0].Attrs
	for _, k := range []string{"namespace", "name", "uid", "node", "owner", "kubeconfig", "context"} {
		if a[k] == "" {
			t.Errorf("pod instance attr %s is empty: %v", k, a)
		}
	}
	kind, _ := reg.Target(KindPods)
	got, err := kind.Resolve(t.Context(), shakedown.Env{}, &PodsParams{Cluster: b.cluster, Namespace: b.ns,
		Labels: map[string]string{"app": "web"}, Fields: "spec.nodeName=" + a["node"]})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range got {
		if in.Attrs["node"] != a["node"] {
			t.Errorf("fields spec.nodeName=%s resolved a pod on %s", a["node"], in.Attrs["node"])
		}
	}
	if got := b.resolvePods(reg, map[string]string{"app": "none"}); len(got) != 0 {
		t.Fatalf("a selector matching nothing: %d pods, want none", len(got))
	}

	dk, _ := reg.Target(KindDeployment)
	ds, err := dk.Resolve(t.Context(), shakedown.Env{}, &DeploymentParams{Cluster: b.cluster, Namespace: b.ns, Name: "web"})
	if err != nil || len(ds) != 1 || ds[0].Attrs["replicas"] != "5" || ds[0].Attrs["selector"] != "app=web" {
		t.Fatalf("deployment web: %+v, %v", ds, err)
	}
	if ds, err := dk.Resolve(t.Context(), shakedown.Env{}, &DeploymentParams{Cluster: b.cluster, Namespace: b.ns, Name: "nope"}); err != nil || len(ds) != 0 {
		t.Fatalf("missing deployment: %v, %v; want nothing, no error", ds, err)
	}

	nk, _ := reg.Target(KindNode)
	nodes, err := nk.Resolve(t.Context(), shakedown.Env{}, &NodeParams{Cluster: b.cluster, Labels: map[string]string{"type": "kwok"}})
	if err != nil || len(nodes) < 2 {
		t.Fatalf("nodes type=kwok: %d, %v; want 2 or more", len(nodes), err)
	}
}

// TestBadInputIntegration: an unknown namespace or context and a kubeconfig that is not
// there are clear errors before anything is done.
func TestBadInputIntegration(t *testing.T) {
	b := newBed(t)
	reg := registry()
	kind, _ := reg.Target(KindPods)
	dk, _ := reg.Target(KindDeployment)
	tests := []struct {
		name   string
		kind   *shakedown.TargetKind
		params any
		want   shakedown.Kind
	}{
		{"unknown namespace", kind, &PodsParams{Cluster: b.cluster, Namespace: "no-such-ns"}, shakedown.KindNotFound},
		{"unknown namespace of a deployment", dk, &DeploymentParams{Cluster: b.cluster, Namespace: "no-such-ns", Name: "web"}, shakedown.KindNotFound},
		{"unknown context", kind, &PodsParams{Cluster: Cluster{Kubeconfig: b.cluster.Kubeconfig, Context: "nope"}}, shakedown.KindInvalid},
		{"missing kubeconfig", kind, &PodsParams{Cluster: Cluster{Kubeconfig: filepath.Join(t.TempDir(), "none")}}, shakedown.KindInvalid},
		{"bad namespace", kind, &PodsParams{Cluster: b.cluster, Namespace: "Not_A_Name"}, shakedown.KindInvalid},
		{"bad fields", kind, &PodsParams{Cluster: b.cluster, Fields: "a=b=c,,"}, shakedown.KindInvalid},
	}
	for _, tt := range tests {
		_, err := tt.kind.Resolve(t.Context(), shakedown.Env{}, tt.params)
		if !shakedown.IsKind(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestUnreachableIntegration: an API server that does not answer is KindUnavailable.
func TestUnreachable(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	os.WriteFile(kc, []byte(cfg), 0o600)
	reg := registry()
	kind, _ := reg.Target(KindPods)
	_, err := kind.Resolve(t.Context(), shakedown.Env{}, &PodsParams{Cluster: Cluster{Kubeconfig: kc}})
	if !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Fatalf("resolve against a closed port: %v, want KindUnavailable", err)
	}
}

func TestPodDeleteIntegration(t *testing.T) {
	b := newBed(t)
	reg := registry()
	b.deployment("web", 10)
	ins := b.resolvePods(reg, map[string]string{"app": "web"})
	sel := shakedown.Select(shakedown.Selection{Mode: shakedown.SelectPercent, Percent: 30}, ins, 7)
	f := build(t, reg, shakedown.Env{RunID: "t"}, "pod.delete", "del", &DeleteParams{Grace: ptr(shakedown.Duration(0))}, sel)
	if lines := f.(shakedown.Planner).Plan(); len(lines) != 3 {
		t.Fatalf("plan: %q, want 3 lines", lines)
	}
	t0 := time.Now()
	rev, undos := inject(t, f)
	if rev != nil || len(undos) != 0 {
		t.Fatalf("pod.delete is one-shot: revert %v, undos %v", rev != nil, undos)
	}
	deleted := map[types.UID]bool{}
	for _, in := range sel {
		deleted[types.UID(in.ID)] = true
		if b.podExists(in.Attrs["name"], in.ID) {
			t.Errorf("pod %s still exists", in.Name)
		}
	}
	took := recovered(t, b, 10, deleted, t0)
	t.Logf("deployment fully ready again %s after the delete of 3 of 10 pods began", took.Round(time.Millisecond))
	// deleting pods that are gone already is not an error
	if _, err := f.Inject(t.Context()); err != nil {
		t.Fatalf("second delete of gone pods: %v", err)
	}
}

func TestPodEvictIntegration(t *testing.T) {
	b := newBed(t)
	reg := registry()
	b.deployment("web", 3)
	// a budget that allows no disruption: every eviction is refused with 429
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: b.ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromInt32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	if _, err := b.c.cs.PolicyV1().PodDisruptionBudgets(b.ns).Create(t.Context(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBudget(t, b, "web", 3)
	ins := b.resolvePods(reg, map[string]string{"app": "web"})
	f := build(t, reg, shakedown.Env{}, "pod.evict", "ev", &EvictParams{RetryFor: shakedown.Duration(1500 * time.Millisecond)}, ins[:1])
	start := time.Now()
	_, err := f.Inject(t.Context())
	if !shakedown.IsKind(err, shakedown.KindUnavailable) {
		t.Fatalf("evict against a budget that allows none: %v, want KindUnavailable", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("gave up after %s, before retry_for", d)
	}
	if !b.podExists(ins[0].Attrs["name"], ins[0].ID) {
		t.Fatalf("pod evicted against its budget")
	}
	// a budget that allows one: the eviction goes through
	pdb, _ = b.c.cs.PolicyV1().PodDisruptionBudgets(b.ns).Get(t.Context(), "web", metav1.GetOptions{})
	pdb.Spec.MinAvailable = ptr(intstr.FromInt32(2))
	if _, err := b.c.cs.PolicyV1().PodDisruptionBudgets(b.ns).Update(t.Context(), pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f = build(t, reg, shakedown.Env{}, "pod.evict", "ev", &EvictParams{RetryFor: shakedown.Duration(30 * time.Second)}, ins[:1])
	inject(t, f)
	if b.podExists(ins[0].Attrs["name"], ins[0].ID) {
		t.Fatalf("pod not evicted")
	}
	b.waitReady("web", time.Minute)
}

// waitBudget waits, following a watch, until the budget's controller has counted its pods.
func waitBudget(t *testing.T, b *bed, name string, healthy int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	w, err := b.c.cs.PolicyV1().PodDisruptionBudgets(b.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if p, ok := ev.Object.(*policyv1.PodDisruptionBudget); ok && p.Status.ObservedGeneration == p.Generation && p.Status.CurrentHealthy == healthy {
			return
		}
	}
	t.Fatalf("budget %s: not observed with %d healthy pods", name, healthy)
}

func TestScaleIntegration(t *testing.T) {
	b := newBed(t)
	reg := registry()
	b.deployment("web", 3)
	dk, _ := reg.Target(KindDeployment)
	ins, err := dk.Resolve(t.Context(), shakedown.Env{}, &DeploymentParams{Cluster: b.cluster, Namespace: b.ns, Name: "web"})
	if err != nil || len(ins) != 1 {
		t.Fatal(ins, err)
	}
	replicas := func() int32 {
		s, err := b.c.cs.AppsV1().Deployments(b.ns).GetScale(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Spec.Replicas
	}
	f := build(t, reg, shakedown.Env{}, "deployment.scale", "down", &ScaleParams{Replicas: ptr(int32(0))}, ins)
	rev, undos := inject(t, f)
	if got := replicas(); got != 0 {
		t.Fatalf("after inject: %d replicas, want 0", got)
	}
	if len(undos) != 1 || undos[0].Type != UndoScale {
		t.Fatalf("undos %+v", undos)
	}
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := replicas(); got != 3 {
		t.Fatalf("after revert: %d replicas, want 3", got)
	}
	b.waitReady("web", time.Minute)
	// the journal's undo restores the count the Prepare read
	f = build(t, reg, shakedown.Env{}, "deployment.scale", "up", &ScaleParams{Replicas: ptr(int32(5))}, ins)
	_, undos = inject(t, f)
	if got := replicas(); got != 5 {
		t.Fatalf("after inject: %d replicas, want 5", got)
	}
	replay(t, reg, undos)
	if got := replicas(); got != 3 {
		t.Fatalf("after undo: %d replicas, want 3", got)
	}
	// a deployment recreated under the same name is not scaled by an old undo
	b.c.cs.AppsV1().Deployments(b.ns).Delete(t.Context(), "web", metav1.DeleteOptions{})
	b.deployment("web", 2)
	replay(t, reg, undos)
	if got := replicas(); got != 2 {
		t.Fatalf("recreated deployment: %d replicas, want its own 2", got)
	}
}

func nodeNames(t *testing.T, b *bed) []string {
	t.Helper()
	l, err := b.c.cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil || len(l.Items) < 2 {
		t.Fatalf("need 2 or more kwok nodes: %v", err)
	}
	var out []string
	for _, n := range l.Items {
		out = append(out, n.Name)
	}
	slices.Sort(out)
	return out
}

func (b *bed) unschedulable(name string) bool {
	b.t.Helper()
	n, err := b.c.cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		b.t.Fatal(err)
	}
	return n.Spec.Unschedulable
}

func TestCordonDrainIntegration(t *testing.T) {
	b := newBed(t)
	reg := registry()
	names := nodeNames(t, b)
	node := names[0]
	t.Cleanup(func() { setUnschedulable(context.Background(), b.c, node, "", false) })
	nk, _ := reg.Target(KindNode)
	ins, err := nk.Resolve(t.Context(), shakedown.Env{}, &NodeParams{Cluster: b.cluster, Name: node})
	if err != nil || len(ins) != 1 {
		t.Fatal(ins, err)
	}
	f := build(t, reg, shakedown.Env{}, "node.cordon", "c", nil, ins)
	rev, _ := inject(t, f)
	if !b.unschedulable(node) {
		t.Fatalf("%s not cordoned", node)
	}
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b.unschedulable(node) {
		t.Fatalf("%s still cordoned after revert", node)
	}
	// undo via the journal
	_, undos := inject(t, build(t, reg, shakedown.Env{}, "node.cordon", "c", nil, ins))
	replay(t, reg, undos)
	if b.unschedulable(node) {
		t.Fatalf("%s still cordoned after undo", node)
	}

	// drain: the pods on the node are evicted and come back elsewhere
	b.deployment("web", 6)
	before := b.resolvePods(reg, map[string]string{"app": "web"})
	onNode := 0
	for _, in := range before {
		if in.Attrs["node"] == node {
			onNode++
		}
	}
	f = build(t, reg, shakedown.Env{}, "node.drain", "d", &DrainParams{RetryFor: shakedown.Duration(30 * time.Second), Wait: shakedown.Duration(time.Minute)}, ins)
	rev, _ = inject(t, f)
	b.waitReady("web", time.Minute)
	for _, in := range b.resolvePods(reg, map[string]string{"app": "web"}) {
		if in.Attrs["node"] == node {
			t.Errorf("pod %s still on drained node %s", in.Name, node)
		}
	}
	t.Logf("drained %d pods from %s", onNode, node)
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b.unschedulable(node) {
		t.Fatalf("%s still cordoned after revert of drain", node)
	}

	// a node cordoned before the fault stays cordoned after its revert
	if err := setUnschedulable(t.Context(), b.c, node, "", true); err != nil {
		t.Fatal(err)
	}
	f = build(t, reg, shakedown.Env{}, "node.cordon", "c", nil, ins)
	rev, undos = inject(t, f)
	if len(undos) != 0 || rev != nil {
		t.Fatalf("cordon of a cordoned node: undos %v, revert %v; want none", undos, rev != nil)
	}
	if !b.unschedulable(node) {
		t.Fatalf("pre-cordoned node uncordoned")
	}
}

func TestIsolateIntegration(t *testing.T) {
	b := newBed(t)
	reg := registry()
	b.deployment("web", 4)
	ins := b.resolvePods(reg, map[string]string{"app": "web"})
	sel := ins[:2]
	env := shakedown.Env{RunID: "01JZZTESTRUN0000000000000"}
	f := build(t, reg, env, "networkpolicy.isolate", "cut web", nil, sel)
	rev, undos := inject(t, f)
	policy := PolicyName(env.RunID, "cut web")
	np, err := b.c.cs.NetworkingV1().NetworkPolicies(b.ns).Get(t.Context(), policy, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("policy %s: %v", policy, err)
	}
	if len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 0 || len(np.Spec.PolicyTypes) != 2 {
		t.Errorf("policy is not deny-all both ways: %+v", np.Spec)
	}
	labelled := func() []string {
		l, err := b.c.cs.CoreV1().Pods(b.ns).List(t.Context(), metav1.ListOptions{LabelSelector: IsolateLabel + "=" + policy})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	want := []string{sel[0].Attrs["name"], sel[1].Attrs["name"]}
	slices.Sort(want)
	if got := labelled(); !slices.Equal(got, want) {
		t.Fatalf("policy selects %v, want exactly %v", got, want)
	}
	if err := rev(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.cs.NetworkingV1().NetworkPolicies(b.ns).Get(t.Context(), policy, metav1.GetOptions{}); err == nil {
		t.Fatalf("policy still there after revert")
	}
	if got := labelled(); len(got) != 0 {
		t.Fatalf("pods still labelled after revert: %v", got)
	}
	replay(t, reg, undos) // gone already: a no-op
	_, undos = inject(t, build(t, reg, env, "networkpolicy.isolate", "cut web", nil, sel))
	replay(t, reg, undos)
	if got := labelled(); len(got) != 0 {
		t.Fatalf("pods still labelled after undo: %v", got)
	}
}

func TestProbeIntegration(t *testing.T) {
	b := newBed(t)
	reg := registry()
	b.deployment("web", 3)
	pt, _ := reg.Probe("kubernetes")
	dp, err := pt.New(shakedown.Env{}, &ProbeParams{Cluster: b.cluster, Namespace: b.ns, Deployment: "web"}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if obs, err := dp.Probe(t.Context()); err != nil {
		t.Fatalf("deployment probe: %q, %v", obs, err)
	}
	pp, _ := pt.New(shakedown.Env{}, &ProbeParams{Cluster: b.cluster, Namespace: b.ns, Labels: map[string]string{"app": "web"}, MinReady: 3}, 5*time.Second)
	if obs, err := pp.Probe(t.Context()); err != nil {
		t.Fatalf("pods probe: %q, %v", obs, err)
	}
	// a sample right after a change never answers from before it
	s, _ := b.c.cs.AppsV1().Deployments(b.ns).GetScale(t.Context(), "web", metav1.GetOptions{})
	s.Spec.Replicas = 4
	if _, err := b.c.cs.AppsV1().Deployments(b.ns).UpdateScale(t.Context(), "web", s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// (not ready yet, or — on a slow machine, where the fourth pod may be Ready before the
	// sample — 4 of 4; never the 3 of 3 from before the change)
	switch obs, err := dp.Probe(t.Context()); {
	case err == nil && !strings.HasPrefix(obs, "4/4 "):
		t.Fatalf("deployment probe right after a scale to 4: %q holds; want KindFailed or 4/4 ready", obs)
	case err != nil && !shakedown.IsKind(err, shakedown.KindFailed):
		t.Fatalf("deployment probe right after a scale to 4: %q, %v; want KindFailed", obs, err)
	}
	b.waitReady("web", time.Minute)
	// scale to zero: both probes fail, and say so as KindFailed
	s, _ = b.c.cs.AppsV1().Deployments(b.ns).GetScale(t.Context(), "web", metav1.GetOptions{})
	s.Spec.Replicas = 0
	b.c.cs.AppsV1().Deployments(b.ns).UpdateScale(t.Context(), "web", s, metav1.UpdateOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	v := watchPods(ctx, b.c, b.ns, metav1.ListOptions{LabelSelector: "app=web"})
	defer v.Close()
	if err := v.Wait(ctx, func(p []*corev1.Pod) bool { return len(p) == 0 }); err != nil {
		t.Fatal(err)
	}
	if obs, err := pp.Probe(t.Context()); !shakedown.IsKind(err, shakedown.KindFailed) {
		t.Fatalf("pods probe with no pods: %q, %v; want KindFailed", obs, err)
	}
	np, _ := pt.New(shakedown.Env{}, &ProbeParams{Cluster: b.cluster, Namespace: b.ns, Deployment: "nope"}, 5*time.Second)
	if _, err := np.Probe(t.Context()); !shakedown.IsKind(err, shakedown.KindFailed) {
		t.Fatalf("probe of a missing deployment: %v, want KindFailed", err)
	}
}

// TestForbiddenIntegration runs faults as a user who may only read pods: the error is
// KindPermission and names the verb, the resource and the namespace.
func TestForbiddenIntegration(t *testing.T) {
	b := newBed(t)
	reg := registry()
	b.deployment("web", 2)
	ctx := t.Context()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: b.ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}}
	if _, err := b.c.cs.RbacV1().Roles(b.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: b.ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "reader-" + b.ns, APIGroup: "rbac.authorization.k8s.io"}}}
	if _, err := b.c.cs.RbacV1().RoleBindings(b.ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// the same credentials, acting as that user
	raw, err := clientcmd.LoadFromFile(b.cluster.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range raw.AuthInfos {
		ai.Impersonate = "reader-" + b.ns
	}
	kc := filepath.Join(t.TempDir(), "reader.kubeconfig")
	if err := clientcmd.WriteToFile(*raw, kc); err != nil {
		t.Fatal(err)
	}
	reader := Cluster{Kubeconfig: kc}
	kind, _ := reg.Target(KindPods)
	// The API server's authorizer sees a new role binding a moment after it is made: until
	// then the reader may list nothing. Wait for it, with a deadline.
	var ins []shakedown.Instance
	testenv.WaitFor(t, "the reader's role binding to take effect", 30*time.Second, func() bool {
		ins, err = kind.Resolve(ctx, shakedown.Env{}, &PodsParams{Cluster: reader, Namespace: b.ns, Labels: map[string]string{"app": "web"}})
		return !shakedown.IsKind(err, shakedown.KindPermission)
	})
	if err != nil || len(ins) != 2 {
		t.Fatalf("reader resolves pods: %d, %v", len(ins), err)
	}
	tests := []struct {
		typ    string
		params any
		want   ForbiddenError
	}{
		{"pod.delete", nil, ForbiddenError{Verb: "delete", Resource: "pods", Namespace: b.ns}},
		{"pod.evict", &EvictParams{RetryFor: shakedown.Duration(time.Second)}, ForbiddenError{Verb: "create", Resource: "pods/eviction", Namespace: b.ns}},
		{"networkpolicy.isolate", nil, ForbiddenError{Verb: "create", Resource: "networkpolicies", Namespace: b.ns}},
	}
	for _, tt := range tests {
		f := build(t, reg, shakedown.Env{RunID: "forbidden"}, tt.typ, "f", tt.params, ins[:1])
		rev, err := f.Inject(ctx)
		if rev != nil {
			rev(ctx)
		}
		if !shakedown.IsKind(err, shakedown.KindPermission) {
			t.Errorf("%s as a reader: %v, want KindPermission", tt.typ, err)
			continue
		}
		var fe *ForbiddenError
		if !errors.As(err, &fe) || fe.Verb != tt.want.Verb || fe.Resource != tt.want.Resource || fe.Namespace != tt.want.Namespace {
			t.Errorf("%s as a reader: %+v, want verb %s resource %s namespace %s", tt.typ, fe, tt.want.Verb, tt.want.Resource, tt.want.Namespace)
		}
	}
	if !b.podExists(ins[0].Attrs["name"], ins[0].ID) {
		t.Errorf("a forbidden delete deleted the pod")
	}
}

package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/shakedown-dev/shakedown"
)

func TestPolicyName(t *testing.T) {
	tests := []struct{ run, fault, want string }{
		{"01JZZ", "cut web", "shakedown-01jzz-cut-web-b266e26d"},
		{"01jzz", "--x__y--", "shakedown-01jzz-x-y-1dcc64cc"},
		{"01jzzabcdefghjkmnpqrstvwxyz", "a very long fault name that goes on and on and on", "shakedown-01jzzabcdefghjkmnpqrstvwxyz-a-very-long-faul-840be719"},
	}
	for _, tt := range tests {
		got := PolicyName(tt.run, tt.fault)
		if got != tt.want {
			t.Errorf("PolicyName(%q, %q) = %q, want %q", tt.run, tt.fault, got, tt.want)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("PolicyName(%q, %q) = %q: %v", tt.run, tt.fault, got, errs)
		}
	}
}

// TestPolicyNamesOfOneRunDiffer: two faults of a run never share a policy, whatever their
// names share after lower case, punctuation and the 63-byte cut; otherwise the second's
// inject would take the first's policy for its own, and the first's revert would delete it.
func TestPolicyNamesOfOneRunDiffer(t *testing.T) {
	const run = "01JZZABCDEFGHJKMNPQRSTVWXY" // a run id: 26 characters
	faults := []string{"cut-web", "cut_web", "cut.web", "Cut-Web", "cut--web",
		"isolate-payments-from-the-db", "isolate-payments-from-the-cache"}
	seen := map[string]string{}
	for _, f := range faults {
		got := PolicyName(run, f)
		if other, dup := seen[got]; dup {
			t.Errorf("faults %q and %q share policy %q", other, f, got)
		}
		seen[got] = f
	}
}

func FuzzPolicyName(f *testing.F) {
	f.Add("01jzz", "cut web")
	f.Add("", "")
	f.Add("ÄÖ", "日本")
	f.Fuzz(func(t *testing.T, run, fault string) {
		got := PolicyName(run, fault)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Fatalf("PolicyName(%q, %q) = %q: %v", run, fault, got, errs)
		}
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Fatalf("PolicyName(%q, %q) = %q is no label value: %v", run, fault, got, errs)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		v    interface{ Validate() error }
		ok   bool
	}{
		{"pods default", &PodsParams{}, true},
		{"pods labels", &PodsParams{Namespace: "shop", Labels: map[string]string{"app": "web"}, Fields: "status.phase=Running"}, true},
		{"pods bad ns", &PodsParams{Namespace: "Shop"}, false},
		{"pods bad label", &PodsParams{Labels: map[string]string{"a b": "c"}}, false},
		{"pods bad fields", &PodsParams{Fields: "x=y=z,,"}, false},
		{"deployment", &DeploymentParams{Name: "web"}, true},
		{"deployment no name", &DeploymentParams{}, false},
		{"node none", &NodeParams{}, false},
		{"node labels", &NodeParams{Labels: map[string]string{"type": "kwok"}}, true},
		{"scale none", &ScaleParams{}, false},
		{"scale negative", &ScaleParams{Replicas: ptr(int32(-1))}, false},
		{"scale zero", &ScaleParams{Replicas: ptr(int32(0))}, true},
		{"delete negative grace", &DeleteParams{Grace: ptr(shakedown.Duration(-1))}, false},
		{"evict", &EvictParams{RetryFor: shakedown.Duration(time.Minute)}, true},
		{"evict long", &EvictParams{RetryFor: shakedown.Duration(2 * time.Hour)}, false},
		{"drain", &DrainParams{Wait: shakedown.Duration(time.Minute)}, true},
		{"isolate nothing", &IsolateParams{}, false},
		{"isolate egress", &IsolateParams{Egress: true}, true},
		{"probe both", &ProbeParams{Deployment: "web", Labels: map[string]string{"a": "b"}}, false},
		{"probe none", &ProbeParams{}, false},
		{"probe deployment", &ProbeParams{Deployment: "web"}, true},
		{"probe deployment min", &ProbeParams{Deployment: "web", MinReady: 2}, false},
		{"probe labels", &ProbeParams{Labels: map[string]string{"app": "web"}, MinReady: 2}, true},
	}
	for _, tt := range tests {
		err := tt.v.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("%s: Validate() = %v, want KindInvalid", tt.name, err)
		}
	}
}

func TestAPIErr(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		err  error
		want shakedown.Kind
	}{
		{apierrors.NewForbidden(gr, "web-1", errors.New("no")), shakedown.KindPermission},
		{apierrors.NewUnauthorized("who"), shakedown.KindPermission},
		{apierrors.NewNotFound(gr, "web-1"), shakedown.KindNotFound},
		{apierrors.NewConflict(gr, "web-1", errors.New("uid")), shakedown.KindConflict},
		{apierrors.NewTooManyRequests("budget", 1), shakedown.KindUnavailable},
		{apierrors.NewBadRequest("bad"), shakedown.KindInvalid},
		{context.Canceled, shakedown.KindAborted},
		{errors.New("other"), shakedown.KindInternal},
	}
	for _, tt := range tests {
		got := apiErr(tt.err, "delete", "pods", "shop", "web-1")
		if !shakedown.IsKind(got, tt.want) {
			t.Errorf("apiErr(%v) = %v, want %v", tt.err, got, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("apiErr(%v) does not wrap its cause", tt.err)
		}
	}
	var fe *ForbiddenError
	got := apiErr(apierrors.NewForbidden(gr, "web-1", errors.New("no")), "delete", "pods", "shop", "web-1")
	if !errors.As(got, &fe) {
		t.Fatalf("forbidden: %v is no ForbiddenError", got)
	}
	if diff := cmp.Diff(ForbiddenError{Verb: "delete", Resource: "pods", Namespace: "shop", Name: "web-1"}, *fe,
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())); diff != "" {
		t.Errorf("forbidden (-want +got)\n%s", diff)
	}
	if apiErr(nil, "x", "y", "", "") != nil {
		t.Errorf("apiErr(nil) is not nil")
	}
}

func TestDeploymentReady(t *testing.T) {
	d := func(want int32, gen, obs int64, cur, upd, ready, avail int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr(want)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: obs, Replicas: cur, UpdatedReplicas: upd,
				ReadyReplicas: ready, AvailableReplicas: avail},
		}
	}
	tests := []struct {
		name string
		d    *appsv1.Deployment
		ok   bool
		obs  string
	}{
		{"ready", d(3, 2, 2, 3, 3, 3, 3), true, "3/3 ready"},
		{"not observed", d(3, 3, 2, 3, 3, 3, 3), false, "3/3 ready (rollout not yet observed)"},
		{"one short", d(3, 2, 2, 3, 3, 2, 2), false, "2/3 ready"},
		{"old pods still there", d(3, 2, 2, 4, 3, 3, 3), false, "3/3 ready (4 current)"},
		{"zero", d(0, 1, 1, 0, 0, 0, 0), true, "0/0 ready"},
	}
	for _, tt := range tests {
		ok, obs := DeploymentReady(tt.d)
		if ok != tt.ok || obs != tt.obs {
			t.Errorf("%s: DeploymentReady = %v %q, want %v %q", tt.name, ok, obs, tt.ok, tt.obs)
		}
	}
}

func TestDrainable(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"plain", corev1.Pod{}, true},
		{"replicaset", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Controller: &yes}}}}, true},
		{"daemonset", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Controller: &yes}}}}, false},
		{"mirror", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}}}, false},
		{"succeeded", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
	}
	for _, tt := range tests {
		if got := drainable(&tt.pod); got != tt.want {
			t.Errorf("%s: drainable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestJoinKind(t *testing.T) {
	a := shakedown.Errorf(shakedown.KindPermission, "a")
	b := shakedown.Errorf(shakedown.KindNotFound, "b")
	if joinKind([]error{nil, nil}) != nil {
		t.Errorf("no errors joined to an error")
	}
	if got := joinKind([]error{nil, a}); got != a {
		t.Errorf("one error: %v", got)
	}
	got := joinKind([]error{a, nil, b})
	if !shakedown.IsKind(got, shakedown.KindPermission) || !errors.Is(got, b) {
		t.Errorf("two errors: %v keeps neither the first kind nor both", got)
	}
}

func TestUndoBadData(t *testing.T) {
	reg := registry()
	for _, typ := range []string{UndoScale, UndoUncordon, UndoIsolate} {
		fn, _ := reg.Undo(typ)
		bad := []string{`{}`, `null`, `[`, `{"namespace":"a"}`}
		if typ != UndoUncordon {
			bad = append(bad, `{"namespace":"a","policy":"not-ours","name":"x","replicas":-1,"kubeconfig":"/nonexistent"}`)
		}
		for _, data := range bad {
			if err := fn(context.Background(), json.RawMessage(data)); !shakedown.IsKind(err, shakedown.KindInvalid) {
				t.Errorf("%s undo of %s: %v, want KindInvalid", typ, data, err)
			}
		}
	}
}

func FuzzUndoData(f *testing.F) {
	f.Add([]byte(`{"namespace":"shop","name":"web","replicas":3,"uid":"u","kubeconfig":"/k","context":"c"}`))
	f.Add([]byte(`{"namespace":"shop","policy":"shakedown-x","pods":["a","b"]}`))
	f.Add([]byte(`{"name":"node-1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		// decoding must never panic; a record that decodes is checked before anything is
		// asked of a cluster, which here is none: a cancelled context stops any call
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		dir := t.TempDir()
		for _, fn := range []func(context.Context, json.RawMessage) error{undoScale, undoUncordon, undoIsolate} {
			var probe map[string]any
			if json.Unmarshal(b, &probe) == nil {
				// never reach the developer's $KUBECONFIG or any cluster from a fuzz input
				probe["kubeconfig"] = filepath.Join(dir, "none")
				b2, _ := json.Marshal(probe)
				fn(ctx, b2)
			}
		}
	})
}

func TestRestConfig(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: x}}]
contexts:
- {name: a, context: {cluster: c, user: u}}
- {name: b, context: {cluster: c, user: u, namespace: shop}}
current-context: a
`
	os.WriteFile(kc, []byte(cfg), 0o600)
	// Neither is read (client-go would wait on the FIFO, and read /dev/zero forever).
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   Cluster
		want Cluster
		kind shakedown.Kind
	}{
		{in: Cluster{Kubeconfig: kc}, want: Cluster{Kubeconfig: kc, Context: "a"}},
		{in: Cluster{Kubeconfig: kc, Context: "b"}, want: Cluster{Kubeconfig: kc, Context: "b"}},
		{in: Cluster{Kubeconfig: kc, Context: "zzz"}, kind: shakedown.KindInvalid},
		{in: Cluster{Kubeconfig: filepath.Join(dir, "missing")}, kind: shakedown.KindInvalid},
		{in: Cluster{Kubeconfig: fifo}, kind: shakedown.KindInvalid},
		{in: Cluster{Kubeconfig: "/dev/zero"}, kind: shakedown.KindInvalid},
	}
	for _, tt := range tests {
		rc, got, err := restConfig(tt.in)
		if tt.kind != 0 || err != nil {
			if !shakedown.IsKind(err, tt.kind) || tt.kind == 0 {
				t.Errorf("restConfig(%+v): %v, want %v", tt.in, err, tt.kind)
			}
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" || rc.Host != "https://127.0.0.1:6443" {
			t.Errorf("restConfig(%+v): host %s (-want +got)\n%s", tt.in, rc.Host, diff)
		}
	}
	t.Setenv("KUBECONFIG", fifo)
	if _, _, err := restConfig(Cluster{}); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Errorf("restConfig with KUBECONFIG a FIFO: %v, want invalid", err)
	}
	t.Setenv("KUBECONFIG", kc)
	c, err := connect(Cluster{Kubeconfig: kc})
	if err != nil {
		t.Fatal(err)
	}
	if c.cs == nil || fmt.Sprint(c.cluster) != fmt.Sprint(Cluster{Kubeconfig: kc, Context: "a"}) {
		t.Errorf("connect: %+v", c.cluster)
	}
}

func TestNewRejectsOtherKinds(t *testing.T) {
	reg := registry()
	proc := []shakedown.Instance{{Kind: "process", ID: "1@2", Name: "p"}}
	for _, typ := range []string{"pod.delete", "pod.evict", "networkpolicy.isolate", "deployment.scale", "node.cordon", "node.drain"} {
		ft, _ := reg.Fault(typ)
		var params any
		if ft.Params != nil {
			params = ft.Params()
		}
		if typ == "deployment.scale" {
			params = &ScaleParams{Replicas: ptr(int32(1))}
		}
		_, err := ft.New(shakedown.Env{RunID: "r"}, &shakedown.FaultSpec{Name: "f", Type: typ, Params: params}, proc)
		if !shakedown.IsKind(err, shakedown.KindInvalid) {
			t.Errorf("%s on a process: %v, want KindInvalid", typ, err)
		}
		_, err = ft.New(shakedown.Env{RunID: "r"}, &shakedown.FaultSpec{Name: "f", Type: typ, Params: params}, nil)
		if !shakedown.IsKind(err, shakedown.KindNotFound) {
			t.Errorf("%s on nothing: %v, want KindNotFound", typ, err)
		}
	}
}

func TestPlanFromRecordedInstances(t *testing.T) {
	reg := registry()
	ft, _ := reg.Fault("pod.delete")
	in := shakedown.Instance{Kind: KindPods, ID: "uid-1", Name: "shop/web-1",
		Attrs: map[string]string{"namespace": "shop", "name": "web-1", "uid": "uid-1"}}
	f, err := ft.New(shakedown.Env{}, &shakedown.FaultSpec{Name: "d", Type: "pod.delete", Params: &DeleteParams{Grace: ptr(shakedown.Duration(1500 * time.Millisecond))}}, []shakedown.Instance{in})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"delete pod shop/web-1 (grace 2s)"}, f.(shakedown.Planner).Plan()); diff != "" {
		t.Errorf("plan (-want +got)\n%s", diff)
	}
}

// TestRegisterWithDefaults: a run-wide kubeconfig reaches targets that name none.
func TestRegisterWithDefaults(t *testing.T) {
	r := shakedown.NewRegistry()
	missing := filepath.Join(t.TempDir(), "none")
	RegisterWith(r, Options{Kubeconfig: missing, Context: "x"})
	kind, _ := r.Target(KindPods)
	if _, err := kind.Resolve(t.Context(), shakedown.Env{}, &PodsParams{}); !shakedown.IsKind(err, shakedown.KindInvalid) {
		t.Fatalf("resolve with a missing default kubeconfig: %v, want KindInvalid", err)
	}
}

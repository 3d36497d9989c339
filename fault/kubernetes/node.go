package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shakedown-dev/shakedown"
)

// UndoUncordon is the undo type that marks a node schedulable again: NodeData.
const UndoUncordon = "kubernetes.uncordon"

// NodeData is the data of a kubernetes.uncordon undo.
type NodeData struct {
	Cluster
	Name string `json:"name"`
	UID  string `json:"uid,omitempty"`
}

// DrainParams are the parameters of node.drain.
type DrainParams struct {
	Grace    *shakedown.Duration `json:"grace,omitempty" doc:"grace period for the evicted pods; default each pod's own"`
	RetryFor shakedown.Duration  `json:"retry_for" doc:"how long to keep asking while a PodDisruptionBudget refuses an eviction"`
	Wait     shakedown.Duration  `json:"wait" doc:"how long to wait for the evicted pods to be gone; 0 does not wait"`
}

// Validate checks the durations.
func (p *DrainParams) Validate() error {
	var errs shakedown.FieldErrors
	validGrace(&errs, p.Grace)
	if p.RetryFor < 0 || p.RetryFor.D() > time.Hour {
		errs.Add("retry_for", "%s: want 0 to 1h", p.RetryFor)
	}
	if p.Wait < 0 || p.Wait.D() > time.Hour {
		errs.Add("wait", "%s: want 0 to 1h", p.Wait)
	}
	return errs.Err()
}

var (
	cordonType = shakedown.FaultType{
		Name:    "node.cordon",
		Summary: "mark the selected nodes unschedulable; revert uncordons them",
		Doc: "Cordons each selected node: running pods stay, new ones go elsewhere. A node that was " +
			"already cordoned is left alone and not uncordoned by the revert.",
		Targets: []string{KindNode},
		New:     newNodeFault(false),
	}
	drainType = shakedown.FaultType{
		Name:    "node.drain",
		Summary: "cordon the selected nodes and evict their pods; revert uncordons them",
		Doc: "Cordons each selected node, then evicts its pods through the eviction API as `kubectl drain` " +
			"does (DaemonSet pods and static pods stay; disruption budgets are respected, retried for up " +
			"to `retry_for`), then waits up to `wait` for them to be gone, following a watch. The revert " +
			"uncordons the nodes it cordoned; evicted pods come back by their controllers, not by the revert.",
		Targets: []string{KindNode},
		Params: func() any {
			return &DrainParams{RetryFor: shakedown.Duration(DefaultRetryFor), Wait: shakedown.Duration(2 * time.Minute)}
		},
		New: newNodeFault(true),
	}
)

type nodeFault struct {
	nodes []Node
	drain bool
	p     DrainParams

	mu      sync.Mutex
	already map[string]bool // nodes cordoned before the fault: not ours to uncordon
	read    bool
}

func newNodeFault(drain bool) func(shakedown.Env, *shakedown.FaultSpec, []shakedown.Instance) (shakedown.Fault, error) {
	return func(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
		if err := shakedown.ValidateParams(spec.Params); err != nil {
			return nil, err
		}
		f := &nodeFault{drain: drain, p: DrainParams{RetryFor: shakedown.Duration(DefaultRetryFor)}}
		if p, ok := spec.Params.(*DrainParams); ok && p != nil {
			f.p = *p
		}
		for _, in := range targets {
			n, err := nodeOf(in)
			if err != nil {
				return nil, err
			}
			f.nodes = append(f.nodes, n)
		}
		if len(f.nodes) == 0 {
			return nil, shakedown.Errorf(shakedown.KindNotFound, "%s: no nodes selected", spec.Type)
		}
		return f, nil
	}
}

func (f *nodeFault) Plan() []string {
	var out []string
	for _, n := range f.nodes {
		out = append(out, "cordon "+n.label())
		if f.drain {
			out = append(out, fmt.Sprintf("evict the pods of %s (not DaemonSet or static pods; %s; budgets retried for %s)",
				n.label(), graceText(graceSeconds(f.p.Grace)), f.p.RetryFor))
		}
	}
	return out
}

// Prepare notes which nodes are cordoned already, so the revert leaves them so.
func (f *nodeFault) Prepare(ctx context.Context) error {
	already := map[string]bool{}
	for _, n := range f.nodes {
		c, err := connect(n.Cluster)
		if err != nil {
			return err
		}
		node, err := c.cs.CoreV1().Nodes().Get(ctx, n.Name, getOpts)
		if err != nil {
			return apiErr(err, "get", "nodes", "", n.Name)
		}
		already[n.Name] = node.Spec.Unschedulable
	}
	f.mu.Lock()
	f.already, f.read = already, true
	f.mu.Unlock()
	return nil
}

// ours returns the nodes the fault cordons.
func (f *nodeFault) ours() []Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Node
	for _, n := range f.nodes {
		if !f.already[n.Name] {
			out = append(out, n)
		}
	}
	return out
}

func (f *nodeFault) Undo() []shakedown.Undo {
	var out []shakedown.Undo
	for _, n := range f.ours() {
		c, err := connect(n.Cluster)
		cl := n.Cluster
		if err == nil {
			cl = c.cluster
		}
		data, _ := json.Marshal(NodeData{Cluster: cl, Name: n.Name, UID: n.UID})
		out = append(out, shakedown.Undo{Type: UndoUncordon, Data: data, Summary: "uncordon " + n.label()})
	}
	return out
}

func (f *nodeFault) Inject(ctx context.Context) (shakedown.Revert, error) {
	f.mu.Lock()
	read := f.read
	f.mu.Unlock()
	if !read {
		if err := f.Prepare(ctx); err != nil {
			return nil, err
		}
	}
	ours := f.ours()
	var cordoned []Node
	var errs []error
	for _, n := range ours {
		c, err := connect(n.Cluster)
		if err == nil {
			err = setUnschedulable(ctx, c, n.Name, n.UID, true)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cordoned = append(cordoned, n)
	}
	var revert shakedown.Revert
	if len(cordoned) > 0 {
		revert = func(ctx context.Context) error {
			var errs []error
			for _, n := range cordoned {
				c, err := connect(n.Cluster)
				if err == nil {
					err = setUnschedulable(ctx, c, n.Name, n.UID, false)
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return joinKind(errs)
		}
	}
	if len(errs) > 0 || !f.drain {
		return revert, joinKind(errs)
	}
	for _, n := range f.nodes {
		if err := f.drainNode(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return revert, joinKind(errs)
}

// drainNode evicts the pods of one node that a drain evicts and waits, following a watch,
// until they are gone or the wait runs out.
func (f *nodeFault) drainNode(ctx context.Context, n Node) error {
	c, err := connect(n.Cluster)
	if err != nil {
		return err
	}
	sel := fields.OneTermEqualSelector("spec.nodeName", n.Name).String()
	all, err := c.listPods(ctx, metav1.NamespaceAll, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return err
	}
	var pods []Pod
	for i := range all {
		p := &all[i]
		if drainable(p) {
			pods = append(pods, Pod{Cluster: n.Cluster, Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Node: n.Name})
		}
	}
	grace := graceSeconds(f.p.Grace)
	if err := eachPod(ctx, pods, func(ctx context.Context, c *conn, p Pod) error {
		return c.evict(ctx, p, grace, f.p.RetryFor.D())
	}); err != nil {
		return err
	}
	if f.p.Wait <= 0 || len(pods) == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, f.p.Wait.D())
	defer cancel()
	evicted := map[types.UID]bool{}
	for _, p := range pods {
		evicted[types.UID(p.UID)] = true
	}
	w := watchPods(wctx, c, metav1.NamespaceAll, metav1.ListOptions{FieldSelector: sel})
	defer w.Close()
	err = w.Wait(wctx, func(pods []*corev1.Pod) bool {
		for _, p := range pods {
			if evicted[p.UID] {
				return false
			}
		}
		return true
	})
	if err != nil {
		return shakedown.Errorf(shakedown.KindUnavailable, "drain %s: evicted pods not gone within %s: %w", n.label(), f.p.Wait, err)
	}
	return nil
}

// drainable reports whether kubectl drain would evict the pod: not finished, not a
// DaemonSet's, not a static (mirror) pod.
func drainable(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil {
		return false
	}
	if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return false
	}
	if o := metav1.GetControllerOf(p); o != nil && o.Kind == "DaemonSet" {
		return false
	}
	return true
}

// setUnschedulable cordons or uncordons a node, unless it is gone or was replaced.
func setUnschedulable(ctx context.Context, c *conn, name, uid string, on bool) error {
	verb := "cordon"
	if !on {
		verb = "uncordon"
	}
	nodes := c.cs.CoreV1().Nodes()
	node, err := nodes.Get(ctx, name, getOpts)
	if apierrors.IsNotFound(err) {
		if on {
			return apiErr(err, "get", "nodes", "", name)
		}
		return nil
	}
	if err != nil {
		return apiErr(err, "get", "nodes", "", name)
	}
	if uid != "" && string(node.UID) != uid {
		if on {
			return shakedown.Errorf(shakedown.KindNotFound, "%s node %s: replaced since it was resolved", verb, name)
		}
		return nil
	}
	if node.Spec.Unschedulable == on {
		return nil
	}
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, on)
	_, err = nodes.Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) && !on {
		return nil
	}
	return apiErr(err, "patch", "nodes", "", name)
}

func undoUncordon(ctx context.Context, data json.RawMessage) error {
	var nd NodeData
	if err := json.Unmarshal(data, &nd); err != nil || nd.Name == "" {
		return shakedown.Errorf(shakedown.KindInvalid, "kubernetes.uncordon undo: bad data %s", data)
	}
	c, err := connect(nd.Cluster)
	if err != nil {
		return err
	}
	return setUnschedulable(ctx, c, nd.Name, nd.UID, false)
}

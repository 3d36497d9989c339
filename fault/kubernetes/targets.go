package kubernetes

import (
	"context"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/shakedown-dev/shakedown"
)

var getOpts = metav1.GetOptions{}

// DefaultNamespace is the namespace of a target that names none.
const DefaultNamespace = "default"

// PodsParams are the parameters of the pods target.
type PodsParams struct {
	Cluster
	Namespace string            `json:"namespace,omitempty" doc:"the namespace; default \"default\""`
	Labels    map[string]string `json:"labels,omitempty" doc:"pods carrying all of these labels"`
	Fields    string            `json:"fields,omitempty" doc:"a field selector, e.g. spec.nodeName=node-1"`
}

// Validate checks the namespace, labels and field selector.
func (p *PodsParams) Validate() error {
	var errs shakedown.FieldErrors
	p.validate(&errs)
	return errs.Err()
}

func (p *PodsParams) validate(errs *shakedown.FieldErrors) {
	validNamespace(errs, p.Namespace)
	if _, err := labels.ValidatedSelectorFromSet(p.Labels); err != nil {
		errs.AddErr("labels", -1, err)
	}
	if p.Fields != "" {
		if _, err := fields.ParseSelector(p.Fields); err != nil {
			errs.AddErr("fields", -1, err)
		}
	}
}

func validNamespace(errs *shakedown.FieldErrors, ns string) {
	if ns == "" {
		return
	}
	if e := validation.IsDNS1123Label(ns); len(e) > 0 {
		errs.Add("namespace", "%q: %s", ns, strings.Join(e, "; "))
	}
}

func nsOr(ns string) string {
	if ns == "" {
		return DefaultNamespace
	}
	return ns
}

// listOptions returns the list options of the selector.
func (p *PodsParams) listOptions() metav1.ListOptions {
	return metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(p.Labels).String(),
		FieldSelector: p.Fields,
	}
}

// String describes the selector: "shop: app=web".
func (p *PodsParams) String() string {
	s := nsOr(p.Namespace) + ":"
	if len(p.Labels) > 0 {
		s += " " + labels.SelectorFromSet(p.Labels).String()
	}
	if p.Fields != "" {
		s += " " + p.Fields
	}
	return s
}

// Resolve lists the pods the selector stands for: those not being deleted and not finished
// (Succeeded or Failed), in name order. Finding none in a namespace that does not exist is
// KindNotFound; finding none otherwise is not an error.
func (p *PodsParams) Resolve(ctx context.Context) ([]shakedown.Instance, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c, err := connect(p.Cluster)
	if err != nil {
		return nil, err
	}
	ns := nsOr(p.Namespace)
	pods, err := c.listPods(ctx, ns, p.listOptions())
	if err != nil {
		return nil, err
	}
	out := make([]shakedown.Instance, 0, len(pods))
	for i := range pods {
		pod := &pods[i]
		if !livePod(pod) {
			continue
		}
		out = append(out, podInstance(c, pod))
	}
	if len(out) == 0 {
		if err := c.checkNamespace(ctx, ns); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// listPods lists pods in pages of 500.
func (c *conn) listPods(ctx context.Context, ns string, opts metav1.ListOptions) ([]corev1.Pod, error) {
	opts.Limit = 500
	var out []corev1.Pod
	for {
		l, err := c.cs.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return nil, apiErr(err, "list", "pods", ns, "")
		}
		out = append(out, l.Items...)
		if l.Continue == "" {
			return out, nil
		}
		opts.Continue = l.Continue
	}
}

// livePod reports whether a pod is a target: not being deleted and not finished.
func livePod(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// Pod is one resolved pod; it is the Ref of the instances the pods target resolves to.
type Pod struct {
	Cluster   Cluster
	Namespace string
	Name      string
	UID       string
	Node      string
}

func (p Pod) label() string { return p.Namespace + "/" + p.Name }

func podInstance(c *conn, p *corev1.Pod) shakedown.Instance {
	ref := Pod{Cluster: c.cluster, Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Node: p.Spec.NodeName}
	attrs := map[string]string{
		"namespace": p.Namespace, "name": p.Name, "uid": string(p.UID), "node": p.Spec.NodeName,
		"phase": string(p.Status.Phase), "ip": p.Status.PodIP, "ready": strconv.FormatBool(podReady(p)),
		"kubeconfig": c.cluster.Kubeconfig, "context": c.cluster.Context,
	}
	if o := metav1.GetControllerOf(p); o != nil {
		attrs["owner"] = o.Kind + "/" + o.Name
	}
	return shakedown.Instance{Kind: KindPods, ID: string(p.UID), Name: ref.label(), Attrs: attrs, Ref: ref}
}

// podReady reports whether a pod's Ready condition is true.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podOf returns the pod an instance stands for.
func podOf(in shakedown.Instance) (Pod, error) {
	if r, ok := shakedown.RefAs[Pod](in); ok {
		return r, nil
	}
	if in.Kind != KindPods {
		return Pod{}, shakedown.Errorf(shakedown.KindInvalid, "target %s is a %s, not a pod", in.Name, in.Kind)
	}
	a := in.Attrs
	if a["namespace"] == "" || a["name"] == "" {
		return Pod{}, shakedown.Errorf(shakedown.KindInvalid, "pod instance %q has no namespace or name", in.Name)
	}
	return Pod{Cluster: Cluster{Kubeconfig: a["kubeconfig"], Context: a["context"]}, Namespace: a["namespace"],
		Name: a["name"], UID: a["uid"], Node: a["node"]}, nil
}

// DeploymentParams are the parameters of the deployment target.
type DeploymentParams struct {
	Cluster
	Namespace string `json:"namespace,omitempty" doc:"the namespace; default \"default\""`
	Name      string `json:"name" required:"true" doc:"the Deployment's name"`
}

// Validate checks the namespace and name.
func (p *DeploymentParams) Validate() error {
	var errs shakedown.FieldErrors
	validNamespace(&errs, p.Namespace)
	if e := validation.IsDNS1123Subdomain(p.Name); len(e) > 0 {
		errs.Add("name", "%q: %s", p.Name, strings.Join(e, "; "))
	}
	return errs.Err()
}

// Deployment is one resolved Deployment; the Ref of a deployment instance.
type Deployment struct {
	Cluster   Cluster
	Namespace string
	Name      string
	UID       string
}

func (d Deployment) label() string { return "deployment " + d.Namespace + "/" + d.Name }

// Resolve finds the Deployment. One that does not exist resolves to nothing; a namespace
// that does not exist is KindNotFound.
func (p *DeploymentParams) Resolve(ctx context.Context) ([]shakedown.Instance, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c, err := connect(p.Cluster)
	if err != nil {
		return nil, err
	}
	ns := nsOr(p.Namespace)
	d, err := c.cs.AppsV1().Deployments(ns).Get(ctx, p.Name, getOpts)
	if apierrors.IsNotFound(err) {
		return nil, c.checkNamespace(ctx, ns)
	}
	if err != nil {
		return nil, apiErr(err, "get", "deployments", ns, p.Name)
	}
	ref := Deployment{Cluster: c.cluster, Namespace: ns, Name: d.Name, UID: string(d.UID)}
	want := desiredReplicas(d)
	attrs := map[string]string{
		"namespace": ns, "name": d.Name, "uid": string(d.UID),
		"replicas": strconv.Itoa(int(want)), "ready": strconv.Itoa(int(d.Status.ReadyReplicas)),
		"kubeconfig": c.cluster.Kubeconfig, "context": c.cluster.Context,
	}
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		attrs["selector"] = sel.String()
	}
	return []shakedown.Instance{{Kind: KindDeployment, ID: string(d.UID), Name: ref.label(), Attrs: attrs, Ref: ref}}, nil
}

func deploymentOf(in shakedown.Instance) (Deployment, error) {
	if r, ok := shakedown.RefAs[Deployment](in); ok {
		return r, nil
	}
	if in.Kind != KindDeployment {
		return Deployment{}, shakedown.Errorf(shakedown.KindInvalid, "target %s is a %s, not a deployment", in.Name, in.Kind)
	}
	a := in.Attrs
	if a["namespace"] == "" || a["name"] == "" {
		return Deployment{}, shakedown.Errorf(shakedown.KindInvalid, "deployment instance %q has no namespace or name", in.Name)
	}
	return Deployment{Cluster: Cluster{Kubeconfig: a["kubeconfig"], Context: a["context"]}, Namespace: a["namespace"],
		Name: a["name"], UID: a["uid"]}, nil
}

// NodeParams are the parameters of the node target.
type NodeParams struct {
	Cluster
	Labels map[string]string `json:"labels,omitempty" doc:"nodes carrying all of these labels"`
	Name   string            `json:"name,omitempty" doc:"the node with this name"`
}

// Validate checks the labels.
func (p *NodeParams) Validate() error {
	var errs shakedown.FieldErrors
	if len(p.Labels) == 0 && p.Name == "" {
		errs.Whole("give labels or name (every node of a cluster is rarely meant)")
	}
	if _, err := labels.ValidatedSelectorFromSet(p.Labels); err != nil {
		errs.AddErr("labels", -1, err)
	}
	return errs.Err()
}

// Node is one resolved node; the Ref of a node instance.
type Node struct {
	Cluster Cluster
	Name    string
	UID     string
}

func (n Node) label() string { return "node " + n.Name }

// Resolve lists the nodes the selector stands for, in name order.
func (p *NodeParams) Resolve(ctx context.Context) ([]shakedown.Instance, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c, err := connect(p.Cluster)
	if err != nil {
		return nil, err
	}
	opts := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(p.Labels).String()}
	if p.Name != "" {
		opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.Name).String()
	}
	l, err := c.cs.CoreV1().Nodes().List(ctx, opts)
	if err != nil {
		return nil, apiErr(err, "list", "nodes", "", "")
	}
	out := make([]shakedown.Instance, 0, len(l.Items))
	for _, n := range l.Items {
		ref := Node{Cluster: c.cluster, Name: n.Name, UID: string(n.UID)}
		attrs := map[string]string{"name": n.Name, "uid": string(n.UID),
			"unschedulable": strconv.FormatBool(n.Spec.Unschedulable),
			"kubeconfig":    c.cluster.Kubeconfig, "context": c.cluster.Context}
		out = append(out, shakedown.Instance{Kind: KindNode, ID: n.Name, Name: ref.label(), Attrs: attrs, Ref: ref})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func nodeOf(in shakedown.Instance) (Node, error) {
	if r, ok := shakedown.RefAs[Node](in); ok {
		return r, nil
	}
	if in.Kind != KindNode {
		return Node{}, shakedown.Errorf(shakedown.KindInvalid, "target %s is a %s, not a node", in.Name, in.Kind)
	}
	return Node{Cluster: Cluster{Kubeconfig: in.Attrs["kubeconfig"], Context: in.Attrs["context"]}, Name: in.ID, UID: in.Attrs["uid"]}, nil
}

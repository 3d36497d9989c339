package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shakedown-dev/shakedown"
)

// UndoIsolate is the undo type that removes an isolating NetworkPolicy and its pod labels:
// IsolateData.
const UndoIsolate = "kubernetes.networkpolicy"

// IsolateLabel is the label networkpolicy.isolate puts on the pods it isolates; its value
// is the policy's name.
const IsolateLabel = "shakedown.dev/isolate"

// ManagedByLabel marks what shakedown creates in a cluster.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// IsolateData is the data of a kubernetes.networkpolicy undo: one namespace's policy and
// the pods it labelled there.
type IsolateData struct {
	Cluster
	Namespace string   `json:"namespace"`
	Policy    string   `json:"policy"`
	Pods      []string `json:"pods"`
}

// IsolateParams are the parameters of networkpolicy.isolate.
type IsolateParams struct {
	Ingress bool `json:"ingress" doc:"deny traffic to the pods"`
	Egress  bool `json:"egress" doc:"deny traffic from the pods"`
}

// Validate checks that some direction is denied.
func (p *IsolateParams) Validate() error {
	var errs shakedown.FieldErrors
	if !p.Ingress && !p.Egress {
		errs.Whole("deny ingress, egress or both")
	}
	return errs.Err()
}

var isolateType = shakedown.FaultType{
	Name:    "networkpolicy.isolate",
	Summary: "cut the selected pods off with a deny-all NetworkPolicy; revert removes it",
	Doc: "Labels each selected pod " + IsolateLabel + "=<policy> and creates, in each of their " +
		"namespaces, a NetworkPolicy named after the run and the fault that selects exactly those pods " +
		"and allows no ingress and/or egress. The revert deletes the policy and removes the label. " +
		"Enforcement is the job of the cluster's network plugin (CNI): on a cluster whose plugin does " +
		"not enforce NetworkPolicies, the policy is stored and nothing is cut off.",
	Targets: []string{KindPods},
	Params:  func() any { return &IsolateParams{Ingress: true, Egress: true} },
	New:     newIsolate,
}

// PolicyName returns the name of the policy of one fault of one run: a DNS-1123 label of
// at most 63 characters, "shakedown-<run>-<fault>" in lower case with every other character a
// dash, cut to fit, then a dash and 8 hexadecimal digits of a digest of the fault's name. The
// digest keeps apart two faults of a run whose names read alike once lowered, punctuated and
// cut ("cut-web" and "cut_web"): one policy for both would be taken by the second's inject
// for its own, and deleted by the first's revert while the second still holds.
func PolicyName(runID, fault string) string {
	s := "shakedown-" + strings.ToLower(runID) + "-" + strings.ToLower(fault)
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	h := fnv.New32a()
	h.Write([]byte(fault))
	tail := fmt.Sprintf("-%08x", h.Sum32())
	out := b.String()
	if n := 63 - len(tail); len(out) > n {
		out = out[:n]
	}
	return strings.TrimRight(out, "-") + tail
}

type isolate struct {
	groups  map[string][]Pod // by namespace
	policy  string
	ingress bool
	egress  bool
}

func newIsolate(env shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	p, _ := spec.Params.(*IsolateParams)
	if p == nil {
		p = &IsolateParams{Ingress: true, Egress: true}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	pods, err := podsOf(spec.Type, targets)
	if err != nil {
		return nil, err
	}
	f := &isolate{groups: map[string][]Pod{}, policy: PolicyName(env.RunID, spec.Name), ingress: p.Ingress, egress: p.Egress}
	for _, pod := range pods {
		f.groups[pod.Namespace] = append(f.groups[pod.Namespace], pod)
	}
	return f, nil
}

func (f *isolate) namespaces() []string {
	out := make([]string, 0, len(f.groups))
	for ns := range f.groups {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

func (f *isolate) directions() string {
	switch {
	case f.ingress && f.egress:
		return "ingress and egress"
	case f.ingress:
		return "ingress"
	}
	return "egress"
}

func (f *isolate) Plan() []string {
	var out []string
	for _, ns := range f.namespaces() {
		names := make([]string, len(f.groups[ns]))
		for i, p := range f.groups[ns] {
			names[i] = p.Name
		}
		out = append(out, fmt.Sprintf("create NetworkPolicy %s/%s denying %s to pods %s (labelled %s=%s)",
			ns, f.policy, f.directions(), strings.Join(names, ", "), IsolateLabel, f.policy))
	}
	return out
}

func (f *isolate) data(ns string) IsolateData {
	pods := f.groups[ns]
	d := IsolateData{Cluster: pods[0].Cluster, Namespace: ns, Policy: f.policy}
	if c, err := connect(pods[0].Cluster); err == nil {
		d.Cluster = c.cluster
	}
	for _, p := range pods {
		d.Pods = append(d.Pods, p.Name)
	}
	return d
}

func (f *isolate) Undo() []shakedown.Undo {
	var out []shakedown.Undo
	for _, ns := range f.namespaces() {
		data, _ := json.Marshal(f.data(ns))
		out = append(out, shakedown.Undo{Type: UndoIsolate, Data: data,
			Summary: fmt.Sprintf("delete NetworkPolicy %s/%s and its pod labels", ns, f.policy)})
	}
	return out
}

func (f *isolate) Inject(ctx context.Context) (shakedown.Revert, error) {
	var applied []IsolateData
	var errs []error
	for _, ns := range f.namespaces() {
		d := f.data(ns)
		applied = append(applied, d) // the undo is safe on what was not applied
		if err := f.apply(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	revert := func(ctx context.Context) error {
		var errs []error
		for _, d := range applied {
			if err := removeIsolation(ctx, d); err != nil {
				errs = append(errs, err)
			}
		}
		return joinKind(errs)
	}
	return revert, joinKind(errs)
}

// apply creates the policy in ns and labels the selected pods there. The policy comes
// first: pods labelled before it exists are cut off by nothing.
func (f *isolate) apply(ctx context.Context, ns string) error {
	pods := f.groups[ns]
	c, err := connect(pods[0].Cluster)
	if err != nil {
		return err
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: f.policy, Namespace: ns, Labels: map[string]string{ManagedByLabel: "shakedown"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{IsolateLabel: f.policy}},
		},
	}
	if f.ingress {
		np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
	}
	if f.egress {
		np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
	}
	_, err = c.cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return apiErr(err, "create", "networkpolicies", ns, f.policy)
	}
	return labelPods(ctx, pods, fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, IsolateLabel, f.policy))
}

// removeIsolation deletes the policy and takes the label off the pods. What is gone
// already counts as removed.
func removeIsolation(ctx context.Context, d IsolateData) error {
	c, err := connect(d.Cluster)
	if err != nil {
		return err
	}
	err = c.cs.NetworkingV1().NetworkPolicies(d.Namespace).Delete(ctx, d.Policy, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return apiErr(err, "delete", "networkpolicies", d.Namespace, d.Policy)
	}
	pods := make([]Pod, len(d.Pods))
	for i, name := range d.Pods {
		pods[i] = Pod{Cluster: d.Cluster, Namespace: d.Namespace, Name: name}
	}
	return labelPods(ctx, pods, fmt.Appendf(nil, `{"metadata":{"labels":{%q:null}}}`, IsolateLabel))
}

// labelPods applies a merge patch of their labels to the pods. A pod that is gone needs no
// label.
func labelPods(ctx context.Context, pods []Pod, patch []byte) error {
	return eachPod(ctx, pods, func(ctx context.Context, c *conn, p Pod) error {
		_, err := c.cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return apiErr(err, "patch", "pods", p.Namespace, p.Name)
		}
		return nil
	})
}

func undoIsolate(ctx context.Context, data json.RawMessage) error {
	var d IsolateData
	if err := json.Unmarshal(data, &d); err != nil || d.Namespace == "" || d.Policy == "" || !strings.HasPrefix(d.Policy, "shakedown-") {
		return shakedown.Errorf(shakedown.KindInvalid, "kubernetes.networkpolicy undo: bad data %s", data)
	}
	return removeIsolation(ctx, d)
}

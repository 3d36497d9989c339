package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shakedown-dev/shakedown"
)

// UndoScale is the undo type that sets a Deployment's replicas back: ScaleData.
const UndoScale = "kubernetes.scale"

// ScaleData is the data of a kubernetes.scale undo.
type ScaleData struct {
	Cluster
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"` // a Deployment recreated under the same name is not touched
	Replicas  int32  `json:"replicas"`
}

// ScaleParams are the parameters of deployment.scale.
type ScaleParams struct {
	Replicas *int32 `json:"replicas" required:"true" doc:"the replica count to set"`
}

// Validate checks the count.
func (p *ScaleParams) Validate() error {
	var errs shakedown.FieldErrors
	if p.Replicas == nil || *p.Replicas < 0 {
		errs.Add("replicas", "must be 0 or more")
	}
	return errs.Err()
}

var scaleType = shakedown.FaultType{
	Name:    "deployment.scale",
	Summary: "set a Deployment's replica count; revert restores the count it had",
	Doc: "Reads the Deployment's replica count, then sets it to `replicas` through the scale " +
		"subresource (0 takes a service down; a higher count tests scale-out). The revert sets the " +
		"count read before; a Deployment that is gone, or was recreated under the same name, counts " +
		"as reverted. An autoscaler acting on the same Deployment will fight the fault.",
	Targets: []string{KindDeployment},
	Params:  func() any { return &ScaleParams{} },
	New:     newScale,
}

type scale struct {
	deps []Deployment
	to   int32

	mu   sync.Mutex
	from map[string]ScaleData // by name/namespace, filled by Prepare
}

func newScale(_ shakedown.Env, spec *shakedown.FaultSpec, targets []shakedown.Instance) (shakedown.Fault, error) {
	p, ok := spec.Params.(*ScaleParams)
	if !ok || p == nil {
		return nil, shakedown.Errorf(shakedown.KindInvalid, "deployment.scale: replicas is required")
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	f := &scale{to: *p.Replicas}
	for _, in := range targets {
		d, err := deploymentOf(in)
		if err != nil {
			return nil, err
		}
		f.deps = append(f.deps, d)
	}
	if len(f.deps) == 0 {
		return nil, shakedown.Errorf(shakedown.KindNotFound, "deployment.scale: no deployment selected")
	}
	return f, nil
}

func (f *scale) Plan() []string {
	out := make([]string, len(f.deps))
	for i, d := range f.deps {
		out[i] = fmt.Sprintf("scale %s to %d replicas; revert restores its count", d.label(), f.to)
	}
	return out
}

// Prepare reads each Deployment's replica count, which its undo restores.
func (f *scale) Prepare(ctx context.Context) error {
	from := map[string]ScaleData{}
	for _, d := range f.deps {
		c, err := connect(d.Cluster)
		if err != nil {
			return err
		}
		s, err := c.cs.AppsV1().Deployments(d.Namespace).GetScale(ctx, d.Name, getOpts)
		if err != nil {
			return apiErr(err, "get", "deployments/scale", d.Namespace, d.Name)
		}
		if d.UID != "" && string(s.UID) != d.UID {
			return shakedown.Errorf(shakedown.KindNotFound, "%s was replaced since it was resolved", d.label())
		}
		from[d.Name+"/"+d.Namespace] = ScaleData{Cluster: c.cluster, Namespace: d.Namespace, Name: d.Name,
			UID: string(s.UID), Replicas: s.Spec.Replicas}
	}
	f.mu.Lock()
	f.from = from
	f.mu.Unlock()
	return nil
}

func (f *scale) Undo() []shakedown.Undo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []shakedown.Undo
	for _, d := range f.deps {
		sd, ok := f.from[d.Name+"/"+d.Namespace]
		if !ok {
			continue
		}
		data, _ := json.Marshal(sd)
		out = append(out, shakedown.Undo{Type: UndoScale, Data: data,
			Summary: fmt.Sprintf("scale %s back to %d replicas", d.label(), sd.Replicas)})
	}
	return out
}

func (f *scale) Inject(ctx context.Context) (shakedown.Revert, error) {
	f.mu.Lock()
	prepared := f.from != nil
	f.mu.Unlock()
	if !prepared {
		if err := f.Prepare(ctx); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	from := f.from
	f.mu.Unlock()
	var done []ScaleData
	var errs []error
	for _, d := range f.deps {
		sd := from[d.Name+"/"+d.Namespace]
		c, err := connect(d.Cluster)
		if err == nil {
			to := sd
			to.Replicas = f.to
			err = setReplicas(ctx, c, to)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, sd)
	}
	var revert shakedown.Revert
	if len(done) > 0 {
		revert = func(ctx context.Context) error {
			var errs []error
			for _, sd := range done {
				c, err := connect(sd.Cluster)
				if err == nil {
					err = setReplicas(ctx, c, sd)
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return joinKind(errs)
		}
	}
	return revert, joinKind(errs)
}

// setReplicas sets a Deployment's replica count through its scale subresource, unless the
// Deployment is gone or is no longer the one with sd.UID.
func setReplicas(ctx context.Context, c *conn, sd ScaleData) error {
	deps := c.cs.AppsV1().Deployments(sd.Namespace)
	for attempt := 0; ; attempt++ {
		s, err := deps.GetScale(ctx, sd.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return apiErr(err, "get", "deployments/scale", sd.Namespace, sd.Name)
		}
		if sd.UID != "" && string(s.UID) != sd.UID {
			return nil // recreated under the same name: not ours to scale
		}
		if s.Spec.Replicas == sd.Replicas {
			return nil
		}
		s.Spec.Replicas = sd.Replicas
		_, err = deps.UpdateScale(ctx, sd.Name, s, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && attempt < 5 {
			continue // changed since the read: read again
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return apiErr(err, "update", "deployments/scale", sd.Namespace, sd.Name)
	}
}

func undoScale(ctx context.Context, data json.RawMessage) error {
	var sd ScaleData
	if err := json.Unmarshal(data, &sd); err != nil || sd.Name == "" || sd.Namespace == "" || sd.Replicas < 0 {
		return shakedown.Errorf(shakedown.KindInvalid, "kubernetes.scale undo: bad data %s", data)
	}
	c, err := connect(sd.Cluster)
	if err != nil {
		return err
	}
	return setReplicas(ctx, c, sd)
}

// Package kubernetes is shakedown's Kubernetes fault family, through the API server with
// client-go: the `pods`, `deployment` and `node` target kinds; the faults pod.delete,
// pod.evict, deployment.scale, node.cordon, node.drain and networkpolicy.isolate with their
// undo types; and the `kubernetes` probe (a deployment's ready replicas, or Ready pods
// matching a selector).
//
// Nothing of shakedown's runs in the cluster: every fault is an API call a user with the
// right RBAC verbs could make (deploy/rbac.yaml lists exactly those). The cluster is named
// by a kubeconfig and a context, else $KUBECONFIG or ~/.kube/config, else the in-cluster
// service account. Waits (node.drain, the probe) follow watches, not polling loops.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/userfile"
)

// The target kinds.
const (
	KindPods       = "pods"
	KindDeployment = "deployment"
	KindNode       = "node"
)

// Register adds the Kubernetes target kinds, fault types, undo types and the kubernetes
// probe to r. Targets and probes that name no kubeconfig or context use $KUBECONFIG or
// ~/.kube/config and its current context, else the in-cluster service account.
func Register(r *shakedown.Registry) { RegisterWith(r, Options{}) }

// Options are defaults a command line sets for the whole run (--kubeconfig, --context).
type Options struct {
	Kubeconfig string // for targets and probes that name no kubeconfig
	Context    string // for targets and probes that name no context
}

// fill sets what c leaves out to the run's defaults.
func (o Options) fill(c *Cluster) {
	if c.Kubeconfig == "" {
		c.Kubeconfig = o.Kubeconfig
	}
	if c.Context == "" {
		c.Context = o.Context
	}
}

// clusterTarget is the target kind name whose parameters are a P: they name their cluster
// (an embedded Cluster), and what they leave out of it comes from o before P resolves.
func clusterTarget[P any, PP interface {
	*P
	cluster() *Cluster
	Resolve(context.Context) ([]shakedown.Instance, error)
}](o Options, name, summary string) shakedown.TargetKind {
	return shakedown.TargetKind{
		Name:    name,
		Summary: summary,
		Params:  func() any { return PP(new(P)) },
		Resolve: func(ctx context.Context, _ shakedown.Env, params any) ([]shakedown.Instance, error) {
			p, err := shakedown.ParamsAs[P](params, name+" target")
			if err != nil {
				return nil, err
			}
			q := *p
			o.fill(PP(&q).cluster())
			return PP(&q).Resolve(ctx)
		},
	}
}

// RegisterWith is Register with defaults for targets and probes that leave them out.
func RegisterWith(r *shakedown.Registry, o Options) {
	r.AddTarget(clusterTarget[PodsParams](o, KindPods, "pods of one namespace, by labels and fields (Kubernetes)"))
	r.AddTarget(clusterTarget[DeploymentParams](o, KindDeployment, "one Deployment, by namespace and name (Kubernetes)"))
	r.AddTarget(clusterTarget[NodeParams](o, KindNode, "cluster nodes, by labels or name (Kubernetes)"))
	for _, t := range []shakedown.FaultType{podDeleteType, podEvictType, scaleType, cordonType, drainType, isolateType} {
		r.AddFault(t)
	}
	r.AddUndo(UndoScale, undoScale)
	r.AddUndo(UndoUncordon, undoUncordon)
	r.AddUndo(UndoIsolate, undoIsolate)
	pt := probeType
	pt.New = func(env shakedown.Env, params any, timeout time.Duration) (shakedown.Prober, error) {
		if p, ok := params.(*ProbeParams); ok && p != nil {
			q := *p
			o.fill(&q.Cluster)
			params = &q
		}
		return probeType.New(env, params, timeout)
	}
	r.AddProbe(pt)
}

// Cluster names the cluster to talk to. Both fields are optional: with neither, $KUBECONFIG
// or ~/.kube/config and its current context are used, else the in-cluster service account.
type Cluster struct {
	Kubeconfig string `json:"kubeconfig,omitempty" doc:"path of the kubeconfig file; default $KUBECONFIG, else ~/.kube/config, else in-cluster"`
	Context    string `json:"context,omitempty" doc:"the kubeconfig context to use; default its current context"`
}

// cluster lets clusterTarget reach the Cluster embedded in a target's parameters.
func (c *Cluster) cluster() *Cluster { return c }

// Client-side rate limits. client-go's defaults (5/s, burst 10) would make a fault over a
// hundred pods wait on itself for seconds; the server's own priority and fairness still
// protects it, and a 429 from it is retried.
const (
	clientQPS   = 500
	clientBurst = 1000
)

// conn is a connection to one cluster.
type conn struct {
	cs      k8s.Interface
	cluster Cluster // as resolved: the kubeconfig in use (empty in-cluster) and the context's name
	host    string
}

var conns sync.Map // Cluster → *conn

// wrapTransport, when set (by benchmarks), wraps the HTTP transport of new connections.
var wrapTransport func(http.RoundTripper) http.RoundTripper

// connect returns the connection for c, making it on first use. An unknown context is
// KindInvalid; a kubeconfig that cannot be read is KindInvalid; no configuration at all
// outside a cluster is KindUnavailable.
func connect(c Cluster) (*conn, error) {
	if v, ok := conns.Load(c); ok {
		return v.(*conn), nil
	}
	cfg, eff, err := restConfig(c)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	if wrapTransport != nil {
		cfg.WrapTransport = wrapTransport
	}
	cfg.UserAgent = "shakedown/" + shakedown.Version
	cs, err := k8s.NewForConfig(cfg)
	if err != nil {
		return nil, shakedown.Wrap(shakedown.KindInvalid, "kubernetes client", err)
	}
	cn := &conn{cs: cs, cluster: eff, host: cfg.Host}
	v, _ := conns.LoadOrStore(c, cn)
	return v.(*conn), nil
}

// restConfig loads the client configuration for c and says which cluster it names, so
// that an undo written now reaches the same cluster later even if the current context
// changes meanwhile.
// maxKubeconfig is the largest kubeconfig read: certificates inlined for a few dozen clusters.
const maxKubeconfig = 16 << 20

func restConfig(c Cluster) (*rest.Config, Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	eff := Cluster{Kubeconfig: c.Kubeconfig}
	if c.Kubeconfig != "" {
		rules.ExplicitPath = c.Kubeconfig
	} else {
		eff.Kubeconfig = os.Getenv(clientcmd.RecommendedConfigPathEnvVar)
	}
	// client-go reads these whole, whatever they are: a FIFO would hold it forever.
	for _, path := range append([]string{rules.ExplicitPath}, rules.GetLoadingPrecedence()...) {
		if path == "" {
			continue
		}
		if err := userfile.Check(path, maxKubeconfig); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, Cluster{}, shakedown.Wrap(shakedown.KindInvalid, "read kubeconfig", err)
		}
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, Cluster{}, shakedown.Wrap(shakedown.KindInvalid, "read kubeconfig", err)
	}
	if len(raw.Contexts) == 0 && c.Kubeconfig == "" && c.Context == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, Cluster{}, shakedown.Errorf(shakedown.KindUnavailable,
				"no kubeconfig ($KUBECONFIG, ~/.kube/config) and not running in a cluster: %w", err)
		}
		return cfg, Cluster{}, nil
	}
	name := c.Context
	if name == "" {
		name = raw.CurrentContext
	}
	if _, ok := raw.Contexts[name]; !ok {
		have := make([]string, 0, len(raw.Contexts))
		for n := range raw.Contexts {
			have = append(have, n)
		}
		sort.Strings(have)
		if name == "" {
			return nil, Cluster{}, shakedown.Errorf(shakedown.KindInvalid, "kubeconfig has no current context; name one of %s", strings.Join(have, ", "))
		}
		return nil, Cluster{}, shakedown.Errorf(shakedown.KindInvalid, "kubeconfig context %q not found (have %s)", name, strings.Join(have, ", "))
	}
	eff.Context = name
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, Cluster{}, shakedown.Wrap(shakedown.KindInvalid, "kubeconfig context "+name, err)
	}
	return cfg, eff, nil
}

// apiErr turns an API error into a shakedown error of the right kind whose message names
// what was attempted: verb, resource and namespace ("forbidden: cannot delete pods in
// namespace shop").
func apiErr(err error, verb, resource, namespace, name string) error {
	if err == nil {
		return nil
	}
	what := resource
	if name != "" {
		what += " " + name
	}
	where := ""
	if namespace != "" {
		where = " in namespace " + namespace
	}
	op := verb + " " + what + where
	switch {
	case errors.Is(err, context.Canceled):
		return shakedown.Wrap(shakedown.KindAborted, op, err)
	case apierrors.IsForbidden(err):
		return &shakedown.Error{Kind: shakedown.KindPermission,
			Err: &ForbiddenError{Verb: verb, Resource: resource, Namespace: namespace, Name: name, Err: err}}
	case apierrors.IsUnauthorized(err):
		return shakedown.Wrap(shakedown.KindPermission, op+": unauthorized", err)
	case apierrors.IsNotFound(err):
		return shakedown.Wrap(shakedown.KindNotFound, op, err)
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return shakedown.Wrap(shakedown.KindConflict, op, err)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return shakedown.Wrap(shakedown.KindInvalid, op, err)
	case apierrors.IsTooManyRequests(err), apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err),
		apierrors.IsServerTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return shakedown.Wrap(shakedown.KindUnavailable, op, err)
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return shakedown.Wrap(shakedown.KindUnavailable, op+": cannot reach the API server", err)
	}
	return shakedown.Wrap(shakedown.KindInternal, op, err)
}

// checkNamespace turns "nothing found" in a namespace that does not exist into a clear
// KindNotFound. A namespace it may not read is taken to exist.
func (c *conn) checkNamespace(ctx context.Context, ns string) error {
	_, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, getOpts)
	if apierrors.IsNotFound(err) {
		return shakedown.Errorf(shakedown.KindNotFound, "namespace %q not found in context %q", ns, c.cluster.Context)
	}
	if err != nil && !apierrors.IsForbidden(err) {
		return apiErr(err, "get", "namespaces", "", ns)
	}
	return nil
}

// ForbiddenError says which RBAC permission a call lacked: the verb, the resource and the
// namespace ("" for cluster-scoped resources).
type ForbiddenError struct {
	Verb      string
	Resource  string
	Namespace string
	Name      string
	Err       error
}

func (e *ForbiddenError) Error() string {
	where := "cluster-wide"
	if e.Namespace != "" {
		where = "in namespace " + e.Namespace
	}
	return fmt.Sprintf("forbidden: cannot %s %s %s (RBAC needs verb %q on resource %q): %v",
		e.Verb, e.Resource, where, e.Verb, e.Resource, e.Err)
}

func (e *ForbiddenError) Unwrap() error { return e.Err }

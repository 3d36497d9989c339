package kubernetes

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// counting counts the requests a connection sends and the 429 answers it gets.
type counting struct {
	next              http.RoundTripper
	requests, tooMany atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		c.tooMany.Add(1)
	}
	return resp, err
}

// bigBed is a bed with n replicas of "web" spread over fake nodes added for it (each
// takes 110 pods).
func bigBed(b *testing.B, n int32) (*bed, *counting) {
	b.Helper()
	cnt := &counting{}
	wrapTransport = func(rt http.RoundTripper) http.RoundTripper { cnt.next = rt; return cnt }
	b.Cleanup(func() { wrapTransport = nil })
	kc := testenv.NeedEnv(b, envKubeconfig)
	conns.Delete(Cluster{Kubeconfig: kc})
	bd := newBed(b)
	ctx := context.Background()
	nodes := int(n)/100 + 1
	for i := range nodes {
		name := fmt.Sprintf("%s-node-%d", bd.ns, i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels:      map[string]string{"type": "kwok-bench", "kubernetes.io/hostname": name}},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")},
			},
		}
		if _, err := bd.c.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			b.Fatalf("create node %s: %v", name, err)
		}
		b.Cleanup(func() { bd.c.cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	start := time.Now()
	bd.deployment("web", n)
	b.Logf("%d pods ready in %s", n, time.Since(start).Round(time.Millisecond))
	return bd, cnt
}

// recovered waits, following a watch, until the deployment has want Ready pods, none of
// them one of the deleted, and reports itself fully ready; it returns how long that took
// from t0.
func recovered(b testing.TB, bd *bed, want int, deleted map[types.UID]bool, t0 time.Time) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v := watchPods(ctx, bd.c, bd.ns, metav1.ListOptions{LabelSelector: "app=web"})
	defer v.Close()
	err := v.Wait(ctx, func(pods []*corev1.Pod) bool {
		ready := 0
		for _, p := range pods {
			if deleted[p.UID] {
				return false
			}
			if p.DeletionTimestamp == nil && podReady(p) {
				ready++
			}
		}
		return ready == want
	})
	if err != nil {
		b.Fatalf("pods not back: %v", err)
	}
	bd.waitReady("web", time.Minute)
	return time.Since(t0)
}

// BenchmarkDeletePercent10Of1000 measures resolving a pods target of 1,000 pods, selecting
// percent(10) and deleting those 100 pods (ms/op), then, untimed, how long the Deployment
// takes to be fully Ready again (recover-ms) and whether the API server answered any
// request with 429.
func BenchmarkDeletePercent10Of1000(b *testing.B) {
	bd, cnt := bigBed(b, 1000)
	reg := registry()
	kind, _ := reg.Target(KindPods)
	ft, _ := reg.Fault("pod.delete")
	sel := shakedown.Selection{Mode: shakedown.SelectPercent, Percent: 10}
	var recover time.Duration
	cnt.requests.Store(0)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		all, err := kind.Resolve(context.Background(), shakedown.Env{}, &PodsParams{Cluster: bd.cluster, Namespace: bd.ns, Labels: map[string]string{"app": "web"}})
		if err != nil {
			b.Fatal(err)
		}
		picked := shakedown.Select(sel, all, int64(i))
		f, err := ft.New(shakedown.Env{}, &shakedown.FaultSpec{Name: "d", Type: "pod.delete", Params: &DeleteParams{Grace: ptr(shakedown.Duration(0))}}, picked)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Inject(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if len(all) != 1000 || len(picked) != 100 {
			b.Fatalf("resolved %d, picked %d; want 1000 and 100", len(all), len(picked))
		}
		deleted := map[types.UID]bool{}
		for _, in := range picked {
			deleted[types.UID(in.ID)] = true
		}
		recover += recovered(b, bd, 1000, deleted, t0)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(recover.Milliseconds())/float64(b.N), "recover-ms")
	b.ReportMetric(float64(cnt.tooMany.Load()), "http429")
}

// BenchmarkKubectlDeleteOneByOne is the comparison: the same 100 deletes by `kubectl delete
// pod`, one process per pod, one after the other, as a script would do them.
func BenchmarkKubectlDeleteOneByOne(b *testing.B) {
	kubectl := testenv.NeedCommand(b, "kubectl")
	bd, _ := bigBed(b, 1000)
	reg := registry()
	kind, _ := reg.Target(KindPods)
	sel := shakedown.Selection{Mode: shakedown.SelectPercent, Percent: 10}
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		b.StopTimer()
		all, err := kind.Resolve(context.Background(), shakedown.Env{}, &PodsParams{Cluster: bd.cluster, Namespace: bd.ns, Labels: map[string]string{"app": "web"}})
		if err != nil {
			b.Fatal(err)
		}
		picked := shakedown.Select(sel, all, int64(i))
		b.StartTimer()
		for _, in := range picked {
			out, err := exec.Command(kubectl, "--kubeconfig", bd.cluster.Kubeconfig, "-n", bd.ns, "delete", "pod", in.Attrs["name"]).CombinedOutput()
			if err != nil {
				b.Fatalf("kubectl delete pod %s: %v\n%s", in.Attrs["name"], err, out)
			}
		}
		b.StopTimer()
		deleted := map[types.UID]bool{}
		for _, in := range picked {
			deleted[types.UID(in.ID)] = true
		}
		recovered(b, bd, 1000, deleted, t0)
		b.StartTimer()
	}
}

package kubernetes

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/shakedown-dev/shakedown"
)

// view keeps the objects a list-and-watch returns up to date: it lists once, then follows a
// watch from the list's resource version, listing again when the watch ends with an error
// (a resource version too old, say). Readers see a consistent snapshot; waiters wake on
// every change. Close stops it.
type view[T any] struct {
	list  func(ctx context.Context, opts metav1.ListOptions) ([]T, string, error)
	watch func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	opts  metav1.ListOptions

	mu      sync.Mutex
	items   map[string]T
	synced  bool
	changed chan struct{} // closed and replaced on every change

	cancel context.CancelFunc
	done   chan struct{}
}

func newView[T any](ctx context.Context, opts metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) ([]T, string, error),
	w func(context.Context, metav1.ListOptions) (watch.Interface, error)) *view[T] {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	v := &view[T]{list: list, watch: w, opts: opts, items: map[string]T{}, changed: make(chan struct{}),
		cancel: cancel, done: make(chan struct{})}
	go v.run(ctx)
	return v
}

// Close stops the view's watch and waits for it to end.
func (v *view[T]) Close() error {
	v.cancel()
	<-v.done
	return nil
}

func (v *view[T]) notify() {
	close(v.changed)
	v.changed = make(chan struct{})
}

func key(obj any) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return m.GetNamespace() + "/" + m.GetName()
}

func (v *view[T]) run(ctx context.Context) {
	defer close(v.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		items, rv, err := v.list(ctx, v.opts)
		if err != nil {
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		m := make(map[string]T, len(items))
		for _, it := range items {
			m[key(any(it))] = it
		}
		v.mu.Lock()
		v.items, v.synced = m, true
		v.notify()
		v.mu.Unlock()
		v.follow(ctx, rv)
	}
}

// follow applies watch events from rv on until the watch ends. It returns to list again.
func (v *view[T]) follow(ctx context.Context, rv string) {
	for ctx.Err() == nil {
		opts := v.opts
		opts.ResourceVersion = rv
		opts.AllowWatchBookmarks = true
		w, err := v.watch(ctx, opts)
		if err != nil {
			return
		}
		gone := false
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				obj, ok := ev.Object.(T)
				if !ok {
					continue
				}
				v.mu.Lock()
				if ev.Type == watch.Deleted {
					delete(v.items, key(ev.Object))
				} else {
					v.items[key(ev.Object)] = obj
				}
				v.notify()
				v.mu.Unlock()
				rv = resourceVersion(ev.Object, rv)
			case watch.Bookmark:
				rv = resourceVersion(ev.Object, rv)
			case watch.Error:
				gone = apierrors.IsResourceExpired(apierrors.FromObject(ev.Object)) || apierrors.IsGone(apierrors.FromObject(ev.Object))
			}
			if gone {
				break
			}
		}
		w.Stop()
		if gone || ctx.Err() != nil {
			return
		}
	}
}

func resourceVersion(obj runtime.Object, old string) string {
	if m, err := meta.Accessor(obj); err == nil && m.GetResourceVersion() != "" {
		return m.GetResourceVersion()
	}
	return old
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Snapshot returns the objects as last seen, and whether the view has listed yet.
func (v *view[T]) Snapshot() ([]T, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]T, 0, len(v.items))
	for _, it := range v.items {
		out = append(out, it)
	}
	return out, v.synced
}

// Wait returns when cond holds for the view's objects, or with ctx's error. It wakes on
// every change the watch brings, not on a timer.
func (v *view[T]) Wait(ctx context.Context, cond func([]T) bool) error {
	for {
		v.mu.Lock()
		ch := v.changed
		v.mu.Unlock()
		items, synced := v.Snapshot()
		if synced && cond(items) {
			return nil
		}
		select {
		case <-ctx.Done():
			return shakedown.Wrap(shakedown.KindAborted, "wait", ctx.Err())
		case <-ch:
		}
	}
}

// watchPods returns a view of the pods in ns matching opts.
func watchPods(ctx context.Context, c *conn, ns string, opts metav1.ListOptions) *view[*corev1.Pod] {
	pods := c.cs.CoreV1().Pods(ns)
	return newView(ctx, opts,
		func(ctx context.Context, o metav1.ListOptions) ([]*corev1.Pod, string, error) {
			l, err := pods.List(ctx, o)
			if err != nil {
				return nil, "", apiErr(err, "list", "pods", ns, "")
			}
			return itemRefs(l.Items), l.ResourceVersion, nil
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return pods.Watch(ctx, o) })
}

// itemRefs returns pointers to the items of a list, as a view's list function gives them.
func itemRefs[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

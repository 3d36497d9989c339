//go:build !nokubernetes

package cli

import (
	"github.com/shakedown-dev/shakedown"
	"github.com/shakedown-dev/shakedown/fault/kubernetes"
)

// registerKubernetes adds the Kubernetes family. Builds tagged nokubernetes leave it out:
// client-go is most of the binary and of a cold build (`make demo` builds that way).
func registerKubernetes(r *shakedown.Registry, e Engines) {
	kubernetes.RegisterWith(r, kubernetes.Options{Kubeconfig: e.Kubeconfig, Context: e.Context})
}

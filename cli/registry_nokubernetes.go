//go:build nokubernetes

package cli

import "github.com/shakedown-dev/shakedown"

// registerKubernetes leaves the Kubernetes family out of a build tagged nokubernetes.
func registerKubernetes(*shakedown.Registry, Engines) {}

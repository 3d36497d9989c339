//go:build tools

// This file pins the modules the adapters are built on while they are being written; it is
// removed once every module here is imported by real code.
package shakedown

import (
	_ "github.com/HdrHistogram/hdrhistogram-go"
	_ "github.com/Shopify/toxiproxy/v2/client"
	_ "github.com/containerd/cgroups/v3/cgroup1"
	_ "github.com/florianl/go-nfqueue/v2"
	_ "github.com/goccy/go-yaml"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/google/nftables"
	_ "github.com/prometheus/client_golang/api"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/spf13/cobra"
	_ "github.com/tsenart/vegeta/v12/lib"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sys/unix"
)

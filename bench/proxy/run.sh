#!/bin/sh
# Measures shakedown's fault proxy against toxiproxy-server v2.12.0, side by side on the
# same local backends, and prints the medians of 3 runs as ratios. `make bench-proxy`
# runs it. Extra arguments go to the driver (e.g. -runs 5 -bulk-mb 1000).
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# The peer, toxiproxy-server v2.12.0, is built from the Go module proxy into a cache
# folder once ($PEERS_DIR to choose another), the one bench/load/run.sh keeps vegeta in.
peers=${PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/shakedown-peers/bin}
mkdir -p "$peers"
[ -x "$peers/server" ] || GOBIN=$peers go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0
# 10,000 idle connections need about 40,000 descriptors in this process and 20,000 in
# each proxy.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# Each proxy holds two descriptors per connection, and this driver two more (client and
# backend): where the limit cannot be raised (no CAP_SYS_RESOURCE) the idle figure uses
# as many connections as fit, and says so.
idle=10000
limit=$(ulimit -n)
if [ "$limit" != unlimited ] && [ "$limit" -lt 20200 ]; then
	idle=$(( (limit - 200) / 2 / 1000 * 1000 ))
	echo "note: descriptors limited to $limit per process: idle connections measured at $idle, not 10000" >&2
fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/proxybench" ./bench/proxy)
"$bin/proxybench" -toxiproxy "$peers/server" -idle "$idle" "$@"

#!/bin/sh
# Measures shakedown's fault proxy against toxiproxy-server v2.12.0, side by side on the
# same local backends, and prints the medians of 3 runs as ratios. `make bench-proxy`
# runs it. Extra arguments go to the driver (e.g. -runs 5 -bulk-mb 1000).
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
peers=$("$root/../shared/peers/install.sh" | tail -n 1)
# 10,000 idle connections need about 40,000 descriptors in this process and 20,000 in
# each proxy.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/proxybench" ./bench/proxy)
"$bin/proxybench" -toxiproxy "$peers/server" "$@"

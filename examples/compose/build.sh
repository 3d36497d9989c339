#!/usr/bin/env bash
# build.sh - build the shop replica image (shakedown-shop:dev) FROM scratch: a static build
# of examples/shop/cmd/shop and nothing else, through the Docker Engine API ($DOCKER_HOST)
# without BuildKit, so no base image is pulled.
set -euo pipefail
tag=${1:-shakedown-shop:dev}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/shop" ./examples/shop/cmd/shop)
printf 'FROM scratch\nCOPY shop /shop\nUSER 65532:65532\nENTRYPOINT ["/shop"]\n' >"$ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
echo "$tag"

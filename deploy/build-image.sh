#!/usr/bin/env bash
# build-image.sh - build the shakedown container image FROM scratch with the static binary.
#
#   deploy/build-image.sh [TAG]      default tag shakedown:dev
#
# Compiles ./cmd/shakedown with CGO_ENABLED=0 (a static binary: the image has no libc),
# puts it and deploy/Dockerfile alone in a temporary build context and asks the Docker
# Engine API ($DOCKER_HOST, or the default socket) to build it without BuildKit, so no base
# image or builder needs to be fetched. VERSION sets the version the binary reports.
set -euo pipefail
tag=${1:-shakedown:dev}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${VERSION:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
if [ -n "${BINARY:-}" ]; then
	cp "$BINARY" "$ctx/shakedown"
else
	(
		cd "$root"
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/shakedown-dev/shakedown.Version=$version" \
			-o "$ctx/shakedown" ./cmd/shakedown
	)
fi
cp "$root/deploy/Dockerfile" "$ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
echo "$tag"

#!/usr/bin/env bash
# release.sh - build a release of shakedown into dist/ (what `make release VERSION=vX.Y.Z` runs).
#
#   deploy/release.sh VERSION         VERSION is vMAJOR.MINOR.PATCH, with an optional -PRERELEASE
#
# From the working tree it builds, into dist/ (earlier shakedown-* files and SHA256SUMS there are
# replaced; nothing is left there if a step fails):
#
#   shakedown-VERSION-linux-amd64            static binaries (CGO_ENABLED=0, -trimpath) whose
#   shakedown-VERSION-linux-arm64            `shakedown version` prints VERSION
#   shakedown-VERSION-linux-ARCH.cdx.json    a CycloneDX SBOM of each: the modules linked into it
#                                            and the Go standard library (cyclonedx-gomod app, a
#                                            tool dependency in go.mod)
#   shakedown-VERSION-image-linux-ARCH.tar.gz  the container image shakedown:VERSION built by
#                                            deploy/build-image.sh around the released binary for
#                                            the Docker engine's architecture (docker load < it)
#   SHA256SUMS                               the SHA-256 of every file above, as sha256sum writes
#                                            them (check with sha256sum -c SHA256SUMS)
#
# The image needs a Docker engine ($DOCKER_HOST, or the default socket). IMAGE says what to do
# without one:
#   IMAGE=auto  (default) build it when an engine answers; otherwise the release is made without
#               it, and the last lines printed say so and why: publish it knowing that.
#   IMAGE=yes   the image is part of this release: no engine is an error.
#   IMAGE=no    do not build it.
# An engine that answers but fails the build fails the release in every mode.
#
# A release is built from a commit: a working tree with uncommitted changes or untracked files is
# refused (the binaries and SBOM would describe source that no commit holds) unless
# ALLOW_DIRTY=1, which warns instead. A tag VERSION on another commit than HEAD is refused; no tag
# VERSION yet is a reminder (`go install …@VERSION` needs the tag pushed). DIST=DIR builds
# elsewhere than dist/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module=github.com/shakedown-dev/shakedown
arches=(amd64 arm64)

die() { echo "release: $*" >&2; exit 2; }
note() { echo "release: $*" >&2; }

[ $# -eq 1 ] || die "usage: deploy/release.sh VERSION (or make release VERSION=vX.Y.Z)"
version=$1
semver='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'
[[ $version =~ $semver ]] ||
	die "VERSION \"$version\" is not a release version: want vMAJOR.MINOR.PATCH with an optional -PRERELEASE, e.g. v1.2.3 or v1.3.0-rc.1"

image=${IMAGE:-auto}
case $image in auto | yes | no) ;; *) die "IMAGE=\"$image\": want auto, yes or no" ;; esac
dist=${DIST:-$root/dist}

# The source: committed, and HEAD where the tag is if there is one.
git -C "$root" rev-parse --git-dir >/dev/null 2>&1 || die "$root is not a git checkout: a release is built from a commit"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=normal)" ]; then
	if [ "${ALLOW_DIRTY:-}" != 1 ]; then
		git -C "$root" status --short >&2
		die "the working tree has uncommitted changes or untracked files (above): commit or stash them, or set ALLOW_DIRTY=1 for a build that is not a release"
	fi
	note "warning: building from a working tree with uncommitted changes (ALLOW_DIRTY=1): not a release to publish"
fi
head=$(git -C "$root" rev-parse HEAD)
if tagged=$(git -C "$root" rev-parse -q --verify "refs/tags/$version^{commit}"); then
	[ "$tagged" = "$head" ] || die "tag $version is commit $tagged, but HEAD is $head: check out the tag to release it"
else
	note "no tag $version yet: tag this commit (git tag -a $version) and push the tag when publishing"
fi

# The build flags: a GOFLAGS with build tags would leave features out of the release.
case " $(go env GOFLAGS) " in *" -tags"*) die "GOFLAGS=\"$(go env GOFLAGS)\" sets build tags: a release has every feature; unset them" ;; esac

# The image needs an engine: asked first, so that IMAGE=yes without one fails before the builds.
dockererr=$(mktemp)
skipped=
if [ "$image" = no ]; then
	skipped="IMAGE=no"
elif ! command -v docker >/dev/null; then
	skipped="the docker command is not installed"
elif ! engine_arch=$(docker version --format '{{.Server.Arch}}' 2>"$dockererr"); then
	skipped="no Docker engine answers at ${DOCKER_HOST:-the default socket}: $(tail -n 1 "$dockererr")"
elif [[ ! " ${arches[*]} " =~ \ $engine_arch\  ]]; then
	skipped="the Docker engine runs on $engine_arch, and the release has no binary for it"
fi
rm -f "$dockererr"
[ -z "$skipped" ] || [ "$image" != yes ] || die "IMAGE=yes, but the container image cannot be built: $skipped"

mkdir -p "$dist"
stage=$(mktemp -d "$dist/.release.XXXXXX")
trap 'rm -rf "$stage"' EXIT

for arch in "${arches[@]}"; do
	bin=shakedown-$version-linux-$arch
	note "building $bin"
	(cd "$root" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath \
		-ldflags "-s -w -X $module.Version=$version" -o "$stage/$bin" ./cmd/shakedown)
done

# The SBOMs. cyclonedx-gomod names the main module's version after a tag on HEAD, which it reads
# with go-git (which cannot open a linked worktree) and which a release may not have yet: it
# reads a throwaway repository holding the working tree's files in one commit tagged VERSION.
src=$stage/.src
mkdir "$src"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
	tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$src"
git -C "$src" init -q
git -C "$src" add -A
git -C "$src" -c user.name=release -c user.email=release@localhost -c commit.gpgsign=false \
	commit -q -m "$version"
git -C "$src" -c tag.gpgsign=false tag "$version"
# The tool is built for this machine (go tool -n), then run with each target's GOOS and GOARCH.
cyclonedx=$(cd "$root" && go tool -n cyclonedx-gomod)
for arch in "${arches[@]}"; do
	sbom=shakedown-$version-linux-$arch.cdx.json
	note "writing $sbom"
	(cd "$root" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$cyclonedx" app \
		-json -licenses -std -main cmd/shakedown -output "$stage/$sbom" "$src" 2>"$stage/.sbom.log") ||
		{ cat "$stage/.sbom.log" >&2; die "cyclonedx-gomod failed for linux/$arch"; }
done
rm -rf "$src" "$stage/.sbom.log"

# The image, when an engine answered.
if [ -z "$skipped" ]; then
	tarball=shakedown-$version-image-linux-$engine_arch.tar.gz
	note "building the image shakedown:$version (linux/$engine_arch) and saving it as $tarball"
	BINARY=$stage/shakedown-$version-linux-$engine_arch VERSION=$version \
		"$root/deploy/build-image.sh" "shakedown:$version" >/dev/null
	docker save "shakedown:$version" | gzip -n >"$stage/$tarball"
fi

(cd "$stage" && sha256sum -- shakedown-* >SHA256SUMS)
rm -f "$dist"/shakedown-* "$dist/SHA256SUMS"
mv "$stage"/shakedown-* "$stage/SHA256SUMS" "$dist"/

echo "release $version in $dist:"
(cd "$dist" && cat SHA256SUMS)
if [ -n "$skipped" ]; then
	echo "the container image was NOT built: $skipped"
	echo "Build it where a Docker engine runs (IMAGE=yes makes its absence an error):"
	echo "  BINARY=$dist/shakedown-$version-linux-amd64 VERSION=$version deploy/build-image.sh shakedown:$version"
else
	echo "the container image: shakedown:$version"
fi

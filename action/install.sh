#!/usr/bin/env bash
# Installs shakedown for a CI job: install.sh DEST_DIR puts an executable DEST_DIR/shakedown.
# Used by action.yml (the GitHub Action) and, as a copy kept identical by action_test.go, by
# templates/shakedown.yml (the GitLab CI/CD component).
#
# SHAKEDOWN_VERSION   a release tag (v1.2.3): download shakedown-v1.2.3-linux-ARCH and
#                     SHA256SUMS from the release and verify the binary's checksum (a
#                     mismatch or a missing line fails, and nothing is installed);
#                     empty or "source": go build ./cmd/shakedown in SHAKEDOWN_SOURCE
# SHAKEDOWN_SOURCE    the checkout to build from (the action's own, or the project's)
# SHAKEDOWN_RELEASES  where releases are downloaded from (default
#                     https://github.com/shakedown-dev/shakedown/releases/download)
set -euo pipefail

die() { echo "shakedown install: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: install.sh DEST_DIR"
dest=$1
version=${SHAKEDOWN_VERSION:-}
releases=${SHAKEDOWN_RELEASES:-https://github.com/shakedown-dev/shakedown/releases/download}
mkdir -p "$dest"

if [ -z "$version" ] || [ "$version" = source ]; then
  src=${SHAKEDOWN_SOURCE:-}
  if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
    die "version is \"$version\" (build from source), but SHAKEDOWN_SOURCE (\"$src\") is not a checkout of shakedown"
  fi
  command -v go >/dev/null || die "building from source needs Go on the runner (or set version to a release tag such as v1.2.3)"
  stamp=source
  if rev=$(git -C "$src" rev-parse --short HEAD 2>/dev/null); then stamp=source-$rev; fi
  echo "shakedown install: building $src/cmd/shakedown ($stamp)"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/shakedown-dev/shakedown.Version=$stamp" \
    -o "$dest/shakedown" ./cmd/shakedown)
else
  [[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
    die "version \"$version\": want a release tag such as v1.2.3, or \"source\""
  [ "$(uname -s)" = Linux ] || die "releases are built for Linux; this runner is $(uname -s)"
  for c in curl sha256sum; do
    command -v "$c" >/dev/null || die "installing a release needs $c on the runner"
  done
  case $(uname -m) in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no released binary for $(uname -m): set version to \"source\" to build one" ;;
  esac
  asset=shakedown-$version-linux-$arch
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  for f in "$asset" SHA256SUMS; do
    echo "shakedown install: downloading $releases/$version/$f"
    curl -fsSL --retry 3 --retry-connrefused -o "$tmp/$f" "$releases/$version/$f" ||
      die "download $releases/$version/$f failed"
  done
  # Lines read "<sha256>  <file>" (sha256sum's format; "*<file>" in its binary mode).
  want=$(awk -v f="$asset" '$2 == f || $2 == "*" f { print $1; n++ } END { exit n != 1 }' "$tmp/SHA256SUMS") ||
    die "SHA256SUMS of $version has no single line for $asset"
  got=$(sha256sum "$tmp/$asset" | awk '{ print $1 }')
  if [ "$got" != "$want" ]; then
    die "checksum mismatch for $asset: SHA256SUMS says $want, the download is $got; nothing installed"
  fi
  echo "shakedown install: $asset matches SHA256SUMS ($got)"
  chmod 0755 "$tmp/$asset"
  mv "$tmp/$asset" "$dest/shakedown"
fi
"$dest/shakedown" version

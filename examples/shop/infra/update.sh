#!/usr/bin/env bash
# update.sh VERSION: roll the running shop's replicas to VERSION, one at a time, each one
# back and healthy behind HAProxy before the next goes. The version is the file
# versions/VERSION.env; a real deploy would ship a new binary the same way.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: update.sh VERSION"
vfile=$(version_file "$1") || exit 1
take_lock
alive "$RUN/haproxy.pid" || die "the shop is not running under $SHOP_STATE; run provision.sh $1 first"

cp "$vfile" "$SHOP_STATE/shop.env"
for i in $(seq 1 $SHOP_REPLICAS); do
  say "rolling web-$i to $1"
  stop_replica "$i"
  start_replica "$i"
  wait_until 15 "HAProxy health check of web-$i" haproxy_up "web-$i"
done
echo "$1" >"$SHOP_STATE/version"
say "shop is at $1"

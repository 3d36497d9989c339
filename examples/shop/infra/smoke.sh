#!/usr/bin/env bash
# smoke.sh: is the provisioned shop whole? Checkout answers through HAProxy from every
# replica, both of the fault proxy's links exist, Prometheus scrapes all four targets and has
# loaded the alert rules, and no alert fires. Exits 0 or 1, saying what is wrong.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

fail=0
bad() { say "smoke: FAIL: $*"; fail=1; }
ok() { say "smoke: ok: $*"; }

seen=""
for n in $(seq 1 30); do
  body=$(curl -fsS --max-time 2 "http://127.0.0.1:$SHOP_PORT/checkout?item=widget") || { bad "checkout through HAProxy: $body"; break; }
  seen="$seen $(printf '%s' "$body" | grep -o '"replica":"[^"]*"' | cut -d'"' -f4)"
done
for i in $(seq 1 $SHOP_REPLICAS); do
  grep -qw "web-$i" <<<"$seen" && ok "web-$i answers checkout through HAProxy" || bad "web-$i never answered checkout through HAProxy"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$SHOP_PORT/checkout?item=no-such-item")
[ "$code" = 404 ] && ok "an unknown item is a 404" || bad "an unknown item answered $code, want 404"

proxies=$(curl -fsS --max-time 2 "http://127.0.0.1:$SHOP_PROXY_API/proxies") || bad "the proxy daemon's API does not answer"
for p in redis postgres; do
  grep -q "\"$p\"" <<<"$proxies" && ok "fault proxy $p exists" || bad "fault proxy $p is missing"
done

q() { curl -fsS --max-time 2 "http://127.0.0.1:$SHOP_PROM_PORT/api/v1/query" --data-urlencode "query=$1" | grep -o '"value":\[[^]]*\]' | grep -o '"[0-9.]*"]$' | tr -d '"]'; }
up=""
for n in $(seq 1 50); do up=$(q 'sum(up)'); [ "$up" = $((SHOP_REPLICAS + 1)) ] && break; sleep 0.2; done
[ "$up" = $((SHOP_REPLICAS + 1)) ] && ok "Prometheus scrapes all $up targets" || bad "Prometheus sees ${up:-no} targets up, want $((SHOP_REPLICAS + 1))"
rules=$(curl -fsS --max-time 2 "http://127.0.0.1:$SHOP_PROM_PORT/api/v1/rules")
for a in ReplicaDown HighErrorRate CacheSlow StoreDown; do
  grep -q "\"name\":\"$a\"" <<<"$rules" && ok "alert rule $a is loaded" || bad "alert rule $a is not loaded"
done
# Right after a provision or an update a restarted replica may still have ReplicaDown
# pending for a scrape or two: give the alerts up to 20 s to settle.
for n in $(seq 1 100); do
  firing=$(curl -fsS --max-time 2 "http://127.0.0.1:$SHOP_PROM_PORT/api/v1/alerts" | grep -o '"alertname":"[^"]*"' | sort -u | tr '\n' ' ')
  [ -z "$firing" ] && break
  sleep 0.2
done
[ -z "$firing" ] && ok "no alert is pending or firing" || bad "alerts pending or firing before any fault, 20 s after the start: $firing"
exit $fail

#!/usr/bin/env bash
# teardown.sh: stop everything provision.sh started and remove the replicas' namespaces, the
# veths and the bridge, whatever state a run left behind (a half-done provision, a cancelled
# experiment, a replica left paused). Keeps $SHOP_STATE/bin and $SHOP_STATE/log.
#
# Exits 0 when nothing of the shop is left running, 1 (naming what is left) otherwise.
# SHOP_KEEP_DATA=1 keeps the data directories (PostgreSQL, Redis, Prometheus).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
take_lock

# Which of our processes are left: programs run from $SHOP_BIN, anything whose command line
# names the state directory, anything in the replicas' namespaces. Never this script or its
# parents.
ours() {
  local self=$$ pid exe cmd
  local -A skip=()
  local p=$self
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do skip[$p]=1; p=$(awk '/^PPid:/ {print $2}' /proc/$p/status 2>/dev/null); done
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ -n "${skip[$pid]:-}" ] && continue
    exe=$(readlink "$d/exe" 2>/dev/null) || continue
    cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    # By program only when SHOP_BIN is ours alone (inside the state directory).
    case "$SHOP_BIN" in "$SHOP_STATE"/*) case "$exe" in "$SHOP_BIN"/*) echo "$pid"; continue ;; esac ;; esac
    case "$cmd" in *"$SHOP_STATE"/*|*"$SHOP_STATE "*) echo "$pid"; continue ;; esac
  done
  if [ "$SHOP_NETNS" = 1 ]; then
    for i in $(seq 1 $SHOP_REPLICAS); do
      ip netns pids "$(netns_of "$i")" 2>/dev/null
    done
  fi
  # Backends of our PostgreSQL rewrite their command lines: find them as its children.
  local pm; pm=$(head -n 1 "$SHOP_STATE/pg/postmaster.pid" 2>/dev/null)
  if [ -n "$pm" ] && [ -d "/proc/$pm" ]; then
    echo "$pm"; pgrep -P "$pm" 2>/dev/null
  fi
}

# Gently first: supervisors (they stop their replicas), then the services.
for i in $(seq 1 $SHOP_REPLICAS); do
  stop_pidfile "$RUN/supervise-web-$i.pid" 7 &
done
wait
for i in $(seq 1 $SHOP_REPLICAS); do stop_pidfile "$RUN/web-$i.pid" 2; done
for s in haproxy prometheus proxy redis; do stop_pidfile "$RUN/$s.pid" 5 & done
if [ -f "$SHOP_STATE/pg/postmaster.pid" ] && pgbin=$(pg_bindir) && [ -n "$pgbin" ]; then
  pm=$(head -n 1 "$SHOP_STATE/pg/postmaster.pid")
  children=$(pgrep -P "$pm" 2>/dev/null | tr '\n' ' ')
  as_pg "$pgbin/pg_ctl" -D "$SHOP_STATE/pg" -m immediate -w -t 10 stop >/dev/null 2>&1
  for p in $pm $children; do kill -KILL "$p" 2>/dev/null; done
fi
rm -f "$RUN/postgres.pid"
wait

# Then whatever is left, at once.
for round in 1 2 3; do
  left=$(ours | sort -u)
  [ -z "$left" ] && break
  for p in $left; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  sleep 0.3
done

# Network: namespaces (their veth ends go with them), the root-side veths, the bridge.
if [ "$(id -u)" = 0 ]; then
  for i in $(seq 1 $SHOP_REPLICAS); do
    ip netns del "$(netns_of "$i")" 2>/dev/null
    ip link del "$(veth_of "$i")" 2>/dev/null
  done
  ip link del "$SHOP_BRIDGE" 2>/dev/null
fi

if [ "${SHOP_KEEP_DATA:-}" != 1 ]; then
  rm -rf "$SHOP_STATE/pg" "$SHOP_STATE/pgsock" "$SHOP_STATE/pglog" "$SHOP_STATE/redis" "$SHOP_STATE/prometheus" \
    "$SHOP_STATE/version" "$SHOP_STATE/shop.env"
fi
rm -rf "$RUN"

# What is left, if anything, is an error.
status=0
left=$(ours | sort -u | tr '\n' ' ')
if [ -n "${left// /}" ]; then say "error: still running after teardown: pids $left"; status=1; fi
if [ "$(id -u)" = 0 ]; then
  for i in $(seq 1 $SHOP_REPLICAS); do
    ip netns list 2>/dev/null | grep -qw "^$(netns_of "$i")" && { say "error: namespace $(netns_of "$i") is left"; status=1; }
    ip link show "$(veth_of "$i")" >/dev/null 2>&1 && { say "error: veth $(veth_of "$i") is left"; status=1; }
  done
  ip link show "$SHOP_BRIDGE" >/dev/null 2>&1 && { say "error: bridge $SHOP_BRIDGE is left"; status=1; }
fi
[ $status = 0 ] && say "teardown: nothing of the shop is left running"
exit $status

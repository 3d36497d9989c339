#!/usr/bin/env bash
# provision.sh VERSION: bring the sample shop up at VERSION, or bring a running one to it.
#
# Idempotent: what already runs (ours, by its pid file) is kept; what is missing is started;
# replicas running another version are rolled to VERSION one at a time. Starts our own
# PostgreSQL, Redis, shakedown proxy daemon, three supervised shop replicas (each in its own
# network namespace when root), HAProxy and Prometheus — never the system services.
# Settings: see lib.sh. On failure it exits non-zero and leaves what it started for
# teardown.sh (the pipeline always runs it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

version=${1:-}
[ $# -eq 1 ] || die "usage: provision.sh VERSION (one of: $(known_versions))"
vfile=$(version_file "$version") || exit 1
take_lock
check_packages || exit 1
if [ "$SHOP_NETNS" = 1 ] && [ "$(id -u)" != 0 ]; then die "SHOP_NETNS=1 needs root (network namespaces); run as root or set SHOP_NETNS=0"; fi

mkdir -p "$SHOP_STATE" "$RUN" "$LOGS" "$SHOP_BIN"
chmod 755 "$SHOP_STATE"

# Binaries: the pipeline's build stage puts them in SHOP_BIN; build what is missing.
for b in shop supervise shakedown; do
  if [ ! -x "$SHOP_BIN/$b" ]; then
    command -v go >/dev/null || die "$SHOP_BIN/$b is missing and go is not installed to build it"
    say "building $b"
    case $b in
      shakedown) pkg=./cmd/shakedown ;;
      *) pkg=./examples/shop/cmd/$b ;;
    esac
    (cd "$SHOP_DIR/../.." && CGO_ENABLED=0 go build -o "$SHOP_BIN/$b" "$pkg")
  fi
done

# Ports: each must be ours already or free.
check_port() { # PORT WHAT VARIABLE PIDFILE
  if ! alive "$4" && port_busy "$1"; then
    die "port $1 ($2) is in use by another program; free it or choose another with $3=PORT"
  fi
}
check_port "$SHOP_PG_PORT" "PostgreSQL" SHOP_PG_PORT "$RUN/postgres.pid"
check_port "$SHOP_REDIS_PORT" "Redis" SHOP_REDIS_PORT "$RUN/redis.pid"
check_port "$SHOP_PROXY_API" "the shakedown proxy daemon's API" SHOP_PROXY_API "$RUN/proxy.pid"
check_port "$SHOP_CACHE_PORT" "the cache link through the fault proxy" SHOP_CACHE_PORT "$RUN/proxy.pid"
check_port "$SHOP_DB_PORT" "the database link through the fault proxy" SHOP_DB_PORT "$RUN/proxy.pid"
check_port "$SHOP_PORT" "the shop's front door, HAProxy" SHOP_PORT "$RUN/haproxy.pid"
check_port "$SHOP_STATS_PORT" "HAProxy's stats and metrics" SHOP_STATS_PORT "$RUN/haproxy.pid"
check_port "$SHOP_PROM_PORT" "Prometheus" SHOP_PROM_PORT "$RUN/prometheus.pid"
if [ "$SHOP_NETNS" = 0 ]; then
  for i in $(seq 1 $SHOP_REPLICAS); do
    check_port "$(replica_addr "$i" | cut -d: -f2)" "replica web-$i" SHOP_WEB_PORT "$RUN/supervise-web-$i.pid"
  done
fi

# Network: a bridge in the root namespace at $SHOP_GATEWAY, one namespace per replica host.
if [ "$SHOP_NETNS" = 1 ]; then
  if ! ip link show "$SHOP_BRIDGE" >/dev/null 2>&1; then
    if ip -4 addr show | grep -q "inet $SHOP_SUBNET\."; then
      die "the subnet $SHOP_SUBNET.0/24 is already used on this machine; choose another with SHOP_SUBNET=A.B.C"
    fi
    ip link add "$SHOP_BRIDGE" type bridge
    ip addr add "$SHOP_GATEWAY/24" dev "$SHOP_BRIDGE"
    ip link set "$SHOP_BRIDGE" up
  fi
  for i in $(seq 1 $SHOP_REPLICAS); do
    ns=$(netns_of "$i") veth=$(veth_of "$i")
    ip netns list | grep -qw "^$ns" || ip netns add "$ns"
    if ! ip link show "$veth" >/dev/null 2>&1; then
      ip netns exec "$ns" ip link del eth0 2>/dev/null || true
      ip link add "$veth" type veth peer name eth0 netns "$ns"
      ip link set "$veth" master "$SHOP_BRIDGE" up
      ip netns exec "$ns" ip addr add "$SHOP_SUBNET.$((10 + i))/24" dev eth0
      ip netns exec "$ns" ip link set eth0 up
      ip netns exec "$ns" ip link set lo up
      ip netns exec "$ns" ip route add default via "$SHOP_GATEWAY"
    fi
  done
fi

# SSH: each replica's host runs OpenSSH, so that experiments reach the replicas as a fleet of
# hosts (the hosts target): $SSH_DIR holds the client key, known_hosts and inventory.json.
if [ "$SHOP_NETNS" = 1 ]; then
  mkdir -p "$SSH_DIR" && chmod 700 "$SSH_DIR"
  [ -f "$SSH_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C shakedown-shop -f "$SSH_DIR/id_ed25519"
  for i in $(seq 1 $SHOP_REPLICAS); do
    alive "$RUN/sshd-web-$i.pid" || start_sshd "$i"
  done
  for i in $(seq 1 $SHOP_REPLICAS); do
    echo "$(host_addr "$i") $(cut -d' ' -f1,2 "$SSH_DIR/web-$i/ssh_host_ed25519_key.pub")"
  done >"$SSH_DIR/known_hosts"
  {
    echo '{"user": "root", "identity": "id_ed25519", "known_hosts": "known_hosts", "hosts": ['
    for i in $(seq 1 $SHOP_REPLICAS); do
      [ "$i" = 1 ] || echo ','
      printf '  {"name": "web-%s", "address": "%s", "labels": {"replica": "web-%s"}}' "$i" "$(host_addr "$i")" "$i"
    done
    printf '\n]}\n'
  } >"$SSH_DIR/inventory.json"
  for i in $(seq 1 $SHOP_REPLICAS); do
    wait_until 10 "SSH on web-$i's host" ssh_answers "$(host_addr "$i")" ||
      { tail -n 5 "$LOGS/sshd-web-$i.log" >&2; exit 1; }
  done
fi
# PostgreSQL: our own cluster in $SHOP_STATE/pg, listening on 127.0.0.1 only.
pgbin=$(pg_bindir)
if ! alive "$RUN/postgres.pid"; then
  if [ ! -f "$SHOP_STATE/pg/PG_VERSION" ]; then
    rm -rf "$SHOP_STATE/pg"; mkdir -p "$SHOP_STATE/pg"
    [ "$(id -u)" = 0 ] && chown postgres: "$SHOP_STATE/pg"
    say "initialising PostgreSQL in $SHOP_STATE/pg"
    as_pg "$pgbin/initdb" -D "$SHOP_STATE/pg" -U shop --auth=trust -E UTF8 >"$LOGS/initdb.log" 2>&1 ||
      { tail -n 20 "$LOGS/initdb.log" >&2; die "initdb failed (log $LOGS/initdb.log)"; }
  fi
  mkdir -p "$SHOP_STATE/pgsock" "$SHOP_STATE/pglog"
  [ "$(id -u)" = 0 ] && chown postgres: "$SHOP_STATE/pgsock" "$SHOP_STATE/pglog"
  say "starting PostgreSQL on 127.0.0.1:$SHOP_PG_PORT"
  as_pg "$pgbin/pg_ctl" -D "$SHOP_STATE/pg" -l "$SHOP_STATE/pglog/postgres.log" -w -t 30 \
    -o "-p $SHOP_PG_PORT -k $SHOP_STATE/pgsock -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60 -c shared_buffers=16MB" \
    start >/dev/null 9>&- || { tail -n 20 "$SHOP_STATE/pglog/postgres.log" >&2; die "PostgreSQL did not start"; }
  head -n 1 "$SHOP_STATE/pg/postmaster.pid" >"$RUN/postgres.pid"
fi
psql -qAt -h 127.0.0.1 -p "$SHOP_PG_PORT" -U shop -d postgres -c "SELECT 1 FROM pg_database WHERE datname='shop'" | grep -q 1 ||
  psql -q -h 127.0.0.1 -p "$SHOP_PG_PORT" -U shop -d postgres -c "CREATE DATABASE shop" >/dev/null
"$SHOP_BIN/shop" -init-db -postgres "postgres://shop@127.0.0.1:$SHOP_PG_PORT/shop?sslmode=disable" ||
  die "could not create the prices table"

# Redis: no persistence, our own port and pid file.
if ! alive "$RUN/redis.pid"; then
  mkdir -p "$SHOP_STATE/redis"
  say "starting Redis on 127.0.0.1:$SHOP_REDIS_PORT"
  redis-server --port "$SHOP_REDIS_PORT" --bind 127.0.0.1 --daemonize yes --pidfile "$RUN/redis.pid" \
    --dir "$SHOP_STATE/redis" --logfile "$LOGS/redis.log" --save "" --appendonly no >/dev/null 9>&-
  wait_until 10 "Redis on port $SHOP_REDIS_PORT" bash -c "exec 3<>/dev/tcp/127.0.0.1/$SHOP_REDIS_PORT"
fi

# The fault proxy daemon; the replicas reach Redis and PostgreSQL through its proxies.
if ! alive "$RUN/proxy.pid"; then
  say "starting the shakedown proxy daemon, API on 127.0.0.1:$SHOP_PROXY_API"
  setsid "$SHOP_BIN/shakedown" proxy --api "127.0.0.1:$SHOP_PROXY_API" </dev/null >>"$LOGS/proxy.log" 2>&1 9>&- &
  echo $! >"$RUN/proxy.pid"
  wait_until 10 "shakedown proxy API on port $SHOP_PROXY_API" http_ok "http://127.0.0.1:$SHOP_PROXY_API/version" ||
    { tail -n 5 "$LOGS/proxy.log" >&2; exit 1; }
fi
curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' "http://127.0.0.1:$SHOP_PROXY_API/populate" -d "[
  {\"name\": \"redis\", \"listen\": \"$SHOP_GATEWAY:$SHOP_CACHE_PORT\", \"upstream\": \"127.0.0.1:$SHOP_REDIS_PORT\", \"enabled\": true},
  {\"name\": \"postgres\", \"listen\": \"$SHOP_GATEWAY:$SHOP_DB_PORT\", \"upstream\": \"127.0.0.1:$SHOP_PG_PORT\", \"enabled\": true}
]" >/dev/null || die "could not create the redis and postgres proxies on the proxy daemon (log $LOGS/proxy.log)"

# Replicas: roll any that run another version (update.sh does the same).
current=$(cat "$SHOP_STATE/version" 2>/dev/null || true)
if [ "$current" != "$version" ] || ! cmp -s "$vfile" "$SHOP_STATE/shop.env"; then
  cp "$vfile" "$SHOP_STATE/shop.env"
  roll=1
else
  roll=0
fi
for i in $(seq 1 $SHOP_REPLICAS); do
  if [ $roll = 1 ] || ! alive "$RUN/supervise-web-$i.pid"; then
    stop_replica "$i"
    say "starting replica web-$i at $(replica_addr "$i") ($version)"
    start_replica "$i"
  fi
done
echo "$version" >"$SHOP_STATE/version"

# HAProxy: the front door, health checks on every replica, Prometheus exporter on the stats port.
{
  cat <<EOF
# Generated by examples/shop/infra/provision.sh; edit the script, not this file.
global
    maxconn 4000

defaults
    mode http
    option httplog
    timeout connect 200ms
    timeout client 10s
    timeout server 1s
    timeout check 400ms
    # A checkout is a read: one that could not reach a replica (refused, reset, or no answer
    # within 1 s) is retried, on another replica.
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout

frontend shop
    bind 127.0.0.1:$SHOP_PORT
    default_backend web

frontend stats
    bind 127.0.0.1:$SHOP_STATS_PORT
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /stats
    stats refresh 5s

backend web
    balance leastconn
    option httpchk GET /healthz
    http-check expect status 200
    default-server check inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2
EOF
  for i in $(seq 1 $SHOP_REPLICAS); do echo "    server web-$i $(replica_addr "$i")"; done
} >"$SHOP_STATE/haproxy.cfg.new"
haproxy -c -q -f "$SHOP_STATE/haproxy.cfg.new" || die "generated HAProxy configuration is invalid"
if ! alive "$RUN/haproxy.pid" || ! cmp -s "$SHOP_STATE/haproxy.cfg.new" "$SHOP_STATE/haproxy.cfg"; then
  mv "$SHOP_STATE/haproxy.cfg.new" "$SHOP_STATE/haproxy.cfg"
  if alive "$RUN/haproxy.pid"; then
    say "reloading HAProxy"
    haproxy -D -f "$SHOP_STATE/haproxy.cfg" -p "$RUN/haproxy.pid" -sf "$(cat "$RUN/haproxy.pid")" 9>&-
  else
    say "starting HAProxy on 127.0.0.1:$SHOP_PORT (stats and metrics on 127.0.0.1:$SHOP_STATS_PORT)"
    haproxy -D -f "$SHOP_STATE/haproxy.cfg" -p "$RUN/haproxy.pid" >>"$LOGS/haproxy.log" 2>&1 9>&-
  fi
else
  rm -f "$SHOP_STATE/haproxy.cfg.new"
fi
for i in $(seq 1 $SHOP_REPLICAS); do
  wait_until 15 "HAProxy health check of web-$i" haproxy_up "web-$i"
done

# Prometheus: scrapes the replicas and HAProxy every second, evaluates the alert rules every second.
mkdir -p "$SHOP_STATE/prometheus"
cp "$SHOP_DIR/infra/alerts.yml" "$SHOP_STATE/alerts.yml"
{
  cat <<EOF
# Generated by examples/shop/infra/provision.sh; edit the script, not this file.
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: ["$SHOP_STATE/alerts.yml"]
scrape_configs:
  - job_name: shop
    static_configs:
EOF
  for i in $(seq 1 $SHOP_REPLICAS); do
    echo "      - {targets: ['$(replica_addr "$i")'], labels: {replica: web-$i}}"
  done
  cat <<EOF
  - job_name: haproxy
    static_configs:
      - targets: ['127.0.0.1:$SHOP_STATS_PORT']
EOF
} >"$SHOP_STATE/prometheus.yml"
if ! alive "$RUN/prometheus.pid"; then
  say "starting Prometheus on 127.0.0.1:$SHOP_PROM_PORT"
  setsid prometheus --config.file="$SHOP_STATE/prometheus.yml" --storage.tsdb.path="$SHOP_STATE/prometheus" \
    --storage.tsdb.retention.time=2h --web.listen-address="127.0.0.1:$SHOP_PROM_PORT" --web.enable-lifecycle \
    </dev/null >>"$LOGS/prometheus.log" 2>&1 9>&- &
  echo $! >"$RUN/prometheus.pid"
else
  curl -fsS --max-time 5 -X POST "http://127.0.0.1:$SHOP_PROM_PORT/-/reload" >/dev/null || true
fi
wait_until 30 "Prometheus on port $SHOP_PROM_PORT" http_ok "http://127.0.0.1:$SHOP_PROM_PORT/-/ready" ||
  { tail -n 5 "$LOGS/prometheus.log" >&2; exit 1; }

say "shop $version is up: http://127.0.0.1:$SHOP_PORT/checkout (Prometheus http://127.0.0.1:$SHOP_PROM_PORT)"

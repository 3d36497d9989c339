# Shared settings and helpers of the shop's infrastructure scripts. Sourced, not run.
#
# Everything the scripts start is our own instance: its own data directory, ports and pid
# files under $SHOP_STATE. No system service is started, stopped or reconfigured.
#
# Settings (environment variables, all optional):
#   SHOP_STATE        state directory (default /tmp/shakedown-shop)
#   SHOP_BIN          where shop, supervise and shakedown are (default $SHOP_STATE/bin)
#   SHOP_NETNS        1: each replica in its own network namespace (default when root); 0: not
#   SHOP_SUBNET       the first three octets of the replicas' private /24 (default 10.77.0)
#   SHOP_PREFIX       names the namespaces (PREFIX-host-N), veths (PREFIXvN), bridge (PREFIXbr0); default shop
#   SHOP_PORT         the shop's front door, HAProxy (default 18080)
#   SHOP_STATS_PORT   HAProxy's stats page and Prometheus exporter (default 18404)
#   SHOP_PROM_PORT    Prometheus (default 19090)
#   SHOP_PROXY_API    the shakedown proxy daemon's API (default 18474)
#   SHOP_REDIS_PORT   Redis (default 16379); replicas reach it through the proxy on SHOP_CACHE_PORT (16380)
#   SHOP_PG_PORT      PostgreSQL (default 15432); replicas reach it through the proxy on SHOP_DB_PORT (15433)
#   SHOP_WEB_PORT     the replicas' port (default 8080 in their namespaces; 18081.. without them)

SHOP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHOP_STATE=${SHOP_STATE:-/tmp/shakedown-shop}
SHOP_BIN=${SHOP_BIN:-$SHOP_STATE/bin}
SHOP_SUBNET=${SHOP_SUBNET:-10.77.0}
SHOP_PORT=${SHOP_PORT:-18080}
SHOP_STATS_PORT=${SHOP_STATS_PORT:-18404}
SHOP_PROM_PORT=${SHOP_PROM_PORT:-19090}
SHOP_PROXY_API=${SHOP_PROXY_API:-18474}
SHOP_REDIS_PORT=${SHOP_REDIS_PORT:-16379}
SHOP_CACHE_PORT=${SHOP_CACHE_PORT:-16380}
SHOP_PG_PORT=${SHOP_PG_PORT:-15432}
SHOP_DB_PORT=${SHOP_DB_PORT:-15433}
SHOP_REPLICAS=3
case "$SHOP_STATE" in
  /*/*) ;;
  *) echo "error: SHOP_STATE=$SHOP_STATE: want an absolute path at least two levels deep, such as /tmp/shakedown-shop" >&2; exit 1 ;;
esac
SHOP_STATE=${SHOP_STATE%/}
if [ -z "${SHOP_NETNS:-}" ]; then
  if [ "$(id -u)" = 0 ]; then SHOP_NETNS=1; else SHOP_NETNS=0; fi
fi
if [ "$SHOP_NETNS" = 1 ]; then
  SHOP_GATEWAY=$SHOP_SUBNET.1 # the root namespace's address on the replicas' bridge
  SHOP_WEB_PORT=${SHOP_WEB_PORT:-8080}
else
  SHOP_GATEWAY=127.0.0.1
  SHOP_WEB_PORT=${SHOP_WEB_PORT:-18081}
fi
SHOP_PREFIX=${SHOP_PREFIX:-shop}
[[ $SHOP_PREFIX =~ ^[a-z][a-z0-9]{0,7}$ ]] || { echo "error: SHOP_PREFIX=$SHOP_PREFIX: want 1 to 8 lower-case letters and digits" >&2; exit 1; }
SHOP_BRIDGE=${SHOP_PREFIX}br0
RUN=$SHOP_STATE/run
LOGS=$SHOP_STATE/log

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Names and addresses of replica i (1-based).
netns_of() { echo "$SHOP_PREFIX-host-$1"; }
host_addr() { echo "$SHOP_SUBNET.$((10 + $1))"; } # its host's address, with SHOP_NETNS=1
SSH_DIR=$SHOP_STATE/ssh # the replica hosts' SSH keys, known_hosts and inventory.json
veth_of() { echo "${SHOP_PREFIX}v$1"; }
replica_addr() {
  if [ "$SHOP_NETNS" = 1 ]; then echo "$SHOP_SUBNET.$((10 + $1)):$SHOP_WEB_PORT"
  else echo "127.0.0.1:$((SHOP_WEB_PORT + $1 - 1))"; fi
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && { echo "$d"; return; }; done
  local p; p=$(command -v pg_ctl 2>/dev/null) && dirname "$p"
}

# as_pg COMMAND...: run COMMAND as the postgres user when root (PostgreSQL refuses to run
# as root), else as ourselves.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# check_packages says which Debian packages are missing, and how to install them.
check_packages() {
  local missing=() cmd pkg
  for pair in redis-server:redis-server haproxy:haproxy prometheus:prometheus curl:curl \
              ip:iproute2 ss:iproute2 flock:util-linux setsid:util-linux psql:postgresql-client; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ -n "$(pg_bindir)" ] || missing+=(postgresql)
  if [ "$SHOP_NETNS" = 1 ] && [ "$(id -u)" = 0 ]; then
    command -v runuser >/dev/null || missing+=(util-linux)
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    say "error: missing Debian packages: ${missing[*]}"
    say "  install them with: apt-get install -y ${missing[*]}"
    return 1
  fi
}

# port_busy PORT: something listens on PORT (any address).
port_busy() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2s until it succeeds.
wait_until() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then say "error: $what: not ready within ${secs}s"; return 1; fi
    sleep 0.2
  done
}

# alive PIDFILE: the process the file names runs.
alive() { local p; p=$(cat "$1" 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# take_lock: one pipeline or infra command at a time per state directory. The lock is held
# on fd 9 until the shell exits. SHOP_LOCKED=1 says a parent already holds it.
take_lock() {
  [ "${SHOP_LOCKED:-}" = 1 ] && return 0
  mkdir -p "$(dirname "$SHOP_STATE")"
  exec 9>>"$SHOP_STATE.lock"
  if ! flock -n 9; then
    local holder; holder=$(cat "$SHOP_STATE.lock.pid" 2>/dev/null)
    kill -0 "$holder" 2>/dev/null && holder=" by pid $holder" || holder=""
    say "error: another shop pipeline or infra command is running on $SHOP_STATE (it holds $SHOP_STATE.lock$holder)"
    say "  wait for it to finish, or set SHOP_STATE to a directory of your own"
    exit "${SHOP_LOCK_EXIT:-1}"
  fi
  echo $$ >"$SHOP_STATE.lock.pid"
  export SHOP_LOCKED=1
}

# The version files are the only place versions are defined.
known_versions() { (cd "$SHOP_DIR/versions" && ls *.env | sed 's/\.env$//' | tr '\n' ' '); }
version_file() {
  local v=$1 f=$SHOP_DIR/versions/$1.env
  if [ -z "$v" ] || [ ! -f "$f" ] || [[ $v == */* ]]; then
    say "error: unknown version '${v}'; known versions: $(known_versions)"
    return 1
  fi
  echo "$f"
}

# in_ns I COMMAND...: run COMMAND in replica I's namespace (or here without namespaces).
in_ns() {
  local i=$1; shift
  if [ "$SHOP_NETNS" = 1 ]; then ip netns exec "$(netns_of "$i")" "$@"; else "$@"; fi
}

# start_replica I: start replica I under its supervisor, in its namespace, with the version
# settings in $SHOP_STATE/shop.env.
start_replica() {
  local i=$1 name="web-$1"
  local addr; addr=$(replica_addr "$i")
  local dsn="postgres://shop@$SHOP_GATEWAY:$SHOP_DB_PORT/shop?sslmode=disable&connect_timeout=1&pool_min_conns=4&pool_max_conns=12"
  # setsid: the supervisor outlives this script; ip netns exec replaces itself with it.
  local ns=()
  [ "$SHOP_NETNS" = 1 ] && ns=(ip netns exec "$(netns_of "$i")")
  setsid "${ns[@]}" "$SHOP_BIN/supervise" -pidfile "$RUN/$name.pid" -log "$LOGS/$name.log" -- \
    "$SHOP_BIN/shop" -name "$name" -listen "$addr" -redis "$SHOP_GATEWAY:$SHOP_CACHE_PORT" \
    -postgres "$dsn" -config "$SHOP_STATE/shop.env" \
    </dev/null >>"$LOGS/supervise-$name.log" 2>&1 9>&- &
  echo $! >"$RUN/supervise-$name.pid"
  wait_until 15 "replica $name at $addr" http_ok "http://$addr/healthz" || {
    say "  its log: $LOGS/$name.log"; tail -n 5 "$LOGS/$name.log" >&2 2>/dev/null; return 1; }
}

# stop_pidfile FILE [SECONDS]: TERM the process FILE names, KILL it if it is still there
# after SECONDS (default 5), remove FILE.
stop_pidfile() {
  local f=$1 secs=${2:-5} p
  p=$(cat "$f" 2>/dev/null) || return 0
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
    kill -CONT "$p" 2>/dev/null || true
    kill -TERM "$p" 2>/dev/null || true
    local deadline=$((SECONDS + secs))
    while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop_replica() {
  local name="web-$1"
  stop_pidfile "$RUN/supervise-$name.pid" 7
  stop_pidfile "$RUN/$name.pid" 2
}

# haproxy_up NAME: HAProxy's health checks say server NAME of backend web is UP.
haproxy_up() {
  curl -fsS --max-time 2 "http://127.0.0.1:$SHOP_STATS_PORT/stats;csv" |
    awk -F, -v s="$1" '$1=="web" && $2==s && $18 ~ /^UP/ {found=1} END {exit !found}'
}

# start_sshd I: OpenSSH on replica I's host (its namespace), in a mount namespace of its own
# where $SSH_DIR/web-I is /etc/ssh, an empty directory is /root and tmpfses are /tmp and
# /run/shakedown: the host has its own host key, temporary files and registry of held
# faults, like a machine of its own.
start_sshd() {
  local i=$1 h=$SSH_DIR/web-$1
  mkdir -p "$h/root" /run/sshd /run/shakedown
  [ -f "$h/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "web-$i" -f "$h/ssh_host_ed25519_key"
  cp "$SSH_DIR/id_ed25519.pub" "$h/authorized_keys"
  cat >"$h/sshd_config" <<EOF
# web-$i's host: generated by examples/shop/infra/provision.sh
ListenAddress $(host_addr "$i"):22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile /etc/ssh/authorized_keys
PermitRootLogin prohibit-password
AllowUsers root
StrictModes no
MaxStartups 100
PrintMotd no
EOF
  # shellcheck disable=SC2016 # $1 is the inner shell's
  setsid ip netns exec "$(netns_of "$i")" unshare --mount --propagation private -- sh -c '
    mount --bind "$1" /etc/ssh && mount --bind "$1/root" /root &&
    mount -t tmpfs -o mode=1777,size=256m tmpfs /tmp &&
    mount -t tmpfs -o mode=0700,size=16m tmpfs /run/shakedown &&
    exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config' sh "$h" </dev/null >>"$LOGS/sshd-web-$i.log" 2>&1 9>&- &
  echo $! >"$RUN/sshd-web-$i.pid"
}

# ssh_answers ADDRESS: an SSH server answers on port 22 there.
# shellcheck disable=SC2016 # $1 is the inner shell's
ssh_answers() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/22" && IFS= read -r l <&3 && [[ $l == SSH-2.0-* ]]' sh "$1" 2>/dev/null; }

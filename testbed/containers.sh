#!/usr/bin/env bash
# containers.sh - a private Docker Engine API endpoint for shakedown's container tests
# (fault/container). Nothing host-wide is touched: its own data root, exec root, socket and
# address pool, so a developer's daemon and CI's run side by side.
#
#   containers.sh start docker DIR   private dockerd (+ its own containerd)
#   containers.sh start podman DIR   private "podman system service" (compat API)
#   containers.sh stop DIR [--purge] remove its containers/networks, stop daemon
#   containers.sh env DIR            print "export DOCKER_HOST=unix://..."
#
# start prints the DOCKER_HOST value; hand it to the tests as SHAKEDOWN_TEST_DOCKER_HOST
# (or SHAKEDOWN_TEST_PODMAN_HOST), never as DOCKER_HOST. Needs: docker.io (dockerd,
# containerd, runc, docker CLI), curl; for podman: podman, runc, tini,
# golang-github-containernetworking-plugin-dnsname. State lives in DIR; short runtime paths
# (unix sockets are limited to 107 bytes) and the address-pool reservations
# shared by all instances on the host go to $CTRBED_RUN_BASE (${TMPDIR:-/tmp}/ctrbed).
#
# Host facts this is written for (Debian 12, kernel with cgroup v1 hybrid, no
# CAP_SYS_RESOURCE, no sch_netem, PID 1 that is not a real init):
#  * podman: runtime runc (crun refuses cgroup v1 hybrid), default ulimits
#    nofile=1024:1024 nproc=1000:1000 (raising RLIMIT_NOFILE needs
#    CAP_SYS_RESOURCE), CNI + dnsname plugin for name resolution, service run
#    under "tini -s" so orphaned conmon processes are reaped.
#  * docker: --bridge=none --iptables=false by default so two instances (a
#    developer's and CI's) never fight over docker0 or the DOCKER iptables
#    chains; user-defined bridge networks, embedded DNS, exec, pause, network
#    connect/disconnect and -p via docker-proxy all still work. Set
#    CTRBED_IPTABLES=1 for NAT/outbound access (single instance only).
set -euo pipefail

BASE=${CTRBED_RUN_BASE:-${TMPDIR:-/tmp}/ctrbed}

log() { printf '[ctrbed %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

alive() { [[ -f $1 ]] && [[ -d /proc/$(<"$1") ]]; }

# reserve a /16 for this instance: 10.(100+n).0.0/16, n = 0..99
reserve_pool() {
	local n owner
	mkdir -p "$BASE"
	for ((n = 0; n < 100; n++)); do
		if [[ -f $BASE/pool-$n/owner ]]; then # reclaim if its daemon is gone
			owner=$(<"$BASE/pool-$n/owner")
			if ! alive "$owner/daemon.pid" && [[ -n $(find "$BASE/pool-$n/owner" -mmin +1) ]]; then
				rm -rf "$BASE/pool-$n"
			fi
		fi
		if mkdir "$BASE/pool-$n" 2>/dev/null; then
			echo "$DIR" >"$BASE/pool-$n/owner"
			echo "$n"
			return
		fi
	done
	die "no free address pool"
}

start_docker() {
	local n id run
	n=$(reserve_pool)
	id=d$n
	run=$BASE/$id
	mkdir -p "$DIR" "$run"
	printf 'KIND=docker\nPOOL=%s\nRUN=%s\nSOCK=%s\n' "$n" "$run" "$DIR/docker.sock" >"$DIR/ctrbed.env"
	local net=(--bridge=none --iptables=false --ip-masq=false)
	[[ ${CTRBED_IPTABLES:-0} == 1 ]] && net=(--iptables=true --bip "10.$((100 + n)).255.1/24")
	setsid dockerd --data-root "$DIR/root" --exec-root "$run" --pidfile "$run/dockerd.pid" \
		-H "unix://$DIR/docker.sock" "${net[@]}" \
		--default-address-pool "base=10.$((100 + n)).0.0/16,size=24" \
		>"$DIR/dockerd.log" 2>&1 </dev/null &
	echo $! >"$DIR/daemon.pid"
	wait_api || { tail -n 20 "$DIR/dockerd.log" >&2; stop; die "dockerd did not come up"; }
}

start_podman() {
	local n id run
	n=$(reserve_pool)
	id=p$n
	run=$BASE/$id
	mkdir -p "$DIR/net" "$DIR/root" "$run/tmp"
	printf 'KIND=podman\nPOOL=%s\nRUN=%s\nSOCK=%s\n' "$n" "$run" "$DIR/podman.sock" >"$DIR/ctrbed.env"
	cat >"$DIR/containers.conf" <<-EOF
		[containers]
		default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		tmp_dir = "$run/tmp"
		[network]
		network_backend = "cni"
		network_config_dir = "$DIR/net"
		default_subnet = "10.$((100 + n)).0.0/24"
		default_subnet_pools = [{"base" = "10.$((100 + n)).0.0/16", "size" = 24}]
	EOF
	# The default network with a bridge of this instance's own: podman's built-in one is
	# always cni-podman0, which another instance (or one that was never stopped) holds with
	# another subnet, and then no container starts.
	cat >"$DIR/net/87-podman.conflist" <<-EOF
		{
		  "cniVersion": "0.4.0",
		  "name": "podman",
		  "plugins": [
		    {"type": "bridge", "bridge": "cni-sd$n", "isGateway": true, "ipMasq": true, "hairpinMode": true,
		     "ipam": {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}],
		              "ranges": [[{"subnet": "10.$((100 + n)).0.0/24", "gateway": "10.$((100 + n)).0.1"}]]}},
		    {"type": "portmap", "capabilities": {"portMappings": true}},
		    {"type": "firewall"},
		    {"type": "tuning"}
		  ]
		}
	EOF
	cat >"$DIR/storage.conf" <<-EOF
		[storage]
		driver = "overlay"
		runroot = "$run/storage"
		graphroot = "$DIR/root"
	EOF
	CONTAINERS_CONF=$DIR/containers.conf CONTAINERS_STORAGE_CONF=$DIR/storage.conf \
		setsid tini -s -- podman system service --time=0 "unix://$DIR/podman.sock" \
		>"$DIR/podman.log" 2>&1 </dev/null &
	echo $! >"$DIR/daemon.pid"
	wait_api || { tail -n 20 "$DIR/podman.log" >&2; stop; die "podman service did not come up"; }
}

wait_api() {
	local i
	# shellcheck disable=SC1091
	. "$DIR/ctrbed.env"
	for ((i = 0; i < 150; i++)); do
		curl -fsS --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1 && return 0
		alive "$DIR/daemon.pid" || return 1
		sleep 0.1
	done
	return 1
}

# CNI's firewall/dnsname plugins (podman 4.3) leave per-bridge rules in the
# host's "ip filter" table after a network is removed. Delete rules in the
# CNI-* chains and INPUT that name an interface which no longer exists.
gc_cni_rules() {
	local c h ifc
	nft -a list table ip filter 2>/dev/null |
		awk '$1 == "chain" {c = $2}
		     (c ~ /^CNI-/ || c == "INPUT") && /# handle/ && match($0, /[io]ifname "[^"]+"/) {
		         s = substr($0, RSTART, RLENGTH); sub(/^[io]ifname "/, "", s); sub(/"$/, "", s)
		         print c, $NF, s }' |
		while read -r c h ifc; do
			[[ -e /sys/class/net/$ifc ]] || nft delete rule ip filter "$c" handle "$h" 2>/dev/null || true
		done
}

stop() {
	[[ -f $DIR/ctrbed.env ]] || { log "nothing in $DIR"; return 0; }
	# shellcheck disable=SC1091
	. "$DIR/ctrbed.env"
	if alive "$DIR/daemon.pid" && [[ -S $SOCK ]]; then
		local ids
		ids=$(docker -H "unix://$SOCK" ps -aq 2>/dev/null || true)
		[[ -z $ids ]] || docker -H "unix://$SOCK" rm -f $ids >/dev/null 2>&1 || true
		docker -H "unix://$SOCK" network prune -f >/dev/null 2>&1 || true
		local pid n
		pid=$(<"$DIR/daemon.pid")
		kill -TERM "$pid" 2>/dev/null || true
		for ((n = 0; n < 150; n++)); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
		[[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null || true
		log "stopped $KIND daemon ($pid)"
	fi
	# podman exec sessions leave conmon processes (exit delay 300 s); end
	# the ones that belong to this instance, by pid.
	local p
	for p in $(pgrep -x conmon || true); do
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$DIR/root"; then
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	if [[ $KIND == podman ]]; then
		ip link del "cni-sd$POOL" 2>/dev/null || true
		gc_cni_rules
	fi
	# unmount anything left below our dirs
	awk -v a="$DIR/" -v b="$RUN/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$RUN" "$BASE/pool-$POOL"
	rm -f "$DIR/daemon.pid"
	if [[ ${1:-} == --purge ]]; then
		rm -rf "$DIR"
		log "removed $DIR"
	fi
}

cmd=${1:-}
case $cmd in
start)
	kind=${2:-}
	DIR=${3:-}
	[[ -n $DIR && ($kind == docker || $kind == podman) ]] || die "usage: $0 start docker|podman DIR"
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	alive "$DIR/daemon.pid" && die "already running in $DIR"
	t0=$(date +%s%N)
	"start_$kind"
	log "$kind API ready in $((($(date +%s%N) - t0) / 1000000)) ms"
	. "$DIR/ctrbed.env"
	echo "unix://$SOCK"
	;;
stop)
	DIR=${2:-}
	[[ -n $DIR ]] || die "usage: $0 stop DIR [--purge]"
	[[ -d $DIR ]] || exit 0
	DIR=$(cd "$DIR" && pwd)
	stop "${3:-}"
	;;
env)
	DIR=$(cd "${2:?DIR}" && pwd)
	. "$DIR/ctrbed.env"
	echo "export DOCKER_HOST=unix://$SOCK"
	;;
*)
	echo "usage: $0 start docker|podman DIR | stop DIR [--purge] | env DIR" >&2
	exit 2
	;;
esac

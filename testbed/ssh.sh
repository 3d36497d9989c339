#!/usr/bin/env bash
# ssh.sh - a fleet of real OpenSSH servers for shakedown's remote-host tests (remote/): each
# host is Debian's sshd in its own network namespace, with its own address, host key, /etc/ssh
# and /tmp, reached from the root namespace over a private bridge.
#
#   ssh.sh start DIR [N]      start N hosts (default 20); prints DIR
#   ssh.sh stop DIR [--purge] stop them, remove their namespaces and the bridge (and DIR)
#
# Hand DIR to the tests as SHAKEDOWN_TEST_SSH_TESTBED. It holds:
#   id_ed25519      the client key every host accepts, for root and for shakedown-bed, a
#                   user who is not root and may run anything with sudo without a password
#   known_hosts     every host's ed25519 key, by address (each host has an ECDSA key too, which
#                   clients must not be offered: they ask for the algorithm the file knows)
#   inventory.json  the hosts with their addresses and labels (role=web for the first half,
#                   role=db for the rest; zone=a|b alternating), read by remote.ReadInventory
#   testbed.env     BRIDGE, SUBNET, GATEWAY (the root namespace's address on the bridge)
#                   and SILENT (an address on the subnet nothing answers)
#   hosts/NAME/     each host's sshd_config, host key, authorized_keys and sshd.log
#
# What it touches on the host, all removed by stop: network namespaces shakedown-ssh<P>-<i>,
# a bridge sshbr<P> with 10.(200+P).0.1/24, veth pairs sshb<P>h<i> and the reservation
# $SSHBED_RUN_BASE/pool-<P> (default ${TMPDIR:-/tmp}/sshbed), P = 0..49, so several test beds
# run side by side. It creates /run/sshd (sshd's privilege separation directory, as the
# package's own service does) if missing. Each sshd runs in a private mount namespace where
# hosts/NAME is bind-mounted on /etc/ssh, hosts/NAME/root on /root (root's home, empty: no
# shell start-up files of this machine's) and tmpfses on /tmp and /run/shakedown (where root
# keeps its registry of held faults): hosts share the machine's binaries but not their
# temporary files or holds, like real machines. Needs root, iproute2,
# util-linux (unshare) and openssh-server. It also makes, and leaves, the system user
# shakedown-bed (home /tmp, which is each host's own) and /etc/sudoers.d/shakedown-bed letting
# it run anything as root without a password: the hosts' non-root login.
set -euo pipefail

BASE=${SSHBED_RUN_BASE:-${TMPDIR:-/tmp}/sshbed}
SSHD=/usr/sbin/sshd
SUDO_USER_NAME=shakedown-bed

log() { printf '[sshbed %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

alive() { [[ -f $1 ]] && [[ -d /proc/$(<"$1") ]]; }

# reserve_pool prints P, the pool this test bed owns: 10.(200+P).0.0/24, bridge sshbr<P>.
# A reservation whose owner's hosts are all gone is reclaimed.
reserve_pool() {
	local n owner
	mkdir -p "$BASE"
	for ((n = 0; n < 50; n++)); do
		if [[ -f $BASE/pool-$n/owner ]]; then
			owner=$(<"$BASE/pool-$n/owner")
			if [[ ! -f $owner/testbed.env ]] && [[ -n $(find "$BASE/pool-$n/owner" -mmin +1) ]]; then
				rm -rf "$BASE/pool-$n"
			fi
		fi
		if [[ ! -e /sys/class/net/sshbr$n ]] && mkdir "$BASE/pool-$n" 2>/dev/null; then
			echo "$DIR" >"$BASE/pool-$n/owner"
			echo "$n"
			return
		fi
	done
	die "no free address pool"
}

# host_config NAME ADDRESS writes hosts/NAME: host key, authorized_keys, sshd_config. Paths
# in the config are under /etc/ssh, where hosts/NAME is mounted in the host's namespace.
host_config() {
	local name=$1 addr=$2 h=$DIR/hosts/$1
	mkdir -p "$h/root"
	chmod 700 "$h/root"
	ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$h/ssh_host_ed25519_key"
	ssh-keygen -q -t ecdsa -N '' -C "$name" -f "$h/ssh_host_ecdsa_key"
	cp "$DIR/id_ed25519.pub" "$h/authorized_keys"
	cat >"$h/sshd_config" <<-EOF
		# $name: a shakedown SSH test bed host ($addr)
		ListenAddress $addr:22
		HostKey /etc/ssh/ssh_host_ecdsa_key
		HostKey /etc/ssh/ssh_host_ed25519_key
		PidFile /etc/ssh/sshd.pid
		UsePAM no
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		PubkeyAuthentication yes
		AuthorizedKeysFile /etc/ssh/authorized_keys
		PermitRootLogin prohibit-password
		AllowUsers root $SUDO_USER_NAME
		StrictModes no
		MaxStartups 200
		MaxSessions 100
		PrintMotd no
		Subsystem sftp internal-sftp
		LogLevel VERBOSE
	EOF
}

# network creates the bridge, every host's namespace and veth pair (one ip process for the
# root namespace, one per host namespace: a busy machine spends its time starting processes).
network() {
	local i name addr
	{
		echo "link add $BRIDGE type bridge"
		echo "addr add $GATEWAY/24 dev $BRIDGE"
		echo "link set $BRIDGE up"
		for ((i = 1; i <= N; i++)); do
			echo "netns add shakedown-ssh$POOL-$i"
			echo "link add sshb${POOL}h$i type veth peer name eth0 netns shakedown-ssh$POOL-$i"
			echo "link set sshb${POOL}h$i master $BRIDGE up"
		done
	} | ip -batch -
	i=0
	while read -r name addr; do
		i=$((i + 1))
		printf '%s\n' "addr add $addr/24 dev eth0" "link set lo up" "link set eth0 up" \
			"route add default via $GATEWAY" | ip -n "shakedown-ssh$POOL-$i" -batch -
	done <"$DIR/hosts.list"
}

# start_host I NAME: sshd in host I's namespace, in a private mount namespace.
start_host() {
	local i=$1 name=$2
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
	setsid ip netns exec "shakedown-ssh$POOL-$i" unshare --mount --propagation private -- sh -c '
		mount --bind "$1" /etc/ssh && mount --bind "$1/root" /root &&
		mount -t tmpfs -o mode=1777,size=512m tmpfs /tmp &&
		mount -t tmpfs -o mode=0700,size=16m tmpfs /run/shakedown &&
		exec "$2" -D -e -f /etc/ssh/sshd_config -E /etc/ssh/sshd.log' sh "$DIR/hosts/$name" "$SSHD" \
		>>"$DIR/hosts/$name/start.log" 2>&1 </dev/null &
	echo $! >"$DIR/hosts/$name/daemon.pid"
}

# banner ADDRESS succeeds when an SSH server answers there.
banner() (
	exec 3<>"/dev/tcp/$1/22" || exit 1
	IFS= read -r -t 1 line <&3 || exit 1
	[[ $line == SSH-2.0-* ]]
)

wait_ready() {
	local deadline=$((SECONDS + ${SSHBED_TIMEOUT:-20})) name addr pending
	while :; do
		pending=()
		while read -r name addr; do
			banner "$addr" 2>/dev/null || pending+=("$name")
		done <"$DIR/hosts.list"
		[[ ${#pending[@]} -eq 0 ]] && return 0
		for name in "${pending[@]}"; do
			alive "$DIR/hosts/$name/daemon.pid" || { cat "$DIR/hosts/$name"/*.log >&2 2>/dev/null; die "sshd on $name exited"; }
		done
		((SECONDS < deadline)) || die "no SSH banner in time from: ${pending[*]}"
		sleep 0.05
	done
}

# write_inventory writes inventory.json (remote.ReadInventory reads it): role=web for the
# first half of the hosts, role=db for the rest; zone=a and zone=b alternating.
write_inventory() {
	local i=0 name addr role zone sep=""
	{
		printf '{"user": "root", "identity": "id_ed25519", "known_hosts": "known_hosts", "hosts": [\n'
		while read -r name addr; do
			role=db zone=b
			((i < (N + 1) / 2)) && role=web
			((i % 2 == 0)) && zone=a
			printf '%s  {"name": "%s", "address": "%s", "labels": {"role": "%s", "zone": "%s"}}' \
				"$sep" "$name" "$addr" "$role" "$zone"
			sep=$',\n'
			i=$((i + 1))
		done <"$DIR/hosts.list"
		printf '\n]}\n'
	} >"$DIR/inventory.json"
}

# sudo_user makes the non-root login, allowed passwordless sudo, unless it is there.
sudo_user() {
	id -u "$SUDO_USER_NAME" >/dev/null 2>&1 ||
		useradd --system --no-create-home --home-dir /tmp --shell /bin/sh "$SUDO_USER_NAME" ||
		id -u "$SUDO_USER_NAME" >/dev/null 2>&1 || die "could not add user $SUDO_USER_NAME"
	# No password, but not locked ("!"): sshd without PAM refuses locked accounts' keys too.
	usermod -p '*' "$SUDO_USER_NAME"
	# Written even before sudo is installed (its package reads /etc/sudoers.d), so a test bed
	# started first does not end up with a login that sudo turns away.
	command -v sudo >/dev/null || log "sudo is missing: $SUDO_USER_NAME's logins cannot become root until it is installed (apt-get install sudo)"
	local f=/etc/sudoers.d/$SUDO_USER_NAME
	mkdir -p /etc/sudoers.d
	printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$SUDO_USER_NAME" >"$f.tmp"
	chmod 0440 "$f.tmp"
	mv "$f.tmp" "$f"
}

start() {
	[[ -x $SSHD ]] || die "$SSHD is missing: apt-get install openssh-server"
	sudo_user
	if ! [[ $N =~ ^[0-9]+$ ]] || ((N < 1 || N > 200)); then die "N must be 1..200, not $N"; fi
	POOL=$(reserve_pool)
	BRIDGE=sshbr$POOL
	SUBNET=10.$((200 + POOL)).0
	GATEWAY=$SUBNET.1
	printf 'POOL=%s\nBRIDGE=%s\nSUBNET=%s.0/24\nGATEWAY=%s\nSILENT=%s.254\nN=%s\n' \
		"$POOL" "$BRIDGE" "$SUBNET" "$GATEWAY" "$SUBNET" "$N" >"$DIR/testbed.env"
	mkdir -p /run/sshd /run/shakedown
	# A new start has new keys: what an earlier start left in DIR goes.
	rm -rf "$DIR/hosts" "$DIR/known_hosts" "$DIR/hosts.list" "$DIR/id_ed25519" "$DIR/id_ed25519.pub"
	ssh-keygen -q -t ed25519 -N '' -C shakedown-testbed -f "$DIR/id_ed25519"
	local i name addr
	for ((i = 1; i <= N; i++)); do
		printf 'host-%02d %s\n' "$i" "$SUBNET.$((9 + i))"
	done >"$DIR/hosts.list"
	local jobs=() j
	while read -r name addr; do
		host_config "$name" "$addr" &
		jobs+=($!)
	done <"$DIR/hosts.list"
	for j in "${jobs[@]}"; do wait "$j" || die "could not write a host's keys and config"; done
	while read -r name addr; do
		printf '%s %s\n' "$addr" "$(cut -d' ' -f1,2 "$DIR/hosts/$name/ssh_host_ed25519_key.pub")"
	done <"$DIR/hosts.list" >"$DIR/known_hosts"
	network
	i=0
	while read -r name addr; do
		i=$((i + 1))
		start_host "$i" "$name"
	done <"$DIR/hosts.list"
	write_inventory
	wait_ready
}

stop() {
	[[ -f $DIR/testbed.env ]] || { log "nothing in $DIR"; [[ ${1:-} == --purge ]] && rm -rf "$DIR"; return 0; }
	# shellcheck disable=SC1091
	. "$DIR/testbed.env"
	local ns pids=() p n
	# Every process in a host's namespace: its sshd and the sessions it forked.
	for ns in $(ip netns list | awk -v p="shakedown-ssh$POOL-" 'index($1, p) == 1 {print $1}'); do
		# shellcheck disable=SC2207
		pids+=($(ip netns pids "$ns" 2>/dev/null || true))
	done
	[[ ${#pids[@]} -eq 0 ]] || kill -KILL "${pids[@]}" 2>/dev/null || true
	for ((n = 0; n < 100; n++)); do # until they are gone (5 s at most)
		for p in "${pids[@]}"; do [[ -d /proc/$p ]] && break; done
		[[ ${#pids[@]} -eq 0 || ! -d /proc/$p ]] && break
		sleep 0.05
	done
	for ns in $(ip netns list | awk -v p="shakedown-ssh$POOL-" 'index($1, p) == 1 {print $1}'); do
		ip netns delete "$ns" 2>/dev/null || true
	done
	local f
	for f in "$DIR"/hosts/*/daemon.pid; do
		[[ -f $f ]] || continue
		if alive "$f"; then kill -KILL "$(<"$f")" 2>/dev/null || true; fi
		rm -f "$f"
	done
	ip link delete "$BRIDGE" 2>/dev/null || true
	rm -rf "$BASE/pool-$POOL"
	rm -f "$DIR/testbed.env"
	log "stopped the SSH test bed in $DIR"
	if [[ ${1:-} == --purge ]]; then
		rm -rf "$DIR"
		log "removed $DIR"
	fi
}

# failed_start RC stops what a start that exits with RC (non-zero) had started.
failed_start() {
	[[ $1 == 0 ]] || stop >/dev/null 2>&1
	exit "$1"
}

cmd=${1:-}
case $cmd in
start)
	DIR=${2:-}
	N=${3:-20}
	[[ -n $DIR ]] || die "usage: $0 start DIR [N]"
	[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	[[ -f $DIR/testbed.env ]] && die "already running in $DIR (stop it first)"
	t0=$(date +%s%N)
	# A start that fails midway leaves nothing behind.
	trap 'failed_start $?' EXIT
	start
	trap - EXIT
	log "$N SSH hosts ready in $((($(date +%s%N) - t0) / 1000000)) ms"
	echo "$DIR"
	;;
stop)
	DIR=${2:-}
	[[ -n $DIR ]] || die "usage: $0 stop DIR [--purge]"
	[[ -d $DIR ]] || exit 0
	DIR=$(cd "$DIR" && pwd)
	stop "${3:-}"
	;;
*)
	echo "usage: $0 start DIR [N] | stop DIR [--purge]" >&2
	exit 2
	;;
esac

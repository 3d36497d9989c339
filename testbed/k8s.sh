#!/usr/bin/env bash
# k8s.sh - a container-less Kubernetes control plane for shakedown's Kubernetes tests
# (fault/kubernetes): etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
# kwok's fake nodes, all built from the Go module proxy. Hand the kubeconfig path that start
# prints to the tests as SHAKEDOWN_TEST_KUBECONFIG, never as KUBECONFIG.
#
#   k8s.sh build             build missing binaries into $TESTBED_BIN
#   k8s.sh start DIR         build if needed, start etcd, kube-apiserver,
#                                kube-controller-manager, kube-scheduler, kwok
#                                and fake nodes; prints the kubeconfig path
#   k8s.sh stop DIR          stop everything started for DIR (data stays)
#   k8s.sh stop DIR --purge  ... and delete DIR
#   k8s.sh status DIR        show pids, ports, memory
#
# Environment:
#   TESTBED_BIN    where binaries live/are built (default: ~/.cache/shakedown-testbed/k8s-v<versions>, outside any checkout)
#   TESTBED_NODES  number of fake kwok nodes (default 2)
#   TESTBED_PORT   first of 6 consecutive TCP ports to use (default: first free
#                  block at or above 23000, so parallel testbeds do not clash)
#   TESTBED_TAINT  1 = give fake nodes kwok's NoSchedule taint (default 0)
#   TESTBED_LOCKS  host-wide dir for port-block reservations while starting
#                  (default ${TMPDIR:-/tmp}/testbed-locks; shared by all checkouts)
#
# Everything binds to 127.0.0.1. Pods never run: kwok only fakes their status
# (Running, pod IPs from 10.0.0.0/24). NetworkPolicies are stored but not
# enforced (no CNI).
set -euo pipefail

K8S_VERSION=1.37.2
STAGING_VERSION=0.37.2
ETCD_VERSION=3.7.3
KWOK_VERSION=0.8.0

BIN=${TESTBED_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/shakedown-testbed/k8s-v$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION}
NODES=${TESTBED_NODES:-2}
LOCKS=${TESTBED_LOCKS:-${TMPDIR:-/tmp}/testbed-locks}

log() { printf '[testbed %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- build ----
have_bins() {
	local b
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwok-stages.yaml; do
		[[ -e $BIN/$b ]] || return 1
	done
}

build() {
	have_bins && return 0
	command -v go >/dev/null || die "go not found"
	mkdir -p "$BIN"
	# one builder at a time per $BIN (developer and CI may share the cache)
	exec 9>"$BIN/.build.lock"
	flock 9
	if have_bins; then
		exec 9>&-
		return 0
	fi
	local w=$BIN/.build
	rm -rf "$w"
	mkdir -p "$w"
	log "building into $BIN (work dir $w)"

	# Kubernetes: scratch module requiring k8s.io/kubernetes, staging repos
	# replaced by their published v0.x versions.
	mkdir -p "$w/k8s"
	(
		cd "$w/k8s"
		local mod
		mod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
		{
			echo "module testbed/k8s"
			echo
			echo "go $(sed -n 's/^go //p' "$mod")"
			echo
			echo "require k8s.io/kubernetes v$K8S_VERSION"
			echo
			echo "replace ("
			grep -E '^\s*k8s\.io/[A-Za-z0-9._-]+ => \./staging/' "$mod" |
				awk -v v="v$STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}'
			echo ")"
		} >go.mod
		cat >tools.go <<-'EOF'
			//go:build tools

			package tools

			import (
				_ "k8s.io/kubernetes/cmd/kube-apiserver"
				_ "k8s.io/kubernetes/cmd/kube-controller-manager"
				_ "k8s.io/kubernetes/cmd/kube-scheduler"
				_ "k8s.io/kubernetes/cmd/kubectl"
			)
		EOF
		go mod tidy
		local minor=${K8S_VERSION#*.}
		minor=${minor%%.*}
		go build -ldflags "-X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
			-o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
			k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
	)

	# etcd: tiny main around etcdmain.
	mkdir -p "$w/etcd"
	(
		cd "$w/etcd"
		cat >main.go <<-'EOF'
			package main

			import (
				"os"

				"go.etcd.io/etcd/server/v3/etcdmain"
			)

			func main() { etcdmain.Main(os.Args) }
		EOF
		printf 'module testbed/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" >go.mod
		go mod tidy
		go build -o "$BIN/etcd" .
	)

	# kwok: its go.mod has no replace directives, so go install works.
	GOBIN=$BIN go install "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"

	# kwok needs "stages" config; take the upstream fast-node/fast-pod stages.
	local kd
	kd=$(go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
	{
		local f
		for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
			pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
			echo "---"
			cat "$kd/kustomize/stage/$f"
		done
	} >"$BIN/kwok-stages.yaml.tmp"
	mv "$BIN/kwok-stages.yaml.tmp" "$BIN/kwok-stages.yaml" # written last: marks a complete build
	rm -rf "$w"
	exec 9>&-
	log "build done"
}

# ---------------------------------------------------------------- helpers --
port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

pick_ports() {
	local p=${TESTBED_PORT:-23000} i ok
	if [[ -n ${TESTBED_PORT:-} ]]; then
		for i in 0 1 2 3 4 5; do port_free $((p + i)) || die "port $((p + i)) is in use"; done
		BASE=$p
		return
	fi
	while ((p < 60000)); do
		ok=1
		for i in 0 1 2 3 4 5; do port_free $((p + i)) || { ok=0; break; }; done
		# also skip blocks reserved by another testbed that is starting
		if [[ $ok == 1 ]] && mkdir -p "$LOCKS" && mkdir "$LOCKS/port-$p" 2>/dev/null; then
			BASE=$p
			return
		fi
		p=$((p + 10))
	done
	die "no free port block"
}

alive() { # alive PIDFILE BINARYNAME
	local pid
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	[[ -d /proc/$pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# running PIDFILE: the process started by start_bg has not exited. Unlike alive, it does
# not look at the command line: right after the fork the child is still a copy of this
# shell, and reading it then as "exited" failed starts on a busy machine.
running() {
	local pid stat
	[[ -f $1 ]] || return 1
	pid=$(<"$1")
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) } # the state follows the command name in parentheses
	[[ ${stat:0:1} != [ZX] ]]
}

start_bg() { # start_bg NAME cmd...
	local name=$1
	shift
	setsid "$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$DIR/pids/$name.pid"
}

wait_for() { # wait_for SECONDS COMPONENT cmd...  (fails early if COMPONENT died)
	local secs=$1 what=$2 t0=$SECONDS
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [[ -f $DIR/pids/$what.pid ]] && ! running "$DIR/pids/$what.pid"; then
			tail -n 5 "$DIR/logs/$what.log" >&2 || true
			die "$what exited (see $DIR/logs/$what.log)"
		fi
		((SECONDS - t0 < secs)) || die "timeout waiting for $what (see $DIR/logs)"
		sleep 0.2
	done
	# the check may have reached someone else's server: ours must be alive
	if [[ -f $DIR/pids/$what.pid ]] && ! running "$DIR/pids/$what.pid"; then
		tail -n 5 "$DIR/logs/$what.log" >&2 || true
		die "$what exited (see $DIR/logs/$what.log)"
	fi
}

kc() { "$BIN/kubectl" --kubeconfig "$DIR/kubeconfig" "$@"; }

gen_pki() {
	local p=$DIR/pki
	mkdir -p "$p"
	[[ -f $p/admin.crt ]] && return 0
	(
		cd "$p"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
			-keyout ca.key -out ca.crt -subj "/CN=testbed-ca" 2>/dev/null
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout apiserver.key \
			-subj "/CN=kube-apiserver" \
			-addext "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1" \
			-out apiserver.csr 2>/dev/null
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
			-copy_extensions copy -out apiserver.crt 2>/dev/null
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout admin.key \
			-subj "/O=system:masters/CN=testbed-admin" -out admin.csr 2>/dev/null
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
			-extfile client.ext -out admin.crt 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		rm -f ./*.csr client.ext
	)
}

write_kubeconfig() {
	cat >"$DIR/kubeconfig" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: testbed
		  cluster:
		    server: https://127.0.0.1:$API_PORT
		    certificate-authority: $DIR/pki/ca.crt
		users:
		- name: admin
		  user:
		    client-certificate: $DIR/pki/admin.crt
		    client-key: $DIR/pki/admin.key
		contexts:
		- name: testbed
		  context: {cluster: testbed, user: admin}
		current-context: testbed
	EOF
}

node_manifest() { # node_manifest NAME
	local spec="spec: {}"
	if [[ ${TESTBED_TAINT:-0} == 1 ]]; then
		spec="spec: {taints: [{effect: NoSchedule, key: kwok.x-k8s.io/node, value: fake}]}"
	fi
	cat <<-EOF
		apiVersion: v1
		kind: Node
		metadata:
		  name: $1
		  annotations:
		    node.alpha.kubernetes.io/ttl: "0"
		    kwok.x-k8s.io/node: fake
		  labels:
		    kubernetes.io/arch: amd64
		    kubernetes.io/hostname: $1
		    kubernetes.io/os: linux
		    kubernetes.io/role: agent
		    node-role.kubernetes.io/agent: ""
		    type: kwok
		$spec
		status:
		  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
		  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
		  nodeInfo: {architecture: amd64, kubeProxyVersion: fake, kubeletVersion: fake, operatingSystem: linux}
		  phase: Running
		---
	EOF
}

# ---------------------------------------------------------------- start ----
start() {
	build
	mkdir -p "$DIR"/{logs,pids}
	DIR=$(cd "$DIR" && pwd)
	local c
	for c in etcd kube-apiserver; do
		alive "$DIR/pids/$c.pid" "$c" && die "testbed in $DIR already running (k8s.sh stop $DIR)"
	done
	local t0ms
	t0ms=$(date +%s%N)
	trap 'log "start failed, stopping what was started"; stop' EXIT
	pick_ports
	ETCD_PORT=$BASE PEER_PORT=$((BASE + 1)) API_PORT=$((BASE + 2)) KCM_PORT=$((BASE + 3)) SCHED_PORT=$((BASE + 4))
	printf 'ETCD_PORT=%s\nPEER_PORT=%s\nAPI_PORT=%s\nKCM_PORT=%s\nSCHED_PORT=%s\nBASE=%s\n' \
		"$ETCD_PORT" "$PEER_PORT" "$API_PORT" "$KCM_PORT" "$SCHED_PORT" "$BASE" >"$DIR/ports.env"
	gen_pki
	write_kubeconfig

	log "etcd on 127.0.0.1:$ETCD_PORT"
	start_bg etcd "$BIN/etcd" --name testbed --data-dir "$DIR/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$PEER_PORT" \
		--initial-cluster "testbed=http://127.0.0.1:$PEER_PORT" --listen-metrics-urls "" \
		--unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
	wait_for 30 etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

	log "kube-apiserver on https://127.0.0.1:$API_PORT"
	start_bg kube-apiserver "$BIN/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
		--tls-cert-file "$DIR/pki/apiserver.crt" --tls-private-key-file "$DIR/pki/apiserver.key" \
		--client-ca-file "$DIR/pki/ca.crt" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$DIR/pki/sa.pub" --service-account-signing-key-file "$DIR/pki/sa.key" \
		--service-cluster-ip-range 10.96.0.0/16 \
		--authorization-mode Node,RBAC --allow-privileged=true \
		--endpoint-reconciler-type none \
		--cert-dir "$DIR/pki" --profiling=false
	wait_for 90 kube-apiserver kc get --raw /readyz

	log "kube-controller-manager, kube-scheduler, kwok"
	start_bg kube-controller-manager "$BIN/kube-controller-manager" \
		--kubeconfig "$DIR/kubeconfig" \
		--authentication-kubeconfig "$DIR/kubeconfig" --authorization-kubeconfig "$DIR/kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$KCM_PORT" --cert-dir "$DIR/pki/kcm" \
		--leader-elect=false \
		--service-account-private-key-file "$DIR/pki/sa.key" --root-ca-file "$DIR/pki/ca.crt" \
		--cluster-signing-cert-file "$DIR/pki/ca.crt" --cluster-signing-key-file "$DIR/pki/ca.key" \
		--profiling=false
	start_bg kube-scheduler "$BIN/kube-scheduler" \
		--kubeconfig "$DIR/kubeconfig" \
		--authentication-kubeconfig "$DIR/kubeconfig" --authorization-kubeconfig "$DIR/kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --cert-dir "$DIR/pki/sched" \
		--leader-elect=false --profiling=false
	start_bg kwok "$BIN/kwok" --kubeconfig "$DIR/kubeconfig" --config "$BIN/kwok-stages.yaml" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--node-ip 127.0.0.1 --cidr 10.0.0.0/24 --node-lease-duration-seconds 40

	local i
	for ((i = 0; i < NODES; i++)); do node_manifest "kwok-node-$i"; done | kc apply --server-side --force-conflicts --field-manager testbed -f - >/dev/null
	wait_for 60 kube-controller-manager curl -fsk "https://127.0.0.1:$KCM_PORT/healthz"
	wait_for 60 kube-scheduler curl -fsk "https://127.0.0.1:$SCHED_PORT/healthz"
	wait_for 60 kwok kc wait --for=condition=Ready node --all --timeout=1s
	wait_for 60 kube-controller-manager kc -n default get serviceaccount default
	rmdir "$LOCKS/port-$BASE" 2>/dev/null || true
	trap - EXIT
	log "ready in $((($(date +%s%N) - t0ms) / 1000000)) ms; logs in $DIR/logs"
	echo "$DIR/kubeconfig"
}

# ---------------------------------------------------------------- stop -----
stop_group() { # stop_group COMPONENT... : SIGTERM all, wait up to 10s, SIGKILL
	local c pid n pids=() names=()
	for c in "$@"; do
		if alive "$DIR/pids/$c.pid" "$c"; then
			pid=$(<"$DIR/pids/$c.pid")
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
			names+=("$c($pid)")
		fi
	done
	for pid in "${pids[@]}"; do
		for ((n = 0; n < 100; n++)); do
			[[ -d /proc/$pid ]] || break
			sleep 0.1
		done
		if [[ -d /proc/$pid ]]; then
			log "$pid did not exit, SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	((${#names[@]} == 0)) || log "stopped ${names[*]}"
	for c in "$@"; do rm -f "$DIR/pids/$c.pid"; done
}

stop() {
	[[ -d $DIR/pids ]] || { log "nothing to stop in $DIR"; return 0; }
	stop_group kwok kube-scheduler kube-controller-manager
	stop_group kube-apiserver
	stop_group etcd
	if [[ -f $DIR/ports.env ]]; then
		# shellcheck disable=SC1091
		. "$DIR/ports.env"
		rmdir "$LOCKS/port-$BASE" 2>/dev/null || true
	fi
	if [[ ${1:-} == --purge ]]; then
		rm -rf "$DIR"
		log "removed $DIR"
	fi
}

status() {
	local c pid total=0 rss
	[[ -f $DIR/ports.env ]] && cat "$DIR/ports.env"
	for c in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
		if alive "$DIR/pids/$c.pid" "$c"; then
			pid=$(<"$DIR/pids/$c.pid")
			rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
			total=$((total + rss))
			printf '%-24s pid %-7s rss %6d MiB\n' "$c" "$pid" $((rss / 1024))
		else
			printf '%-24s not running\n' "$c"
		fi
	done
	printf '%-24s %18d MiB\n' total $((total / 1024))
}

cmd=${1:-}
case $cmd in
build) build ;;
start | stop | status)
	[[ -n ${2:-} ]] || die "usage: $0 $cmd DIR"
	DIR=$2
	shift 2
	"$cmd" "$@"
	;;
*)
	echo "usage: $0 build | start DIR | stop DIR [--purge] | status DIR" >&2
	exit 2
	;;
esac

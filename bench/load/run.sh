#!/bin/sh
# Measures shakedown's load generator side by side with vegeta v12.13.0, against the same
# local target in the same run:
#   - at a fixed rate (RATE, default 2000/s, for DURATION, default 15s): the achieved rate
#     (goal: within 1 % of the rate asked) and the CPU seconds (user + sys) the generator
#     process used (goal: at most 0.7 of vegeta's), and beside them the CPU of the
#     simplest sender (bench/load/blocking: one thread sending on the same schedule with
#     blocking calls: sleep, write, read);
#   - at maximum rate with WORKERS (default 16) workers, closed model: requests per second
#     (goal: at least vegeta's).
# Each measurement is taken ROUNDS times (default 3), the tools alternating which goes
# first; the medians and their ratios are printed. Needs go, jq and /usr/bin/time.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
rounds=${ROUNDS:-3}
rate=${RATE:-2000}
duration=${DURATION:-15s}
workers=${WORKERS:-16}
# The peer, vegeta v12.13.0, built from the Go module proxy into a cache of its own.
bindir=${PEERS_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/shakedown-peers/bin}
mkdir -p "$bindir"
[ -x "$bindir/vegeta" ] || GOBIN=$bindir go install github.com/tsenart/vegeta/v12@v12.13.0
vegeta=$bindir/vegeta
[ -x "$vegeta" ] || { echo "run.sh: no vegeta at $vegeta" >&2; exit 1; }

tmp=$(mktemp -d)
target_pid=
cleanup() {
	[ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

(cd "$repo" && go build -o "$tmp/load" ./bench/load && go build -o "$tmp/target" ./bench/load/target && go build -o "$tmp/blocking" ./bench/load/blocking)

"$tmp/target" -addr-file "$tmp/addr" &
target_pid=$!
i=0
while [ ! -s "$tmp/addr" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || { echo "run.sh: target did not start" >&2; exit 1; }
	sleep 0.05
done
url="http://$(cat "$tmp/addr")/"
echo "GET $url" > "$tmp/targets"
echo "target $url; rate $rate/s for $duration; max rate with $workers workers; $rounds rounds" >&2

# timed FILE CMD...: runs CMD, writes its user+sys CPU seconds to FILE.
timed() {
	out=$1
	shift
	/usr/bin/time -f '%U %S' -o "$tmp/time" "$@"
	awk '{ printf "%.2f\n", $1 + $2 }' "$tmp/time" > "$out"
}

ours_rate() {
	timed "$tmp/cpu" "$tmp/load" -url "$url" -rate "$rate" -duration "$duration" -timeout 30s -json > "$tmp/ours.json"
	echo "$(jq .achieved_rate "$tmp/ours.json") $(cat "$tmp/cpu") $(jq .requests "$tmp/ours.json") $(jq .errors "$tmp/ours.json")" >> "$tmp/rate.ours"
}
vegeta_rate() {
	timed "$tmp/cpu" "$vegeta" attack -targets "$tmp/targets" -rate "$rate/1s" -duration "$duration" -timeout 30s -output "$tmp/v.bin"
	"$vegeta" report -type json "$tmp/v.bin" > "$tmp/v.json"
	echo "$(jq .rate "$tmp/v.json") $(cat "$tmp/cpu") $(jq .requests "$tmp/v.json") $(jq '.requests - (.success * .requests | round)' "$tmp/v.json")" >> "$tmp/rate.vegeta"
}
# The simplest sender: one thread, blocking calls, no scheduler (bench/load/blocking): what
# sending at this rate costs the kernel, for reference.
blocking_rate() {
	timed "$tmp/cpu" "$tmp/blocking" -url "$url" -rate "$rate" -duration "$duration" > "$tmp/blocking.json"
	echo "$(jq .achieved_rate "$tmp/blocking.json") $(cat "$tmp/cpu") $(jq .requests "$tmp/blocking.json") 0" >> "$tmp/rate.blocking"
}
ours_max() {
	timed "$tmp/cpu" "$tmp/load" -url "$url" -workers "$workers" -duration "$duration" -timeout 30s -json > "$tmp/ours.json"
	echo "$(jq .achieved_rate "$tmp/ours.json") $(cat "$tmp/cpu") $(jq .requests "$tmp/ours.json") $(jq .errors "$tmp/ours.json")" >> "$tmp/max.ours"
}
vegeta_max() {
	timed "$tmp/cpu" "$vegeta" attack -targets "$tmp/targets" -rate 0 -workers "$workers" -max-workers "$workers" -duration "$duration" -timeout 30s -output "$tmp/v.bin"
	"$vegeta" report -type json "$tmp/v.bin" > "$tmp/v.json"
	echo "$(jq .rate "$tmp/v.json") $(cat "$tmp/cpu") $(jq .requests "$tmp/v.json") $(jq '.requests - (.success * .requests | round)' "$tmp/v.json")" >> "$tmp/max.vegeta"
}

r=1
while [ $r -le "$rounds" ]; do
	echo "round $r" >&2
	if [ $((r % 2)) -eq 1 ]; then
		ours_rate; vegeta_rate; blocking_rate; ours_max; vegeta_max
	else
		blocking_rate; vegeta_rate; ours_rate; vegeta_max; ours_max
	fi
	r=$((r + 1))
done

# median FILE COLUMN
median() { awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "each round: rate cpu_s requests errors"
for f in rate.ours rate.vegeta rate.blocking max.ours max.vegeta; do
	printf '%-12s' "$f"; tr '\n' ';' < "$tmp/$f"; echo
done
echo
or=$(median "$tmp/rate.ours" 1); oc=$(median "$tmp/rate.ours" 2)
vr=$(median "$tmp/rate.vegeta" 1); vc=$(median "$tmp/rate.vegeta" 2)
bc=$(median "$tmp/rate.blocking" 2)
om=$(median "$tmp/max.ours" 1); vm=$(median "$tmp/max.vegeta" 1)
awk -v asked="$rate" -v bc="$bc" -v or="$or" -v oc="$oc" -v vr="$vr" -v vc="$vc" -v om="$om" -v vm="$vm" 'BEGIN {
	printf "fixed rate %s/s, medians:\n", asked
	printf "  achieved rate   shakedown %.2f/s (%.3f of asked)   vegeta %.2f/s (%.3f of asked)   goal: within 1%%\n", or, or / asked, vr, vr / asked
	printf "  CPU seconds     shakedown %.2f   vegeta %.2f   ratio %.2f   goal: <= 0.70\n", oc, vc, oc / vc
	printf "  CPU seconds     blocking sender %.2f (one thread: sleep, write, read)   shakedown / it %.2f   it / vegeta %.2f\n", bc, oc / bc, bc / vc
	printf "maximum rate, medians:\n"
	printf "  requests/s      shakedown %.0f   vegeta %.0f   ratio %.2f   goal: >= 1.00\n", om, vm, om / vm
}'

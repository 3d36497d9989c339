#!/usr/bin/env bash
# run.sh VERSION: the shop's delivery pipeline on this machine —
#
#   build → provision VERSION → smoke test → fault injection (shakedown run) → teardown
#
# Teardown always runs (trap), whatever happened before. The exit code is the fault stage's,
# shakedown's table (0 passed, 1 failed, 3 aborted, 4 not restored, 5 error, 6 not steady,
# 7 regressed); a pipeline that does not get that far exits 2 (bad usage, unknown version)
# or 5 (build, provision, smoke test, lock or teardown failed). Reports go to $OUT (default
# out/): junit.xml, summary.md, runs/*.json, report.html (charts, opens with no network),
# timings.txt, and the services' logs in logs/.
#
# Every run is recorded in the history (SHAKEDOWN_HISTORY, default history.db in
# $SHOP_STATE/shakedown, which teardown keeps), and the fault stage gates on regressions:
# a run that passes its own checks but is significantly and materially worse than the last
# passing runs of its experiment on $REFERENCE exits 7. Until $REFERENCE has 5 such runs,
# nothing is judged ("not enough history").
#
# Settings: OUT; GATE (regressions, or off), REFERENCE (default main); SHOP_BRANCH, the
# branch the runs are recorded on (default: CI's, else the checkout's); SHOP_EXPERIMENTS, a
# pattern of experiment file names (default *: all); SHOP_RUNS, how many passing runs the
# fault stage makes (default 1; more builds a reference quickly: a run that fails, aborts or
# is not steady is no reference and is made again, 2 × SHOP_RUNS tries at most; any other
# exit stops it); and those of infra/lib.sh (SHOP_STATE, ports, SHOP_NETNS…).
set -uo pipefail
SHOP=$(cd "$(dirname "$0")/.." && pwd)
ROOT=$(cd "$SHOP/../.." && pwd)
. "$SHOP/infra/lib.sh"

version=${1:-}
if [ $# -ne 1 ]; then say "usage: pipeline/run.sh VERSION"; exit 2; fi
version_file "$version" >/dev/null || exit 2
OUT=${OUT:-out}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)

SHOP_LOCK_EXIT=5 take_lock # a second pipeline on the same state directory stops here, touching nothing

t0=$SECONDS
timings=$OUT/timings.txt
: >"$timings"
stage_start=$SECONDS
stage() { # NAME: start a stage
  stage_name=$1 stage_start=$SECONDS
  say ""; say "=== stage: $1"
}
stage_end() { echo "$stage_name $((SECONDS - stage_start))s" >>"$timings"; }

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  stage teardown
  if ! "$SHOP/infra/teardown.sh"; then
    say "teardown left something running (see above)"
    [ "$rc" = 0 ] && rc=5
  fi
  stage_end
  mkdir -p "$OUT/logs" && cp -r "$SHOP_STATE/log/." "$OUT/logs/" 2>/dev/null
  echo "total $((SECONDS - t0))s" >>"$timings"
  say ""; say "=== pipeline $version: exit $rc ($(tr '\n' ' ' <"$timings"))"
  exit "$rc"
}
trap teardown EXIT
trap 'say "interrupted"; exit 130' INT TERM

stage build
mkdir -p "$SHOP_BIN"
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$SHOP_BIN/shakedown" ./cmd/shakedown &&
  CGO_ENABLED=0 go build -o "$SHOP_BIN/shop" ./examples/shop/cmd/shop &&
  CGO_ENABLED=0 go build -o "$SHOP_BIN/supervise" ./examples/shop/cmd/supervise) || { say "build failed"; exit 5; }
stage_end

stage "provision $version"
"$SHOP/infra/provision.sh" "$version" || { say "provision failed"; exit 5; }
stage_end

stage "smoke test"
"$SHOP/infra/smoke.sh" || { say "smoke test failed"; exit 5; }
stage_end

stage "fault injection"
vars=(
  --var "shop=127.0.0.1:$SHOP_PORT"
  --var "prometheus=http://127.0.0.1:$SHOP_PROM_PORT"
  --var "proxy_api=http://127.0.0.1:$SHOP_PROXY_API"
  --var "state=$SHOP_STATE"
  --var "web1=$(replica_addr 1)"
  --var "web2=$(replica_addr 2)"
)
experiments=("$SHOP"/experiments/${SHOP_EXPERIMENTS:-*}.yaml)
if [ "$SHOP_NETNS" != 1 ]; then
  # Without namespaces there is no replica host to partition.
  say "SHOP_NETNS=0: skipping $(basename "$SHOP"/experiments/*partition*.yaml) (needs root and namespaces)"
  experiments=($(printf '%s\n' "${experiments[@]}" | grep -v partition))
fi
gate=()
case ${GATE:-regressions} in
  regressions) gate=(--gate regressions --reference "${REFERENCE:-main}") ;;
  off) ;;
  *) say "GATE=$GATE: want regressions or off"; exit 2 ;;
esac
if [ -n "${SHOP_BRANCH:-}" ]; then
  # The record takes the branch from the CI's variables; say it the same way.
  export GITHUB_SHA=${GITHUB_SHA:-$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)}
  export GITHUB_REF_NAME=$SHOP_BRANCH
fi
rm -rf "$OUT/runs"
runs=${SHOP_RUNS:-1}
passed=0
for i in $(seq 1 $(( runs > 1 ? 2 * runs : 1 ))); do
  [ "$runs" -gt 1 ] && say "fault stage, run $i (passed so far: $passed of $runs)"
  "$SHOP_BIN/shakedown" run "${vars[@]}" --state-dir "$SHOP_STATE/shakedown" "${gate[@]}" \
    --junit "$OUT/junit.xml" --markdown "$OUT/summary.md" --json "$OUT/runs/" --html "$OUT/report.html" "${experiments[@]}"
  suite=$?
  case $suite in
    0) passed=$((passed + 1)) ;;
    1 | 3 | 6) ;; # a run that did not pass is no reference; another one is made
    *) break ;;   # not restored, an error, a regression or bad input: stop here
  esac
  [ "$passed" -ge "$runs" ] && break
done
if [ "$runs" -gt 1 ]; then
  if [ "$passed" -ge "$runs" ]; then suite=0; elif [ "$suite" = 0 ]; then suite=1; fi
fi
stage_end
say "fault stage: shakedown exited $suite"
exit $suite

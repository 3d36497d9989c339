#!/usr/bin/env bash
# measure.sh [N]: run the pipeline N times (default 5) at v1 and at v2 and print, per run,
# the exit code against the expected one (v1 → 0, v2 → 1), the pipeline's and the fault
# stage's time; and per experiment, its phases, overhead, time to detect and time to
# recover. Results in $OUT/measure (default out/measure). Needs jq.
set -uo pipefail
SHOP=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-5}
base=${OUT:-out}/measure
mkdir -p "$base"
summary=$base/summary.txt
: >"$summary"
for v in v1 v2; do
  want=0; [ $v = v2 ] && want=1
  good=0
  for i in $(seq 1 "$n"); do
    out=$base/$v-$i
    start=$SECONDS
    OUT=$out "$SHOP/pipeline/run.sh" $v >"$out.log" 2>&1
    rc=$?
    total=$((SECONDS - start))
    [ $rc = $want ] && good=$((good + 1))
    stage=$(awk '/^fault injection/ {print $3}' "$out/timings.txt")
    echo "$v run $i: exit $rc (want $want), pipeline ${total}s, fault stage $stage" | tee -a "$summary"
    for f in "$out"/runs/*.json; do
      [ -f "$f" ] || continue
      jq -r '
        def ms(a; b): ((b | sub("\\.[0-9]+Z$"; "Z") | fromdate) - (a | sub("\\.[0-9]+Z$"; "Z") | fromdate));
        def p(n): (.phases[] | select(.name == n)) as $x | ms($x.start; $x.end);
        "  \(.experiment.name): \(.verdict), run \(ms(.started_at; .ended_at))s = baseline \(p("baseline"))s + inject \(p("inject"))s + revert \(p("revert"))s + recovery \(p("recovery"))s; steady again \((.recovery.time_to_recover // 0) / 1000 | floor)s after revert; " +
        ([.expectations[] | "\(.name): detect \(if .time_to_detect then "\(.time_to_detect / 1000 * 10 | floor / 10)s" else "-" end), recover \(if .time_to_recover then "\(.time_to_recover / 1000 * 10 | floor / 10)s" else "-" end)"] | join("; "))
      ' "$f" | tee -a "$summary"
    done
  done
  echo "$v: $good of $n runs gave the expected exit $want" | tee -a "$summary"
done

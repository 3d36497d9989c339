#!/usr/bin/env bash
# Runs shakedown's experiments for a CI job and writes every report into one folder. Used by
# action.yml (the GitHub Action) and, as a copy kept identical by action_test.go, by
# templates/shakedown.yml (the GitLab CI/CD component). The inputs come as variables:
#
# SHAKEDOWN          the shakedown binary (install.sh's DEST_DIR/shakedown)
# INPUT_EXPERIMENTS  files or folders, separated by spaces or newlines
# INPUT_HISTORY      --history DSN (empty: shakedown's default, $SHAKEDOWN_HISTORY or the state dir's)
# INPUT_GATE         --gate (regressions), INPUT_REFERENCE: --reference BRANCH
# INPUT_VARS         one key=value a line, each a --var
# INPUT_SUDO         "true": run as root through sudo (namespaces and most faults need root)
# INPUT_ARGS         more arguments for shakedown run, separated by spaces or newlines
# INPUT_REPORTS_DIR  where the reports go (default shakedown-reports): junit.xml, runs/ (a
#                    JSON record per run), summary.md, report.html
#
# shakedown itself appends its summary to $GITHUB_STEP_SUMMARY when that is set. When
# GITHUB_OUTPUT is set, the step's outputs are written there: exit-code, verdict, reports-dir,
# junit, json, markdown, html (a report's path is empty when the run wrote none). The script
# exits with the run's code, or 0 when SHAKEDOWN_DEFER_EXIT=1 (the action fails the job with
# the code after uploading the reports).
set -euo pipefail

die() { echo "shakedown: $*" >&2; exit 2; }

bin=${SHAKEDOWN:?SHAKEDOWN must name the shakedown binary}
set -f # paths and arguments are split on blanks, never globbed
# shellcheck disable=SC2206 # splitting on blanks is the documented format of these inputs
experiments=(${INPUT_EXPERIMENTS:-})
# shellcheck disable=SC2206
extra=(${INPUT_ARGS:-})
set +f
[ ${#experiments[@]} -gt 0 ] || die "the experiments input is empty: name experiment files or folders"

reports=${INPUT_REPORTS_DIR:-shakedown-reports}
mkdir -p "$reports"
reports=$(cd "$reports" && pwd)
junit=$reports/junit.xml json=$reports/runs/ markdown=$reports/summary.md html=$reports/report.html

# args are shakedown's arguments; shown, the same as the log shows them: a --var by its key
# only and a DSN without its password, as either may hold a secret (shakedown redacts its own
# output, not its command line).
args=() shown=()
add() { args+=("$@") && shown+=("$@"); }
add run "${experiments[@]}" --junit "$junit" --json "$json" --markdown "$markdown" --html "$html"
if [ -n "${INPUT_HISTORY:-}" ]; then
  args+=(--history "$INPUT_HISTORY")
  shown+=(--history "$(sed -E 's#(://[^:/@]*):[^@/]*@#\1:xxxxx@#' <<<"$INPUT_HISTORY")")
fi
if [ -n "${INPUT_GATE:-}" ]; then add --gate "$INPUT_GATE"; fi
if [ -n "${INPUT_REFERENCE:-}" ]; then add --reference "$INPUT_REFERENCE"; fi
while IFS= read -r line || [ -n "$line" ]; do
  line=${line%$'\r'}
  [ -n "${line//[[:space:]]/}" ] || continue
  [[ $line == *=* ]] || die "vars: \"$line\" is not key=value"
  args+=(--var "$line")
  shown+=(--var "${line%%=*}=…")
done <<<"${INPUT_VARS:-}"
add "${extra[@]}"

cmd=("$bin")
case ${INPUT_SUDO:-false} in
  true) [ "$(id -u)" = 0 ] || cmd=(sudo -E env "PATH=$PATH" "$bin") ;;
  false | "") ;;
  *) die "sudo: \"$INPUT_SUDO\": want true or false" ;;
esac
echo "shakedown: ${cmd[*]} ${shown[*]}"
cmd+=("${args[@]}")
set +e
"${cmd[@]}"
code=$?
set -e

case $code in
  0) verdict=passed ;; 1) verdict=failed ;; 2) verdict=invalid ;; 3) verdict=aborted ;;
  4) verdict=not_restored ;; 5) verdict=error ;; 6) verdict=not_steady ;; 7) verdict=regressed ;;
  *) verdict=error ;;
esac
echo "shakedown: exit code $code ($verdict); reports in $reports"

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  exists() { if [ -e "$1" ]; then echo "$1"; fi; }
  {
    echo "exit-code=$code"
    echo "verdict=$verdict"
    echo "reports-dir=$reports"
    echo "junit=$(exists "$junit")"
    echo "json=$(exists "$json")"
    echo "markdown=$(exists "$markdown")"
    echo "html=$(exists "$html")"
  } >>"$GITHUB_OUTPUT"
fi
if [ "${SHAKEDOWN_DEFER_EXIT:-}" = 1 ]; then exit 0; fi
exit "$code"

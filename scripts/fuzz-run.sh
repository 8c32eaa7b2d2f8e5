#!/bin/bash
# Run every libFuzzer target of tests/fuzz (docs/FUZZING.md) against its seed corpus.
#   scripts/fuzz-run.sh BUILD_DIR [libFuzzer options...]
# e.g. scripts/fuzz-run.sh build-fuzz -runs=20000 -max_total_time=10   (the CI step)
#      scripts/fuzz-run.sh build-fuzz -runs=10000000                   (the long run)
# FUZZ_TARGETS="fuzz_meta fuzz_filter" limits the run to those targets. New inputs go to a
# scratch corpus (FUZZ_WORK, default a new temporary directory), never into the repository;
# a crash leaves its input in FUZZ_WORK/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${1:?usage: scripts/fuzz-run.sh BUILD_DIR [libFuzzer options...]}
shift
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WORK=${FUZZ_WORK:-$(mktemp -d /tmp/quiver-fuzz.XXXXXX)}
TARGETS=(${FUZZ_TARGETS:-fuzz_filter fuzz_where_document fuzz_meta fuzz_server_body fuzz_cli_import fuzz_index_load fuzz_static})
for t in "${TARGETS[@]}"; do
  bin=$BUILD/fuzz/$t
  [ -x "$bin" ] || { echo "fuzz-run: $bin not built (CC=clang cmake -DQV_FUZZ=ON)" >&2; exit 1; }
  [ -d "tests/fuzz/corpus/$t" ] || { echo "fuzz-run: tests/fuzz/corpus/$t missing" >&2; exit 1; }
  opts=(-max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$WORK/$t/")
  [ "$t" = fuzz_index_load ] && opts[0]=-max_len=65536
  [ "$t" = fuzz_static ] && opts[0]=-max_len=65536
  case $t in fuzz_filter | fuzz_where_document | fuzz_meta) opts+=(-dict="$ROOT/tests/fuzz/filter.dict") ;; esac
  mkdir -p "$WORK/$t/corpus"
  printf 'fuzz-run: %-20s ' "$t"
  start=$(date +%s)
  if ! "$bin" "${opts[@]}" "$@" "$WORK/$t/corpus" "$ROOT/tests/fuzz/corpus/$t" >"$WORK/$t/log" 2>&1; then
    echo "FAILED"
    tail -40 "$WORK/$t/log" >&2
    echo "fuzz-run: $t failed; its log and crash input are in $WORK/$t" >&2
    exit 1
  fi
  runs=$(awk '/^stat::number_of_executed_units/ {print $2}' "$WORK/$t/log")
  echo "ok: $runs runs in $(( $(date +%s) - start )) s"
done

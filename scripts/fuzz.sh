#!/usr/bin/env bash
# fuzz.sh -- run libFuzzer targets.
#   scripts/fuzz.sh run build/fuzz/fuzz_X SECONDS   one target, corpus in
#                                                  tests/fuzz/corpus/X (copied)
#   scripts/fuzz.sh all SECONDS                    every built target
# A crash leaves its input in build/fuzz/crashes/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
run_one() {
  local bin=$1 secs=$2 name
  name=$(basename "$bin"); name=${name#fuzz_}
  local seed="tests/fuzz/corpus/$name" work
  work=$(mktemp -d)
  [ -d "$seed" ] && cp -r "$seed/." "$work/"
  mkdir -p build/fuzz/crashes
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=build/fuzz/crashes/ "$work" 2>&1 | tail -n 15
  local rc=${PIPESTATUS[0]}
  rm -rf "$work"
  return "$rc"
}
case "${1:-}" in
run) run_one "$2" "$3" ;;
all) for b in build/fuzz/fuzz_*; do [ -x "$b" ] && run_one "$b" "${2:-10}"; done ;;
*) echo "usage: fuzz.sh run BIN SECONDS | all SECONDS" >&2; exit 64 ;;
esac

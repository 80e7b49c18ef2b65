#!/usr/bin/env bash
# test.sh -- run every test of The Loom and print "N passed, N failed".
#
# Called by `make test` after the build. Starts what the tests need (a
# throwaway PostgreSQL cluster and a local anvil chain, on free loopback
# ports, under one temporary folder) and stops them on exit, whatever
# happens. Each step is one of:
#   - cmocka binaries build/tests/test_*        (counted per test case)
#   - scripts tests/integration/*.sh, tests/e2e/*.sh (one test each, unless
#     the script's last line is "N passed, N failed", which is added up)
#   - contracts/test.sh (forge), when present    (its "N passed, N failed")
#   - each libFuzzer target for LOOM_FUZZ_SECONDS (default 5) seconds
# Environment given to tests: LOOM_TEST_PG_URL, LOOM_TEST_RPC_URL,
# LOOM_TEST_TMP, LOOM_BUILD. LOOM_TEST_ONLY=unit runs the unit tests only;
# LOOM_TEST_FILTER=regex runs only steps whose name matches.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
BUILD=${1:-build}
export LOOM_BUILD="$root/$BUILD"
only=${LOOM_TEST_ONLY:-all}
filter=${LOOM_TEST_FILTER:-.}

tmp=$(mktemp -d /tmp/loom-test.XXXXXX)
chmod 755 "$tmp"
export LOOM_TEST_TMP="$tmp"
cleanup() {
  [ -n "${pg_dir:-}" ] && scripts/pg.sh stop "$pg_dir" >/dev/null 2>&1
  [ -n "${anvil_dir:-}" ] && scripts/anvil.sh stop "$anvil_dir" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

passed=0
failed=0
failures=()
timings=()
record() { # name status(0/1) [n_pass n_fail]
  if [ $# -ge 4 ]; then
    passed=$((passed + $3)); failed=$((failed + $4))
    [ "$4" -gt 0 ] && failures+=("$1")
  elif [ "$2" = 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("$1")
  fi
}

# Run a command with a time limit, print its output, and add up either the
# cmocka summary, a final "N passed, N failed" line, or its exit status.
step() {
  local name=$1 limit=$2; shift 2
  [[ "$name" =~ $filter ]] || return 0
  local log="$tmp/step.log"
  echo "=== $name"
  local t0=$SECONDS
  timeout --signal=TERM --kill-after=10 "$limit" "$@" >"$log" 2>&1
  local rc=$?
  timings+=("$((SECONDS - t0))s $name")
  cat "$log"
  local p f
  p=$(grep -oE '^\[  PASSED  \] [0-9]+' "$log" | awk '{s+=$4} END {print s+0}')
  f=$(grep -oE '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s+=$4} END {print s+0}')
  if grep -qE '^\[  PASSED  \]|^\[  FAILED  \]' "$log"; then
    [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
    record "$name" $rc "$p" "$f"
  elif tail -n 1 "$log" | grep -qE '^[0-9]+ passed, [0-9]+ failed'; then
    read -r p _ f _ < <(tail -n 1 "$log" | tr ',' ' ')
    [ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
    record "$name" $rc "$p" "$f"
  else
    record "$name" $rc
  fi
  [ $rc -eq 124 ] && echo "--- $name: timed out after ${limit}s"
  [ $rc -ne 0 ] && echo "--- $name: FAILED (exit $rc)"
}

# 1. Unit tests: no services needed.
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  step "unit/$(basename "$t")" 300 "$t"
done

if [ "$only" != unit ]; then
  # 2. Services for integration tests.
  pg_dir="$tmp/pg"
  if url=$(scripts/pg.sh start "$pg_dir" "$(free_port)"); then
    export LOOM_TEST_PG_URL="$url"
  else
    echo "test.sh: could not start PostgreSQL" >&2; record "setup/postgresql" 1
  fi
  anvil_dir="$tmp/anvil"
  if url=$(scripts/anvil.sh start "$anvil_dir" "$(free_port)"); then
    export LOOM_TEST_RPC_URL="$url"
  else
    echo "test.sh: could not start anvil" >&2; record "setup/anvil" 1
  fi

  # 3. Integration and end-to-end scripts.
  for t in tests/integration/*.sh tests/e2e/*.sh; do
    [ -f "$t" ] || continue
    step "$t" 1200 bash "$t"
  done

  # 4. Contracts (forge), when the contract tree exists.
  [ -x contracts/test.sh ] && step "contracts/forge" 1800 contracts/test.sh

  # 5. Fuzz targets, briefly: a smoke run with the seed corpus.
  if command -v clang >/dev/null && ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
    step "fuzz/build" 1200 make -s -j2 fuzz-build
    for f in build/fuzz/fuzz_*; do
      [ -x "$f" ] || continue
      step "fuzz/$(basename "$f")" 300 scripts/fuzz.sh run "$f" "${LOOM_FUZZ_SECONDS:-5}"
    done
  fi
fi

echo
echo "slowest steps:"
printf '%s\n' "${timings[@]}" | sort -rn | head -8 | sed 's/^/  /'
if [ ${#failures[@]} -gt 0 ]; then
  echo "failed steps: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

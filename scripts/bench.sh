#!/usr/bin/env bash
# bench.sh -- build/bench/bench_* and tests/bench/*.sh, one after another.
#
# Starts a throwaway PostgreSQL and a fresh anvil for benchmarks that need
# them (LOOM_BENCH_PG_URL, LOOM_BENCH_RPC_URL); a benchmark that changes the
# chain a lot should start its own anvil (DESIGN.md: anvil slows as the chain
# grows). Figures are printed by each benchmark with its conditions; nothing
# here asserts a speed. LOOM_BENCH_FILTER=regex picks benchmarks by name.
# tests/bench/bench_e2e.sh starts a whole stack of its own (make up) and takes
# minutes: LOOM_BENCH_FILTER=e2e runs it alone (its settings: its header).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
BUILD=${1:-build}
export LOOM_BUILD="$root/$BUILD"
filter=${LOOM_BENCH_FILTER:-.}
tmp=$(mktemp -d /tmp/loom-bench.XXXXXX)
chmod 755 "$tmp"
export LOOM_BENCH_TMP="$tmp"
cleanup() {
  scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1
  scripts/anvil.sh stop "$tmp/anvil" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LOOM_BENCH_PG_URL=$(scripts/pg.sh start "$tmp/pg" "$(free_port)") && export LOOM_BENCH_PG_URL
LOOM_BENCH_RPC_URL=$(scripts/anvil.sh start "$tmp/anvil" "$(free_port)") && export LOOM_BENCH_RPC_URL
echo "bench: $(date -u +%FT%TZ), $(nproc) cores, $(uname -srm), load $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
for b in "$BUILD"/bench/bench_* tests/bench/*.sh; do
  [ -e "$b" ] || continue
  [[ "$b" =~ $filter ]] || continue
  echo "=== $b"
  if [[ "$b" == *.sh ]]; then bash "$b" || rc=1; else "$b" || rc=1; fi
done
exit $rc

#!/usr/bin/env bash
# Following the head, end to end (services/indexer): the latency from a
# job's funding block being mined to job.open.IA on the job store's feed,
# p50 and p99 over 200 jobs (build/bench/bench_indexer_feed prints them).
# Starts its own anvil (automine), loom-jobstore on its own schema of the
# benchmark PostgreSQL (LOOM_BENCH_PG_URL from scripts/bench.sh, or one of its
# own), and loom-indexer (--sink jobstore, default 250 ms head polling;
# LOOM_BENCH_POLL_MS overrides it; run once with --ws-url off and once with
# the newHeads subscription), wired over ipc:// paths
# (tests/integration/indexer_lib.bash). Nothing is asserted.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
LOOM_BUILD=$(cd "${LOOM_BUILD:-$root/build}" && pwd)
work=$(mktemp -d /tmp/loom-bench-feed.XXXXXX)
chmod 755 "$work" # PostgreSQL runs as its own user
own_pg=""
source "$root/tests/integration/indexer_lib.bash"
finish() {
  stop_all
  [ -n "$own_pg" ] && "$root/scripts/pg.sh" stop "$work/pg" >/dev/null 2>&1
  rm -rf "$work"
}
trap finish EXIT
fail() { echo "bench_indexer_feed: $*" >&2; for f in jobstore indexer; do [ -f "$work/$f.log" ] && tail -5 "$work/$f.log" >&2; done; exit 1; }
if [ -n "${LOOM_BENCH_PG_URL:-}" ]; then
  PG_URL=$LOOM_BENCH_PG_URL
else
  PG_URL=$("$root/scripts/pg.sh" start "$work/pg" "$(free_port)") || fail "start PostgreSQL"
  own_pg=1
fi
POLL_MS=${LOOM_BENCH_POLL_MS:-250}
build_ibus || fail "build indexer_bus"
start_anvil || fail "start anvil"
deploy_escrow || fail "deploy LoomEscrow"
start_jobstore || fail "start loom-jobstore"
# Twice, one after the other on the same chain and job store: polling only
# (--ws-url off), then with the newHeads subscription (--ws-url auto: anvil
# serves ws:// on its HTTP port) and polling as the fallback. LOOM_BENCH_WS
# picks one ("off" or "auto").
for ws in ${LOOM_BENCH_WS:-off auto}; do
  start_indexer --log-level warn --ws-url "$ws"
  if [ "$ws" = off ]; then mode="eth_blockNumber polling"; else mode="eth_subscribe newHeads over ws:// + polling fallback"; fi
  LOOM_BENCH_RPC_URL=$RPC LOOM_ESCROW_ADDRESS=$ESCROW LOOM_BENCH_CLIENT=$CLIENT \
    LOOM_BENCH_REP=$REP LOOM_BENCH_PUB=$PUB LOOM_BENCH_POLL_MS=$POLL_MS LOOM_BENCH_MODE="$mode" \
    LOOM_BENCH_LOAD="$(cut -d' ' -f1-3 /proc/loadavg)" \
    timeout 300 "$LOOM_BUILD/bench/bench_indexer_feed" || fail "bench_indexer_feed failed or timed out"
  kill "$INDEXER_PID" 2>/dev/null
  wait "$INDEXER_PID" 2>/dev/null
  INDEXER_PID=""
done

#!/usr/bin/env bash
# Indexer benchmarks (services/indexer), on a fresh anvil of their own:
#   1. catch-up: index 100,000 JobCreated events from the deployment block,
#      in-process follower with the memory sink and with the journal sink
#      (fdatasync per batch), and the loom-indexer binary with the memory sink;
#   2. head following: 200 jobs created one by one with automine on; the
#      latency from the transaction's block being mined (eth_sendTransaction
#      returned) to the batch holding its event being applied by the sink,
#      p50 and p99, with the default 250 ms head polling;
#   1b. catch-up along the production path: loom-indexer (defaults, 4
#      eth_getLogs in flight) -> loom-jobstore (ipc://) -> PostgreSQL (its
#      own schema of LOOM_BENCH_PG_URL, or a throwaway cluster of its own),
#      twice: the escrow's jobs unknown to the store (each event recorded and
#      flagged unknown_job) and known (rows made beforehand with psql, so
#      each JobCreated moves its job PENDING -> OPEN and is published);
#   3. the ceiling for 1: anvil's raw eth_getLogs throughput over the same
#      chain with curl (no parsing, output thrown away), ranges of 5 and 20
#      blocks (the chain holds 1,000 events per block), one request at a time
#      on one connection and 4 in flight (curl --parallel), and the whole
#      range in one request.
# anvil: --prune-history, a throwaway cache and HOME (DESIGN.md), block gas
# limit 10^9 so one transaction of BenchFanout (tests/bench/
# bench_indexer_fanout.sol) creates 1,000 jobs. Figures are printed by
# build/bench/bench_indexer with the chain height; nothing is asserted.
# LOOM_BENCH_INDEXER_EVENTS overrides the 100,000. LOOM_BENCH_INDEXER_PG_ONLY=1
# makes the chain and runs only 1b; LOOM_BENCH_INDEXER_PG_RUNS lists 1b's runs
# in order (default "unknown known"; e.g. "known known known" for repeats).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
BUILD_DIR=${LOOM_BUILD:-$root/build}
cast=$root/node_modules/.bin/cast
tmp=$(mktemp -d /tmp/loom-bench-indexer.XXXXXX)
chmod 755 "$tmp" # PostgreSQL runs as its own user when we are root
cleanup() {
  [ "$(type -t stop_all)" = function ] && stop_all
  [ -z "${LOOM_BENCH_PG_URL:-}" ] && scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1
  scripts/anvil.sh stop "$tmp/anvil" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port_pg=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=$(scripts/anvil.sh start "$tmp/anvil" "$port" --gas-limit 1000000000)

(cd contracts && HOME=$tmp "$root/node_modules/.bin/forge" build --out "$tmp/out" \
  --cache-path "$tmp/cache" src/LoomEscrow.sol \
  ../node_modules/@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol \
  ../tests/bench/bench_indexer_fanout.sol >/dev/null)

mapfile -t accts < <($cast rpc --rpc-url "$url" eth_accounts | jq -r '.[]')
deploy() { # artifact constructor-args-hex
  $cast send --rpc-url "$url" --unlocked --from "${accts[0]}" --json \
    --create "$(jq -r '.bytecode.object' "$1")${2#0x}"
}
feed=$(deploy "$tmp/out/MockV3Aggregator.sol/MockV3Aggregator.json" \
  "$($cast abi-encode 'c(uint8,int256)' 8 200000000000)" | jq -r .contractAddress)
r=$(deploy "$tmp/out/LoomEscrow.sol/LoomEscrow.json" \
  "$($cast abi-encode 'c(address,uint32,address,uint32,address,address)' "$feed" 4000000000 \
     0x0000000000000000000000000000000000000000 0 "${accts[8]}" "${accts[9]}")")
export LOOM_ESCROW_ADDRESS=$(jq -r .contractAddress <<<"$r")
export LOOM_ESCROW_BLOCK=$(( $(jq -r .blockNumber <<<"$r") ))
export LOOM_BENCH_FANOUT=$(deploy "$tmp/out/bench_indexer_fanout.sol/BenchFanout.json" "" | jq -r .contractAddress)
export LOOM_BENCH_RPC_URL=$url LOOM_BENCH_TMP=$tmp LOOM_BUILD=$BUILD_DIR
"$BUILD_DIR/bench/bench_indexer"

# ---- 1b. catch-up into PostgreSQL through loom-jobstore ----------------------
head=$(($($cast block-number --rpc-url "$url")))
if [ -n "${LOOM_BENCH_PG_URL:-}" ]; then
  PG_URL=$LOOM_BENCH_PG_URL
else
  PG_URL=$(scripts/pg.sh start "$tmp/pg" "$port_pg" 2>/dev/null || true)
fi
if [ -z "$PG_URL" ]; then
  echo "catch-up into PostgreSQL: skipped (no PostgreSQL server)"
else
  work=$tmp RPC=$url LOOM_BUILD=$BUILD_DIR
  source tests/integration/indexer_lib.bash
  build_ibus
  fanout_lc=$(tr 'A-F' 'a-f' <<<"$LOOM_BENCH_FANOUT")
  # known_jobs: one PENDING row per JobCreated, chain ids from the logs.
  known_jobs() {
    curl -s -H 'content-type: application/json' -d "$(printf '{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"address":"%s","fromBlock":"0x%x","toBlock":"0x%x"}]}' "$LOOM_ESCROW_ADDRESS" $((LOOM_ESCROW_BLOCK + 1)) "$head")" "$url" |
      jq -r --arg c "$fanout_lc" '.result[].topics[1] | "bench\tIA\t1250\t\($c)\t\(.)\t1250\t6250000000000000\t0x000000000000000000000000000000000000000000000000000000000000005e"' |
      sql "COPY jobs (title, type, price, wallet_address, chain_job_id, price_usd_cents, quote_wei, spec_sha256) FROM STDIN"
  }
  for jobs in ${LOOM_BENCH_INDEXER_PG_RUNS:-unknown known}; do
    start_jobstore || { echo "catch-up into PostgreSQL: loom-jobstore did not start" >&2; break; }
    n_jobs=0
    if [ $jobs = known ]; then known_jobs; n_jobs=$(sql "SELECT count(*) FROM jobs"); fi
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    t0=$(date +%s%N)
    "$BUILD_DIR/bin/loom-indexer" --rpc-url "$url" --escrow-address "$LOOM_ESCROW_ADDRESS" \
      --start-block "$LOOM_ESCROW_BLOCK" --until-block "$head" --sink jobstore --jobstore-url "$REP" \
      --metrics-port -1 --metrics-log-ms -1 --log-level warn 2>>"$tmp/indexer.log" && st=0 || st=$?
    t1=$(date +%s%N)
    n=$(sql "SELECT count(*) FROM chain_events")
    nopen=$(sql "SELECT count(*) FROM jobs WHERE status = 'OPEN'")
    awk -v n="$n" -v ns=$((t1 - t0)) -v j=$jobs -v nj="$n_jobs" -v no="$nopen" -v st=$st -v l="$load" \
      'BEGIN { printf "catch-up loom-indexer -> loom-jobstore -> PostgreSQL, defaults (4 getLogs), jobs %s (%d rows, %d OPEN after): %d events in %.0f ms (process start included): %.0f events/s (exit %d; load %s)\n", j, nj, no, n, ns / 1e6, n / (ns / 1e9), st, l }'
    stop_all
    pids=() SCHEMA=""
  done
fi

# ---- 3. the ceiling: raw eth_getLogs with curl over the same chain ----------
[ "${LOOM_BENCH_INDEXER_PG_ONLY:-}" = 1 ] && exit 0
head=$(($($cast block-number --rpc-url "$url")))
from0=$((LOOM_ESCROW_BLOCK + 1))
getlogs_body() { printf '{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"address":"%s","fromBlock":"0x%x","toBlock":"0x%x"}]}' "$LOOM_ESCROW_ADDRESS" "$1" "$2"; }
# One curl process for the whole pass: curl_pass SPAN INFLIGHT OUT
curl_pass() {
  local span=$1 par=$2 out=$3 a=() b first=1
  for ((b = from0; b <= head; b += span)); do
    [ $first = 1 ] || a+=(--next)
    first=0
    a+=(-s -H 'content-type: application/json' -d "$(getlogs_body "$b" $((b + span - 1 > head ? head : b + span - 1)))" -o "$out" "$url")
  done
  if [ "$par" -gt 1 ]; then curl -s -Z --parallel-max "$par" "${a[@]}"; else curl -s "${a[@]}"; fi
}
n_logs=$(curl -s -H 'content-type: application/json' -d "$(getlogs_body "$from0" "$head")" "$url" | grep -o '"logIndex"' | wc -l)
echo "ceiling: raw eth_getLogs (curl, output discarded, no parsing) over blocks $from0..$head, $n_logs events; load $(cut -d' ' -f1-3 /proc/loadavg)"
for span in 5 20 $((head - from0 + 1)); do
  for par in 1 4; do
    [ "$span" -gt 20 ] && [ "$par" -gt 1 ] && continue
    t0=$(date +%s%N)
    curl_pass "$span" "$par" /dev/null
    t1=$(date +%s%N)
    awk -v n="$n_logs" -v ns=$((t1 - t0)) -v s="$span" -v p="$par" \
      'BEGIN { printf "ceiling  span %2d blocks, %d in flight: %6.0f ms, %6.0f events/s\n", s, p, ns / 1e6, n / (ns / 1e9) }'
  done
done


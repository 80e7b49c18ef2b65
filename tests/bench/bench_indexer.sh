#!/usr/bin/env bash
# Indexer benchmarks (services/indexer), on a fresh anvil of their own:
#   1. catch-up: index 100,000 JobCreated events from the deployment block,
#      in-process follower with the memory sink and with the journal sink
#      (fdatasync per batch), and the loom-indexer binary with the memory sink;
#   2. head following: 200 jobs created one by one with automine on; the
#      latency from the transaction's block being mined (eth_sendTransaction
#      returned) to the batch holding its event being applied by the sink,
#      p50 and p99, with the default 250 ms head polling;
#   3. the ceiling for 1: anvil's raw eth_getLogs throughput over the same
#      chain with curl (no parsing, output thrown away), ranges of 5 and 20
#      blocks (the chain holds 1,000 events per block), one request at a time
#      on one connection and 4 in flight (curl --parallel), and the whole
#      range in one request.
# anvil: --prune-history, a throwaway cache and HOME (DESIGN.md), block gas
# limit 10^9 so one transaction of BenchFanout (tests/bench/
# bench_indexer_fanout.sol) creates 1,000 jobs. Figures are printed by
# build/bench/bench_indexer with the chain height; nothing is asserted.
# LOOM_BENCH_INDEXER_EVENTS overrides the 100,000.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
BUILD_DIR=${LOOM_BUILD:-$root/build}
cast=$root/node_modules/.bin/cast
tmp=$(mktemp -d /tmp/loom-bench-indexer.XXXXXX)
cleanup() { scripts/anvil.sh stop "$tmp/anvil" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
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

# ---- 3. the ceiling: raw eth_getLogs with curl over the same chain ----------
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


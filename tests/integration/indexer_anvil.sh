#!/usr/bin/env bash
# services/indexer against the harness's anvil (LOOM_TEST_RPC_URL).
#
# Builds the contracts with forge if contracts/out lacks them, deploys a
# Chainlink MockV3Aggregator (8 decimals, 2000 USD/ETH) and LoomEscrow (that
# feed, heartbeat 4e9 s so later time travel never makes it stale, no
# sequencer feed, dev accounts 8 and 9 as arbiter and guardian) from anvil's
# unlocked dev account 0, then runs the cmocka binary test_indexer_anvil,
# which drives the chain itself (eth_sendTransaction from dev accounts,
# evm_snapshot / evm_revert, evm_mine) and checks the indexer: every event
# type, reorgs of depth 1 and 3, kill -9 during a 1,000-event backfill, and
# a faulty RPC proxy.
set -euo pipefail
: "${LOOM_TEST_RPC_URL:?run through make test}" "${LOOM_BUILD:?run through make test}"
cd "$(dirname "$0")/../.."
root=$PWD
cast=$root/node_modules/.bin/cast
url=$LOOM_TEST_RPC_URL

art=contracts/out/LoomEscrow.sol/LoomEscrow.json
mock=contracts/out/MockV3Aggregator.sol/MockV3Aggregator.json
if [ ! -f "$art" ] || [ ! -f "$mock" ]; then
  (cd contracts && HOME=${LOOM_TEST_TMP:-/tmp} "$root/node_modules/.bin/forge" build --skip test >/dev/null)
fi

mapfile -t accts < <($cast rpc --rpc-url "$url" eth_accounts | jq -r '.[]')
deployer=${accts[0]}

deploy() { # artifact constructor-args-hex
  local code
  code=$(jq -r '.bytecode.object' "$1")
  $cast send --rpc-url "$url" --unlocked --from "$deployer" --json --create "${code}${2#0x}"
}
r=$(deploy "$mock" "$($cast abi-encode 'c(uint8,int256)' 8 200000000000)")
[ "$(jq -r .status <<<"$r")" = 0x1 ] || { echo "feed deploy failed: $r"; exit 1; }
feed=$(jq -r .contractAddress <<<"$r")
args=$($cast abi-encode 'c(address,uint32,address,uint32,address,address)' \
  "$feed" 4000000000 0x0000000000000000000000000000000000000000 0 "${accts[8]}" "${accts[9]}")
r=$(deploy "$art" "$args")
[ "$(jq -r .status <<<"$r")" = 0x1 ] || { echo "escrow deploy failed: $r"; exit 1; }
export LOOM_ESCROW_ADDRESS=$(jq -r .contractAddress <<<"$r")
export LOOM_ESCROW_BLOCK=$(( $(jq -r .blockNumber <<<"$r") ))
echo "escrow $LOOM_ESCROW_ADDRESS at block $LOOM_ESCROW_BLOCK"

exec "$LOOM_BUILD/tests/test_indexer_anvil"

#!/usr/bin/env bash
# common/eth/rpc against the harness's anvil (LOOM_TEST_RPC_URL, chain 31337).
#
# cast makes two transactions from a fresh funded key: a contract creation
# whose constructor emits one LOG1 (topic keccak256("Hello(uint256)"), data
# 42) and a 12345-wei transfer to a fresh address. What cast reports is
# passed to the cmocka binary test_rpc_anvil, which reads the same values back
# through the client and also checks chain id, evm_mine, balances, nonces
# (latest/pending), fee history and batches.
set -euo pipefail
: "${LOOM_TEST_RPC_URL:?run through make test}" "${LOOM_BUILD:?run through make test}"
cd "$(dirname "$0")/../.."
cast=node_modules/.bin/cast
url=$LOOM_TEST_RPC_URL

# A fresh sender and recipient: the chain is shared with other scripts.
sender=$($cast wallet new --json)
key=$(jq -r '.[0].private_key' <<<"$sender")
from=$(jq -r '.[0].address' <<<"$sender" | tr 'A-F' 'a-f')
to=$($cast wallet new --json | jq -r '.[0].address' | tr 'A-F' 'a-f')
$cast rpc --rpc-url "$url" anvil_setBalance "$from" 0x21e19e0c9bab2400000 >/dev/null

# Init code: MSTORE(0, 42); LOG1(0, 32, topic); STOP (no runtime code).
topic=775a94827b8fd9b519d36cd827093c664f93347070a554f65e4a6f56cd738898
create=$($cast send --rpc-url "$url" --private-key "$key" --json \
  --create "0x602a6000527f${topic}60206000a100")
[ "$(jq -r .status <<<"$create")" = 0x1 ] || { echo "create failed: $create"; exit 1; }
export LOOM_RPC_CREATE_TX=$(jq -r .transactionHash <<<"$create")
export LOOM_RPC_CREATE_CONTRACT=$(jq -r .contractAddress <<<"$create")
export LOOM_RPC_CREATE_BLOCK=$(jq -r .blockNumber <<<"$create")
export LOOM_RPC_CREATE_BLOCK_HASH=$(jq -r .blockHash <<<"$create")
export LOOM_RPC_CREATE_LOG_INDEX=$(jq -r '.logs[0].logIndex' <<<"$create")

transfer=$($cast send --rpc-url "$url" --private-key "$key" --json "$to" --value 12345)
[ "$(jq -r .status <<<"$transfer")" = 0x1 ] || { echo "transfer failed: $transfer"; exit 1; }
export LOOM_RPC_TRANSFER_TX=$(jq -r .transactionHash <<<"$transfer")
export LOOM_RPC_TRANSFER_FROM=$from
export LOOM_RPC_TRANSFER_TO=$to
export LOOM_RPC_TRANSFER_BLOCK=$(jq -r .blockNumber <<<"$transfer")
export LOOM_RPC_TRANSFER_BLOCK_HASH=$(jq -r .blockHash <<<"$transfer")
export LOOM_RPC_TRANSFER_GAS_PRICE=$(jq -r .effectiveGasPrice <<<"$transfer")

exec "$LOOM_BUILD/tests/test_rpc_anvil"

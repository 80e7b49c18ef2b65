#!/usr/bin/env bash
# dev-deploy.sh -- the compose `dev` profile's one-shot deployer: deploys the
# contracts to the profile's anvil, funds the addresses in LOOM_DEV_FUND, then
# turns on interval mining. Runs in the image's `chain` stage.
#
# Settings (environment):
#   LOOM_RPC_URL          anvil (default http://anvil:8545)
#   LOOM_DEV_CHAIN_FILE   anvil's --config-out JSON, for its first dev key
#                         (default /devchain/anvil.json)
#   LOOM_DEPLOYMENT_FILE  where to write the deployment JSON (default
#                         /deploy/deployment.json, a volume the services read)
#   LOOM_ETH_USD          the mock feed's answer, 8 decimals (300000000000)
#   LOOM_DEV_FUND         addresses to send LOOM_DEV_FUND_ETH (default 100) to,
#                         separated by spaces or commas (keeper, workers, clients)
#   LOOM_BLOCK_TIME       seconds between blocks once deployed (default 1)
# Deploying needs a block per transaction (forge's simulation forks the chain
# at one block; see deploy/up.sh), so anvil starts without --block-time and
# this script sets it last. A deployment file whose escrow has code on the
# chain is kept (the deployer ran before against this same anvil).
#
# SPDX-License-Identifier: MIT
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/node_modules/.bin
rpc=${LOOM_RPC_URL:-http://anvil:8545}
chain_file=${LOOM_DEV_CHAIN_FILE:-/devchain/anvil.json}
out=${LOOM_DEPLOYMENT_FILE:-/deploy/deployment.json}
answer=${LOOM_ETH_USD:-300000000000}
fund_eth=${LOOM_DEV_FUND_ETH:-100}
block_time=${LOOM_BLOCK_TIME:-1}

for _ in $(seq 1 120); do
  [ -s "$chain_file" ] && "$bin/cast" chain-id --rpc-url "$rpc" >/dev/null 2>&1 && break
  sleep 1
done
[ -s "$chain_file" ] || { echo "dev-deploy: no $chain_file from anvil" >&2; exit 1; }

if [ -s "$out" ] && [ "$("$bin/cast" code --rpc-url "$rpc" "$(jq -r .escrow "$out")")" != 0x ]; then
  echo "dev-deploy: $out is current (escrow $(jq -r .escrow "$out")); nothing to do"
  exit 0
fi
key=$(mktemp)
trap 'rm -f "$key"' EXIT
chmod 600 "$key"
jq -er '.private_keys[0]' "$chain_file" >"$key"
from=$(jq -er '.available_accounts[0]' "$chain_file")
"$here/contracts/deploy.sh" --rpc-url "$rpc" --key-file "$key" --out "$out" --answer "$answer"
for addr in ${LOOM_DEV_FUND//,/ }; do
  "$bin/cast" send --rpc-url "$rpc" --unlocked --from "$from" --value "${fund_eth}ether" "$addr" >/dev/null
  echo "dev-deploy: sent $fund_eth ETH to $addr"
done
[ "$block_time" -gt 0 ] && "$bin/cast" rpc --rpc-url "$rpc" evm_setIntervalMining "$block_time" >/dev/null
echo "dev-deploy: done; $out"

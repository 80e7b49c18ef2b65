#!/usr/bin/env bash
# deploy.sh -- deploy Chainlink's MockV3Aggregator (8 decimals) and LoomEscrow
# to a local chain (anvil) and write what the C services need to a JSON file.
#
#   contracts/deploy.sh --rpc-url URL --key-file FILE --out FILE
#                       [--answer INT] [--heartbeat SECONDS]
#                       [--arbiter ADDR] [--guardian ADDR]
#
#   --rpc-url    JSON-RPC endpoint (anvil: chain id 31337)
#   --key-file   file holding the deployer's hex private key; must be mode 0600.
#                The key never appears on a command line: it is copied (0600)
#                to cache/deploy/ for script/Deploy.s.sol and removed on exit.
#   --out        JSON file to write (format in docs/contracts.md, "Deployment")
#   --answer     ETH/USD answer with 8 decimals (default 300000000000 = 3000.00000000)
#   --heartbeat  oldest accepted feed answer, seconds (default 86400; the mock
#                is only as fresh as its last updateAnswer)
#   --arbiter, --guardian  default: the deployer
#
# Exit status: 0 on success, 64 on bad usage, 1 on any other failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../node_modules/.bin"
usage() { sed -n '5,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }

rpc= key= out= answer=300000000000 heartbeat=86400
arbiter=0x0000000000000000000000000000000000000000 guardian=$arbiter
while [ $# -gt 0 ]; do
  case "$1" in
    --rpc-url) rpc=${2:?}; shift 2 ;;
    --key-file) key=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --answer) answer=${2:?}; shift 2 ;;
    --heartbeat) heartbeat=${2:?}; shift 2 ;;
    --arbiter) arbiter=${2:?}; shift 2 ;;
    --guardian) guardian=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$rpc" ] && [ -n "$key" ] && [ -n "$out" ] || usage
[ -r "$key" ] || { echo "deploy.sh: cannot read key file $key" >&2; exit 1; }
mode=$(stat -c %a "$key")
[ "$mode" = 600 ] || [ "$mode" = 400 ] || { echo "deploy.sh: $key has mode $mode, want 0600" >&2; exit 1; }
[[ "$answer" =~ ^[0-9]+$ ]] || { echo "deploy.sh: --answer must be a positive integer" >&2; exit 64; }

cd "$here"
dir="$here/cache/deploy"
mkdir -p "$dir"
trap 'rm -f "$dir/key" "$dir/addresses"' EXIT
(umask 077; tr -d ' \n\r' <"$key" >"$dir/key")

"$bin/forge" build --quiet
LOOM_DEPLOY_DIR="$dir" LOOM_DEPLOY_ANSWER="$answer" LOOM_DEPLOY_HEARTBEAT="$heartbeat" \
LOOM_DEPLOY_ARBITER="$arbiter" LOOM_DEPLOY_GUARDIAN="$guardian" \
  "$bin/forge" script script/Deploy.s.sol:Deploy --rpc-url "$rpc" --broadcast --slow \
    --non-interactive >"$dir/forge.log" 2>&1 || { cat "$dir/forge.log" >&2; exit 1; }
rm -f "$dir/key"

read -r feed escrow arbiter guardian heartbeat <"$dir/addresses"
chain=$("$bin/cast" chain-id --rpc-url "$rpc")
# The escrow's deployment block: the indexer starts reading logs there.
run="$here/cache/broadcast/Deploy.s.sol/$chain/run-latest.json"
node - "$run" "$out" "$chain" "$feed" "$escrow" "$arbiter" "$guardian" "$heartbeat" <<'JS'
const fs = require('fs');
const [run, out, chain, feed, escrow, arbiter, guardian, heartbeat] = process.argv.slice(2);
const r = JSON.parse(fs.readFileSync(run, 'utf8'));
const rc = r.receipts.find(x => (x.contractAddress || '').toLowerCase() === escrow.toLowerCase());
if (!rc) { console.error('deploy.sh: no receipt for the escrow in ' + run); process.exit(1); }
if (rc.status !== '0x1' && rc.status !== 1 && rc.status !== true) { console.error('deploy.sh: escrow deployment failed'); process.exit(1); }
const abi = f => JSON.parse(fs.readFileSync('out/' + f + '.sol/' + f + '.json', 'utf8')).abi;
const doc = {
  chainId: Number(chain),
  escrow: escrow,
  priceFeed: feed,
  priceFeedDecimals: 8,
  sequencerFeed: '0x0000000000000000000000000000000000000000',
  heartbeat: Number(heartbeat),
  arbiter: arbiter,
  guardian: guardian,
  deploymentBlock: Number(BigInt(rc.blockNumber)),
  deploymentTx: rc.transactionHash,
  abi: abi('LoomEscrow'),
  priceFeedAbi: abi('MockV3Aggregator'),
};
fs.writeFileSync(out + '.tmp', JSON.stringify(doc, null, 2) + '\n');
fs.renameSync(out + '.tmp', out);
JS
echo "deploy.sh: LoomEscrow $escrow, feed $feed, chain $chain, block $(node -e "console.log(require('$out').deploymentBlock)")"

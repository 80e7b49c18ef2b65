#!/usr/bin/env bash
# test.sh -- every check of contracts/, from a fresh clone; prints
# "N passed, N failed" last (scripts/test.sh adds it up).
#
# Counts: each forge test (unit, fuzz, invariant, gas) once, plus one each for
# forge build, forge snapshot --check, solhint (src), solhint (test, script), the
# deploy script, and the deployment checks (escrow code, feed code, feed
# latestRoundData, escrow quote through the deployed feed).
# Chain: $LOOM_TEST_RPC_URL (scripts/test.sh's anvil, chain 31337); without
# it, a throwaway anvil is started on a free port and stopped on exit.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
bin="$here/../node_modules/.bin"
tmp=$(mktemp -d /tmp/loom-contracts.XXXXXX)
anvil_dir=
cleanup() {
  [ -n "$anvil_dir" ] && "$here/../scripts/anvil.sh" stop "$anvil_dir" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0 failed=0
check() { # name status
  if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1"; fi
}

# 1. Build (solc-js behind solc.js; cached in cache/ and out/).
"$bin/forge" build 2>&1 | tail -n 3
check "forge build" "${PIPESTATUS[0]}"

# 2. All forge tests, each counted.
"$bin/forge" test 2>&1 | tee "$tmp/forge.log" | grep -E '^\[(PASS|FAIL)|^Suite result|^Encountered|^Ran '
rc=${PIPESTATUS[0]}
summary=$(grep -E 'tests passed, [0-9]+ failed' "$tmp/forge.log" | tail -n 1)
if [ -n "$summary" ]; then
  p=$(sed -E 's/.* ([0-9]+) tests passed, ([0-9]+) failed.*/\1/' <<<"$summary")
  f=$(sed -E 's/.* ([0-9]+) tests passed, ([0-9]+) failed.*/\2/' <<<"$summary")
  passed=$((passed + p)); failed=$((failed + f))
  [ "$rc" != 0 ] && [ "$f" = 0 ] && failed=$((failed + 1))
else
  cat "$tmp/forge.log"; check "forge test" 1
fi

# 3. Gas snapshot (unit and gas tests; fuzz and invariant runs are not in it).
"$bin/forge" snapshot --check --no-match-contract 'InvariantTest|FuzzTest' >"$tmp/snap.log" 2>&1
rc=$?; [ $rc != 0 ] && tail -n 30 "$tmp/snap.log"
check "forge snapshot --check" $rc

# 4. solhint, no warnings allowed.
"$bin/solhint" --max-warnings 0 'src/**/*.sol' >"$tmp/lint.log" 2>&1
rc=$?; [ $rc != 0 ] && cat "$tmp/lint.log"
check "solhint src" $rc
"$bin/solhint" --max-warnings 0 --config test/.solhint.json 'test/**/*.sol' 'script/**/*.sol' >"$tmp/lint.log" 2>&1
rc=$?; [ $rc != 0 ] && cat "$tmp/lint.log"
check "solhint test script" $rc

# 5. Deploy to the chain and check the JSON it writes.
rpc=${LOOM_TEST_RPC_URL:-}
if [ -z "$rpc" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  anvil_dir="$tmp/anvil"
  rpc=$("$here/../scripts/anvil.sh" start "$anvil_dir" "$port") || rpc=
fi
key="$tmp/deployer.key"
(umask 077; echo 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 >"$key") # anvil dev key 0
json="$tmp/deployment.json"
[ -n "$rpc" ] && ./deploy.sh --rpc-url "$rpc" --key-file "$key" --out "$json" --answer 300000000000
check "deploy.sh" $?
field() { node -e 'const d=require(process.argv[1]); console.log(d[process.argv[2]])' "$json" "$1" 2>/dev/null; }
escrow=$(field escrow); feed=$(field priceFeed)
code=$("$bin/cast" code "$escrow" --rpc-url "$rpc" 2>/dev/null)
[ -n "$escrow" ] && [ ${#code} -gt 2 ] && [ "$(field chainId)" = 31337 ] && [ "$(field deploymentBlock)" -ge 1 ]
check "escrow has code; chain id and block in the JSON" $?
code=$("$bin/cast" code "$feed" --rpc-url "$rpc" 2>/dev/null)
[ -n "$feed" ] && [ ${#code} -gt 2 ]
check "feed has code" $?
round=$("$bin/cast" call "$feed" 'latestRoundData()(uint80,int256,uint256,uint256,uint80)' --rpc-url "$rpc" 2>/dev/null)
echo "$round" | sed -n 2p | grep -qE '^300000000000( |$)'
check "feed latestRoundData answers 3000.00000000" $?
q=$("$bin/cast" call "$escrow" 'quote(uint64)(uint256)' 1234 --rpc-url "$rpc" 2>/dev/null)
[ "${q%% *}" = 4113333333333334 ]
check "escrow quote(1234 cents) = 4113333333333334 wei through the feed" $?

echo
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

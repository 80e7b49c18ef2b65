#!/usr/bin/env bash
# eth_anvil.sh -- transactions signed by common/eth are accepted by a real node.
#
# Builds tests/integration/eth_signtx.c against libloom.a, signs one legacy
# (EIP-155) and one EIP-1559 transaction with anvil's first dev key (read
# from a 0600 key file), sends each with `cast publish`, and checks that it
# is mined with status 1, that the node's transaction hash equals the one
# computed in C, and that the receipt's `from` is the key's address. Also
# checks that a key file with mode 0644 is refused. Needs LOOM_TEST_RPC_URL
# (anvil, chain 31337), LOOM_BUILD and LOOM_TEST_TMP from scripts/test.sh.
set -uo pipefail
: "${LOOM_TEST_RPC_URL:?run through make test}" "${LOOM_BUILD:?}" "${LOOM_TEST_TMP:?}"
cd "$(dirname "$0")/../.."
cast=node_modules/.bin/cast
dir=$(mktemp -d "$LOOM_TEST_TMP/eth_anvil.XXXXXX")
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

# anvil's first dev account (public test key)
key=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
addr=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
to=0x70997970C51812dc3A010C7d01b50e0d17dc79C8

if ! cc -std=c11 -D_GNU_SOURCE -O1 -I. -Icommon -o "$dir/eth_signtx" tests/integration/eth_signtx.c \
    "$LOOM_BUILD/libloom.a" -lsecp256k1 -lnettle -lcrypto; then
  echo "cannot build eth_signtx"; echo "0 passed, 1 failed"; exit 1
fi
(umask 077 && printf '%s\n' "$key" > "$dir/key")

chain=$($cast chain-id --rpc-url "$LOOM_TEST_RPC_URL")
[ "$chain" = 31337 ] && ok "chain id 31337" || bad "chain id is $chain"
price=$($cast gas-price --rpc-url "$LOOM_TEST_RPC_URL")
fee=$((price * 2 + 1000000000))

send() { # type nonce -> checks one transaction
  local type=$1 nonce=$2 out raw hash signer receipt
  if ! out=$("$dir/eth_signtx" "$type" "$dir/key" "$chain" "$nonce" 21000 "$fee" 1000000000 "$to" 12345); then
    bad "$type: eth_signtx failed"; return
  fi
  read -r raw hash signer <<<"$out"
  [ "$signer" = "$addr" ] && ok "$type: signer is $addr" || bad "$type: signer $signer"
  if ! receipt=$($cast publish --rpc-url "$LOOM_TEST_RPC_URL" "$raw" 2>&1); then
    bad "$type: cast publish refused it: $receipt"; return
  fi
  local got_hash got_from status
  got_hash=$($cast receipt --rpc-url "$LOOM_TEST_RPC_URL" "$hash" transactionHash 2>&1)
  got_from=$($cast receipt --rpc-url "$LOOM_TEST_RPC_URL" "$hash" from 2>&1)
  status=$($cast receipt --rpc-url "$LOOM_TEST_RPC_URL" "$hash" status 2>&1)
  [ "$got_hash" = "$hash" ] && ok "$type: mined with the hash computed in C" || bad "$type: receipt hash '$got_hash', want $hash"
  [ "${got_from,,}" = "${addr,,}" ] && ok "$type: receipt from is the key's address" || bad "$type: receipt from '$got_from'"
  [[ "$status" == 1* || "$status" == true ]] && ok "$type: status 1 (success)" || bad "$type: status '$status'"
}

nonce=$($cast nonce --rpc-url "$LOOM_TEST_RPC_URL" "$addr")
before=$($cast balance --rpc-url "$LOOM_TEST_RPC_URL" "$to")
send legacy "$nonce"
send 1559 "$((nonce + 1))"
after=$($cast balance --rpc-url "$LOOM_TEST_RPC_URL" "$to")
gained=$(python3 -c "print(int('$after') - int('$before'))")
[ "$gained" = 24690 ] && ok "recipient gained 2 x 12345 wei" || bad "recipient gained $gained wei"

chmod 644 "$dir/key"
if msg=$("$dir/eth_signtx" legacy "$dir/key" "$chain" 0 21000 "$fee" 0 "$to" 1 2>&1); then
  bad "a 0644 key file was accepted"
else
  [[ "$msg" == *"has mode 0644, want 0600"* ]] && ok "0644 key file refused" || bad "refusal message: $msg"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

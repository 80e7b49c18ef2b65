#!/usr/bin/env bash
# The test harness itself: the throwaway PostgreSQL and anvil that
# scripts/test.sh starts are up and answer with the expected values.
set -euo pipefail
: "${LOOM_TEST_PG_URL:?run through make test}" "${LOOM_TEST_RPC_URL:?run through make test}"
v=$(psql "$LOOM_TEST_PG_URL" -qAtc 'SHOW server_version_num')
[ "${v:0:2}" = 15 ] || { echo "expected PostgreSQL 15, got $v"; exit 1; }
[ "$(psql "$LOOM_TEST_PG_URL" -qAtc 'SELECT current_database()')" = loom ] || exit 1
chain=$(curl -s -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$LOOM_TEST_RPC_URL" | jq -r .result)
[ "$chain" = 0x7a69 ] || { echo "expected chain id 0x7a69 (31337), got $chain"; exit 1; }
echo "postgresql 15 and anvil chain 31337 are up"

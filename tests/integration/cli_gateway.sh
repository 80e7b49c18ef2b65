#!/usr/bin/env bash
# cli_gateway.sh -- `loom` against the real gateway binary (build/bin/loom-gateway
# --backend=memory, on a free loopback port): the unsigned routes end to end
# (quote, list, status, watch and fetch of a missing job) and a signed create.
# The gateway on main still answers every signed route 401 (its verify() is
# not wired to common/eth yet: "gateway.verify_unavailable" in its log); the
# create check accepts that answer, exit 77 with the gateway's "bad
# signature", or a created job, which is then read back. Needs LOOM_BUILD and
# LOOM_TEST_TMP (scripts/test.sh). Last line: "N passed, N failed".
set -uo pipefail
: "${LOOM_BUILD:?run through make test}" "${LOOM_TEST_TMP:?}"
cd "$(dirname "$0")/../.."
loom=$LOOM_BUILD/bin/loom
gwbin=$LOOM_BUILD/bin/loom-gateway
dir=$(mktemp -d "$LOOM_TEST_TMP/cli_gateway.XXXXXX")
gw_pid=
cleanup() { [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; exit $((failed > 0)); }
[ -x "$gwbin" ] && [ -x "$loom" ] || { bad "no $gwbin or $loom"; finish; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$gwbin" --backend=memory --listen="127.0.0.1:$port" --store-root="$dir/store" 2>"$dir/gateway.log" &
gw_pid=$!
export LOOM_GATEWAY_URL=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf "$LOOM_GATEWAY_URL/health" >/dev/null && break; sleep 0.05; done
(umask 077 && echo 0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d >"$dir/client.key")
export LOOM_KEY_FILE=$dir/client.key

out=$("$loom" quote --usd 12.50 --json); rc=$?
# ceil(1250 * 10^24 / 300000000000): the memory backend's feed is 3000 USD/ETH.
[ "$rc" = 0 ] && [ "$(jq -r .wei <<<"$out")" = 4166666666666667 ] && [ "$(jq -r .round_id <<<"$out")" = 1 ] \
  && ok "quote through the gateway: 4166666666666667 wei, round 1" || bad "quote: rc $rc $out"
out=$("$loom" list --json); rc=$?
[ "$rc" = 0 ] && [ "$(jq -c .jobs <<<"$out")" = "[]" ] && ok "list on an empty gateway" || bad "list: rc $rc $out"
err=$("$loom" status 7 2>&1 >/dev/null); rc=$?
[ "$rc" = 66 ] && grep -q "cannot get job 7" <<<"$err" && ok "status of a missing job: exit 66 ($err)" || bad "status: rc $rc $err"
timeout 20 "$loom" watch 7 >/dev/null 2>&1; rc=$?
[ "$rc" = 66 ] && ok "watch of a missing job: the stream opens, the read says 404, exit 66" || bad "watch: rc $rc"
"$loom" fetch 7 --out "$dir/out" >/dev/null 2>&1; rc=$?
[ "$rc" = 66 ] && ok "fetch of a missing job: exit 66" || bad "fetch: rc $rc"
err=$("$loom" quote --usd 20000000000 2>&1 >/dev/null); rc=$?
[ "$rc" = 64 ] && ok "quote over the cap is a usage error" || bad "quote cap: rc $rc $err"

printf '{"kind":"train"}\n' >"$dir/job.json"
printf 'x,y\n' >"$dir/digits.csv"
out=$("$loom" create --json --title "Train digits" --type IA --price-usd 12.50 --spec "$dir/job.json" "$dir/digits.csv" 2>"$dir/create.err"); rc=$?
if [ "$rc" = 0 ]; then
  id=$(jq -r .id <<<"$out")
  st=$("$loom" status "$id" --json)
  [ "$(jq -r .status <<<"$st")" = PENDING ] && [ "$(jq -r .price_usd_cents <<<"$st")" = 1250 ] \
    && [ "$(jq -r .spec_sha256 <<<"$st")" = "$(sha256sum "$dir/job.json" | cut -d' ' -f1)" ] \
    && ok "create through the gateway: job $id PENDING with the spec's sha256" || bad "create: $st"
elif [ "$rc" = 77 ] && grep -q "bad signature" "$dir/create.err" && grep -q verify_unavailable "$dir/gateway.log"; then
  ok "create reached the gateway's signature check (verify not wired on this gateway: exit 77)"
else
  bad "create: rc $rc $(cat "$dir/create.err")"
fi
finish

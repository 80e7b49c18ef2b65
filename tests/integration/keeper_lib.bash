# keeper_lib.bash -- shell helpers shared by tests/integration/keeper.sh and
# tests/bench/bench_keeper.sh (sourced, never run). They start a private anvil,
# deploy LoomEscrow with a MockV3Aggregator and the fixtures of
# keeper_fixture.sol, make many jobs fall due at once, and run loom-keeper.
# Needs: root, BUILD, work (a scratch folder) set by the caller.

CAST="$root/node_modules/.bin/cast"
FORGE="$root/node_modules/.bin/forge"
# Test keys: keccak256 of a name, funded with anvil_setBalance (fund).
DEPLOYER_KEY=$("$CAST" keccak loom-keeper-test-deployer)
DEPLOYER=$("$CAST" wallet address --private-key "$DEPLOYER_KEY")
PRICE_CENTS=1250
# MockV3Aggregator: 8 decimals, 2,000 USD per ETH. Wei per job =
# ceil(1250 * 10^24 / (2000 * 10^8)) (LoomEscrow._toWei).
FEED_ANSWER=200000000000
AMOUNT_WEI=6250000000000000

# jq, not python3, in hot paths: a pyenv shim costs seconds per start.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

rpc() { # method params-json -> result JSON text
  curl -s -m 30 -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" "$RPC" |
    jq -c 'if has("result") then .result else error("rpc error: \(.error)") end'
}
hex2dec() { local h=${1//\"/}; echo $((16#${h#0x})); }
nonce_of() { hex2dec "$(rpc eth_getTransactionCount "[\"$1\",\"${2:-latest}\"]")"; }
block_ts() { hex2dec "$(rpc eth_getBlockByNumber "[\"${1:-latest}\",false]" | jq -r .timestamp)"; }
mine() { rpc evm_mine >/dev/null; }
addr_of() { # key -> address (the deployer's known: cast takes a while to start)
  if [ "$1" = "$DEPLOYER_KEY" ]; then echo "$DEPLOYER"; else "$CAST" wallet address --private-key "$1"; fi
}
fund() { rpc anvil_setBalance "[\"$1\",\"0x21e19e0c9bab2400000\"]" >/dev/null; } # 10,000 ETH

# compile_contracts: LoomEscrow, MockV3Aggregator and the fixtures, through
# forge and solc-js (about 25 s on a busy machine). The artifacts and forge's
# cache live in $LOOM_BUILD/keeper-forge, so that a later run recompiles only
# what changed; the ones the tests use are copied to $work/out under a lock
# (two runs at once share the folder).
compile_contracts() {
  local dir="$LOOM_BUILD/keeper-forge" a
  mkdir -p "$dir" "$work/out" || return 1
  (
    flock 9 || exit 1
    # forge itself takes seconds to find nothing to do: skip it while no
    # input is newer than the last build's stamp.
    if [ ! -f "$dir/stamp" ] || [ -n "$(find "$root/contracts/src" "$root/contracts/foundry.toml" \
      "$root/tests/integration/keeper_fixture.sol" -newer "$dir/stamp" -print -quit)" ]; then
      (cd "$root/contracts" && "$FORGE" build --out "$dir/out" --cache-path "$dir/cache" \
        src/LoomEscrow.sol ../node_modules/@chainlink/contracts/src/v0.8/tests/MockV3Aggregator.sol \
        ../tests/integration/keeper_fixture.sol) || exit 1
      touch "$dir/stamp"
    fi
    for a in LoomEscrow.sol/LoomEscrow.json MockV3Aggregator.sol/MockV3Aggregator.json \
      keeper_fixture.sol/KeeperFixtureClient.json keeper_fixture.sol/KeeperFixtureWorker.json; do
      mkdir -p "$work/out/${a%/*}" && cp "$dir/out/$a" "$work/out/$a" || exit 1
    done
  ) 9>"$dir/lock" >"$work/forge.log" 2>&1 || { cat "$work/forge.log"; return 1; }
}
bytecode() { jq -r .bytecode.object "$work/out/$1"; }

start_anvil() { # extra anvil flags...
  anvil_dir="$work/anvil"
  RPC=$("$root/scripts/anvil.sh" start "$anvil_dir" "$(free_port)" "$@") || return 1
  export RPC
}
stop_anvil() { [ -n "${anvil_dir:-}" ] && "$root/scripts/anvil.sh" stop "$anvil_dir" >/dev/null 2>&1; }

# Transactions go out as eth_sendTransaction from an impersonated account
# (anvil_impersonateAccount: anvil signs nothing and checks no key), which
# costs one curl instead of a cast process that asks the node four questions.
# Calldata is made by `cast calldata`, which needs no node.
send_async() { # key [--value WEI] (--create CODE | TO SIG [ARGS...]) -> tx hash
  local key=$1 from value=0 to="" data; shift
  from=$(addr_of "$key") || return 1
  if [ "$from" != "$DEPLOYER" ]; then # deploy() impersonates the deployer
    rpc anvil_impersonateAccount "[\"$from\"]" >/dev/null || return 1
  fi
  if [ "$1" = --value ]; then value=$2; shift 2; fi
  if [ "$1" = --create ]; then
    data=$2
  else
    to=$1; shift
    data=$("$CAST" calldata "$@") || return 1
  fi
  jq -cn --arg f "$from" --arg t "$to" --arg d "$data" --arg v "$(printf '0x%x' "$value")" \
    '[{from: $f, data: $d, value: $v} + (if $t == "" then {} else {to: $t} end)]' >"$work/send.json"
  rpc eth_sendTransaction "$(cat "$work/send.json")" | jq -r .
}
receipt() { # hash field -> the field of its receipt once mined; fails on a revert
  local r
  for _ in $(seq 1 300); do
    r=$(rpc eth_getTransactionReceipt "[\"$1\"]") || return 1
    [ "$r" != null ] && break
    sleep 0.1
  done
  jq -er --arg f "$2" 'if .status == "0x1" then .[$f] else error("transaction failed") end' <<<"$r"
}
send() { # key args... (waits for the receipt)
  local h; h=$(send_async "$@") || return 1
  receipt "$h" status >/dev/null
}
create_contract() { # artifact [ctor-sig args...] -> address
  local art=$1; shift
  local code; code=$(bytecode "$art")
  [ $# -gt 0 ] && code="$code$("$CAST" abi-encode "$@" | cut -c3-)"
  local h; h=$(send_async "$DEPLOYER_KEY" --create "$code") || return 1
  receipt "$h" contractAddress
}

# deploy: sets ESCROW, CLIENT (fixture), WORKER (fixture).
deploy() {
  local dep=$DEPLOYER
  fund "$dep"
  rpc anvil_impersonateAccount "[\"$dep\"]" >/dev/null || return 1
  FEED=$(create_contract MockV3Aggregator.sol/MockV3Aggregator.json "constructor(uint8,int256)" 8 "$FEED_ANSWER") || return 1
  ESCROW=$(create_contract LoomEscrow.sol/LoomEscrow.json \
    "constructor(address,uint32,address,uint32,address,address)" "$FEED" 4000000000 \
    0x0000000000000000000000000000000000000000 0 "$dep" "$dep") || return 1
  CLIENT=$(create_contract keeper_fixture.sol/KeeperFixtureClient.json) || return 1
  WORKER=$(create_contract keeper_fixture.sol/KeeperFixtureWorker.json) || return 1
}

# make_jobs N MODE: N jobs of PRICE_CENTS. MODE release: claimed and
# submitted with a 60 s window; refund: left open with a deadline 60 s away.
# Writes their ids to $work/ids and, per job, the time it falls due to
# $work/due_at (one line each). Chunks of 100 per transaction.
make_jobs() {
  local n=$1 mode=$2 base; base=$(block_ts)
  local first; first=$("$CAST" call --rpc-url "$RPC" "$CLIENT" "count()(uint256)" | cut -d' ' -f1)
  local deadline=$((base + 86400)) window=60
  [ "$mode" = refund ] && deadline=$((base + 60))
  local i=0 hashes=()
  while [ $i -lt "$n" ]; do
    local m=$((n - i < 100 ? n - i : 100))
    hashes+=("$(send_async "$DEPLOYER_KEY" --value "$((m * AMOUNT_WEI))" "$CLIENT" \
      "createMany(address,uint256,uint256,uint64,uint32,uint32,uint32)" "$ESCROW" "$((first + i))" "$m" \
      "$PRICE_CENTS" "$deadline" 3600 "$window")") || return 1
    i=$((i + m))
  done
  for h in "${hashes[@]}"; do receipt "$h" status >/dev/null || return 1; done
  "$CAST" call --rpc-url "$RPC" "$CLIENT" "idsFrom(uint256,uint256)(bytes32[])" "$first" "$n" |
    tr -d '[] ' | tr ',' '\n' >"$work/ids"
  : >"$work/due_at"
  if [ "$mode" = release ]; then
    i=0
    hashes=()
    while [ $i -lt "$n" ]; do
      local m=$((n - i < 100 ? n - i : 100))
      local list; list="[$(sed -n "$((i + 1)),$((i + m))p" "$work/ids" | paste -sd,)]"
      hashes+=("$(send_async "$DEPLOYER_KEY" "$WORKER" "work(address,bytes32[],bool)" "$ESCROW" "$list" true)") || return 1
      i=$((i + m))
    done
    i=0
    for h in "${hashes[@]}"; do
      local m=$((n - i < 100 ? n - i : 100)) bn ts
      bn=$(receipt "$h" blockNumber) || return 1
      ts=$(block_ts "$bn")
      for _ in $(seq 1 "$m"); do echo $((ts + window)) >>"$work/due_at"; done
      i=$((i + m))
    done
  else
    for _ in $(seq 1 "$n"); do echo "$deadline" >>"$work/due_at"; done
  fi
}

# write_due FILE ACTION: the due source the keeper reads (job store stand-in).
write_due() {
  paste -d' ' "$work/ids" "$work/due_at" |
    awk -v a="$2" '{printf "{\"chain_job_id\":\"%s\",\"action\":\"%s\",\"due_at\":%d}\n", $1, a, $2}' >"$1"
}

# credit ACCOUNT: escrow balanceOf in wei (decimal).
# balanceOf(address) is 0x70a08231; credits here stay far under 2^63 wei.
credit() {
  local a=${1#0x} r
  r=$(rpc eth_call "[{\"to\":\"$ESCROW\",\"data\":\"0x70a08231000000000000000000000000${a,,}\"},\"latest\"]") || return 1
  hex2dec "$r"
}

# start_keeper NAME KEY DUE [flags...]: runs loom-keeper in the background.
# DUE is a due file, or jobstore:<bus address> for the job store's jobs.due.
start_keeper() {
  local name=$1 key=$2 due=$3; shift 3
  local src=(--due-file "$due")
  [[ "$due" == jobstore:* ]] && src=(--jobstore-url "${due#jobstore:}")
  printf '%s\n' "$key" >"$work/$name.key"
  chmod 600 "$work/$name.key"
  "$LOOM_BUILD/bin/loom-keeper" --rpc-url "$RPC" --key-file "$work/$name.key" --escrow "$ESCROW" \
    "${src[@]}" --journal "$work/$name.journal" --poll-ms 100 --metrics-listen 127.0.0.1:0 \
    --max-fee-gwei 500 ${KEEPER_FLAGS:-} "$@" 2>>"$work/$name.log" &
  echo $! >"$work/$name.pid"
}
stop_keeper() { # NAME: SIGTERM, wait; returns its exit status
  local pid; pid=$(cat "$work/$1.pid")
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
}

# wait_for SECONDS command...: poll every 0.2 s until it succeeds.
wait_for() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  while [ $SECONDS -lt $end ]; do
    "$@" && return 0
    sleep 0.2
  done
  return 1
}
credit_is() { [ "$(credit "$1")" = "$2" ]; }

#!/bin/sh
# docker-entrypoint.sh -- prepare a Loom service's settings in its container,
# then exec it (the service becomes the container's main process and gets
# SIGTERM from `docker-compose stop` directly).
#
# 1. An empty LOOM_* variable is removed, so that compose's "${X:-}" defaults
#    leave the service's own default in force (an empty integer is an error).
# 2. Without LOOM_ESCROW, and with LOOM_DEPLOYMENT_FILE set (the deployment
#    JSON of contracts/deploy.sh, docs/contracts.md), wait for that file for
#    up to LOOM_DEPLOYMENT_WAIT_S seconds (default 600: the dev profile's
#    deployer compiles the contracts first) and take LOOM_ESCROW,
#    LOOM_START_BLOCK and LOOM_CHAIN_ID from it. LOOM_ESCROW_ADDRESS (the
#    indexer's name) follows LOOM_ESCROW. A worker (LOOM_DEPLOYMENT names a
#    file that is not there) given LOOM_ESCROW and LOOM_CHAIN_ID gets a
#    deployment JSON written for it in $HOME.
# 3. LOOM_PGPASSWORD_FILE (a compose secret): its content becomes libpq's
#    PGPASSWORD, so the password is neither in the compose file nor in the URL.
# 4. LOOM_KEY_DIR (a folder of *.key files, one per worker): take the first key
#    no other replica holds, by an exclusive flock on a file of the same name
#    in LOOM_LOCK_DIR (a volume all replicas share), and set LOOM_KEY_FILE to
#    it. The lock lives as long as the service: descriptor 9 stays open across
#    exec. This is how `--scale worker=N` gives each worker its own key (two
#    workers on one key would race for nonces).
#
# SPDX-License-Identifier: MIT
set -eu
me=loom-entrypoint

for name in $(env | sed -n 's/^\(LOOM_[A-Z0-9_]*\)=$/\1/p'); do
  unset "$name"
done

if [ -z "${LOOM_ESCROW:-}" ] && [ -n "${LOOM_DEPLOYMENT_FILE:-}" ]; then
  waited=0
  limit=${LOOM_DEPLOYMENT_WAIT_S:-600}
  while [ ! -s "$LOOM_DEPLOYMENT_FILE" ]; do
    if [ "$waited" -ge "$limit" ]; then
      echo "$me: no LOOM_ESCROW and no deployment file $LOOM_DEPLOYMENT_FILE after ${limit}s" >&2
      exit 78
    fi
    [ "$waited" = 0 ] && echo "$me: waiting for $LOOM_DEPLOYMENT_FILE" >&2
    sleep 1
    waited=$((waited + 1))
  done
  LOOM_ESCROW=$(jq -er .escrow "$LOOM_DEPLOYMENT_FILE")
  : "${LOOM_START_BLOCK:=$(jq -er .deploymentBlock "$LOOM_DEPLOYMENT_FILE")}"
  : "${LOOM_CHAIN_ID:=$(jq -er .chainId "$LOOM_DEPLOYMENT_FILE")}"
  export LOOM_ESCROW LOOM_START_BLOCK LOOM_CHAIN_ID
fi
if [ -n "${LOOM_ESCROW:-}" ]; then
  : "${LOOM_ESCROW_ADDRESS:=$LOOM_ESCROW}"
  export LOOM_ESCROW_ADDRESS
fi

# The worker reads the escrow from a deployment JSON (LOOM_DEPLOYMENT); given
# only LOOM_ESCROW and LOOM_CHAIN_ID, write that JSON for it.
if [ -n "${LOOM_DEPLOYMENT:-}" ] && [ ! -s "$LOOM_DEPLOYMENT" ] && [ -n "${LOOM_ESCROW:-}" ]; then
  if [ -z "${LOOM_CHAIN_ID:-}" ]; then
    echo "$me: no $LOOM_DEPLOYMENT: set LOOM_CHAIN_ID with LOOM_ESCROW" >&2
    exit 78
  fi
  f=${HOME:-/tmp}/deployment.json
  jq -n --argjson chain "$LOOM_CHAIN_ID" --arg escrow "$LOOM_ESCROW" --argjson block "${LOOM_START_BLOCK:-0}" \
    '{chainId: $chain, escrow: $escrow, deploymentBlock: $block}' >"$f"
  LOOM_DEPLOYMENT=$f
  export LOOM_DEPLOYMENT
fi

if [ -n "${LOOM_PGPASSWORD_FILE:-}" ]; then
  PGPASSWORD=$(cat "$LOOM_PGPASSWORD_FILE")
  export PGPASSWORD
  unset LOOM_PGPASSWORD_FILE
fi

if [ -n "${LOOM_KEY_DIR:-}" ]; then
  unset LOOM_KEY_FILE
  lock_dir=${LOOM_LOCK_DIR:-/var/lib/loom/locks}
  mkdir -p "$lock_dir"
  n=0
  for key in "$LOOM_KEY_DIR"/*.key; do
    [ -f "$key" ] || continue
    n=$((n + 1))
    exec 9>"$lock_dir/$(basename "$key").lock"
    if flock -n 9; then
      LOOM_KEY_FILE=$key
      break
    fi
    exec 9>&-
  done
  if [ -z "${LOOM_KEY_FILE:-}" ]; then
    echo "$me: all $n keys in $LOOM_KEY_DIR are held by other replicas; add a key file per worker" >&2
    exit 75
  fi
  export LOOM_KEY_FILE
  unset LOOM_KEY_DIR LOOM_LOCK_DIR
  echo "$me: this worker uses $LOOM_KEY_FILE" >&2
fi

exec "$@"

#!/usr/bin/env bash
# deps.sh -- install every Debian and npm package The Loom needs.
#
# Idempotent: packages already present are skipped, so `make test` can call
# it on every run at the cost of one dpkg query. Downloads only from Debian's
# archive (apt-get) and the npm registry (npm ci from package-lock.json).
# Usage: scripts/deps.sh [--quiet]
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1
say() { [ "$quiet" = 1 ] || echo "deps: $*"; }

# Debian 12 package names, one need per line (DESIGN.md "Dependencies").
pkgs=(
  build-essential pkg-config clang clang-format libclang-rt-14-dev
  libevent-dev libnanomsg-dev nanomsg-utils
  libpq-dev postgresql postgresql-contrib
  libcjson-dev libcurl4-openssl-dev libssl-dev
  libsecp256k1-dev nettle-dev libwslay-dev
  ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo
  libturbojpeg0-dev libpng-dev
  libcmocka-dev
  libopenblas-dev libvips-tools
  docker-compose wrk hyperfine jq curl
  nodejs npm python3
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node and npm may come from elsewhere (a newer install); accept them if present.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi

if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages: all present"
fi

# npm: reinstall only when package-lock.json changed since the last install.
stamp=node_modules/.loom-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > "$stamp"
else
  say "npm packages: up to date"
fi

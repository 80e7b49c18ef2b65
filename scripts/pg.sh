#!/usr/bin/env bash
# pg.sh -- a throwaway PostgreSQL 15 cluster for tests and `make up`.
#
#   scripts/pg.sh start DIR PORT   initdb DIR (if new), start on 127.0.0.1:PORT,
#                                  create database "loom"; prints the URL
#   scripts/pg.sh stop DIR         fast shutdown
#
# As root, the cluster runs as the "postgres" system user (initdb refuses
# root). Authentication is "trust" on loopback only: this is for throwaway
# local clusters, never for production (docs/operators.md).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop DIR [PORT]}
dir=${2:?usage: pg.sh start|stop DIR [PORT]}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: no PostgreSQL server found (run make deps)" >&2; exit 69; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  port=${3:?usage: pg.sh start DIR PORT}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" = 0 ] && chown postgres: "$dir" && chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$dir" -A trust -U postgres -E UTF8 --no-locale >"$dir.initdb.log" 2>&1 \
      || { cat "$dir.initdb.log" >&2; exit 1; }
  fi
  as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
  as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -qAt -c \
    "SELECT 1 FROM pg_database WHERE datname='loom'" postgres | grep -q 1 \
    || as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres loom
  echo "postgresql://postgres@127.0.0.1:$port/loom"
  ;;
stop)
  [ -f "$dir/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
  ;;
*) echo "usage: pg.sh start|stop DIR [PORT]" >&2; exit 64 ;;
esac

#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests (CTest entry `pg`).
#
#   pg_cluster.sh start DIR PORT   initdb into DIR/data, start on 127.0.0.1:PORT (unix socket
#                                  in DIR), print the connection URL on stdout
#   pg_cluster.sh stop DIR         stop the cluster (if running) and remove DIR
#
# PostgreSQL refuses to run as root: when run as root, DIR is given to the postgres user
# and initdb/pg_ctl run under `runuser -u postgres`. Trust authentication on loopback and
# the socket only (a test cluster, never a deployment); fsync stays on.
set -euo pipefail

BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    port=${3:?port}
    [ -x "$BIN/initdb" ] || { echo "pg_cluster: no $BIN/initdb (install postgresql-15)" >&2; exit 1; }
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    chmod 700 "$dir"
    as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on" start >/dev/null ||
      { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac

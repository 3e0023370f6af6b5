#!/usr/bin/env bash
# A PostgreSQL 15 cluster on loopback for the tests (CTest entries `pg` and `cluster`) and
# the local cluster (scripts/cluster.sh).
#
#   pg_cluster.sh start DIR PORT   initdb into DIR/data unless it already holds a cluster
#                                  (data is kept between runs), start on 127.0.0.1:PORT
#                                  (unix socket in DIR), print the connection URL on stdout
#   pg_cluster.sh halt DIR         stop the cluster (if running), keep DIR; `start DIR PORT`
#                                  starts it again on its data
#   pg_cluster.sh restart DIR      pg_ctl restart (fast shutdown, same port and options)
#   pg_cluster.sh stop DIR         stop the cluster (if running) and remove DIR
#
# PostgreSQL refuses to run as root: when run as root, DIR is given to the postgres user
# and initdb/pg_ctl run under `runuser -u postgres` (so DIR must be reachable by that user,
# e.g. under /tmp). Trust authentication on loopback and the socket only (a test or
# development cluster, never a deployment); fsync stays on. PG_INITDB_NO_SYNC=1 skips
# initdb's final flush of the new files to disk (about 2 s; for clusters that are thrown
# away with the test that made them).
set -euo pipefail

BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
usage="usage: $0 start DIR PORT | halt DIR | restart DIR | stop DIR"
if [ -z "$cmd" ] || [ -z "$dir" ]; then echo "$usage" >&2; exit 2; fi

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Fast shutdown, waiting for it; nothing to do when no postmaster runs.
halt() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
  fi
}

case "$cmd" in
  start)
    port=${3:?port}
    [ -x "$BIN/initdb" ] || { echo "pg_cluster: no $BIN/initdb (install postgresql-15)" >&2; exit 1; }
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      nosync=()
      if [ "${PG_INITDB_NO_SYNC:-0}" = 1 ]; then nosync=(--no-sync); fi
      as_pg "$BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        "${nosync[@]}" >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on" start >/dev/null ||
      { tail -n 40 "$dir/server.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  halt)
    halt
    ;;
  restart)
    as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null ||
      { tail -n 40 "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    halt
    rm -rf "$dir"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac

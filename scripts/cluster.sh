#!/usr/bin/env bash
# scripts/cluster.sh: a whole Parley cluster on this machine, on loopback, in the foreground
# (`make cluster` builds parley and the web app, then runs it). It starts
#
#   - PostgreSQL 15 (tests/pg/pg_cluster.sh) with its data in $CLUSTER_DIR/pg, created by
#     initdb on the first run and kept afterwards, and a database `parley` in it;
#   - nats-server, the bus between the nodes (core NATS; no JetStream);
#   - CLUSTER_NODES parley nodes, each with its own port, data directory and node id, all
#     on that database and that NATS server, sharing one uploads directory
#     ($CLUSTER_DIR/uploads: uploads live on local disk, and here every node has the same
#     disk) and serving the web app;
#   - HAProxy in front of the nodes on 127.0.0.1:$CLUSTER_PORT: HTTP mode, least
#     connections, health checks on GET /healthz, timeouts that let WebSockets, Server-Sent
#     Events and 60 s long polls through, no stickiness (any node serves any request).
#
# then prints the URL and every component's port and log, and waits. Ctrl-C (SIGINT) or
# SIGTERM stops everything (HAProxy, the nodes, NATS, then PostgreSQL), keeping the data for
# the next run. A node that dies while running is reported and not restarted (the others go
# on serving: try `kill -9` on one). Logs are files in $CLUSTER_DIR.
#
# Environment (all optional):
#   CLUSTER_DIR        data and logs (default ./cluster-data); one running cluster per dir
#   CLUSTER_NODES      number of parley nodes (default 3)
#   CLUSTER_PORT       HAProxy's port (default 8080)
#   CLUSTER_NODE_PORT  port of node1 (node K gets CLUSTER_NODE_PORT + K - 1); default: free ports
#   CLUSTER_NATS_PORT, CLUSTER_PG_PORT   default: free ports
#   BUILD              build directory with parley and web/ (default build)
#   PARLEY_BIN         the parley binary (default $BUILD/parley)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
bin=${PARLEY_BIN:-$BUILD/parley}
web=$BUILD/web
nodes=${CLUSTER_NODES:-3}
proxy_port=${CLUSTER_PORT:-8080}
dir=${CLUSTER_DIR:-./cluster-data}

die() { echo "cluster: $*" >&2; exit 1; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

[ $# -eq 0 ] || die "takes no arguments (settings are environment variables; see the top of $0)"
[[ $nodes =~ ^[1-9][0-9]?$ ]] || die "CLUSTER_NODES must be 1 to 99, not '$nodes'"
[ -x "$bin" ] || die "no parley binary at $bin (build it: make cluster, or set PARLEY_BIN)"
[ -d "$web" ] || die "no web app at $web (build the parley_web target)"
command -v nats-server >/dev/null || die "nats-server not found (scripts/install-deps.sh installs it)"
command -v haproxy >/dev/null || die "haproxy not found (scripts/install-deps.sh installs it)"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
web=$(cd "$web" && pwd)

# One cluster per directory: the lock lives as long as this script.
exec 9>"$dir/.lock"
flock -n 9 || die "a cluster is already running in $dir"

# Every process started below, by name, for the shutdown; pids of background children.
declare -A pid=()
order=()
pg_started=0

# Stops what runs, the front first: HAProxy, the nodes, NATS (SIGTERM, then SIGKILL after
# 15 s), then PostgreSQL (fast shutdown; the data stays). Runs once, on any exit.
stopped=0
shutdown() {
  [ "$stopped" = 1 ] && return
  stopped=1
  [ ${#order[@]} -eq 0 ] && [ "$pg_started" = 0 ] && return # nothing was started
  trap '' INT TERM
  echo
  echo "cluster: stopping"
  local i name
  for ((i = ${#order[@]} - 1; i >= 0; i--)); do
    name=${order[$i]}
    kill -TERM "${pid[$name]}" 2>/dev/null || true
    for _ in $(seq 150); do
      kill -0 "${pid[$name]}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${pid[$name]}" 2>/dev/null; then
      echo "cluster: $name did not stop within 15 s; killing it"
      kill -KILL "${pid[$name]}" 2>/dev/null || true
    fi
    wait "${pid[$name]}" 2>/dev/null || true
  done
  if [ "$pg_started" = 1 ]; then bash "$root/tests/pg/pg_cluster.sh" halt "$dir/pg"; fi
  echo "cluster: stopped (data kept in $dir)"
}
trap shutdown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a background process in its own session (so a Ctrl-C reaches this script only,
# which then stops everything in order), output to a log file.
spawn() {
  local name=$1 log=$2
  shift 2
  setsid "$@" >>"$log" 2>&1 </dev/null &
  pid[$name]=$!
  order+=("$name")
}

# Waits until url answers 200, failing when the process is gone or after 30 s.
await_http() {
  local name=$1 url=$2 log=$3
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then return 0; fi
    kill -0 "${pid[$name]}" 2>/dev/null || { tail -n 30 "$log" >&2; die "$name exited while starting (log: $log)"; }
    sleep 0.1
  done
  tail -n 30 "$log" >&2
  die "$name did not answer $url within 30 s (log: $log)"
}

# PostgreSQL: as root, pg_cluster.sh runs it as the postgres user, who must reach the dir.
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$dir"; then
  die "the postgres user cannot reach $dir (a parent directory is closed to it): set CLUSTER_DIR, e.g. /tmp/parley-cluster"
fi
pg_port=${CLUSTER_PG_PORT:-$(free_port)}
bash "$root/tests/pg/pg_cluster.sh" halt "$dir/pg" # a postmaster left by a killed run
pg_started=1
admin_url=$(setsid -w bash "$root/tests/pg/pg_cluster.sh" start "$dir/pg" "$pg_port") ||
  die "PostgreSQL did not start (log: $dir/pg/server.log)"
if [ "$(psql "$admin_url" -tAc "SELECT 1 FROM pg_database WHERE datname = 'parley'")" != 1 ]; then
  psql "$admin_url" -qc 'CREATE DATABASE parley' >/dev/null
fi
pg_url=${admin_url%/postgres}/parley

nats_port=${CLUSTER_NATS_PORT:-$(free_port)}
spawn nats "$dir/nats.log" nats-server -a 127.0.0.1 -p "$nats_port"
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break
  kill -0 "${pid[nats]}" 2>/dev/null || { tail -n 20 "$dir/nats.log" >&2; die "nats-server exited (log: $dir/nats.log)"; }
  sleep 0.1
done

mkdir -p "$dir/uploads"
declare -A node_port=()
for k in $(seq "$nodes"); do
  name=node$k
  if [ -n "${CLUSTER_NODE_PORT:-}" ]; then node_port[$name]=$((CLUSTER_NODE_PORT + k - 1)); else node_port[$name]=$(free_port); fi
  mkdir -p "$dir/$name"
  spawn "$name" "$dir/$name.log" "$bin" serve --host 127.0.0.1 --port "${node_port[$name]}" \
    --data-dir "$dir/$name" \
    --set store.backend=postgres --set "store.postgres_url=$pg_url" \
    --set "cluster.nats_url=nats://127.0.0.1:$nats_port" --set "cluster.node_id=$name" \
    --set "store.uploads_dir=$dir/uploads" --set "web.dir=$web" \
    --set server.trusted_proxies=127.0.0.1
done
for k in $(seq "$nodes"); do
  await_http "node$k" "http://127.0.0.1:${node_port[node$k]}/healthz" "$dir/node$k.log"
done

# HAProxy's configuration, written anew each run. `timeout tunnel` governs a connection
# once it is a WebSocket; client/server cover SSE (keep-alive comments every 15 s) and long
# polls (up to 60 s); `option forwardfor` passes the client's address on.
cfg=$dir/haproxy.cfg
{
  cat <<CFG
# Generated by scripts/cluster.sh; rewritten on every run.
global
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    option dontlognull
    option forwardfor
    timeout connect 5s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout client 90s
    timeout server 90s
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s

frontend parley
    bind 127.0.0.1:$proxy_port
    default_backend parley_nodes

backend parley_nodes
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
CFG
  for k in $(seq "$nodes"); do
    echo "    server node$k 127.0.0.1:${node_port[node$k]} check"
  done
} >"$cfg"
haproxy -c -q -f "$cfg" || die "haproxy refuses $cfg"
spawn haproxy "$dir/haproxy.log" haproxy -db -f "$cfg"
await_http haproxy "http://127.0.0.1:$proxy_port/healthz" "$dir/haproxy.log"

echo
echo "Parley cluster of $nodes nodes: http://127.0.0.1:$proxy_port/"
printf '  %-10s %-7s %s\n' component port log
printf '  %-10s %-7s %s\n' haproxy "$proxy_port" "$dir/haproxy.log (config $cfg)"
for k in $(seq "$nodes"); do
  printf '  %-10s %-7s %s\n' "node$k" "${node_port[node$k]}" "$dir/node$k.log (data $dir/node$k)"
done
printf '  %-10s %-7s %s\n' nats "$nats_port" "$dir/nats.log"
printf '  %-10s %-7s %s\n' postgresql "$pg_port" "$dir/pg/server.log ($pg_url)"
echo "Uploads in $dir/uploads. Ctrl-C stops everything."

# Wait, reporting (once) any process that ends on its own.
declare -A reported=()
while true; do
  for name in "${order[@]}"; do
    if [ -z "${reported[$name]:-}" ] && ! kill -0 "${pid[$name]}" 2>/dev/null; then
      status=0
      wait "${pid[$name]}" || status=$?
      echo "cluster: $name exited (status $status); see its log in $dir"
      reported[$name]=1
    fi
  done
  sleep 1 &
  wait $! || true
done

#!/usr/bin/env bash
# bench/peers/install.sh: install the benchmark peers (idempotent).
#  - `npm ci` in bench/peers when node_modules is missing or older than package-lock.json
#    (bun, ws, socket.io at the exact versions of package-lock.json; the npm `bun` package
#    brings its Linux binary through the optionalDependency @oven/bun-linux-x64);
#  - Debian's nats-server and python3-matplotlib (for bench/report.py's plots), only if
#    missing (apt-get update first);
#  - prints the version of everything.
# Needs node (v20) and npm; apt-get (as root) for nats-server. Set PEERS_NO_NATS=1 to skip
# nats-server.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

command -v node >/dev/null || { echo "install.sh: node not found" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: npm not found" >&2; exit 1; }

stamp=node_modules/.package-lock.json # npm writes it on every install
if [[ ! -d node_modules || ! -e $stamp || package-lock.json -nt $stamp ]]; then
  echo "install.sh: npm ci in $here"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

bun=node_modules/.bin/bun
# The bun package's postinstall (install.js) puts the platform binary in place of its
# placeholder bin/bun.exe; if the npm client skipped install scripts, run it ourselves.
if ! "$bun" --version >/dev/null 2>&1; then
  echo "install.sh: running the bun package's install.js"
  (cd node_modules/bun && node install.js)
fi
"$bun" --version >/dev/null || { echo "install.sh: $bun does not run" >&2; exit 1; }

missing=()
if [[ "${PEERS_NO_NATS:-0}" != 1 ]] && ! command -v nats-server >/dev/null; then
  missing+=(nats-server)
fi
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || missing+=(python3-matplotlib)
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install.sh: apt-get install ${missing[*]}"
  if [[ $(id -u) == 0 ]]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

pkgver() { node -p "require('./node_modules/$1/package.json').version"; }
echo "bun:         $("$bun" --version)"
echo "node:        $(node --version)"
echo "ws:          $(pkgver ws)"
echo "socket.io:   $(pkgver socket.io) (engine.io $(pkgver engine.io), its ws $(node -p "require('./node_modules/engine.io/node_modules/ws/package.json').version" 2>/dev/null || pkgver ws))"
if command -v nats-server >/dev/null; then
  echo "nats-server: $(nats-server --version | sed "s/^nats-server: //")"
else
  echo "nats-server: not installed"
fi

#!/usr/bin/env bash
# Installs every package Parley needs to build, run and test, from Debian 12 and npm.
# Idempotent: packages already present are skipped; apt-get update runs only when
# something is missing. Must run as root (or with sudo available).
#
# nats-server and haproxy are for the local cluster (`make cluster`, scripts/cluster.sh) and
# the `cluster` tests, which run their own processes with their own configuration on their
# own ports (free ones, found at start, unless given); nothing uses or stops the system
# services these packages install where systemd runs them: Debian's default haproxy.cfg
# binds no port, and nats-server.service takes 127.0.0.1:4222, a port never assumed here.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build ccache pkg-config
  clang-14 libclang-rt-14-dev
  libboost1.81-dev libboost-json1.81-dev
  libsqlite3-dev sqlite3 libsodium-dev libssl-dev libjemalloc-dev
  libpq-dev postgresql-15
  libnats-dev nats-server haproxy
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl ca-certificates python3 jq
  chromium
)
# Node.js and npm: take Debian's only when the machine has no node/npm of its own
# (a NodeSource nodejs conflicts with Debian's npm).
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# Node.js test clients, pinned by tests/node/package-lock.json.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$here/tests/node/package-lock.json" ]; then
  if [ ! -d "$here/tests/node/node_modules" ] ||
     [ "$here/tests/node/package-lock.json" -nt "$here/tests/node/node_modules/.stamp" ]; then
    (cd "$here/tests/node" && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
  fi
fi

# The TypeScript SDK's build and test tools (esbuild, typescript, ws, fake-indexeddb),
# pinned by sdk/js/package-lock.json; `make test` builds and tests it (CTest entry sdk_js).
if [ -f "$here/sdk/js/package-lock.json" ]; then
  if [ ! -d "$here/sdk/js/node_modules" ] ||
     [ "$here/sdk/js/package-lock.json" -nt "$here/sdk/js/node_modules/.stamp" ]; then
    (cd "$here/sdk/js" && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
  fi
fi

# The browser tests' driver (playwright-core, pinned by tests/browser/package-lock.json; it
# drives Debian's chromium, so no browser is downloaded); `make test` runs them (CTest
# entry `browser`).
if [ -f "$here/tests/browser/package-lock.json" ]; then
  if [ ! -d "$here/tests/browser/node_modules" ] ||
     [ "$here/tests/browser/package-lock.json" -nt "$here/tests/browser/node_modules/.stamp" ]; then
    (cd "$here/tests/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error &&
      touch node_modules/.stamp)
  fi
fi

# Benchmark peers (Bun, Node ws, Socket.IO from npm; nats-server from Debian), pinned by
# bench/peers/package-lock.json; their smoke test runs in `make test`.
bash "$here/bench/peers/install.sh" >/dev/null

#!/usr/bin/env bash
# CTest entry `pg`: starts a throwaway PostgreSQL 15 cluster (pg_cluster.sh) on loopback,
# runs the PostgreSQL store tests against it (the conformance suite's PostgreSQL
# instantiation, the multi-node tests, `parley serve` with store.backend = "postgres"),
# then stops the cluster and removes it, also when a test fails or the run is interrupted.
#
#   run.sh UNIT_TESTS_BIN INTEGRATION_TESTS_BIN PARLEY_BIN
set -euo pipefail

unit=${1:?parley_unit_tests}
integration=${2:?parley_integration_tests}
parley=${3:?parley}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# In /tmp, not $TMPDIR: the postgres user must be able to reach it.
dir=$(mktemp -d /tmp/parley-pg.XXXXXX)
cleanup() { bash "$here/pg_cluster.sh" stop "$dir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PARLEY_PG_URL=$(bash "$here/pg_cluster.sh" start "$dir" "$port")
export PARLEY_PG_URL

"$unit" --gtest_filter='*/StoreConformance.*/PostgreSQL:PgNodes.*:PgSearchQuery.*'
PARLEY_BIN="$parley" "$integration" --gtest_filter='Postgres.*'

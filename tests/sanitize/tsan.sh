#!/usr/bin/env bash
# Builds parley and the integration test executable with ThreadSanitizer (clang 14, -O1) in
# build-tsan/ and runs the integration tests that drive the server's threads concurrently:
# many clients and devices at once over every transport, fan-out, rate limits, resume racing
# live sends, receipts, typing and presence timers, slow consumers, shutdown, kill -9 and
# restart, connection limits, SSE and long polls. The tests left out (TSAN_GTEST_FILTER below)
# exercise one client's request/response paths -- REST, errors, origins, tokens, attachments,
# authorization, deflate parameters -- which the ASan build runs in full.
# A race report in a test executable fails it (TSan's exit status 66); in a server,
# tests/support/server_process fails the test that ran it. Suppressions, each with its reason:
# tests/sanitize/tsan.supp.
#
#   tests/sanitize/tsan.sh                     (the CTest entry `tsan`, `make sanitize`)
#   TSAN_GTEST_FILTER='Chat.*' tests/sanitize/tsan.sh
#
# The log goes to build-tsan/logs/integration.log. Environment: SANITIZE_BUILD (build-tsan;
# CTest's entry sets <its build directory>-tsan), SANITIZE_CXX, SANITIZE_JOBS.
tag=tsan
build="${SANITIZE_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build-tsan}"
start=$SECONDS
source "$(dirname "$0")/common.sh"

build_targets -DPARLEY_TSAN=ON -- parley parley_integration_tests

default_filter='Chat.*:*Transports.*:Rate.*:Resume.*:Receipts.*:Presence.*:Typing.*:Crash.*'
default_filter+=':Lifecycle.*:ConnectionLimits.*:Sse.*:LongPoll.*'
export TSAN_OPTIONS="${TSAN_OPTIONS:-second_deadlock_stack=1:suppressions=$root/tests/sanitize/tsan.supp}"
export PARLEY_TEST_SANITIZER=tsan
export PARLEY_BIN="$build/parley"
run_suite integration "$build/parley_integration_tests" \
  --gtest_filter="${TSAN_GTEST_FILTER:-$default_filter}"
finish

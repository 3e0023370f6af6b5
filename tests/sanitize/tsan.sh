#!/usr/bin/env bash
# Builds parley with ThreadSanitizer (clang 14, -O1) in build-tsan/ and runs against it the
# integration tests that drive the server's threads concurrently:
# many clients and devices at once over every transport, fan-out, rate limits, resume racing
# live sends, receipts, typing and presence timers, slow consumers, shutdown, kill -9 and
# restart, connection limits, SSE and long polls. The tests left out (TSAN_GTEST_FILTER below)
# exercise one client's request/response paths -- REST, errors, origins, tokens, attachments,
# authorization, deflate parameters -- which the ASan build runs in full.
# The test executable is the main build's (build/parley_integration_tests, which `make test`
# builds anyway): the races looked for are the server's, and compiling the integration tests
# again under TSan would double this entry's build time. A race report in a server fails the
# test that started it (tests/support/server_process). Suppressions, each with its reason:
# tests/sanitize/tsan.supp.
#
#   tests/sanitize/tsan.sh                     (the CTest entry `tsan`, `make sanitize`)
#   TSAN_GTEST_FILTER='Chat.*' tests/sanitize/tsan.sh
#
# The log goes to build-tsan/logs/integration.log. Environment: SANITIZE_BUILD (build-tsan;
# CTest's entry sets <its build directory>-tsan), TSAN_TEST_BIN (build/parley_integration_tests;
# CTest's entry sets its own), SANITIZE_CXX, SANITIZE_JOBS.
tag=tsan
build="${SANITIZE_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build-tsan}"
tests="${TSAN_TEST_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/parley_integration_tests}"
start=$SECONDS
source "$(dirname "$0")/common.sh"
if [ ! -x "$tests" ]; then
  echo "tsan: no $tests (build it first: cmake --build build --target parley_integration_tests)" >&2
  exit 1
fi

build_targets -DPARLEY_TSAN=ON -- parley

default_filter='Chat.*:*Transports.*:Rate.*:Resume.*:Receipts.*:Presence.*:Typing.*:Crash.*'
default_filter+=':Lifecycle.*:ConnectionLimits.*:Sse.*:LongPoll.*'
# Not for a race: too slow under a sanitizer for the server's 2 s closing handshake (asan.sh).
default_filter+='-Lifecycle.SlowConsumerIsDisconnectedAndRecoversByResume'
export TSAN_OPTIONS="${TSAN_OPTIONS:-second_deadlock_stack=1:suppressions=$root/tests/sanitize/tsan.supp}"
export PARLEY_TEST_SANITIZER=tsan
export PARLEY_BIN="$build/parley"
run_suite integration "$tests" \
  --gtest_filter="${TSAN_GTEST_FILTER:-$default_filter}"
finish

#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs unit and integration tests on the
# release build, fuzzes, runs them again with strait built with AddressSanitizer + UBSan, runs the
# multi-worker integration tests with strait built with ThreadSanitizer, and a 30 s soak. Exit
# status is the verdict; the time of each stage is printed at the end.
#   scripts/test.sh            everything
#   scripts/test.sh --fast     release build and tests only
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh

jobs=$(nproc)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# "== name" headers, and each stage's duration for the summary at the end.
timings=()
stage_name=""
stage_start=$SECONDS
stage() {
  [ -n "$stage_name" ] && timings+=("$(printf '%5d s  %s' $((SECONDS - stage_start)) "$stage_name")")
  stage_name=$1
  stage_start=$SECONDS
  [ -n "$stage_name" ] && echo "== $stage_name"
  return 0
}

stage "release build and tests"
# Line tables only (-g1): backtraces and perf still name file:line, and full debug info nearly
# doubles the compile time of the Asio/Beast-heavy files on two cores.
cmake -S "$root" -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
ninja -C build -j "$jobs"
# Integration tests start real processes on loopback; suites run one after the other.
(cd build && ctest --output-on-failure --timeout 900)

if [ "${1:-}" != "--fast" ]; then
  stage "fuzzing (libFuzzer, 10 s per target)"
  scripts/fuzz.sh 10

  stage "sanitizer build (address, undefined) and tests"
  # Only the code under test is instrumented: strait and the unit-test binaries. The
  # integration harness (the release build's) drives the instrumented strait.
  # -O0 with line tables only: reports still name file:line, and the build skips full debug
  # info (a large share of compiling Boost-heavy code on two cores). Not -O1: GCC 12 then
  # reports false maybe-uninitialized warnings inside std::regex under ASan. No NDEBUG:
  # assertions stay on.
  cmake -S "$root" -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O0 -g1" \
    -DSTRAIT_SANITIZE=ON >/dev/null
  ninja -C build-asan -j "$jobs" strait unit_tests proxy_tests
  # The randomized translation tests with 8 seeds instead of 20-30: the release run above
  # covers them all, and at -O0 under ASan they took 80 s.
  STRAIT_TEST_SEEDS=8 build-asan/tests/unit_tests --gtest_brief=1
  build-asan/tests/proxy_tests --gtest_brief=1
  STRAIT_BINARY="$root/build-asan/strait" build/tests/integration/integration_tests --gtest_brief=1

  stage "thread sanitizer build (strait) and multi-worker tests"
  # Only strait is instrumented (-O1 with line tables only: half the compile time of
  # RelWithDebInfo on two cores, and race reports still name file:line), and only the
  # tests where several workers share state run against it: configurations published under load
  # (file and API mode), metrics scraped while workers count, TLS contexts and rotating ticket
  # keys shared by handshaking workers, tunnels across configuration changes, drain. A race
  # report makes strait exit 66, and the harness fails any test whose strait does not exit 0.
  cmake -S "$root" -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1" \
    -DSTRAIT_SANITIZE=thread >/dev/null
  ninja -C build-tsan -j "$jobs" strait
  tsan_tests="ConfigUnderLoadTest.*:LiveUpdateTest.*:ObservabilityTest.*:TlsTest.*"
  tsan_tests+=":WebSocketTest.ConfigurationChangesDoNotCloseAnOpenTunnel:LifecycleTest.*"
  tsan_tests+=":ApiModeTest.ApplyRoutesPublishesStatusScalesAndDeletes"
  tsan_tests+=":ApiModeTest.ApiServerCrashKeepsTrafficAndRecoversNewState"
  tsan_tests+=":Http2Test.ManyConcurrentStreamsOnFewConnections:GrpcTest.UnaryAndStreamingCallsPassWithTrailers"
  TSAN_OPTIONS="suppressions=$root/tests/tsan.supp second_deadlock_stack=1" \
    STRAIT_BINARY="$root/build-tsan/strait" build/tests/integration/integration_tests \
    --gtest_brief=1 --gtest_filter="$tsan_tests"

  stage "soak (30 s)"
  scripts/soak.sh 30
fi
stage ""
echo "== all tests passed"
printf '%s\n' "${timings[@]}"

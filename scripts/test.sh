#!/usr/bin/env bash
# The one test command (README "Run the tests"; .ci/run calls it): installs what is missing,
# builds everything with -Werror, runs every test with ctest and prints ctest's summary.
#   scripts/test.sh                 everything (the container tests skip when Docker is absent,
#                                   except under CI=true, where they must run)
#   scripts/test.sh -L sim          only one label (ctest arguments pass through)
#   SKIP_SETUP=1 scripts/test.sh    do not run scripts/setup.sh
# Sanitizers and fuzzing (clang, a build directory of their own; README "Tests"):
#   scripts/test.sh --sanitize=address   ASan+UBSan in build-asan/: the unit, replica and sim
#                                        tests (every SIM_SEEDS_EVERY-th sim seed, default 10)
#   scripts/test.sh --sanitize=thread    TSan in build-tsan/: the same, except the replica tests
#                                        that talk gRPC (see below)
#   scripts/test.sh --fuzz               the libFuzzer targets (tests/fuzz), FUZZ_SECONDS each
#                                        (default 60), in build-asan/; with --sanitize=address
#                                        both run in one ctest run
# Any sanitizer report fails the run, from a test or from a process it started: reports are
# written to <build dir>/sanitizer-reports/ and printed after ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=""
fuzz=""
ctest_args=()
for arg in "$@"; do
  case "$arg" in
    --sanitize=address | --sanitize=thread) sanitize=${arg#--sanitize=} ;;
    --sanitize=*) echo "test.sh: --sanitize takes address or thread, not ${arg#--sanitize=}" >&2; exit 2 ;;
    --fuzz) fuzz=1 ;;
    *) ctest_args+=("$arg") ;;
  esac
done
if [[ $sanitize == thread && -n $fuzz ]]; then
  echo "test.sh: --fuzz runs in the ASan build; run it apart from --sanitize=thread" >&2
  exit 2
fi

JOBS=${JOBS:-$(nproc)}

if [[ -z "${SKIP_SETUP:-}" ]]; then
  bash scripts/setup.sh
fi

if [[ -z $sanitize && -z $fuzz ]]; then
  BUILD_DIR=${BUILD_DIR:-build}
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAXOSKV_WERROR=ON >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS"
  cd "$BUILD_DIR"
  # --output-on-failure shows a failing test's log; the closing summary line
  # ("100% tests passed, 0 tests failed out of N") is ctest's own.
  ctest --output-on-failure --timeout 900 -j "$JOBS" "${ctest_args[@]}"
  exit
fi

# ---- sanitizer and fuzz builds ---------------------------------------------------------------
# Only the targets these tests need are built. The ASan build is also the fuzz build
# (PAXOSKV_FUZZ=ON adds the coverage instrumentation libFuzzer needs), so --fuzz and
# --sanitize=address share one directory and one compilation.
targets=()
labels=()
excluded=()
if [[ -n $sanitize ]]; then
  targets+=(paxos_test kv_test ring_test storage_test fuzz_replay_test sim_test replica_core_test
            replica_loop_test)
  labels+=(unit replica sim)
  # The sim tests are 1,000 seeded cases (tests/sim/sim_test.cc), about 1 s each under ASan:
  # run the seeds that are multiples of N (N = 1, 10 or 100; ctest names each case after its
  # seed, Seeds/<mix>.<name>/<seed>), which covers every mix. The two cases that only run
  # with an environment variable would be listed as skipped after ctest's summary line.
  excluded+=('^Sim(Sweep|SingleSeed)\.')
  case "${SIM_SEEDS_EVERY:-10}" in
    1) ;;
    10) excluded+=('^Seeds/.*Sim.*/[0-9]*[1-9]$') ;;
    100) excluded+=('^Seeds/.*Sim.*/[0-9]*[1-9][0-9]?$') ;;
    *) echo "test.sh: SIM_SEEDS_EVERY must be 1, 10 or 100" >&2; exit 2 ;;
  esac
  if [[ $sanitize == address ]]; then
    targets+=(replica_group_test replica_process_test transport_test)
  else
    # Not under TSan: the replica tests over gRPC. Debian's gRPC is not built with TSan and
    # hands messages, reactors and callbacks between its threads through a completion queue
    # TSan cannot see, so every test that talks gRPC reports races (in gRPC's inline code, in
    # std::function, and in our reactors and messages on gRPC's threads) that are gRPC's
    # hand-offs, not ours. Suppressing them would hide our own code's races too, so they do
    # not run here; replica_loop_test drives the same ReplicaLoop threads without gRPC.
    excluded+=('^(ReplicaGroupTest|PeerTransportTest|ReplicaProcessTest)\.')
  fi
fi
if [[ -n $fuzz ]]; then
  targets+=(paxos_node_fuzz kv_snapshot_fuzz command_fuzz)
  labels+=(fuzz)
fi

if [[ $sanitize == thread ]]; then
  BUILD_DIR=${BUILD_DIR:-build-tsan}
  cmake_flags=(-DPAXOSKV_SANITIZE=thread)
else
  BUILD_DIR=${BUILD_DIR:-build-asan}
  cmake_flags=(-DPAXOSKV_FUZZ=ON "-DPAXOSKV_FUZZ_SECONDS=${FUZZ_SECONDS:-60}")
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAXOSKV_WERROR=ON \
  -DCMAKE_CXX_COMPILER=clang++ "${cmake_flags[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${targets[@]}"

reports="$PWD/$BUILD_DIR/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
# halt_on_error: the first report ends the process, so the test fails; log_path: reports of
# processes a test starts (the replica binary) are kept even though their logs are not.
# UBSan aborts by itself (-fno-sanitize-recover=all). run_fuzzer.sh sends its reports to
# libFuzzer's log instead.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
# ignore_noninstrumented_modules: accesses that Debian's libraries (Abseil's own lock
# bookkeeping, RocksDB) make through intercepted functions such as memcpy are theirs, and
# synchronised in ways TSan cannot see.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:log_path=$reports/tsan"

label_regex="^($(IFS='|'; echo "${labels[*]}"))\$"
filter=(-L "$label_regex")
if ((${#excluded[@]})); then filter+=(-E "$(IFS='|'; echo "${excluded[*]}")"); fi

cd "$BUILD_DIR"
status=0
ctest --output-on-failure --timeout 900 -j "$JOBS" "${filter[@]}" "${ctest_args[@]}" || status=$?

shopt -s nullglob
found=("$reports"/*)
if ((${#found[@]})); then
  for report in "${found[@]}"; do
    echo "==== sanitizer report $report"
    cat "$report"
  done
  echo "test.sh: ${#found[@]} sanitizer report(s) above (from $reports); failing" >&2
  exit 1
fi
exit $status

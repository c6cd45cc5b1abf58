#!/usr/bin/env bash
# The one test command (README "Run the tests"; .ci/run calls it): installs what is missing,
# builds everything with -Werror, runs every test with ctest and prints ctest's summary.
#   scripts/test.sh                 everything (the container tests skip when Docker is absent,
#                                   except under CI=true, where they must run)
#   scripts/test.sh -L sim          only one label (ctest arguments pass through)
#   SKIP_SETUP=1 scripts/test.sh    do not run scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}

if [[ -z "${SKIP_SETUP:-}" ]]; then
  bash scripts/setup.sh
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPAXOSKV_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

cd "$BUILD_DIR"
# --output-on-failure shows a failing test's log; the closing summary line
# ("100% tests passed, 0 tests failed out of N") is ctest's own.
ctest --output-on-failure --timeout 900 -j "$JOBS" "$@"

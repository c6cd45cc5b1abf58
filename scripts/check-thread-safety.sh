#!/usr/bin/env bash
# Clang's -Wthread-safety analysis over every C++ source of ours (GCC ignores the
# ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations). Syntax-only, one file per core.
# Usage: scripts/check-thread-safety.sh BUILD_DIR   (BUILD_DIR/gen holds the generated protos)
set -euo pipefail
cd "$(dirname "$0")/.."
export gen="${1:?usage: $0 BUILD_DIR}/gen"
if ! command -v clang++ >/dev/null; then
  echo "check-thread-safety: clang++ not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
mapfile -t sources < <(git ls-files 'libs/*.cc' 'services/*.cc' 2>/dev/null || find libs services -name '*.cc')
check_one() {
  clang++ -std=c++20 -fsyntax-only -Wthread-safety -Werror -I. -I"$gen" "$1" ||
    { echo "check-thread-safety: $1 FAILED" >&2; return 1; }
}
export -f check_one
status=0
printf '%s\0' "${sources[@]}" | xargs -0 -n1 -P"$(nproc)" bash -c 'check_one "$0"' || status=1
echo "check-thread-safety: ${#sources[@]} files analysed"
exit $status

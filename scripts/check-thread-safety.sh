#!/usr/bin/env bash
# Clang's -Wthread-safety analysis over every C++ source of ours (GCC ignores the
# ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations). Syntax-only, so it is quick.
# Usage: scripts/check-thread-safety.sh BUILD_DIR   (BUILD_DIR/gen holds the generated protos)
set -euo pipefail
cd "$(dirname "$0")/.."
gen="${1:?usage: $0 BUILD_DIR}/gen"
if ! command -v clang++ >/dev/null; then
  echo "check-thread-safety: clang++ not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
mapfile -t sources < <(git ls-files 'libs/*.cc' 'services/*.cc' 2>/dev/null || find libs services -name '*.cc')
failed=0
for f in "${sources[@]}"; do
  [[ -f "$f" ]] || continue
  if ! clang++ -std=c++20 -fsyntax-only -Wthread-safety -Werror -I. -I"$gen" "$f"; then
    echo "check-thread-safety: $f FAILED" >&2
    failed=1
  fi
done
echo "check-thread-safety: ${#sources[@]} files analysed"
exit $failed

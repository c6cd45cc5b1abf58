#!/usr/bin/env bash
# Runs one libFuzzer binary for a bounded time over a scratch copy of its checked-in seed
# corpus (ctest label "fuzz", see tests/fuzz/CMakeLists.txt), so the repository's corpus never
# changes. Prints libFuzzer's closing statistics (executions, executions per second). A crash,
# a sanitizer report, a broken harness property, a timeout (-timeout, per input) or running
# out of memory fails the test; the input is kept in ARTIFACT_DIR with the line to replay it.
# Usage: run_fuzzer.sh BINARY CORPUS_DIR SECONDS ARTIFACT_DIR
set -euo pipefail
binary=${1:?usage: $0 BINARY CORPUS_DIR SECONDS ARTIFACT_DIR}
corpus=${2:?}
seconds=${3:?}
artifacts=${4:?}
name=$(basename "$binary")

work=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$artifacts"
cp "$corpus"/* "$work/corpus/"
seeds=$(ls "$work/corpus" | wc -l)
touch "$work/start"

# scripts/test.sh sends sanitizer reports to files (log_path); here they belong in the log.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=stderr"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=stderr"
status=0
"$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$work/corpus" \
  >"$work/log" 2>&1 || status=$?

# libFuzzer's last status line ("#N DONE cov: ... corp: ... exec/s: ...") and its statistics.
grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
  "$work/log" || true
echo "$name: ${seconds}s over $seeds seeds, $(ls "$work/corpus" | wc -l) inputs at the end, exit $status"
if ((status != 0)); then
  tail -n 60 "$work/log"
  find "$artifacts" -name "$name-*" -newer "$work/start" | while read -r input; do
    echo "$name: input kept in $input; replay it with: $binary $input"
  done
  exit 1
fi

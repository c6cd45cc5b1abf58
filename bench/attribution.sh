#!/usr/bin/env bash
# What moved the figures: runs one 1x3 cluster + master per configuration and drives it with
# kvbench (put at 1 and 64 clients, linearizable get at 64), interleaving the configurations
# ROUNDS times so that machine noise spreads over all of them; prints every run and the
# medians, with the server processes' CPU and context switches per operation (from /proc).
# Compare two builds (e.g. a checkout of an older commit built into another dir) or one build
# with different master flags:
#
#   bench/attribution.sh [--rounds 3] LABEL=BIN_DIR[:master flags][%replica flags] ...
#   bench/attribution.sh old=/tmp/old/bin nobatch=build/bin:--batch_max=1 new=build/bin
#   bench/attribution.sh unary=build/bin%--peer_streams=false streams=build/bin
#
# Uses ports 7311-7313 and 7350 on 127.0.0.1 and a temp dir; stops what it started.
set -euo pipefail
ROUNDS=3
if [[ ${1:-} == --rounds ]]; then ROUNDS=$2; shift 2; fi
(($#)) || { sed -n '2,13p' "$0"; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/paxoskv-attr.XXXXXX")
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

run_config() {   # label bin replica_flags master_flags...
  local label=$1 bin=$2 replica_flags=$3; shift 3
  local dir="$WORK/$label"
  rm -rf "$dir"; PIDS=()
  start_1x3 "$bin" "$dir" "$replica_flags" "$@"
  "$bin/kvbench" --insecure --target=master --addr=127.0.0.1:7350 --clients=64 --keys=10000 --preload \
    --ops=1 --read_percent=100 >/dev/null 2>&1 || true
  for spec in "put 1 0" "put 64 0" "get 64 100"; do
    set -- $spec
    local out before after ops
    "$bin/kvbench" --insecure --target=master --addr=127.0.0.1:7350 --clients="$2" \
      --read_percent="$3" --keys=10000 --value_size=256 --duration_s=8 --warmup_s=2 \
      >"$dir/kvbench.out" 2>&1 &
    local bench_pid=$!
    sleep 2   # the warm-up: the server counters below cover kvbench's measured 8 s
    before=$(server_sample "${PIDS[@]}")
    wait "$bench_pid"
    after=$(server_sample "${PIDS[@]}")
    out=$(grep -E "^throughput|^latency ms" "$dir/kvbench.out" | tr '\n' ' ')
    ops=$(sed -n 's/^throughput: \([0-9]*\) ops.*/\1/p' "$dir/kvbench.out")
    echo "$label $1 c$2: $out server: $(echo "$before $after" | awk -v n="${ops:-0}" \
      -v hz="$(getconf CLK_TCK)" '{ if (n > 0) printf "cpu_us_per_op %.1f ctx_per_op %.2f",
        ($3 - $1) * 1e6 / hz / n, ($4 - $2) / n }')"
  done
  kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; PIDS=()
}

for ((i = 1; i <= ROUNDS; i++)); do
  for spec in "$@"; do
    label=${spec%%=*}; rest=${spec#*=}; replica_flags=""
    if [[ $rest == *%* ]]; then replica_flags=${rest#*%}; rest=${rest%%\%*}; fi
    bin=${rest%%:*}; flags=""
    [[ $rest == *:* ]] && flags=${rest#*:}
    # shellcheck disable=SC2086
    run_config "$label" "$(cd "$bin" && pwd)" "$replica_flags" $flags
  done
done | tee "$WORK/all.log"

python3 - "$WORK/all.log" <<'PY'
import collections, re, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) (\w+) (c\d+): throughput: \d+ ops in [\d.]+ s = ([\d.]+) ops/s.*?p50 ([\d.]+)"
                 r".*?cpu_us_per_op ([\d.]+) ctx_per_op ([\d.]+)", line)
    if m:
        runs[(m[1], m[2], m[3])].append(tuple(float(m[i]) for i in range(4, 8)))
print("\n| config | workload | ops/s (median) | p50 ms (median) | server CPU us/op (median) | "
      "server ctx switches/op (median) | runs (ops/s) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for (label, kind, clients), v in runs.items():
    med = [statistics.median(x[i] for x in v) for i in range(4)]
    print(f"| {label} | {kind} {clients} | {med[0]:,.0f} | {med[1]:.2f} | {med[2]:.1f} | "
          f"{med[3]:.2f} | {', '.join(f'{x[0]:,.0f}' for x in v)} |")
PY

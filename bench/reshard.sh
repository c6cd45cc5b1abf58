#!/usr/bin/env bash
# Shards added and removed under load, measured (issue 14: "moves that pause one range at a
# time"): how long `kvctl add-shard` and `kvctl remove-shard` take for N keys, and what the
# clients see meanwhile (failed operations, the slowest one, p99.9, the longest stretch in which
# none completed).
#
#   bench/reshard.sh [--keys 100000] [--clients 64] [--bin DIR]
#
# Without --bin it builds Release binaries without invariant checks into build-bench, as
# bench/run.sh does. Three shards of 3 local replicas (scripts/local-cluster.sh) and the master,
# plus the spare shard 4; N keys of 100 B preloaded. Under a kvbench load through the master
# (the default callback driver: one attempt per operation, 5 s deadline, 50 % gets, every
# operation recorded; a load of LOAD_S seconds, default 120, started 5 s before each change),
# in order:
#   add      `kvctl add-shard 4 ...`: about a quarter of the keys move to shard 4
#   remove   `kvctl remove-shard 4`: they move back to shards 1-3
# Each window runs from the command until 1 s after it answered; a quiet stretch of 3 s before
# the first change is measured the same way (the machine's own noise). CPU, fsync rate, the echo
# figure and the commit are printed first: compare figures within one run only. Stops everything
# it started on exit.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEYS=100000
BIN=""
CLIENTS=64
LOAD_S=${LOAD_S:-120}   # each load's length (env)
while (($#)); do
  case "$1" in
    --keys) KEYS=$2; shift 2 ;;
    --bin) BIN=$(cd "$2" && pwd); shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source "$REPO/bench/lib.sh"
[[ -n $BIN ]] || bench_build "$REPO"
WORK=$(mktemp -d /tmp/paxoskv-reshard.XXXXXX)
BASE_PORT=$((17000 + RANDOM % 1000 * 10))
MASTER_PORT=$((BASE_PORT + 9))
MASTER=127.0.0.1:$MASTER_PORT
LOAD_PID=""
cleanup() {
  set +e
  [[ -n $LOAD_PID ]] && kill "$LOAD_PID" 2>/dev/null
  "$REPO/scripts/local-cluster.sh" stop --dir "$WORK/cluster" >/dev/null 2>&1
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
# CLOCK_MONOTONIC, the clock of kvbench's history (std::chrono::steady_clock).
now_ns() { python3 -c 'import time; print(time.monotonic_ns())'; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

bench_machine "$WORK" "$BIN" "$((BASE_PORT + 8))"
echo "commit: $(git -C "$REPO" rev-parse --short HEAD)  keys: $KEYS  clients: $CLIENTS"

"$REPO/scripts/local-cluster.sh" start --shards 3 --spare 1 --dir "$WORK/cluster" --bin "$BIN" \
  --base-port "$BASE_PORT" --master-port "$MASTER_PORT" >"$WORK/start.log" 2>&1 ||
  { cat "$WORK/start.log" >&2; exit 1; }
KVCTL=("$BIN/kvctl" --insecure --master "$MASTER")
SPARE="127.0.0.1:$((BASE_PORT + 41)),127.0.0.1:$((BASE_PORT + 42)),127.0.0.1:$((BASE_PORT + 43))"
t0=$(now_ns)
"$BIN/kvbench" --insecure --target master --addr "$MASTER" --keys "$KEYS" --preload --value_size 100 \
  --ops 1 --clients 32 >"$WORK/preload.log" 2>&1 || { cat "$WORK/preload.log" >&2; exit 1; }
echo "preloaded $KEYS keys in $(ms_since "$t0") ms"

# One load per change, each long enough to outlast it (a move of 100 k keys took 46 s here),
# so that every window lies inside a load.
start_load() {  # start_load NAME: 64 clients, 50 % gets, every operation in NAME.jsonl
  "$BIN/kvbench" --insecure --target master --addr "$MASTER" --keys "$KEYS" --value_size 100 \
    --read_percent 50 --clients "$CLIENTS" --op_timeout_ms 5000 --duration_s "$LOAD_S" \
    --history "$WORK/$1.jsonl" >"$WORK/$1-load.log" 2>&1 &
  LOAD_PID=$!
  sleep 5
}
end_load() {  # end_load NAME: waits for the load to end; fails if it ended before the window
  local name=$1 ended_ns
  wait "$LOAD_PID" || true
  LOAD_PID=""
  ended_ns=$(now_ns)
  echo "$name load: $(grep -m1 '^latency' "$WORK/$name-load.log")"
  ((ended_ns > window_end + 1000000000)) ||
    { echo "the $name load ended before its window did: raise LOAD_S" >&2; exit 1; }
}
# pauses NAME: the master's own account of the change just made (services/master/migration.h):
# how long each range was paused, from its pause to its switch, and what the longest took.
pauses() {
  local log="$WORK/cluster/logs/master.log"
  grep -o 'paused [0-9]* ms (drain [0-9]*, fence [0-9]*, copy [0-9]*)' "$log" |
    tail -n +"$((PAUSES_SEEN + 1))" | python3 -c '
import re, sys
rows = [list(map(int, re.findall(r"[0-9]+", l))) for l in sys.stdin]
if not rows: sys.exit(0)
rows.sort()
med = rows[len(rows) // 2]
print(f"'"$1"' pauses: {len(rows)} ranges; median {med[0]} ms, longest {rows[-1][0]} ms "
      f"(drain {rows[-1][1]}, fence {rows[-1][2]}, copy {rows[-1][3]} ms)")'
  PAUSES_SEEN=$(grep -c 'paused [0-9]* ms' "$log" || true)
}
PAUSES_SEEN=0
events=()
start_load add
quiet_start=$(now_ns); sleep 3; quiet_end=$(now_ns)
events+=("quiet $quiet_start $quiet_end $WORK/add.jsonl")
t0=$(now_ns)
"${KVCTL[@]}" --timeout_ms 600000 add-shard 4 "$SPARE" >"$WORK/add.log"
window_end=$(now_ns)
events+=("add $t0 $window_end $WORK/add.jsonl")
echo "add:    $(tail -n 1 "$WORK/add.log") in $(ms_since "$t0") ms"
pauses add
end_load add
start_load remove
t0=$(now_ns)
"${KVCTL[@]}" --timeout_ms 600000 remove-shard 4 >"$WORK/remove.log"
window_end=$(now_ns)
events+=("remove $t0 $window_end $WORK/remove.jsonl")
echo "remove: $(tail -n 1 "$WORK/remove.log") in $(ms_since "$t0") ms"
pauses remove
end_load remove

# Per window (the change from its command to 1 s after it answered, and the quiet stretch):
# operations that ended in it, those that failed, the slowest, p99.9, and the longest stretch
# without a completed operation.
python3 - "${events[@]}" <<'PY'
import json, sys
for ev in sys.argv[1:]:
    name, start, end, path = ev.split()
    ops = [json.loads(l) for l in open(path)]
    lo, hi = int(start), int(end) + (0 if name == "quiet" else 1_000_000_000)
    inside = [o for o in ops if lo <= o["return_ns"] <= hi]
    ok = sorted(o["return_ns"] for o in inside if o["status"] in ("OK", "NOT_FOUND"))
    failed = [o for o in inside if o["status"] not in ("OK", "NOT_FOUND")]
    lat = sorted(o["return_ns"] - o["call_ns"] for o in inside)
    p999 = lat[min(len(lat) - 1, int(len(lat) * 0.999))] if lat else 0
    edges = [lo] + ok + [hi]
    gap = max(b - a for a, b in zip(edges, edges[1:]))
    codes = {}
    for o in failed: codes[o["status"]] = codes.get(o["status"], 0) + 1
    print(f"{name:7s} ops {len(inside):7d}  failed {len(failed):5d} {codes or ''}  "
          f"slowest {lat[-1] / 1e6 if lat else 0:8.1f} ms  p99.9 {p999 / 1e6:8.1f} ms  "
          f"longest stretch without a completion {gap / 1e6:8.1f} ms")
PY

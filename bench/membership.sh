#!/usr/bin/env bash
# Membership changes under load, measured (issue: "replace a dead replica"): how long a
# replacement takes for a shard of N keys, and how long writes pause at each change.
#
#   bench/membership.sh [--keys 100000] [--bin DIR] [--clients 16]
#
# Without --bin it builds Release binaries without invariant checks into build-bench, as
# bench/run.sh does (the test build checks every Paxos invariant at every step, which costs
# time proportional to the log: no figure from it means anything).
# One shard of 3 local replicas (scripts/local-cluster.sh) and the master, N keys of 100 B
# preloaded. Under a kvbench load (50 % puts, every operation recorded), in order:
#   add       replica 4 starts with --join; `kvctl member add 1 4 ... --wait` (a learner that
#             receives the snapshot and the log tail, promoted once caught up): the replacement
#   remove-follower   `kvctl member remove` of a follower (the voters change)
#   remove-leader     `kvctl member remove` of the leader (it hands leadership over first)
# For each change it prints how long the command took and the longest time around it in which
# no operation completed ("pause"), beside the longest such gap in a quiet stretch of the same
# run (the machine's own noise). Stops everything it started on exit. CPU, fsync rate and the
# commit are printed first: compare figures within one run only.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEYS=100000
BIN=""
CLIENTS=16
while (($#)); do
  case "$1" in
    --keys) KEYS=$2; shift 2 ;;
    --bin) BIN=$(cd "$2" && pwd); shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source "$REPO/bench/lib.sh"
[[ -n $BIN ]] || bench_build "$REPO"
WORK=$(mktemp -d /tmp/paxoskv-membership.XXXXXX)
BASE_PORT=$((17000 + RANDOM % 1000 * 10))
MASTER_PORT=$((BASE_PORT + 9))
MASTER=127.0.0.1:$MASTER_PORT
R4_PID=""
LOAD_PID=""
cleanup() {
  set +e
  [[ -n $LOAD_PID ]] && kill "$LOAD_PID" 2>/dev/null
  [[ -n $R4_PID ]] && kill "$R4_PID" 2>/dev/null
  "$REPO/scripts/local-cluster.sh" stop --dir "$WORK/cluster" >/dev/null 2>&1
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
now_ns() { python3 -c 'import time; print(time.monotonic_ns())'; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }

bench_machine "$WORK" "$BIN" "$((BASE_PORT + 8))"
echo "commit: $(git -C "$REPO" rev-parse --short HEAD)  keys: $KEYS  clients: $CLIENTS"

"$REPO/scripts/local-cluster.sh" start --shards 1 --dir "$WORK/cluster" --bin "$BIN" \
  --base-port "$BASE_PORT" --master-port "$MASTER_PORT" >"$WORK/start.log" 2>&1 ||
  { cat "$WORK/start.log" >&2; exit 1; }
KVCTL=("$BIN/kvctl" --insecure --master "$MASTER")
t0=$(now_ns)
"$BIN/kvbench" --insecure --target master --addr "$MASTER" --keys "$KEYS" --preload --value_size 100 \
  --ops 1 --clients 32 >"$WORK/preload.log" 2>&1 || { cat "$WORK/preload.log" >&2; exit 1; }
echo "preloaded $KEYS keys in $(ms_since "$t0") ms"

"$BIN/kvbench" --insecure --target master --addr "$MASTER" --keys "$KEYS" --value_size 100 \
  --read_percent 50 --clients "$CLIENTS" --duration_s 40 --history "$WORK/history.jsonl" \
  >"$WORK/load.log" 2>&1 &
LOAD_PID=$!
sleep 5
quiet_start=$(now_ns); sleep 3; quiet_end=$(now_ns)

r1=$((BASE_PORT + 11))
peers="1=127.0.0.1:$r1,2=127.0.0.1:$((r1 + 1)),3=127.0.0.1:$((r1 + 2)),4=127.0.0.1:$((r1 + 3))"
"$BIN/paxoskv-replica" --insecure --shard_id=1 --replica_id=4 --listen="127.0.0.1:$((r1 + 3))" \
  --peers="$peers" --data_dir="$WORK/r4" --join >"$WORK/r4.log" 2>&1 &
R4_PID=$!
events=()
t0=$(now_ns)
"${KVCTL[@]}" --timeout_ms 300000 member add 1 4 "127.0.0.1:$((r1 + 3))" --wait >"$WORK/add.log"
events+=("add $t0 $(now_ns)")
echo "add: replica 4 caught up and voting after $(ms_since "$t0") ms"
sleep 3

leader=$("${KVCTL[@]}" member list 1 --json |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])')
follower=1; [[ $leader == 1 ]] && follower=2
t0=$(now_ns)
"${KVCTL[@]}" member remove 1 "$follower" >/dev/null
events+=("remove-follower $t0 $(now_ns)")
echo "remove-follower: replica $follower removed in $(ms_since "$t0") ms"
sleep 3

leader=$("${KVCTL[@]}" member list 1 --json |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])')
t0=$(now_ns)
"${KVCTL[@]}" member remove 1 "$leader" >/dev/null
events+=("remove-leader $t0 $(now_ns)")
echo "remove-leader: replica $leader (the leader) removed in $(ms_since "$t0") ms"
wait "$LOAD_PID" || true
LOAD_PID=""
tail -n 3 "$WORK/load.log"
"${KVCTL[@]}" member list 1

# The longest stretch in which no operation completed, among completions in each window
# (the change from its command to 1 s after it answered), and in the quiet window.
python3 - "$WORK/history.jsonl" "quiet $quiet_start $quiet_end" "${events[@]}" <<'EOF'
import json, sys
ops = [json.loads(l) for l in open(sys.argv[1])]
done = sorted(o["return_ns"] for o in ops if o.get("status", "OK") in ("OK", "NOT_FOUND"))
failed = sum(1 for o in ops if o.get("status", "OK") not in ("OK", "NOT_FOUND"))
print(f"operations: {len(ops)} ({failed} failed, retried by the client)")
for ev in sys.argv[2:]:
    name, start, end = ev.split()
    lo, hi = int(start), int(end) + (0 if name == "quiet" else 1_000_000_000)
    inside = [lo] + [t for t in done if lo <= t <= hi] + [hi]
    gap = max(b - a for a, b in zip(inside, inside[1:]))
    print(f"{name:16s} longest time without a completed operation: {gap / 1e6:8.1f} ms")
EOF

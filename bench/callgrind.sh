#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: a figure that does not move with
# how busy or how fast the machine is, where times do. Runs one 1x3 cluster + master with every
# server process under callgrind, then for each phase dumps (which zeroes the counters) all of
# them, runs the phase and dumps them again (switching instrumentation on and off instead
# garbles the counts): idle (the background over the same time), then puts and linearizable
# gets at 16 clients, OPS operations each, of 100 B values through the master. (At 1 client a
# put takes ~15 ms under callgrind, and 15 ms of the background's timers count about as much
# as the put itself: too noisy to print.) Prints, per phase and process, user-space
# instructions per operation (the idle background over the phase's length taken off). The
# kernel's work (syscalls, wake-ups) is not counted: see the context switches in `make bench`.
# For where they go, read a dump with callgrind_annotate (KEEP=1 keeps the temp dir); its
# per-function split of the gRPC threads' costs was not reliable here.
#
#   bench/callgrind.sh [--bin build-bench/bin] [--ops 2000]
#
# Needs valgrind (scripts/setup.sh installs it). About 5 minutes on 2 cores. Uses ports
# 7411-7413 and 7450 on 127.0.0.1 and a temp dir; stops what it started.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=$REPO/build-bench/bin
OPS=2000
while (($#)); do
  case "$1" in
    --bin) BIN=$(cd "$2" && pwd); shift 2 ;;
    --ops) OPS=$2; shift 2 ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "callgrind: valgrind missing: sudo bash scripts/setup.sh" >&2; exit 2; }
for b in paxoskv-replica paxoskv-master kvbench; do
  [[ -x $BIN/$b ]] || { echo "callgrind: $BIN/$b not found (build Release binaries first)" >&2; exit 2; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/paxoskv-callgrind.XXXXXX")
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; [[ -n ${KEEP:-} ]] || rm -rf "$WORK"; }
trap cleanup EXIT

# Under callgrind a process runs some 50 x slower: long election timeouts keep the leader.
# Symbols bound at start, so that no phase pays for the dynamic linker's first calls.
export LD_BIND_NOW=1
VG=(valgrind --tool=callgrind --dump-instr=no)
peers="1=127.0.0.1:7411,2=127.0.0.1:7412,3=127.0.0.1:7413"
for r in 1 2 3; do
  "${VG[@]}" --callgrind-out-file="$WORK/r$r.out" "$BIN/paxoskv-replica" --insecure --shard_id=1 \
    --replica_id=$r --listen=127.0.0.1:741$r --peers=$peers --data_dir="$WORK/r$r" \
    --log_level=warn --election_timeout_ticks=300 2>"$WORK/r$r.log" &
  PIDS+=($!)
done
"${VG[@]}" --callgrind-out-file="$WORK/master.out" "$BIN/paxoskv-master" --insecure \
  --listen=127.0.0.1:7450 --data_dir="$WORK/m" --log_level=warn \
  --shards="1=127.0.0.1:7411,127.0.0.1:7412,127.0.0.1:7413" 2>"$WORK/m.log" &
PIDS+=($!)
NAMES=(r1 r2 r3 master)

kvbench() {   # clients read_percent ops
  "$BIN/kvbench" --insecure --target=master --addr=127.0.0.1:7450 --clients="$1" \
    --read_percent="$2" --ops="$3" --keys=1000 --value_size=100 --warmup_s=0 2>&1
}
deadline=$((SECONDS + 120))
until kvbench 1 0 1 >/dev/null; do
  ((SECONDS < deadline)) || { echo "callgrind: the cluster did not answer in 120 s; logs:" >&2; tail -n 5 "$WORK"/*.log >&2; exit 1; }
  sleep 1
done
kvbench 16 0 1000 >/dev/null   # warm-up: every key present, connections and threads up

control() { for pid in "${PIDS[@]}"; do callgrind_control "$@" "$pid" >/dev/null 2>&1; done; }
phase() {   # name clients read_percent
  local start end
  control --dump="before-$1"   # a dump zeroes the counters (callgrind_control -z did not)
  start=$(date +%s.%N)
  if [[ $1 == idle ]]; then sleep 10; else kvbench "$2" "$3" "$OPS" >"$WORK/$1.kvbench"; fi
  end=$(date +%s.%N)
  control --dump="$1"
  echo "$1 $(awk "BEGIN { print $end - $start }")" >>"$WORK/phases"
}
# Callgrind books a thread's costs when that thread next runs: the start-up would land in the
# idle phase (seen: the dynamic linker and RocksDB's open in it). Two dumps 2 s apart take it out.
control --dump=start
sleep 2
control --dump=start
echo "callgrind: counting idle, put and get at 16 clients ($OPS ops each) in $WORK"
phase idle 0 0
phase put-16 16 0
phase get-16 16 100

# Each dump is a file named by callgrind's counter (r1.out.1, r1.out.2, ...) and carries its
# trigger ("desc: Trigger: dump put-16"); a process may miss a dump (seen: one of the two
# "start" dumps), so the phase's file is found by its trigger, not by its number.
for i in 0 1 2 3; do
  name=${NAMES[$i]}
  while read -r phase seconds; do
    file=$(grep -l -x "desc: Trigger: dump $phase" "$WORK/$name".out.* | head -n 1 || true)
    [[ -n $file ]] || { echo "callgrind: $name wrote no dump for $phase" >&2; exit 1; }
    echo "$name $phase $seconds $file" >>"$WORK/index"
  done <"$WORK/phases"
done

python3 - "$WORK/index" "$OPS" <<'PY'
import re, sys
index, ops = sys.argv[1], int(sys.argv[2])
total = {}      # (process, phase) -> instructions
seconds = {}
for line in open(index):
    name, phase, secs, raw = line.split()
    seconds[phase] = float(secs)
    m = re.search(r"^totals: (\d+)", open(raw).read(), re.M)
    total[(name, phase)] = int(m[1]) if m else 0
names = ["r1", "r2", "r3", "master"]
phases = ["put-16", "get-16"]
print("\nUser-space instructions per operation (callgrind; idle background over the same time "
      "taken off):\n")
# The leader is the busiest replica; the replicas are printed busiest first.
print("| phase | leader | follower | follower | master | all servers |")
print("| --- | --- | --- | --- | --- | --- |")
for phase in phases:
    per = {}
    for n in names:
        idle_rate = total[(n, "idle")] / seconds["idle"]
        per[n] = max(0.0, total[(n, phase)] - idle_rate * seconds[phase]) / ops
    replicas = sorted((per[n] for n in names[:3]), reverse=True)
    row = replicas + [per["master"]]
    print(f"| {phase} | " + " | ".join(f"{x:,.0f}" for x in row) + f" | {sum(row):,.0f} |")
print(f"\nIdle background, instructions per second: " + ", ".join(
    f"{n} {total[(n, 'idle')] / seconds['idle']:,.0f}" for n in names))
PY

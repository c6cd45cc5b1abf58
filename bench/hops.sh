#!/usr/bin/env bash
# Where a put's wake-ups go: runs a 1x3 cluster and its master, and a raw echo server on each
# of gRPC's two server APIs as the reference; drives each with kvbench at CLIENTS clients;
# prints per operation, per process and per thread name, the CPU and the context switches
# (from /proc, over kvbench's measured window), then the system calls per operation of each
# process (strace -c, over a second run: strace slows every call, so that run gives counts,
# not times). The echo servers show what one bare gRPC call costs on this machine; a put's
# figures against them say how many such calls' worth of wake-ups the put takes.
#
#   bench/hops.sh [--clients 1] [--bin DIR]   (no --bin: builds build-bench/, as make bench does)
#
# Thread names are gRPC's (nexting_thread: its callback threads, where our handlers and the
# replica's run-to-completion work run; default-executor) or the process name (the replica's
# loop, ticker and snapshot threads). A thread takes its creator's name: the master's pool
# threads, started from its handlers, count as nexting_thread.
# Uses ports 7311-7313, 7350 and 7399 on 127.0.0.1 and a temp dir; stops what it started.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CLIENTS=1
BIN=""
while (($#)); do
  case $1 in
    --clients) CLIENTS=$2; shift 2 ;;
    --bin) BIN=$(cd "$2" && pwd); shift 2 ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
  esac
done
command -v strace >/dev/null || { echo "hops: strace missing (scripts/setup.sh installs it)" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/paxoskv-hops.XXXXXX")
PIDS=()
NAMES=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# One line per thread: process label, thread id, thread name, CPU ticks, context switches.
snapshot_threads() {
  local i specs=()
  for i in "${!PIDS[@]}"; do specs+=("${NAMES[$i]}=${PIDS[$i]}"); done
  python3 "$REPO/bench/hops_report.py" snapshot "${specs[@]}"
}

# measure LABEL KVBENCH_ARGS...: the per-thread window, then the strace window.
measure() {
  local label=$1 bench_pid i
  shift
  "$BIN/kvbench" --insecure --clients="$CLIENTS" --duration_s=8 --warmup_s=2 --value_size=256 \
    "$@" >"$WORK/$label.kvbench" 2>&1 &
  bench_pid=$!
  sleep 2
  snapshot_threads >"$WORK/$label.before"
  wait "$bench_pid"
  snapshot_threads >"$WORK/$label.after"
  # The strace window: the tracers attach, a 3 s kvbench run without warm-up, the tracers
  # stop; its operations are that run's (the idle second around it adds a little).
  local tracers=()
  for i in "${!PIDS[@]}"; do
    strace -f -c -o "$WORK/$label.strace.${NAMES[$i]}" -p "${PIDS[$i]}" 2>/dev/null &
    tracers+=($!)
  done
  sleep 0.5
  "$BIN/kvbench" --insecure --clients="$CLIENTS" --duration_s=3 --warmup_s=0 --value_size=256 \
    "$@" >"$WORK/$label.traced" 2>&1
  sleep 0.5
  kill -INT "${tracers[@]}"
  wait "${tracers[@]}" || true
  python3 "$REPO/bench/hops_report.py" "$label" "$WORK" "${NAMES[@]}"
}

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
[[ -n $BIN ]] || bench_build "$REPO"
bench_machine "$WORK" "$BIN" 7399
echo

# The echo on both of gRPC's server APIs: the sync one (make bench's echo figure) and the
# callback one, which the master's and the replicas' request paths run on.
for api in sync callback; do
  "$BIN/paxoskv-echo" --insecure --listen=127.0.0.1:7399 --api=$api 2>/dev/null &
  PIDS=($!)
  NAMES=("echo-$api")
  sleep 1
  echo "## echo on gRPC's $api API, clients: $CLIENTS"
  measure "echo-$api" --target=echo --addr=127.0.0.1:7399
  kill "${PIDS[@]}"; wait 2>/dev/null || true
  echo
done

PIDS=()
start_1x3 "$BIN" "$WORK/cluster" ""
"$BIN/kvbench" --insecure --target=master --addr=127.0.0.1:7350 --clients=8 --ops=200 \
  --read_percent=0 >/dev/null 2>&1 || true   # elects a leader; its replica is named below
leader=$("$BIN/kvctl" --insecure --master=127.0.0.1:7350 status --json 2>/dev/null |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["shards"][0]["leader"])' || true)
NAMES=()
for r in 1 2 3; do
  if [[ $leader == "127.0.0.1:731$r" ]]; then NAMES+=("replica-$r-leader"); else NAMES+=("replica-$r"); fi
done
NAMES+=(master)
echo "## put through the master, clients: $CLIENTS (256 B values)"
measure put --target=master --addr=127.0.0.1:7350 --read_percent=0 --keys=10000

#!/usr/bin/env bash
# Runs a paxoskv cluster as local processes on 127.0.0.1 (no containers).
#
#   scripts/local-cluster.sh start [--shards 3] [--spare 1] [--masters 1] [--dir /tmp/paxoskv-local]
#                                  [--base-port 7100] [--master-port 50051] [--bin build/bin]
#   scripts/local-cluster.sh stop   [--dir DIR]
#   scripts/local-cluster.sh status [--dir DIR]
#
# start: shards 1..N (3 paxoskv-replica each) are in the masters' initial ring; spare shards
# N+1..N+S run too but are not in the ring (the script prints the kvctl add-shard command).
# Replica r of shard s listens on base-port + 10*s + r. The configuration group (shard 100, the
# ring and migration plans, shared by the masters) runs on base-port + r; master m on
# master-port + m - 1. Logs, data and pid files live under --dir; `stop` sends SIGTERM, then
# SIGKILL after a grace period.
# Every process runs plaintext (--insecure): this cluster is for one trusted host; the compose
# cluster (deploy/up.sh) runs mutual TLS.
set -euo pipefail

cmd=${1:-}
[[ -n "$cmd" ]] && shift || true

SHARDS=3
SPARE=1
DIR=/tmp/paxoskv-local
BASE_PORT=7100
MASTER_PORT=50051
MASTERS=1
CONFIG_GROUP=100
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=""
GRACE_S=5
REPLICAS=3

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --shards) SHARDS=$2; shift 2 ;;
    --shards=*) SHARDS=${1#*=}; shift ;;
    --spare) SPARE=$2; shift 2 ;;
    --spare=*) SPARE=${1#*=}; shift ;;
    --dir) DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#*=}; shift ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    --base-port=*) BASE_PORT=${1#*=}; shift ;;
    --masters) MASTERS=$2; shift 2 ;;
    --masters=*) MASTERS=${1#*=}; shift ;;
    --master-port) MASTER_PORT=$2; shift 2 ;;
    --master-port=*) MASTER_PORT=${1#*=}; shift ;;
    --bin) BIN=$2; shift 2 ;;
    --bin=*) BIN=${1#*=}; shift ;;
    -h|--help) usage ;;
    *) echo "local-cluster: unknown argument $1" >&2; usage ;;
  esac
done

find_bin() {
  if [[ -n "$BIN" ]]; then echo "$BIN"; return; fi
  for candidate in "$REPO_ROOT/build/bin" "$REPO_ROOT"/build*/bin; do
    if [[ -x "$candidate/paxoskv-replica" && -x "$candidate/paxoskv-master" && -x "$candidate/kvctl" ]]; then
      echo "$candidate"; return
    fi
  done
  echo "$REPO_ROOT/build/bin"
}

replica_addr() { echo "127.0.0.1:$((BASE_PORT + 10 * $1 + $2))"; }

shard_addrs() {
  local s=$1 r out=""
  for ((r = 1; r <= REPLICAS; r++)); do out+="${out:+,}$(replica_addr "$s" "$r")"; done
  echo "$out"
}

is_running() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_process() {  # name binary args...
  local name=$1; shift
  local pidfile="$DIR/pids/$name.pid"
  if is_running "$pidfile"; then
    echo "local-cluster: $name already running (pid $(cat "$pidfile"))"
    return
  fi
  nohup "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

cmd_start() {
  BIN=$(find_bin)
  for b in paxoskv-replica paxoskv-master kvctl; do
    if [[ ! -x "$BIN/$b" ]]; then
      echo "local-cluster: $BIN/$b not found; build first or pass --bin DIR" >&2
      exit 1
    fi
  done
  if ((SHARDS < 1 || SHARDS + SPARE > 9)); then
    echo "local-cluster: need 1 <= shards and shards + spare <= 9 (ports base+10*s+r)" >&2
    exit 2
  fi
  mkdir -p "$DIR/logs" "$DIR/pids" "$DIR/data"
  echo "$MASTER_PORT" >"$DIR/master-port"
  local s r total=$((SHARDS + SPARE)) ring=""
  for ((s = 1; s <= total; s++)); do
    local peers="" addrs
    for ((r = 1; r <= REPLICAS; r++)); do peers+="${peers:+,}$r=$(replica_addr "$s" "$r")"; done
    for ((r = 1; r <= REPLICAS; r++)); do
      mkdir -p "$DIR/data/s${s}r${r}"
      start_process "s${s}r${r}" "$BIN/paxoskv-replica" --shard_id="$s" --replica_id="$r" \
        --listen="$(replica_addr "$s" "$r")" --peers="$peers" --data_dir="$DIR/data/s${s}r${r}" \
        --direct_clients --insecure
    done
    if ((s <= SHARDS)); then
      addrs=$(shard_addrs "$s")
      ring+="${ring:+;}$s=$addrs"
    fi
  done
  # The configuration group: replica r on base-port + r.
  local cfg_peers="" cfg_addrs=""
  for ((r = 1; r <= REPLICAS; r++)); do
    cfg_peers+="${cfg_peers:+,}$r=127.0.0.1:$((BASE_PORT + r))"
    cfg_addrs+="${cfg_addrs:+,}127.0.0.1:$((BASE_PORT + r))"
  done
  for ((r = 1; r <= REPLICAS; r++)); do
    mkdir -p "$DIR/data/cfg-r$r"
    start_process "cfg-r$r" "$BIN/paxoskv-replica" --shard_id="$CONFIG_GROUP" --replica_id="$r" \
      --listen="127.0.0.1:$((BASE_PORT + r))" --peers="$cfg_peers" --data_dir="$DIR/data/cfg-r$r" \
      --insecure
  done
  local m name masters=""
  for ((m = 1; m <= MASTERS; m++)); do
    if ((m == 1)); then name=master; else name=master$m; fi
    masters+="${masters:+,}127.0.0.1:$((MASTER_PORT + m - 1))"
    start_process "$name" "$BIN/paxoskv-master" --listen="127.0.0.1:$((MASTER_PORT + m - 1))" \
      --config_group="$CONFIG_GROUP=$cfg_addrs" --shards="$ring" --insecure
  done
  local master="127.0.0.1:$MASTER_PORT" deadline=$((SECONDS + 30))
  until "$BIN/kvctl" --insecure --master "$masters" --timeout_ms 1000 status >/dev/null 2>&1; do
    if ! is_running "$DIR/pids/master.pid"; then
      echo "local-cluster: the master exited; see $DIR/logs/master.log" >&2
      tail -n 20 "$DIR/logs/master.log" >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "local-cluster: the master did not answer within 30 s; logs in $DIR/logs" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "paxoskv local cluster is up ($SHARDS shards in the ring, $SPARE spare)"
  echo "  masters: $masters        (logs and data under $DIR)"
  echo "  configuration group (shard $CONFIG_GROUP): $cfg_addrs"
  for ((s = 1; s <= total; s++)); do
    local tag="in ring"
    ((s > SHARDS)) && tag="spare"
    echo "  shard $s ($tag): $(shard_addrs "$s")"
  done
  echo
  echo "Try:"
  echo "  export PAXOSKV_MASTER=$masters"
  echo "  $BIN/kvctl --insecure put hello world && $BIN/kvctl --insecure get hello"
  echo "  $BIN/kvctl --insecure status"
  echo "  $BIN/kvbench --insecure --target=master --addr=$master --clients=16 --duration_s=5"
  for ((s = SHARDS + 1; s <= total; s++)); do
    echo "  $BIN/kvctl --insecure --master $master add-shard $s $(shard_addrs "$s")"
  done
  echo "  $0 stop --dir $DIR"
}

cmd_stop() {
  [[ -d "$DIR/pids" ]] || { echo "local-cluster: nothing to stop in $DIR"; return; }
  local pidfile pids=()
  for pidfile in "$DIR"/pids/*.pid; do
    [[ -e "$pidfile" ]] || continue
    if is_running "$pidfile"; then
      kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
      pids+=("$(cat "$pidfile")")
    fi
  done
  local deadline=$((SECONDS + GRACE_S)) pid alive
  while :; do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive == 0 || SECONDS >= deadline)) && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "local-cluster: pid $pid ignored SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -f "$DIR"/pids/*.pid
  echo "local-cluster: stopped ${#pids[@]} processes (data kept in $DIR/data)"
}

cmd_status() {
  [[ -d "$DIR/pids" ]] || { echo "local-cluster: no cluster in $DIR"; exit 1; }
  local pidfile name
  for pidfile in "$DIR"/pids/*.pid; do
    [[ -e "$pidfile" ]] || continue
    name=$(basename "$pidfile" .pid)
    if is_running "$pidfile"; then
      echo "  $name: running (pid $(cat "$pidfile"))"
    else
      echo "  $name: NOT running (log $DIR/logs/$name.log)"
    fi
  done
  BIN=$(find_bin)
  local port
  port=$(cat "$DIR/master-port" 2>/dev/null || echo "$MASTER_PORT")
  if [[ -x "$BIN/kvctl" ]]; then
    echo
    "$BIN/kvctl" --insecure --master "127.0.0.1:$port" --timeout_ms 2000 status || true
  fi
}

case "$cmd" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) usage ;;
esac

# Shared by the bench scripts (sourced): the Release build, the machine's figures printed
# before any measurement, and for attribution.sh and hops.sh a 1x3 cluster with its master and
# the servers' CPU and context switches read as make bench reads them.

# bench_build REPO: builds the binaries a bench needs (Release, no invariant checks: the test
# build checks every Paxos invariant at every step, which costs time proportional to the log)
# into REPO/build-bench and sets BIN to their folder.
bench_build() {
  local repo=$1
  cmake -S "$repo" -B "$repo/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPAXOSKV_INVARIANTS=OFF >/dev/null
  cmake --build "$repo/build-bench" -j2 --target paxoskv-replica paxoskv-master kvbench kvctl \
    paxoskv-echo >/dev/null
  BIN=$repo/build-bench/bin
}

# bench_machine WORK BIN PORT: prints the CPU, the fsync rate of WORK's disk and the echo figure
# (paxoskv-echo on 127.0.0.1:PORT, 64 clients, 3 s), to read beside every figure of the run.
bench_machine() {
  local work=$1 bin=$2 port=$3 pid
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo "fsync/s: $(python3 -c '
import os, tempfile, time
fd, p = tempfile.mkstemp(dir="'"$work"'"); n = 0; t = time.time()
while time.time() - t < 1: os.write(fd, b"x" * 64); os.fsync(fd); n += 1
os.close(fd); os.unlink(p); print(n)')"
  "$bin/paxoskv-echo" --insecure --listen="127.0.0.1:$port" >/dev/null 2>&1 &
  pid=$!
  sleep 0.5
  echo "echo: $("$bin/kvbench" --insecure --target echo --addr "127.0.0.1:$port" --clients 64 \
    --duration_s 3 --json | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["ops_per_s"]))') calls/s at 64 clients"
  kill "$pid"
}

# start_1x3 BIN DIR REPLICA_FLAGS [MASTER_FLAG...]: a 1-shard cluster of three replicas on
# 127.0.0.1:7311-7313 and its master on 127.0.0.1:7350, plaintext, logs and data under DIR;
# appends their pids to PIDS (the replicas in order, then the master) and gives them 2 s to
# elect a leader. REPLICA_FLAGS is one string of space-separated flags ("" for none).
start_1x3() {
  local bin=$1 dir=$2 replica_flags=$3 r peers="1=127.0.0.1:7311,2=127.0.0.1:7312,3=127.0.0.1:7313"
  shift 3
  mkdir -p "$dir"
  for r in 1 2 3; do
    # shellcheck disable=SC2086  # replica_flags: several flags
    "$bin/paxoskv-replica" --insecure --shard_id=1 --replica_id=$r --listen=127.0.0.1:731$r \
      --peers=$peers --data_dir="$dir/r$r" --log_level=warn $replica_flags 2>"$dir/r$r.log" &
    PIDS+=($!)
  done
  "$bin/paxoskv-master" --insecure --listen=127.0.0.1:7350 --data_dir="$dir/m" --log_level=warn \
    --shards="1=127.0.0.1:7311,127.0.0.1:7312,127.0.0.1:7313" "$@" 2>"$dir/m.log" &
  PIDS+=($!)
  sleep 2
}

# server_sample PID...: "CPU_TICKS CONTEXT_SWITCHES" summed over the processes, read from /proc
# the way make bench reads them (bench.py's sample_server).
server_sample() {
  python3 - "$@" <<PY
import sys
sys.path.insert(0, "$(dirname "${BASH_SOURCE[0]}")")
import bench
s = bench.sample_server({pid: int(pid) for pid in sys.argv[1:]})
print(sum(v["cpu_ticks"] for v in s.values()), sum(v["ctx_switches"] for v in s.values()))
PY
}

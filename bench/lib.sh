# Shared by bench/run.sh, bench/membership.sh and bench/reshard.sh (sourced): the Release build
# and the machine's figures printed before any measurement.

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

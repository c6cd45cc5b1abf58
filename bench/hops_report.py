"""bench/hops.sh's Python side. `snapshot` prints one line per thread of the given processes
(name, thread id, thread name, CPU ticks, context switches), read from /proc with bench.py's
parsers; the report prints, for one measured load, per operation, each process's CPU and
context switches by thread name (from two snapshots around kvbench's measured window), then
each process's system calls (strace -c over a second run, traced whole).

  python3 bench/hops_report.py snapshot NAME=PID...
  python3 bench/hops_report.py LABEL WORK_DIR PROCESS_NAME...
"""
import collections
import os
import re
import sys

import bench

# A request's calls: wake-ups (futex: threads handing work over; epoll_wait: a poller),
# the sockets, the eventfd gRPC kicks a poller with (read, write), the disk.
USUAL_SYSCALLS = ["futex", "epoll_wait", "recvmsg", "sendmsg", "read", "write", "fdatasync"]


def throughput(path):
  """(operations, ops/s) from kvbench's "throughput: N ops in T s = R ops/s" line."""
  with open(path) as f:
    for line in f:
      m = re.match(r"throughput: (\d+) ops in [\d.]+ s = ([\d.]+) ops/s", line)
      if m:
        return int(m[1]), float(m[2])
  sys.exit(f"hops: no throughput line in {path}")


def threads(path):
  """{(process, tid): (thread name, cpu ticks, context switches)}."""
  out = {}
  with open(path) as f:
    for line in f:
      process, tid, name, ticks, switches = line.split()
      out[(process, tid)] = (name, int(ticks), int(switches))
  return out


def syscalls(path):
  """{syscall: calls} from strace -c's table."""
  calls = {}
  if not os.path.exists(path):
    return calls
  with open(path) as f:
    for line in f:
      fields = line.split()
      # % time, seconds, usecs/call, calls, [errors,] syscall
      if len(fields) >= 5 and re.match(r"^[\d.]+$", fields[0]) and fields[-1] != "total":
        calls[fields[-1]] = int(fields[3])
  return calls


def snapshot(specs):
  """Prints a line per thread of each NAME=PID in `specs` (threads that exit meanwhile are
  left out)."""
  for spec in specs:
    name, pid = spec.split("=")
    for tid in sorted(os.listdir(f"/proc/{pid}/task")):
      task = f"/proc/{pid}/task/{tid}"
      try:
        with open(f"{task}/stat") as f:
          utime, stime = bench.proc_cpu_ticks(f.read())
        with open(f"{task}/status") as f:
          switches = bench.proc_ctx_switches(f.read())
        with open(f"{task}/comm") as f:
          thread_name = f.read().strip().replace(" ", "_")
      except (FileNotFoundError, ProcessLookupError):
        continue
      print(name, tid, thread_name, utime + stime, switches)


def main():
  if sys.argv[1] == "snapshot":
    snapshot(sys.argv[2:])
    return
  label, work, processes = sys.argv[1], sys.argv[2], sys.argv[3:]
  ops, rate = throughput(os.path.join(work, f"{label}.kvbench"))
  with open(os.path.join(work, f"{label}.kvbench")) as f:
    latency = next((l.strip() for l in f if l.startswith("latency ms")), "")
  print(f"{rate:,.0f} ops/s; {latency}")
  hz = os.sysconf("SC_CLK_TCK")
  before = threads(os.path.join(work, f"{label}.before"))
  after = threads(os.path.join(work, f"{label}.after"))
  per_name = collections.defaultdict(lambda: [0, 0, 0])   # cpu ticks, switches, threads
  for key, (name, ticks, switches) in after.items():
    _, ticks0, switches0 = before.get(key, (name, 0, 0))
    row = per_name[(key[0], name)]
    row[0] += ticks - ticks0
    row[1] += switches - switches0
    row[2] += 1
  print("\n| process | thread name | threads | CPU us/op | context switches/op |")
  print("| --- | --- | --- | --- | --- |")
  totals = collections.defaultdict(lambda: [0, 0])
  for (process, name), (ticks, switches, count) in sorted(
      per_name.items(), key=lambda kv: (processes.index(kv[0][0]), -kv[1][1])):
    totals[process][0] += ticks
    totals[process][1] += switches
    if ticks == 0 and switches == 0:
      continue
    print(f"| {process} | {name} | {count} | {ticks * 1e6 / hz / ops:.1f} | {switches / ops:.2f} |")
  all_ticks = sum(t[0] for t in totals.values())
  all_switches = sum(t[1] for t in totals.values())
  for process in processes:
    ticks, switches = totals[process]
    print(f"| {process} | (all) | | {ticks * 1e6 / hz / ops:.1f} | {switches / ops:.2f} |")
  print(f"| all servers | | | {all_ticks * 1e6 / hz / ops:.1f} | {all_switches / ops:.2f} |")

  traced_ops, traced_rate = throughput(os.path.join(work, f"{label}.traced"))
  tables = {p: syscalls(os.path.join(work, f"{label}.strace.{p}")) for p in processes}
  # The usual calls first, in a fixed order (runs compare column by column), then any other
  # call made at least once per 20 operations.
  total = lambda s: sum(t.get(s, 0) for t in tables.values())  # noqa: E731
  others = sorted({s for t in tables.values() for s in t} - set(USUAL_SYSCALLS), key=total,
                  reverse=True)
  names = [s for s in USUAL_SYSCALLS + others if total(s) >= traced_ops / 20]
  print(f"\nsystem calls per operation (strace -c over {traced_ops:,} operations, "
        f"{traced_rate:,.0f} ops/s under strace, and 1 s idle around them):\n")
  print("| process | " + " | ".join(names) + " | all |")
  print("| --- | " + " | ".join("---" for _ in names) + " | --- |")
  for p in processes:
    t = tables[p]
    print(f"| {p} | " + " | ".join(f"{t.get(s, 0) / traced_ops:.1f}" for s in names) +
          f" | {sum(t.values()) / traced_ops:.1f} |")


if __name__ == "__main__":
  main()

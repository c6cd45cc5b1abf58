#!/usr/bin/env python3
"""Helpers for the container failover tests (tests/cluster): histories and cluster status.

A history is kvbench's --history file: one JSON object per operation and line,
  {"client":3,"op":"put","key":"k1","value":"v","call_ns":...,"return_ns":...,
   "status":"OK","output":null}
Subcommands:
  stats HISTORY [--slow_ms 150] [--merge_ms 100] [--window_start_ns N --window_end_ns N]
      prints "unavailable_ms=<n> history_ops=<n> ok=<n> errors=<status:count,...>
      max_latency_ms=<n> [ok_in_window=<n> failed_in_window=<n>]". unavailable_ms is the longest
      stretch covered by failed or slow operations ([call, return] of each op whose status is
      not OK/NOT_FOUND or whose latency exceeds --slow_ms, merged across clients when closer
      than --merge_ms): how long some part of the key space could not be served.
  now_ns   prints the host's monotonic clock in ns (the clock std::chrono::steady_clock uses).
  leader SHARD            (stdin: Admin/ClusterStatus JSON from grpcurl) prints the host name
                          of the shard's leader; exit 1 when it has none.
  replica SHARD HOST      (stdin: same) prints "<healthy> <applied_slot> <leader_applied_slot>".
  shards                  (stdin: same) prints the shard ids, the migration state and epoch.
Reading keys back after a scenario is paxoskv-cluster-readback's job (readback_main.cc).
Single-threaded.
"""
import argparse
import json
import sys
import time

FINE = ("OK", "NOT_FOUND")


def load(path):
    ops = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                ops.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"clustertool.py: {path}:{n}: bad JSON: {e}")
    return ops


def cmd_stats(args):
    ops = load(args.history)
    slow_ns = args.slow_ms * 1_000_000
    bad = []
    errors = {}
    ok = 0
    max_latency = 0
    in_window_ok = in_window_failed = 0
    for op in ops:
        call, ret, status = op["call_ns"], op["return_ns"], op.get("status", "")
        latency = ret - call
        max_latency = max(max_latency, latency)
        if status in FINE:
            ok += 1
        else:
            errors[status] = errors.get(status, 0) + 1
        if status not in FINE or latency > slow_ns:
            bad.append((call, ret))
        if args.window_start_ns is not None and call >= args.window_start_ns and \
                ret <= args.window_end_ns:
            if status in FINE:
                in_window_ok += 1
            else:
                in_window_failed += 1
    bad.sort()
    longest = 0
    cur = None
    merge = args.merge_ms * 1_000_000
    for call, ret in bad:
        if cur and call <= cur[1] + merge:
            cur[1] = max(cur[1], ret)
        else:
            cur = [call, ret]
        longest = max(longest, cur[1] - cur[0])
    err = ",".join(f"{k}:{v}" for k, v in sorted(errors.items())) or "none"
    line = (f"unavailable_ms={longest // 1_000_000} history_ops={len(ops)} ok={ok} errors={err} "
            f"max_latency_ms={max_latency // 1_000_000}")
    if args.window_start_ns is not None:
        lo = min((op["call_ns"] for op in ops), default=0)
        hi = max((op["return_ns"] for op in ops), default=0)
        if args.window_end_ns < lo or args.window_start_ns > hi:
            in_window_ok = in_window_failed = -1  # kvbench's clock has another origin.
        line += f" ok_in_window={in_window_ok} failed_in_window={in_window_failed}"
    print(line)
    return 0


def field(d, name, default=None):
    """Reads a proto3 JSON field by its proto name or lowerCamel name (grpcurl prints either)."""
    if name in d:
        return d[name]
    parts = name.split("_")
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    return d.get(camel, default)


def find_shard(status, shard):
    for s in field(status, "shards", []):
        if int(field(s, "shard_id", 0)) == shard:
            return s
    return None


def host_of(address):
    return address.rsplit(":", 1)[0] if address else ""


def cmd_leader(args):
    s = find_shard(json.load(sys.stdin), args.shard)
    if s is None:
        return 1
    leader = field(s, "leader", "")
    if not leader:
        for r in field(s, "replicas", []):
            if field(r, "role", "") == "leader" and field(r, "healthy", False):
                leader = field(r, "address", "")
    if not leader:
        return 1
    print(host_of(leader))
    return 0


def cmd_replica(args):
    s = find_shard(json.load(sys.stdin), args.shard)
    if s is None:
        return 1
    leader_applied = -1
    mine = None
    leader = host_of(field(s, "leader", ""))
    for r in field(s, "replicas", []):
        host = host_of(field(r, "address", ""))
        applied = int(field(r, "applied_slot", 0))
        if host == leader or (not leader and field(r, "role", "") == "leader"):
            leader_applied = applied
        if host == args.host:
            mine = (bool(field(r, "healthy", False)), applied)
    if mine is None:
        return 1
    print(f"{'yes' if mine[0] else 'no'} {mine[1]} {leader_applied}")
    return 0


def cmd_shards(args):
    status = json.load(sys.stdin)
    ids = sorted(int(field(s, "shard_id", 0)) for s in field(status, "shards", []))
    migration = field(status, "migration", {}) or {}
    running = "running" if field(migration, "running", False) else "idle"
    print(f"{','.join(map(str, ids))} {running} {int(field(status, 'epoch', 0))}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("stats")
    st.add_argument("history")
    st.add_argument("--slow_ms", type=int, default=150)
    st.add_argument("--merge_ms", type=int, default=100)
    st.add_argument("--window_start_ns", type=int)
    st.add_argument("--window_end_ns", type=int)
    sub.add_parser("now_ns")
    ld = sub.add_parser("leader")
    ld.add_argument("shard", type=int)
    rp = sub.add_parser("replica")
    rp.add_argument("shard", type=int)
    rp.add_argument("host")
    sub.add_parser("shards")
    args = parser.parse_args()
    if args.cmd in ("leader", "replica", "shards"):
        try:
            return {"leader": cmd_leader, "replica": cmd_replica, "shards": cmd_shards}[
                args.cmd](args)
        except (json.JSONDecodeError, ValueError, AttributeError, TypeError):
            return 1
    if args.cmd == "stats":
        return cmd_stats(args)
    print(time.monotonic_ns())
    return 0


if __name__ == "__main__":
    sys.exit(main())

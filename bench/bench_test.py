#!/usr/bin/env python3
# Unit tests of bench.py's pure parts: kvbench JSON normalisation, ratios, DESIGN §6 target
# verdicts, the Markdown table and the BENCHMARKS.md section splice. No processes, no network.
#   python3 bench/bench_test.py
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def row(workload, target, ops, p50, p99=10.0):
  kind, c, dist = workload.split("-")
  return {"workload": workload, "kind": kind, "clients": int(c[1:]), "key_dist": dist,
          "read_percent": 0, "target": target, "ops_per_s": ops, "p50_ms": p50, "p99_ms": p99,
          "errors": 0}


class NormalizeTest(unittest.TestCase):

  def test_reads_flat_millisecond_fields(self):
    f = bench.normalize({"ops_per_s": 1000, "p50_ms": 1.5, "p99_ms": 4, "errors": 2})
    self.assertEqual(f["ops_per_s"], 1000.0)
    self.assertEqual(f["p50_ms"], 1.5)
    self.assertEqual(f["p99_ms"], 4.0)
    self.assertEqual(f["errors"], 2)

  def test_converts_microsecond_fields(self):
    f = bench.normalize({"ops_per_s": 10, "p50_us": 1500, "p99_us": 9000})
    self.assertAlmostEqual(f["p50_ms"], 1.5)
    self.assertAlmostEqual(f["p99_ms"], 9.0)

  def test_missing_fields_are_none(self):
    f = bench.normalize({})
    self.assertIsNone(f["ops_per_s"])
    self.assertIsNone(f["p50_ms"])


class RatioTest(unittest.TestCase):

  def test_ratios_against_etcd_and_echo_at_same_concurrency(self):
    results = [row("put-c64-uniform", "paxoskv-1x3", 6000, 1.0),
               row("put-c64-uniform", "etcd", 2000, 4.0),
               row("put-c64-uniform", "echo", 12000, 0.5),
               row("get-c64-uniform", "paxoskv-1x3", 9000, 1.0),
               row("get-c64-uniform", "etcd", 3000, 2.0)]
    bench.add_ratios(results)
    self.assertAlmostEqual(results[0]["ops_vs_etcd"], 3.0)
    self.assertAlmostEqual(results[0]["p50_vs_etcd"], 0.25)
    self.assertAlmostEqual(results[0]["ops_vs_echo"], 0.5)
    # A get at 64 clients is compared with the echo measured at 64 clients.
    self.assertAlmostEqual(results[3]["ops_vs_echo"], 0.75)
    self.assertNotIn("ops_vs_etcd", results[1])

  def test_targets_met_and_missed(self):
    results = [row("put-c64-uniform", "paxoskv-1x3", 3000, 1.0),
               row("put-c64-uniform", "etcd", 2400, 4.0),
               row("put-c64-uniform", "echo", 12000, 0.5),
               row("put-c1-uniform", "paxoskv-1x3", 900, 1.0),
               row("put-c1-uniform", "etcd", 380, 2.2)]
    bench.add_ratios(results)
    t = {x["figure"]: x for x in bench.design_targets(results, {})}
    self.assertFalse(t["Put throughput, 64 clients, 1x3 via master"]["met"])  # 1.25 < 1.5
    self.assertTrue(t["Put latency p50, 1 client"]["met"])  # 1.0 / 2.2 <= 0.5
    self.assertFalse(t["Throughput via master vs raw gRPC echo, 64 clients"]["met"])  # 0.25
    self.assertIsNone(t["Linearizable Get throughput, 64 clients"]["met"])  # not measured
    self.assertIn("not measured", bench.render_targets(bench.design_targets(results, {})))

  def test_a_near_miss_does_not_read_as_the_target(self):
    results = [row("put-c64-uniform", "paxoskv-1x3", 12761, 1.0),
               row("put-c64-uniform", "etcd", 8522, 4.0)]
    bench.add_ratios(results)
    table = bench.render_targets(bench.design_targets(results, {}))
    line = next(l for l in table.splitlines() if "1x3 via master" in l)
    self.assertIn("1.497", line)
    self.assertIn("**no**", line)


class MarkdownTest(unittest.TestCase):

  def test_table_lists_every_row_in_target_order(self):
    results = [row("put-c1-uniform", "etcd", 380, 2.2), row("put-c1-uniform", "paxoskv-1x3",
                                                            900, 1.0)]
    bench.add_ratios(results)
    lines = bench.render_table(results).splitlines()
    self.assertEqual(len(lines), 4)
    self.assertIn("paxoskv-1x3", lines[2])  # paxoskv before etcd
    self.assertIn("2.37", lines[2])  # 900 / 380

  def test_write_md_replaces_only_the_marked_section(self):
    report = {
        "date": "2000-01-01", "command": "bench/run.sh",
        "config": {"quick": False, "warmup_s": 2, "duration_s": 8, "value_size": 256,
                   "keys": 10000},
        "machine": {"nproc": 2, "cpu_model": "cpu", "mem_gib": 1, "kernel": "Linux",
                    "disk": "/dev/x", "fsync_per_s": 1000.0, "etcd_version": "3.4"},
        "results": [row("put-c1-uniform", "etcd", 380, 2.2)], "targets": [],
        "resources": {}, "failures": []}
    with tempfile.TemporaryDirectory() as d:
      path = os.path.join(d, "B.md")
      with open(path, "w") as f:
        f.write(f"intro\n\n{bench.MD_BEGIN}\nold\n{bench.MD_END}\n\nfooter\n")
      old = bench.MD_PATH
      bench.MD_PATH = path
      try:
        bench.write_md(report)
        bench.write_md(report)  # idempotent
      finally:
        bench.MD_PATH = old
      text = open(path).read()
    self.assertTrue(text.startswith("intro\n"))
    self.assertTrue(text.endswith("footer\n"))
    self.assertNotIn("\nold\n", text)
    self.assertEqual(text.count(bench.MD_BEGIN), 1)
    self.assertIn("| put-c1-uniform | etcd | 380 |", text)


if __name__ == "__main__":
  unittest.main()

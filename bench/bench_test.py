#!/usr/bin/env python3
# Unit tests of bench.py's pure parts: kvbench JSON normalisation, the interleaved round plan,
# per-round ratios, medians and spread, server CPU and context switches per operation from
# /proc texts, the targets with met / not met, the Markdown tables and the BENCHMARKS.md
# section splice; and hops_report.py's parsing of strace -c and kvbench. No processes, no
# network.
#   python3 bench/bench_test.py
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import hops_report  # noqa: E402


def point(workload, target, ops, p50, p99=10.0, rnd=1, cpu=None, ctx=None):
  kind, c, dist = workload.split("-")
  return {"round": rnd, "workload": workload, "kind": kind, "clients": int(c[1:]),
          "key_dist": dist, "read_percent": 0, "target": target, "ops_per_s": ops,
          "p50_ms": p50, "p99_ms": p99, "errors": 0, "server_cpu_us_per_op": cpu,
          "ctx_switches_per_op": ctx}


def results_of(points):
  bench.add_round_ratios(points)
  return bench.aggregate(points)


class NormalizeTest(unittest.TestCase):

  def test_reads_flat_millisecond_fields(self):
    f = bench.normalize({"ops_per_s": 1000, "p50_ms": 1.5, "p99_ms": 4, "errors": 2})
    self.assertEqual(f["ops_per_s"], 1000.0)
    self.assertEqual(f["p50_ms"], 1.5)
    self.assertEqual(f["p99_ms"], 4.0)
    self.assertEqual(f["errors"], 2)

  def test_reads_kvbench_json(self):
    f = bench.normalize({"ops": 500, "ops_per_s": 100.0, "errors_total": 3,
                         "errors": {"UNAVAILABLE": 3},
                         "latency_ms": {"p50": 1.0, "p99": 2.0, "p99.9": 3.0}})
    self.assertEqual(f["ops"], 500)
    self.assertEqual(f["errors"], 3)
    self.assertEqual(f["p999_ms"], 3.0)
    self.assertEqual(f["error_codes"], {"UNAVAILABLE": 3})

  def test_converts_microsecond_fields(self):
    f = bench.normalize({"ops_per_s": 10, "p50_us": 1500, "p99_us": 9000})
    self.assertAlmostEqual(f["p50_ms"], 1.5)
    self.assertAlmostEqual(f["p99_ms"], 9.0)

  def test_missing_fields_are_none(self):
    f = bench.normalize({})
    self.assertIsNone(f["ops_per_s"])
    self.assertIsNone(f["p50_ms"])

  def test_last_json_line_of_stdout(self):
    self.assertEqual(bench.parse_kvbench_stdout('summary\n{"ops": 1}\n'), {"ops": 1})


class RoundPlanTest(unittest.TestCase):

  WL = [("put", 1, 0, "uniform"), ("put", 64, 0, "uniform"), ("get", 64, 100, "uniform")]

  def test_every_workload_visits_every_system_and_echo_once_per_concurrency(self):
    plan = bench.round_plan(self.WL, ["paxoskv-1x3", "etcd", "echo"], 1)
    self.assertEqual([(bench.workload_id(*w), n) for w, n in plan], [
        ("put-c1-uniform", "echo"), ("put-c1-uniform", "etcd"), ("put-c1-uniform", "paxoskv-1x3"),
        ("put-c64-uniform", "echo"), ("put-c64-uniform", "etcd"),
        ("put-c64-uniform", "paxoskv-1x3"),
        ("get-c64-uniform", "etcd"), ("get-c64-uniform", "paxoskv-1x3")])

  def test_even_rounds_reverse_the_system_order(self):
    plan = bench.round_plan(self.WL[:1], ["echo", "etcd", "paxoskv-1x3"], 2)
    self.assertEqual([n for _, n in plan], ["paxoskv-1x3", "etcd", "echo"])

  def test_echo_at_a_concurrency_without_uniform_put_runs_as_its_put(self):
    plan = bench.round_plan([("get", 16, 100, "uniform")], ["echo"], 1)
    self.assertEqual(plan, [(("put", 16, 0, "uniform"), "echo")])


class SummaryTest(unittest.TestCase):

  def test_median_min_max_and_relative_spread(self):
    s = bench.summarize([7800, None, 6900, 7386])
    self.assertEqual(s["median"], 7386)
    self.assertEqual((s["min"], s["max"], s["n"]), (6900, 7800, 3))
    self.assertAlmostEqual(s["rel"], 900 / 7386)
    self.assertIsNone(bench.summarize([None, None]))

  def test_aggregate_medians_spread_and_error_sum(self):
    pts = [point("put-c64-uniform", "etcd", ops, 4.0, rnd=r) for r, ops in
           ((1, 5000), (2, 7000), (3, 6000))]
    pts[1]["errors"] = 2
    [row] = bench.aggregate(pts)
    self.assertEqual(row["ops_per_s"], 6000)
    self.assertEqual(row["spread"]["ops_per_s"], {"min": 5000, "max": 7000, "n": 3,
                                                  "rel": 2000 / 6000})
    self.assertEqual(row["per_round"]["ops_per_s"], [5000, 7000, 6000])
    self.assertEqual(row["rounds"], [1, 2, 3])
    self.assertEqual(row["errors"], 2)


class RatioTest(unittest.TestCase):

  def test_ratios_pair_the_points_of_the_same_round(self):
    pts = []
    # Round 1: the machine is fast for both; round 2 slow for both.
    for rnd, scale in ((1, 1.0), (2, 0.5)):
      pts += [point("put-c64-uniform", "paxoskv-1x3", 6000 * scale, 1.0 / scale, rnd=rnd,
                    cpu=40, ctx=2.0),
              point("put-c64-uniform", "etcd", 2000 * scale, 4.0 / scale, rnd=rnd, cpu=100,
                    ctx=8.0),
              point("put-c64-uniform", "echo", 12000 * scale, 0.5, rnd=rnd),
              point("get-c64-uniform", "paxoskv-1x3", 9000 * scale, 1.0, rnd=rnd),
              point("get-c64-uniform", "etcd", 3000 * scale, 2.0, rnd=rnd)]
    bench.add_round_ratios(pts)
    self.assertAlmostEqual(pts[0]["ops_vs_etcd"], 3.0)
    self.assertAlmostEqual(pts[5]["ops_vs_etcd"], 3.0)  # 3000 / 1000, not 3000 / 2000
    self.assertAlmostEqual(pts[0]["p50_vs_etcd"], 0.25)
    self.assertAlmostEqual(pts[0]["ops_vs_echo"], 0.5)
    self.assertAlmostEqual(pts[0]["cpu_vs_etcd"], 0.4)
    self.assertAlmostEqual(pts[0]["ctx_vs_etcd"], 0.25)
    # A get at 64 clients is compared with the echo measured at 64 clients in its round.
    self.assertAlmostEqual(pts[3]["ops_vs_echo"], 0.75)
    self.assertNotIn("ops_vs_etcd", pts[1])
    self.assertNotIn("cpu_vs_etcd", pts[3])  # no CPU figure: no ratio
    rows = bench.aggregate(pts)
    put = bench.find(rows, "put-c64-uniform", "paxoskv-1x3")
    self.assertAlmostEqual(put["ops_vs_etcd"], 3.0)
    self.assertEqual(put["spread"]["ops_vs_etcd"]["rel"], 0)

  def test_median_ratio_is_the_median_of_per_round_ratios(self):
    pts = []
    for rnd, (pk, et) in enumerate(((100, 50), (300, 100), (150, 200)), start=1):
      pts += [point("put-c1-uniform", "paxoskv-1x3", pk, 1.0, rnd=rnd),
              point("put-c1-uniform", "etcd", et, 1.0, rnd=rnd)]
    row = bench.find(results_of(pts), "put-c1-uniform", "paxoskv-1x3")
    self.assertAlmostEqual(row["ops_vs_etcd"], 2.0)  # ratios 2, 3, 0.75; medians 150/100 = 1.5
    self.assertAlmostEqual(row["spread"]["ops_vs_etcd"]["min"], 0.75)
    self.assertAlmostEqual(row["spread"]["ops_vs_etcd"]["max"], 3.0)

  def test_a_missing_reference_round_gives_no_ratio_for_that_round(self):
    pts = [point("put-c1-uniform", "paxoskv-1x3", 100, 1.0, rnd=1),
           point("put-c1-uniform", "paxoskv-1x3", 100, 1.0, rnd=2),
           point("put-c1-uniform", "etcd", 50, 1.0, rnd=1)]
    row = bench.find(results_of(pts), "put-c1-uniform", "paxoskv-1x3")
    self.assertEqual(row["spread"]["ops_vs_etcd"]["n"], 1)
    self.assertEqual(row["per_round"]["ops_vs_etcd"], [2.0, None])


class ProcTest(unittest.TestCase):

  def test_cpu_ticks_from_stat_with_a_command_holding_spaces_and_parens(self):
    fields = ["S"] + [str(i) for i in range(4, 53)]  # field N holds N from field 4 on
    text = "1234 (etcd (x) y) " + " ".join(fields) + "\n"
    self.assertEqual(bench.proc_cpu_ticks(text), (14, 15))

  def test_context_switches_from_status(self):
    text = ("Name:\tetcd\nThreads:\t9\nvoluntary_ctxt_switches:\t120\n"
            "nonvoluntary_ctxt_switches:\t7\n")
    self.assertEqual(bench.proc_ctx_switches(text), 127)

  def test_cost_per_operation_sums_processes(self):
    before = {"a": {"cpu_ticks": 100, "sys_ticks": 10, "ctx_switches": 1000},
              "b": {"cpu_ticks": 50, "sys_ticks": 0, "ctx_switches": 10}}
    after = {"a": {"cpu_ticks": 300, "sys_ticks": 60, "ctx_switches": 5000},
             "b": {"cpu_ticks": 150, "sys_ticks": 50, "ctx_switches": 8}}  # b lost a thread
    c = bench.server_cost(before, after, ops=10000, clk_tck=100)
    self.assertAlmostEqual(c["server_cpu_s"], 3.0)
    self.assertAlmostEqual(c["server_sys_cpu_s"], 1.0)
    self.assertEqual(c["server_ctx_switches"], 4000)
    self.assertAlmostEqual(c["server_cpu_us_per_op"], 300.0)
    self.assertAlmostEqual(c["ctx_switches_per_op"], 0.4)
    self.assertIsNone(bench.server_cost(before, after, ops=0, clk_tck=100)["ctx_switches_per_op"])

  def test_idle_line(self):
    line = bench.render_idle({"etcd": {"cpu_cores": 0.0123, "ctx_switches_per_s": 1234.5}})
    self.assertIn("etcd 0.012 cores, 1,234 ctx switches/s", line)
    self.assertEqual(bench.render_idle({}), "")

  def test_rss_ratios_are_the_largest_replica_over_raw(self):
    r = bench.rss_ratios({"r1": 150, "r2": 120}, {"r1": 190, "r2": 210},
                         {"r1": 180, "r2": 200}, {"r1": 30, "r2": 30}, 100)
    self.assertEqual(r["max_rss_over_raw"], 1.5)
    self.assertEqual(r["max_hwm_over_raw"], 2.1)
    self.assertEqual(r["max_peak_sampled_over_raw"], 2.0)
    # The peak: per replica the larger of VmHWM and the sampled VmRSS (r1's sample, 180 B, is
    # below its VmHWM; a VmHWM below a sample would not hide the sample).
    self.assertEqual(r["max_peak_over_raw"], 2.1)
    self.assertNotIn("max_anon_over_raw", r)
    r = bench.rss_ratios({"r1": 150}, {"r1": 190}, {"r1": 230}, {"r1": 30}, 100)
    self.assertEqual(r["max_peak_over_raw"], 2.3)
    self.assertEqual(r["max_rss_growth_over_raw"], 1.2)
    # With RssAnon: its largest over raw, beside the judged VmRSS figure.
    r = bench.rss_ratios({"r1": 150, "r2": 160}, {"r1": 190, "r2": 190}, {"r1": 0, "r2": 0},
                         {"r1": 30, "r2": 30}, 100, anon={"r1": 125, "r2": 131})
    self.assertEqual(r["max_anon_over_raw"], 1.31)
    self.assertEqual(r["max_rss_over_raw"], 1.6)


class TargetTest(unittest.TestCase):

  def rounds(self, pk_put64, et_put64, pk_c1_p50, et_c1_p50, direct_c1_p50=None):
    pts = []
    for rnd in range(len(pk_put64)):
      pts += [point("put-c64-uniform", "paxoskv-1x3", pk_put64[rnd], 1.0, rnd=rnd + 1, cpu=40,
                    ctx=2.0),
              point("put-c64-uniform", "etcd", et_put64[rnd], 4.0, rnd=rnd + 1, cpu=100,
                    ctx=4.0),
              point("put-c64-uniform", "echo", 12000, 0.5, rnd=rnd + 1),
              point("put-c1-uniform", "paxoskv-1x3", 900, pk_c1_p50[rnd], rnd=rnd + 1),
              point("put-c1-uniform", "etcd", 380, et_c1_p50[rnd], rnd=rnd + 1)]
      if direct_c1_p50:
        pts.append(point("put-c1-uniform", "paxoskv-1x3-direct", 1000, direct_c1_p50[rnd],
                         rnd=rnd + 1))
    return results_of(pts)

  def test_targets_judged_on_the_median_ratio(self):
    res = self.rounds([5000, 3000, 4400], [2000, 2000, 2000], [1.0, 1.2, 1.4], [2.0, 2.0, 2.0],
                      direct_c1_p50=[1.1, 1.2, 1.0])
    t = {x["figure"]: x for x in bench.design_targets(res, {})}
    put = t["Puts, 64 clients, through the master"]
    self.assertAlmostEqual(put["measured"], 2.2)  # ratios 2.5, 1.5, 2.2
    self.assertEqual((put["min"], put["max"], put["n"]), (1.5, 2.5, 3))
    self.assertTrue(put["met"])  # median >= 2, though one round missed
    self.assertEqual(put["medians"], ["4,400", "2,000"])
    p50 = t["Put p50, 1 client, through the master"]
    self.assertAlmostEqual(p50["measured"], 0.6)
    self.assertTrue(p50["met"])  # <= 0.6
    self.assertFalse(t["Put p50, 1 client, client library straight to the leader"]["met"])  # 0.55
    self.assertFalse(t["Through the master / raw echo, puts at 64 clients"]["met"])  # 0.37
    cpu = t["Server CPU per put, 64 clients (all server processes)"]
    self.assertAlmostEqual(cpu["measured"], 0.4)
    self.assertTrue(cpu["met"])
    ctx = t["Context switches per put, 64 clients (all server processes)"]
    self.assertAlmostEqual(ctx["measured"], 0.5)
    self.assertIsNone(ctx["met"])  # printed, no target
    self.assertFalse(ctx["has_target"])
    self.assertIsNone(t["Linearizable gets, 64 clients, through the master"]["met"])  # not run
    self.assertIsNone(t["Unavailability after leader kill -9"]["met"])
    table = bench.render_targets(bench.design_targets(res, {}))
    line = next(l for l in table.splitlines() if "Puts, 64 clients" in l)
    self.assertIn("2.200 (1.50–2.50, 3 rounds)", line)
    self.assertIn("| medians 4,400 / 2,000 | yes |", line)
    self.assertIn("(no target)", table)
    self.assertIn("not measured", table)

  def test_gets_judged_on_each_path(self):
    pts = []
    for rnd, (master, direct, etcd) in enumerate([(9000, 16000, 6000), (9500, 15000, 5800)]):
      pts += [point("get-c64-uniform", "paxoskv-1x3", master, 1.0, rnd=rnd + 1),
              point("get-c64-uniform", "paxoskv-1x3-direct", direct, 1.0, rnd=rnd + 1),
              point("get-c64-uniform", "etcd", etcd, 1.0, rnd=rnd + 1)]
    t = {x["figure"]: x for x in bench.design_targets(results_of(pts), {})}
    master = t["Linearizable gets, 64 clients, through the master"]
    direct = t["Linearizable gets, 64 clients, client library straight to the leader"]
    self.assertAlmostEqual(master["measured"], (1.5 + 9500 / 5800) / 2)
    self.assertFalse(master["met"])
    self.assertAlmostEqual(direct["measured"], (16000 / 6000 + 15000 / 5800) / 2)
    self.assertTrue(direct["met"])

  def test_a_near_miss_does_not_read_as_the_target(self):
    res = self.rounds([9991], [5000], [1.0], [2.0])
    table = bench.render_targets(bench.design_targets(res, {}))
    line = next(l for l in table.splitlines() if "Puts, 64 clients" in l)
    self.assertIn("1.998", line)
    self.assertIn("**no**", line)

  def test_resource_targets(self):
    resources = {
        "failover": {"trials": [{"unavailable_s": x} for x in (0.4, 0.6, 1.3)],
                     "median_s": 0.6, "max_s": 1.3},
        "rss": {"keys": 1000000, "max_rss_over_raw": 1.6, "max_hwm_over_raw": 1.9,
                "max_peak_sampled_over_raw": 1.8, "max_peak_over_raw": 1.9}}
    t = {x["figure"].split(" (")[0].split(",")[0]: x for x in bench.design_targets([], resources)}
    fo = t["Unavailability after leader kill -9"]
    self.assertTrue(fo["met"])
    self.assertEqual((fo["min"], fo["max"], fo["n"]), (0.4, 1.3, 3))
    self.assertFalse(t["Replica memory after loading 1"]["met"])  # 1.6 > 1.5
    self.assertTrue(t["Replica memory peak while snapshots are taken"]["met"])  # 1.9 <= 2
    table = bench.render_targets(bench.design_targets([], resources))
    self.assertIn("0.600 s (0.40–1.30, 3 trials)", table)
    self.assertIn("(VmHWM alone 1.90 x, sampled VmRSS alone 1.80 x)", table)


class MarkdownTest(unittest.TestCase):

  def test_a_row_shows_medians_with_their_spread(self):
    pts = []
    for rnd, (ops, p50) in enumerate(((7386, 1.2), (6900, 1.1), (7800, 1.4)), start=1):
      pts += [point("put-c64-uniform", "paxoskv-1x3", ops, p50, rnd=rnd, cpu=45.0 + rnd,
                    ctx=3.0),
              point("put-c64-uniform", "etcd", 3693, 2.4, rnd=rnd, cpu=92.0, ctx=6.0)]
    lines = bench.render_table(results_of(pts)).splitlines()
    self.assertEqual(len(lines), 4)
    pk = lines[2]
    self.assertTrue(pk.startswith("| put-c64-uniform | paxoskv-1x3 | 7,386 (6,900–7,800) | 12 % |"))
    self.assertIn("| 1.20 ms (1.10–1.40) |", pk)
    self.assertIn("| 47.0 (46.0–48.0) | 3.00 (3.00–3.00) |", pk)
    self.assertIn("| 2.00 (1.87–2.11) |", pk)  # ops / etcd per round
    self.assertIn("| 0.51 (0.50–0.52) | 0.50 (0.50–0.50) |", pk)  # CPU and ctx / etcd
    self.assertIn("| put-c64-uniform | etcd | 3,693 (3,693–3,693) | 0 % |", lines[3])

  def test_a_single_round_prints_bare_figures(self):
    res = results_of([point("put-c1-uniform", "etcd", 380, 2.2),
                      point("put-c1-uniform", "paxoskv-1x3", 900, 1.0)])
    lines = bench.render_table(res).splitlines()
    self.assertIn("paxoskv-1x3", lines[2])  # paxoskv before etcd
    self.assertIn("| 900 |  | 1.00 ms |", lines[2])
    self.assertIn("| 2.37 |", lines[2])  # 900 / 380

  def test_machine_line(self):
    report = {"machine": {"cpu_model": "AMD EPYC", "nproc": 2, "fsync_per_s": 6031.4},
              "config": {"rounds": 3, "warmup_s": 1, "duration_s": 5},
              "results": results_of([point("put-c64-uniform", "echo", 32598, 1.0, rnd=r)
                                     for r in (1, 2, 3)])}
    self.assertEqual(bench.machine_line(report),
                     "AMD EPYC, 2 cores; fsync 6,031/s; echo 32,598 calls/s at 64 clients "
                     "(median); 3 interleaved rounds of 1 s warm-up + 5 s points")

  def test_write_md_replaces_only_the_marked_section(self):
    report = {
        "date": "2000-01-01", "command": "bench/run.sh",
        "config": {"quick": False, "rounds": 3, "warmup_s": 1, "duration_s": 5,
                   "value_size": 256, "keys": 10000},
        "machine": {"nproc": 2, "cpu_model": "cpu", "mem_gib": 1, "kernel": "Linux",
                    "disk": "/dev/x", "fsync_per_s": 1000.0, "etcd_version": "3.4"},
        "results": results_of([point("put-c1-uniform", "etcd", 380, 2.2)]), "targets": [],
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
      with open(path) as f:
        text = f.read()
    self.assertTrue(text.startswith("intro\n"))
    self.assertTrue(text.endswith("footer\n"))
    self.assertNotIn("\nold\n", text)
    self.assertEqual(text.count(bench.MD_BEGIN), 1)
    self.assertIn("| put-c1-uniform | etcd | 380 |", text)
    self.assertIn("cpu, 2 cores; fsync 1,000/s; echo not measured; 3 interleaved rounds", text)


class HopsReportTest(unittest.TestCase):

  def write(self, text):
    f = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    f.write(text)
    f.close()
    self.addCleanup(os.unlink, f.name)
    return f.name

  def test_syscalls_from_strace_summary_with_and_without_errors(self):
    path = self.write(
        "% time     seconds  usecs/call     calls    errors syscall\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        " 83.51    3.879026         384     10096      1906 futex\n"
        "  5.73    0.266200          55      4759           epoll_wait\n"
        "  1.12    0.052079          74       698           fdatasync\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        "100.00    4.645000         222     15553      1906 total\n")
    self.assertEqual(hops_report.syscalls(path),
                     {"futex": 10096, "epoll_wait": 4759, "fdatasync": 698})

  def test_no_strace_output_is_no_calls(self):
    self.assertEqual(hops_report.syscalls("/nonexistent/strace.out"), {})

  def test_throughput_line_of_kvbench(self):
    path = self.write("warm-up 2 s\nthroughput: 4313 ops in 8.00 s = 539.1 ops/s, 0 errors\n"
                      "latency ms: p50 1.681  p90 2.323\n")
    self.assertEqual(hops_report.throughput(path), (4313, 539.1))

  def test_thread_snapshot_lines(self):
    path = self.write("master 12 nexting_thread 40 300\nreplica-1 7 default-executo 2 9\n")
    self.assertEqual(hops_report.threads(path),
                     {("master", "12"): ("nexting_thread", 40, 300),
                      ("replica-1", "7"): ("default-executo", 2, 9)})


if __name__ == "__main__":
  unittest.main()

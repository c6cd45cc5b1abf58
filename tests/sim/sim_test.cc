// Seeded simulation of one shard over the production replica core (see sim_cluster.h for
// what runs and what is checked).
//
// Goal: replicas never choose different values for one slot, apply only chosen values,
// execute every command at most once, refuse nothing they should take and never stop for
// good; every operation completes once faults stop, and the clients' history is
// linearizable. Faults: message loss, duplication, delay and reordering, snapshot transfers
// cut short, partitions that heal, crashes between events, power cuts in the middle of a
// Ready (between any two durable writes, around snapshot commits, inside an install),
// write and fsync errors, replicas killed for good (up to f).
// Method: 1,000 seeds over three mixes (3 replicas; 5 replicas with 2 killed for good; 3
// replicas under harsh faults with 1 killed), a few hundred operations over a few thousand
// ticks each, checked after every event.
// Reproduce one seed with a per-tick trace:
//   PAXOSKV_SIM_SEED=<seed> build/bin/sim_test --gtest_filter='SimSingleSeed.*'
// Run more: PAXOSKV_SIM_SEEDS=<first>-<last> build/bin/sim_test --gtest_filter='SimSweep.*'
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/common/check.h"
#include "tests/sim/sim_cluster.h"

namespace paxoskv::sim {
namespace {

constexpr uint64_t kSeeds3 = 400;       // seeds [1, 400]: 3 replicas, moderate faults
constexpr uint64_t kSeeds5 = 700;       // seeds [401, 700]: 5 replicas, 2 killed for good
constexpr uint64_t kSeedsHarsh = 1000;  // seeds [701, 1000]: 3 replicas, harsh faults

std::string ReplayCommand(uint64_t seed) {
  return absl::StrCat("reproduce: PAXOSKV_SIM_SEED=", seed,
                      " build/bin/sim_test --gtest_filter='SimSingleSeed.*'");
}

// The fault mix is a function of the seed alone, so PAXOSKV_SIM_SEED reproduces any run.
SimOptions OptionsForSeed(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  o.loss_percent = 10;
  o.duplicate_percent = 5;
  o.delay_ticks_min = 0;
  o.delay_ticks_max = 3;
  o.partition_permille = 4;
  o.crash_permille = 3;
  o.power_cut_permille = 4;
  o.write_error_permille = 2;
  // Every run replaces up to two replicas: a dead one, or else the leader (which removes
  // itself).
  o.replacements = 2;
  o.replace_permille = 3;
  // Seeds beyond the ctest range (sweeps, PAXOSKV_SIM_SEEDS) cycle through four mixes.
  const uint64_t mix = seed <= kSeedsHarsh ? (seed <= kSeeds3 ? 0 : seed <= kSeeds5 ? 1 : 2)
                                           : seed % 4;
  if (mix == 1 || mix == 3) {
    o.nodes = 5;
    o.kills = 2;
  }
  if (mix >= 2) {
    o.loss_percent = 25;
    o.duplicate_percent = 10;
    o.delay_ticks_max = 8;
    o.partition_permille = 10;
    o.crash_permille = 6;
    o.power_cut_permille = 8;
    o.write_error_permille = 4;
    o.snapshot_every_commands = 12;
    o.snapshot_chunk_bytes = 48;
    if (mix == 2) o.kills = 1;
  }
  return o;
}

void RunSeed(uint64_t seed, bool trace) {
  SCOPED_TRACE(ReplayCommand(seed));
  SetCheckFailureContext(ReplayCommand(seed));   // printed if a core invariant aborts
  SimOptions o = OptionsForSeed(seed);
  o.trace = trace;
  SimCluster cluster(o);
  cluster.Run();
  EXPECT_TRUE(cluster.violations().empty())
      << absl::StrJoin(cluster.violations(), "\n") << "\n" << cluster.StatusLines();
  const SimStats& s = cluster.stats();
  if (trace) {
    std::fprintf(
        stderr,
        "seed=%llu ticks=%lld delivered=%lld operations=%lld crashes=%lld "
        "power_cuts=%lld write_errors=%lld kills=%lld partitions=%lld snapshots=%lld "
        "chunks=%lld leader_changes=%lld members_added=%lld members_removed=%lld "
        "leader_handovers=%lld max_chosen=%llu\n",
        static_cast<unsigned long long>(seed), static_cast<long long>(s.ticks),
        static_cast<long long>(s.messages_delivered), static_cast<long long>(s.operations_done),
        static_cast<long long>(s.crashes), static_cast<long long>(s.power_cuts),
        static_cast<long long>(s.write_errors), static_cast<long long>(s.kills),
        static_cast<long long>(s.partitions), static_cast<long long>(s.snapshots_sent),
        static_cast<long long>(s.snapshot_chunks), static_cast<long long>(s.leader_changes),
        static_cast<long long>(s.members_added), static_cast<long long>(s.members_removed),
        static_cast<long long>(s.leader_handovers), static_cast<unsigned long long>(s.max_chosen));
  }
  SetCheckFailureContext("");
}

class Sim3Test : public ::testing::TestWithParam<uint64_t> {};
TEST_P(Sim3Test, SafeLiveAndLinearizableUnderFaults) { RunSeed(GetParam(), false); }
INSTANTIATE_TEST_SUITE_P(Seeds, Sim3Test, ::testing::Range<uint64_t>(1, kSeeds3 + 1));

class Sim5KillsTest : public ::testing::TestWithParam<uint64_t> {};
TEST_P(Sim5KillsTest, SafeLiveAndLinearizableWithTwoReplicasLostForGood) {
  RunSeed(GetParam(), false);
}
INSTANTIATE_TEST_SUITE_P(Seeds, Sim5KillsTest,
                         ::testing::Range<uint64_t>(kSeeds3 + 1, kSeeds5 + 1));

class HarshSim3Test : public ::testing::TestWithParam<uint64_t> {};
TEST_P(HarshSim3Test, SafeLiveAndLinearizableUnderHarshFaults) { RunSeed(GetParam(), false); }
INSTANTIATE_TEST_SUITE_P(Seeds, HarshSim3Test,
                         ::testing::Range<uint64_t>(kSeeds5 + 1, kSeedsHarsh + 1));

// The seeds do what the suite claims: replicas are replaced, leaders among them (which hand
// leadership over before their removal). Counted over the first 100 seeds.
TEST(SimCoverage, SeedsReplaceReplicasAndHandOverLeadership) {
  SimStats total;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SimCluster cluster(OptionsForSeed(seed));
    cluster.Run();
    ASSERT_TRUE(cluster.violations().empty()) << ReplayCommand(seed);
    total.members_added += cluster.stats().members_added;
    total.members_removed += cluster.stats().members_removed;
    total.leader_handovers += cluster.stats().leader_handovers;
  }
  std::printf("100 seeds: members_added=%lld members_removed=%lld leader_handovers=%lld\n",
              static_cast<long long>(total.members_added),
              static_cast<long long>(total.members_removed),
              static_cast<long long>(total.leader_handovers));
  EXPECT_GT(total.members_added, 10);
  EXPECT_GT(total.members_removed, 10);
  EXPECT_GT(total.leader_handovers, 5);
}

// Sweeps PAXOSKV_SIM_SEEDS=<first>-<last> quietly (for hunting bugs beyond the ctest seeds).
TEST(SimSweep, FromEnvironment) {
  const char* env = std::getenv("PAXOSKV_SIM_SEEDS");
  if (env == nullptr) GTEST_SKIP() << "set PAXOSKV_SIM_SEEDS=<first>-<last> to sweep";
  const std::string range(env);
  const size_t dash = range.find('-');
  const uint64_t first = std::stoull(range.substr(0, dash));
  const uint64_t last = dash == std::string::npos ? first : std::stoull(range.substr(dash + 1));
  for (uint64_t seed = first; seed <= last && !HasFailure(); ++seed) RunSeed(seed, false);
}

// Runs only PAXOSKV_SIM_SEED, with one status line per replica per tick on stderr.
TEST(SimSingleSeed, FromEnvironment) {
  const char* env = std::getenv("PAXOSKV_SIM_SEED");
  if (env == nullptr) GTEST_SKIP() << "set PAXOSKV_SIM_SEED=<seed> to replay one seed";
  RunSeed(std::stoull(env), true);
}

}  // namespace
}  // namespace paxoskv::sim

// Seeded simulation of the Multi-Paxos core (see sim_cluster.h for what is checked).
//
// Goal: replicas never choose different values for one slot, apply one common sequence, and
// apply every acknowledged command exactly once, under message loss, duplication, delay and
// reordering, partitions that heal and crash-restart with lazily persisted chosen_through;
// and once faults stop, every client command completes.
// Method: 1,000 seeds over three fault mixes (3 nodes; 5 nodes; 3 nodes under harsh faults),
// each a few hundred commands over a few thousand ticks, checked after every event.
// Reproduce one seed with a per-tick trace: PAXOSKV_SIM_SEED=<seed> ./sim_test
//   --gtest_filter='SimSingleSeed.*'
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/sim/sim_cluster.h"

namespace paxoskv::sim {
namespace {

constexpr uint64_t kSeeds3 = 400;      // seeds [1, 400]: 3 nodes, moderate faults
constexpr uint64_t kSeeds5 = 700;      // seeds [401, 700]: 5 nodes
constexpr uint64_t kSeedsHarsh = 1000;  // seeds [701, 1000]: 3 nodes, harsh faults

// The fault mix is a function of the seed alone, so PAXOSKV_SIM_SEED reproduces any run.
SimOptions OptionsForSeed(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  o.loss_percent = 10;
  o.duplicate_percent = 5;
  o.delay_ticks_min = 0;
  o.delay_ticks_max = 3;
  o.partition_permille = 4;
  o.crash_permille = 4;
  // Seeds beyond the ctest range (sweeps, PAXOSKV_SIM_SEEDS) cycle through four mixes.
  const uint64_t mix = seed <= kSeedsHarsh ? (seed <= kSeeds3 ? 0 : seed <= kSeeds5 ? 1 : 2)
                                           : seed % 4;
  if (mix == 1 || mix == 3) o.nodes = 5;
  if (mix >= 2) {
    o.loss_percent = 25;
    o.duplicate_percent = 10;
    o.delay_ticks_max = 8;
    o.partition_permille = 10;
    o.crash_permille = 10;
    o.snapshot_interval_slots = 8;
  }
  return o;
}

void RunSeed(uint64_t seed, bool trace) {
  SCOPED_TRACE(absl::StrCat("reproduce: PAXOSKV_SIM_SEED=", seed));
  SimOptions o = OptionsForSeed(seed);
  o.trace = trace;
  SimCluster cluster(o);
  cluster.Run();
  EXPECT_TRUE(cluster.violations().empty())
      << absl::StrJoin(cluster.violations(), "\n") << "\n" << cluster.StatusLines();
  const SimStats& s = cluster.stats();
  if (trace) {
    std::fprintf(stderr,
                 "seed=%llu ticks=%lld delivered=%lld acked=%lld reads=%lld crashes=%lld partitions=%lld "
                 "snapshots=%lld leader_changes=%lld max_chosen=%llu\n",
                 static_cast<unsigned long long>(seed), static_cast<long long>(s.ticks),
                 static_cast<long long>(s.messages_delivered),
                 static_cast<long long>(s.commands_acked),
                 static_cast<long long>(s.reads_served), static_cast<long long>(s.crashes),
                 static_cast<long long>(s.partitions),
                 static_cast<long long>(s.snapshots_installed),
                 static_cast<long long>(s.leader_changes),
                 static_cast<unsigned long long>(s.max_chosen));
  }
}

class AgreementSim3Test : public ::testing::TestWithParam<uint64_t> {};
TEST_P(AgreementSim3Test, ChosenAppliedAndAckedAgreeUnderFaults) { RunSeed(GetParam(), false); }
INSTANTIATE_TEST_SUITE_P(Seeds, AgreementSim3Test, ::testing::Range<uint64_t>(1, kSeeds3 + 1));

class AgreementSim5Test : public ::testing::TestWithParam<uint64_t> {};
TEST_P(AgreementSim5Test, ChosenAppliedAndAckedAgreeUnderFaults) { RunSeed(GetParam(), false); }
INSTANTIATE_TEST_SUITE_P(Seeds, AgreementSim5Test,
                         ::testing::Range<uint64_t>(kSeeds3 + 1, kSeeds5 + 1));

class HarshSim3Test : public ::testing::TestWithParam<uint64_t> {};
TEST_P(HarshSim3Test, ChosenAppliedAndAckedAgreeUnderHarshFaults) { RunSeed(GetParam(), false); }
INSTANTIATE_TEST_SUITE_P(Seeds, HarshSim3Test,
                         ::testing::Range<uint64_t>(kSeeds5 + 1, kSeedsHarsh + 1));

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

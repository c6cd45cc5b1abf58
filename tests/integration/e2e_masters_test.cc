// End-to-end tests of several masters sharing a configuration group (a replica group with
// shard id 100, services/master/config_store.h), with the real binaries: conflicting changes
// asked of two masters at once; and the master that drives an AddShard or a RemoveShard, or the
// configuration group's leader, killed (-9) during the move while clients that know every
// master keep working (another master takes a dead driver's migration over and finishes it);
// and a master started before its configuration group is up.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <future>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

constexpr uint32_t kConfigGroup = 100;

// A cluster whose masters share configuration group kConfigGroup; `shards` are started (and
// have leaders), `masters` masters run over `initial` (the first one to start seeds the ring).
void StartCluster(ProcessCluster& cluster, const std::vector<uint32_t>& shards,
                  const std::vector<uint32_t>& initial, int masters) {
  ASSERT_TRUE(cluster.StartShard(kConfigGroup).ok());
  for (uint32_t id : shards) ASSERT_TRUE(cluster.StartShard(id).ok());
  ASSERT_TRUE(cluster.WaitForLeader(kConfigGroup).ok());
  for (uint32_t id : shards) ASSERT_TRUE(cluster.WaitForLeader(id).ok());
  for (int i = 0; i < masters; ++i) {
    absl::Status started = cluster.StartMaster(initial);
    ASSERT_TRUE(started.ok()) << started;
  }
}

ProcessClusterOptions SharedConfigOptions() {
  ProcessClusterOptions options;
  options.config_group = kConfigGroup;
  // A silent driver is replaced after 1 s here (5 s by default), so the tests stay short.
  options.master_flags = {"--takeover_after=1s"};
  return options;
}

// Waits until master `address` reports ring epoch >= `epoch` with no migration running.
bool AwaitEpoch(const std::string& address, uint64_t epoch, absl::Duration timeout) {
  client::KvClient watcher(address, {.retry = false});
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto status = watcher.ClusterStatus({.timeout = absl::Seconds(1)});
    if (status.ok() && status->epoch() >= epoch && !status->migration().running()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // Polling ClusterStatus.
  }
  return false;
}

// Two changes asked at once of two masters.
struct ConflictCase {
  const char* name;
  bool second_removes;  // master B removes shard 1; else it adds shard 3 too
};

class ConflictTest : public ::testing::TestWithParam<ConflictCase> {};

// Goal: two masters asked at once for changes that cannot both be made to the same ring
// (AddShard(3) at both; or AddShard(3) at one and RemoveShard(1) at the other) make exactly
// one of them; the other gets a clear refusal, and both masters end up routing by the same
// ring, with every key readable through either, once, in its owner shard. Then an AddShard of
// a shard already added is refused at the other master too (it learned the new ring).
TEST_P(ConflictTest, ConflictingChangesAtTwoMastersMakeExactlyOne) {
  const ConflictCase& param = GetParam();
  ProcessCluster cluster(SharedConfigOptions());
  ASSERT_NO_FATAL_FAILURE(StartCluster(cluster, {1, 2, 3}, {1, 2}, /*masters=*/2));
  const std::string a = cluster.Master(0).address;
  const std::string b = cluster.Master(1).address;
  const std::vector<std::string> keys = MakeKeys("conflict-", 600);
  auto model = Preload(a, keys, /*writers=*/16);
  ASSERT_FALSE(HasFailure());

  client::KvClient at_a(a, {.retry = false});
  client::KvClient at_b(b, {.retry = false});
  std::future<absl::Status> first = std::async(std::launch::async, [&] {
    return at_a.AddShard(3, cluster.ShardAddresses(3), {.timeout = absl::Seconds(60)}).status();
  });
  std::future<absl::Status> second = std::async(std::launch::async, [&] {
    return param.second_removes
               ? at_b.RemoveShard(1, {.timeout = absl::Seconds(60)}).status()
               : at_b.AddShard(3, cluster.ShardAddresses(3), {.timeout = absl::Seconds(60)})
                     .status();
  });
  const absl::Status at_a_status = first.get();
  const absl::Status at_b_status = second.get();
  std::cout << "AddShard(3) at master A: " << at_a_status << "\n"
            << (param.second_removes ? "RemoveShard(1)" : "AddShard(3)")
            << " at master B: " << at_b_status << "\n";
  ASSERT_NE(at_a_status.ok(), at_b_status.ok()) << "exactly one of the two changes is made";
  const absl::Status& refused = at_a_status.ok() ? at_b_status : at_a_status;
  EXPECT_TRUE(refused.code() == absl::StatusCode::kAborted ||
              refused.code() == absl::StatusCode::kFailedPrecondition ||
              refused.code() == absl::StatusCode::kAlreadyExists)
      << refused;

  ASSERT_TRUE(AwaitEpoch(a, 2, absl::Seconds(30)));
  ASSERT_TRUE(AwaitEpoch(b, 2, absl::Seconds(30)));
  const ring::HashRing ring_a = CurrentRing(a);
  const ring::HashRing ring_b = CurrentRing(b);
  EXPECT_EQ(ring_a.epoch(), 2u);
  EXPECT_EQ(ring_a.shards(), ring_b.shards());
  const bool removed = param.second_removes && at_b_status.ok();
  EXPECT_EQ(ring_a.shards(),
            removed ? (std::vector<uint32_t>{2}) : (std::vector<uint32_t>{1, 2, 3}));
  std::vector<lincheck::Operation> history;
  EXPECT_EQ(FinalReads(a, keys, &history), model);
  EXPECT_EQ(FinalReads(b, keys, &history), model);
  ExpectKeysInOwnerShards(cluster, ring_a, model);
  if (!removed) {
    EXPECT_EQ(at_b.AddShard(3, cluster.ShardAddresses(3)).status().code(),
              absl::StatusCode::kAlreadyExists);
  }
}

INSTANTIATE_TEST_SUITE_P(AtOnce, ConflictTest,
                         ::testing::Values(ConflictCase{"TheSameShardAddedAtBoth", false},
                                           ConflictCase{"AnAddAndARemove", true}),
                         [](const ::testing::TestParamInfo<ConflictCase>& test) {
                           return test.param.name;
                         });

// Which migration the kill test runs, what it kills and when.
struct KillCase {
  const char* name;
  bool remove;              // RemoveShard(2) from {1, 2}; else AddShard(2) to {1}
  double kill_at_progress;  // kill once this share of the ranges has moved (0: at once)
  // Kill the configuration group's leader instead of the master that drives the move.
  bool kill_config_leader;
};

class KillDuringMoveTest : public ::testing::TestWithParam<KillCase> {};

// Goal: the master driving an AddShard or a RemoveShard dies (-9) partway; another master
// takes the migration over once the driver has been silent for --takeover_after and finishes
// it. Or the configuration group's leader dies: the driver's next write to the group goes to
// the new leader and the driver finishes the move itself (its call answers OK). Either way
// every key is readable, exactly once, in the shard the final ring names; clients that were
// given both masters saw no error; the history is linearizable.
TEST_P(KillDuringMoveTest, TheMoveFinishesAndClientsSeeNoError) {
  const KillCase& param = GetParam();
  ProcessCluster cluster(SharedConfigOptions());
  const std::vector<uint32_t> initial =
      param.remove ? std::vector<uint32_t>{1, 2} : std::vector<uint32_t>{1};
  ASSERT_NO_FATAL_FAILURE(StartCluster(cluster, {1, 2}, initial, /*masters=*/2));
  const std::string driver = cluster.Master(0).address;
  const std::string survivor = cluster.Master(1).address;
  const std::vector<std::string> keys = MakeKeys("kill-", 1000);
  auto model = Preload(driver, keys, /*writers=*/16);
  ASSERT_FALSE(HasFailure());

  // Clients know both masters (the survivor first, so the kill does not cost them a retry
  // round) and work on keys of their own, apart from the preloaded ones.
  const std::vector<std::string> load_keys = MakeKeys("load-", 40);
  HistoryLoad load(absl::StrCat(survivor, ",", driver),
                   {.clients = 4, .keys = load_keys, .op_timeout = absl::Seconds(30)});
  load.Start();
  ASSERT_TRUE(load.WaitForOps(50, absl::Seconds(60)));

  client::KvClient admin(driver, {.retry = false});
  std::future<absl::Status> change = std::async(std::launch::async, [&] {
    return param.remove
               ? admin.RemoveShard(2, {.timeout = absl::Seconds(120)}).status()
               : admin.AddShard(2, cluster.ShardAddresses(2), {.timeout = absl::Seconds(120)})
                     .status();
  });
  // The survivor sees the migration in the configuration group: kill once the driver has
  // moved the case's share of the ranges.
  client::KvClient watcher(survivor, {.retry = false});
  bool killed = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!killed && absl::Now() < deadline) {
    auto status = watcher.ClusterStatus({.timeout = absl::Milliseconds(500)});
    if (status.ok() && status->migration().running() &&
        status->migration().ranges_moved() >=
            param.kill_at_progress * status->migration().ranges_to_move()) {
      std::string victim = driver;
      if (param.kill_config_leader) {
        absl::StatusOr<std::string> leader = cluster.WaitForLeader(kConfigGroup);
        ASSERT_TRUE(leader.ok()) << leader.status();
        victim = *leader;
      }
      for (Process* process : {&cluster.Master(0), &cluster.Master(1)}) {
        if (process->address == victim) {
          ASSERT_TRUE(cluster.Kill(*process, SIGKILL).ok());
        }
      }
      for (Process* replica : cluster.ShardReplicas(kConfigGroup)) {
        if (replica->address == victim) {
          ASSERT_TRUE(cluster.Kill(*replica, SIGKILL).ok());
        }
      }
      killed = true;
      std::cout << "killed " << (param.kill_config_leader ? "the group's leader" : "the driver")
                << " at " << status->migration().ranges_moved() << "/"
                << status->migration().ranges_to_move() << " ranges, "
                << status->migration().keys_moved() << " keys\n";
    }
    if (!killed && status.ok() && status->epoch() >= 2) break;  // finished too soon
  }
  const absl::Status changed = change.get();
  if (param.kill_config_leader) {
    EXPECT_TRUE(changed.ok()) << changed;
  } else {
    EXPECT_FALSE(changed.ok()) << "the killed master answered OK";
  }
  ASSERT_TRUE(killed) << "the migration finished before it could be interrupted";

  ASSERT_TRUE(AwaitEpoch(survivor, 2, absl::Seconds(120)))
      << "the surviving master did not finish the migration";
  const int64_t at_switch = load.completed();
  ASSERT_TRUE(load.WaitForOps(at_switch + 50, absl::Seconds(60)));
  load.Stop();
  const auto failures = load.failures();
  EXPECT_TRUE(failures.empty()) << failures.size()
                                << " failed ops; first: " << lincheck::Describe(failures.front());

  std::vector<lincheck::Operation> history = load.history();
  std::map<std::string, std::optional<std::string>> final_values =
      FinalReads(survivor, load_keys, &history);
  ExpectLinearizable(history);
  // The preloaded keys: each once, in its owner shard, with its value (scans and gets at the
  // shards).
  const ring::HashRing ring = CurrentRing(survivor);
  EXPECT_EQ(ring.shards(),
            param.remove ? (std::vector<uint32_t>{1}) : (std::vector<uint32_t>{1, 2}));
  for (const auto& [key, value] : model) final_values[key] = value;
  ExpectKeysInOwnerShards(cluster, ring, final_values);
}

// Goal: a master started while its configuration group is down (compose and local-cluster
// start everything at once) waits for the group instead of exiting, and serves once the group
// has a leader. Method: the group's replicas are killed before the master starts; 3 s later,
// with the master still waiting, they are restarted; the master must then answer
// ClusterStatus and a put and get through it. (Every process is spawned from this thread:
// ProcessCluster's children die with the thread that spawned them.)
TEST(MasterStartTest, WaitsForAConfigurationGroupThatIsNotUpYet) {
  ProcessCluster cluster(SharedConfigOptions());
  ASSERT_TRUE(cluster.StartShard(kConfigGroup).ok());
  ASSERT_TRUE(cluster.StartShard(1).ok());
  ASSERT_TRUE(cluster.WaitForLeader(1).ok());
  for (Process* replica : cluster.ShardReplicas(kConfigGroup)) {
    ASSERT_TRUE(cluster.Kill(*replica).ok());
  }
  const absl::Status early = cluster.StartMaster({1}, absl::Now() + absl::Seconds(3));
  EXPECT_FALSE(early.ok()) << "the master answered with its configuration group down";
  ASSERT_TRUE(cluster.IsRunning(cluster.Master())) << "the master did not wait for the group";
  for (Process* replica : cluster.ShardReplicas(kConfigGroup)) {
    ASSERT_TRUE(cluster.Restart(*replica).ok());
  }
  const absl::Status started = cluster.WaitForMaster(absl::Now() + absl::Seconds(40));
  ASSERT_TRUE(started.ok()) << started;
  client::KvClient kv(cluster.master_address());
  ASSERT_TRUE(kv.Put("after-the-wait", "v").ok());
  absl::StatusOr<std::string> got = kv.Get("after-the-wait");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "v");
}

INSTANTIATE_TEST_SUITE_P(
    Kills, KillDuringMoveTest,
    ::testing::Values(KillCase{"AddShardsDriverKilledAtOnce", false, 0.0, false},
                      KillCase{"AddShardsDriverKilledHalfway", false, 0.5, false},
                      KillCase{"RemoveShardsDriverKilledHalfway", true, 0.5, false},
                      KillCase{"ConfigurationLeaderKilledDuringAnAddShard", false, 0.1, true}),
    [](const ::testing::TestParamInfo<KillCase>& test) { return test.param.name; });

}  // namespace
}  // namespace paxoskv::testing

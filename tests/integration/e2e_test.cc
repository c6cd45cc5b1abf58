// End-to-end tests with the real binaries (paxoskv-replica ×3 per shard, a configuration group
// of 3 more, and 3 paxoskv-master sharing it, as processes on 127.0.0.1): the seed's four
// scenarios (1 client/1 shard, 1 client/2 shards, 1 client + addShard, 2 clients/3 shards),
// addShard and removeShard under concurrent load (the load through another master than the
// one that runs the change).
// Each checks
// every final value, the recorded history with the linearizability checker, and (where
// shards change) that every key is stored exactly in the shard the ring names.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

constexpr absl::Duration kOpTimeout = absl::Seconds(15);
constexpr uint32_t kConfigGroup = 100;
constexpr int kMasters = 3;

// The masters share configuration group kConfigGroup.
ProcessClusterOptions Options() {
  ProcessClusterOptions options;
  options.config_group = kConfigGroup;
  return options;
}

// Starts the configuration group and shards `ids` (waiting for each leader) and kMasters
// masters over `ring_ids`.
void StartCluster(ProcessCluster& cluster, const std::vector<uint32_t>& ids,
                  const std::vector<uint32_t>& ring_ids) {
  ASSERT_TRUE(cluster.StartShard(kConfigGroup).ok());
  for (uint32_t id : ids) ASSERT_TRUE(cluster.StartShard(id).ok());
  for (uint32_t id : ids) {
    auto leader = cluster.WaitForLeader(id);
    ASSERT_TRUE(leader.ok()) << leader.status();
  }
  ASSERT_TRUE(cluster.WaitForLeader(kConfigGroup).ok());
  for (int i = 0; i < kMasters; ++i) {
    absl::Status master = cluster.StartMaster(ring_ids);
    ASSERT_TRUE(master.ok()) << master;
  }
}

// Every master, the last first: clients that start at another master than the first, which
// runs the admin calls.
std::string LoadMasters(ProcessCluster& cluster) {
  std::string masters;
  for (int i = kMasters - 1; i >= 0; --i) {
    masters += (masters.empty() ? "" : ",") + cluster.Master(i).address;
  }
  return masters;
}

// One client runs a fixed sequence of puts, gets and deletes; every answer is compared with
// a sequential model, then all keys are read back.
void RunSequentialClient(ProcessCluster& cluster, int keys_count, int rounds) {
  client::KvClient kv(cluster.master_addresses());
  std::map<std::string, std::optional<std::string>> model;
  std::vector<lincheck::Operation> history;
  const std::vector<std::string> keys = MakeKeys("seq-", keys_count);
  for (const auto& key : keys) model[key] = std::nullopt;
  for (int round = 0; round < rounds; ++round) {
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string& key = keys[i];
      const std::string value = absl::StrCat("v", round, "-", i);
      lincheck::Operation put = RecordedPut(kv, key, value, 0, kOpTimeout);
      ASSERT_EQ(put.status, "OK") << key;
      model[key] = value;
      history.push_back(put);
      lincheck::Operation get = RecordedGet(kv, key, 0, kOpTimeout);
      ASSERT_EQ(get.status, "OK") << key;
      EXPECT_EQ(get.output, model[key]) << key;
      history.push_back(get);
      if ((i + static_cast<size_t>(round)) % 5 == 0) {
        lincheck::Operation del = RecordedDelete(kv, key, 0, kOpTimeout);
        ASSERT_EQ(del.status, "OK") << key;
        EXPECT_EQ(del.deleted, std::optional<bool>(true)) << key;
        model[key] = std::nullopt;
        history.push_back(del);
        lincheck::Operation again = RecordedDelete(kv, key, 0, kOpTimeout);
        EXPECT_EQ(again.deleted, std::optional<bool>(false)) << key;
        history.push_back(again);
      }
    }
  }
  auto final_values = FinalReads(cluster.master_address(), keys, &history);
  EXPECT_EQ(final_values, model);
  ExpectLinearizable(history);
  ExpectKeysInOwnerShards(cluster, CurrentRing(cluster.master_address()), model);
}

TEST(EndToEndTest, OneClientOneShard) {
  ProcessCluster cluster(Options());
  ASSERT_NO_FATAL_FAILURE(StartCluster(cluster, {1}, {1}));
  RunSequentialClient(cluster, /*keys_count=*/20, /*rounds=*/3);
}

TEST(EndToEndTest, OneClientTwoShards) {
  ProcessCluster cluster(Options());
  ASSERT_NO_FATAL_FAILURE(StartCluster(cluster, {1, 2}, {1, 2}));
  // The keys really spread over both shards.
  ring::HashRing ring = CurrentRing(cluster.master_address());
  std::map<uint32_t, int> per_shard;
  for (const auto& key : MakeKeys("seq-", 20)) per_shard[ring.OwnerOf(key)]++;
  EXPECT_EQ(per_shard.size(), 2u);
  RunSequentialClient(cluster, /*keys_count=*/20, /*rounds=*/3);
}

TEST(EndToEndTest, OneClientAddShard) {
  ProcessCluster cluster(Options());
  ASSERT_NO_FATAL_FAILURE(StartCluster(cluster, {1, 2}, {1}));
  client::KvClient kv(cluster.master_address());
  std::vector<lincheck::Operation> history;
  std::map<std::string, std::optional<std::string>> model;
  const std::vector<std::string> keys = MakeKeys("add-", 60);
  for (const auto& key : keys) {
    lincheck::Operation put = RecordedPut(kv, key, "before-" + key, 0, kOpTimeout);
    ASSERT_EQ(put.status, "OK");
    model[key] = put.value;
    history.push_back(put);
  }
  const ring::HashRing before = CurrentRing(cluster.master_address());
  auto added = kv.AddShard(2, cluster.ShardAddresses(2), {.timeout = absl::Seconds(60)});
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->epoch(), before.epoch() + 1);
  const ring::HashRing after = CurrentRing(cluster.master_address());
  EXPECT_EQ(after.shards(), (std::vector<uint32_t>{1, 2}));
  int moving = 0;
  for (const auto& key : keys) moving += after.OwnerOf(key) == 2 ? 1 : 0;
  EXPECT_GT(moving, 0);
  EXPECT_EQ(added->keys_moved(), static_cast<uint64_t>(moving));
  // Writes after the switch land in the new ring.
  for (size_t i = 0; i < keys.size(); i += 3) {
    lincheck::Operation put = RecordedPut(kv, keys[i], "after-" + keys[i], 0, kOpTimeout);
    ASSERT_EQ(put.status, "OK");
    model[keys[i]] = put.value;
    history.push_back(put);
  }
  auto final_values = FinalReads(cluster.master_address(), keys, &history);
  EXPECT_EQ(final_values, model);
  ExpectLinearizable(history);
  ExpectKeysInOwnerShards(cluster, after, model);
}

TEST(EndToEndTest, TwoClientsThreeShards) {
  ProcessCluster cluster(Options());
  ASSERT_NO_FATAL_FAILURE(StartCluster(cluster, {1, 2, 3}, {1, 2, 3}));
  const std::vector<std::string> keys = MakeKeys("two-", 12);
  HistoryLoad load(LoadMasters(cluster), {.clients = 2, .keys = keys});
  load.Start();
  ASSERT_TRUE(load.WaitForOps(300, absl::Seconds(120))) << "ops done: " << load.completed();
  load.Stop();
  EXPECT_TRUE(load.failures().empty())
      << "first failure: " << lincheck::Describe(load.failures().front());
  std::vector<lincheck::Operation> history = load.history();
  auto final_values = FinalReads(cluster.master_address(), keys, &history);
  ExpectLinearizable(history);
  ExpectKeysInOwnerShards(cluster, CurrentRing(cluster.master_address()), final_values);
}

// Goal: adding a shard while clients keep reading and writing is invisible to them: no
// error, no lost write, a linearizable history, and afterwards every key in the shard the
// new ring names. Method: 4 clients on 40 keys; AddShard once 150 ops are done; 150 more ops
// after it returns.
TEST(EndToEndTest, AddShardUnderConcurrentLoad) {
  ProcessCluster cluster(Options());
  ASSERT_NO_FATAL_FAILURE(StartCluster(cluster, {1, 2, 3}, {1, 2}));
  const std::vector<std::string> keys = MakeKeys("load-", 40);
  HistoryLoad load(LoadMasters(cluster), {.clients = 4, .keys = keys, .delete_percent = 5});
  load.Start();
  ASSERT_TRUE(load.WaitForOps(150, absl::Seconds(120))) << "ops done: " << load.completed();
  client::KvClient admin(cluster.master_address());
  auto added = admin.AddShard(3, cluster.ShardAddresses(3), {.timeout = absl::Seconds(120)});
  ASSERT_TRUE(added.ok()) << added.status();
  const int64_t after_add = load.completed();
  ASSERT_TRUE(load.WaitForOps(after_add + 150, absl::Seconds(120)));
  load.Stop();
  EXPECT_TRUE(load.failures().empty())
      << load.failures().size() << " failures; first: "
      << lincheck::Describe(load.failures().front());
  std::vector<lincheck::Operation> history = load.history();
  auto final_values = FinalReads(cluster.master_address(), keys, &history);
  ExpectLinearizable(history);
  const ring::HashRing ring = CurrentRing(cluster.master_address());
  EXPECT_EQ(ring.shards(), (std::vector<uint32_t>{1, 2, 3}));
  ExpectKeysInOwnerShards(cluster, ring, final_values);
}

// Goal: removing a shard while clients keep reading and writing is invisible to them, as
// adding one is, and afterwards the removed group holds no key and serves none. Method: 4
// clients on 40 keys over 3 shards; RemoveShard(2) once 150 ops are done; 150 more ops after.
TEST(EndToEndTest, RemoveShardUnderConcurrentLoad) {
  ProcessCluster cluster(Options());
  ASSERT_NO_FATAL_FAILURE(StartCluster(cluster, {1, 2, 3}, {1, 2, 3}));
  const std::vector<std::string> keys = MakeKeys("load-", 40);
  const ring::HashRing before = CurrentRing(cluster.master_address());
  int leaving = 0;
  for (const auto& key : keys) leaving += before.OwnerOf(key) == 2 ? 1 : 0;
  ASSERT_GT(leaving, 0);
  HistoryLoad load(LoadMasters(cluster), {.clients = 4, .keys = keys, .delete_percent = 5});
  load.Start();
  ASSERT_TRUE(load.WaitForOps(150, absl::Seconds(120))) << "ops done: " << load.completed();
  client::KvClient admin(cluster.master_address());
  auto removed = admin.RemoveShard(2, {.timeout = absl::Seconds(120)});
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->epoch(), before.epoch() + 1);
  const int64_t after_remove = load.completed();
  ASSERT_TRUE(load.WaitForOps(after_remove + 150, absl::Seconds(120)));
  load.Stop();
  EXPECT_TRUE(load.failures().empty())
      << load.failures().size()
      << " failures; first: " << lincheck::Describe(load.failures().front());
  std::vector<lincheck::Operation> history = load.history();
  auto final_values = FinalReads(cluster.master_address(), keys, &history);
  ExpectLinearizable(history);
  const ring::HashRing ring = CurrentRing(cluster.master_address());
  EXPECT_EQ(ring.shards(), (std::vector<uint32_t>{1, 3}));
  ExpectKeysInOwnerShards(cluster, ring, final_values);
  client::ReplicaClient gone(cluster.ShardAddresses(2));
  EXPECT_TRUE(ScanShard(gone).empty());
  for (const auto& key : keys) {
    if (before.OwnerOf(key) != 2) continue;
    auto got = gone.Get(key, {.timeout = absl::Seconds(10)});
    EXPECT_FALSE(got.ok() || got.status().code() == absl::StatusCode::kNotFound)
        << "the removed shard answered " << key << ": " << got.status();
  }
}

}  // namespace
}  // namespace paxoskv::testing

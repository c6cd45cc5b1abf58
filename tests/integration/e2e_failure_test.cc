// End-to-end failure tests with the real binaries: the master killed (-9) in the middle of
// an addShard migration and restarted, one of two masters killed under client load, a shard
// leader killed under client load, a replica restarted on a wiped directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

void StartShards(ProcessCluster& cluster, const std::vector<uint32_t>& ids) {
  for (uint32_t id : ids) ASSERT_TRUE(cluster.StartShard(id).ok());
  for (uint32_t id : ids) {
    auto leader = cluster.WaitForLeader(id);
    ASSERT_TRUE(leader.ok()) << leader.status();
  }
}

// Shard `shard`'s leader now or, with leader = false, one of its followers.
Process* FindReplica(ProcessCluster& cluster, uint32_t shard, bool leader) {
  auto address = cluster.WaitForLeader(shard);
  EXPECT_TRUE(address.ok()) << address.status();
  if (!address.ok()) return nullptr;
  for (Process* replica : cluster.ShardReplicas(shard)) {
    if ((replica->address == *address) == leader) return replica;
  }
  return nullptr;
}

// Goal: a master killed with SIGKILL in the middle of addShard resumes the durable migration
// plan on restart and finishes it: every key keeps its value and ends in exactly the shard
// the new ring names (nothing lost, nothing left behind in the old shard). Method: 1500
// keys in shard 1; AddShard(2) from a thread; poll ClusterStatus until the migration is
// running, kill -9 the master, restart it, await the new epoch, check every key.
TEST(EndToEndFailureTest, MasterKilledMidMigrationResumesOnRestart) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartShards(cluster, {1, 2}));
  ASSERT_TRUE(cluster.StartMaster({1}).ok());
  const std::string master = cluster.master_address();
  const std::vector<std::string> keys = MakeKeys("mig-", 1500);
  auto model = Preload(master, keys, /*writers=*/16);
  ASSERT_FALSE(HasFailure());

  std::atomic<bool> add_done{false};
  absl::Status add_status;
  std::thread adder([&] {
    client::KvClient kv(master);
    add_status = kv.AddShard(2, cluster.ShardAddresses(2), {.timeout = absl::Seconds(120)})
                     .status();
    add_done = true;
  });
  // Poll (tight loop on an RPC, bounded by the deadline) until the migration runs.
  client::KvClient watcher(master, {.retry = false});
  bool observed_running = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!add_done && absl::Now() < deadline) {
    auto status = watcher.ClusterStatus({.timeout = absl::Milliseconds(500)});
    if (status.ok() && status->migration().running() && status->migration().shard_id() == 2) {
      observed_running = true;
      break;
    }
  }
  absl::Status killed = absl::OkStatus();
  if (observed_running) killed = cluster.Kill(cluster.Master(), SIGKILL);
  adder.join();
  ASSERT_TRUE(observed_running)
      << "the migration finished before it could be interrupted: " << add_status;
  ASSERT_TRUE(killed.ok()) << killed;
  EXPECT_FALSE(add_status.ok()) << "AddShard returned OK although the master was killed";

  ASSERT_TRUE(cluster.Restart(cluster.Master()).ok());
  ASSERT_TRUE(cluster.WaitForMaster().ok());
  // Await the resumed migration's end (epoch 2, nothing running).
  bool finished = false;
  const absl::Time resume_deadline = absl::Now() + absl::Seconds(120);
  while (absl::Now() < resume_deadline) {
    auto status = watcher.ClusterStatus({.timeout = absl::Seconds(1)});
    if (status.ok() && status->epoch() >= 2 && !status->migration().running()) {
      finished = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // Polling ClusterStatus.
  }
  ASSERT_TRUE(finished) << "the migration did not finish after the master restarted";

  std::vector<lincheck::Operation> history;
  auto final_values = FinalReads(master, keys, &history);
  EXPECT_EQ(final_values, model);
  const ring::HashRing ring = CurrentRing(master);
  EXPECT_EQ(ring.shards(), (std::vector<uint32_t>{1, 2}));
  ExpectKeysInOwnerShards(cluster, ring, model);
  // A second AddShard of the same shard is refused: it is in the ring now.
  client::KvClient kv(master);
  EXPECT_EQ(kv.AddShard(2, cluster.ShardAddresses(2)).status().code(),
            absl::StatusCode::kAlreadyExists);
}

// Goal: clients that know several masters do not notice one of them dying: each call goes on
// at the next master with the same (client_id, seq), so no operation fails, nothing is applied
// twice (the history stays linearizable), and the slowest operation around the kill is short.
// Method: 2 masters over the same 2 shards (one ring, no change to it); 4 clients given both
// addresses, each starting at the first; kill -9 the first master after 100 ops; await 150
// more.
TEST(EndToEndFailureTest, AMasterKilledUnderLoadIsInvisibleToClientsThatKnowAnother) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartShards(cluster, {1, 2}));
  ASSERT_TRUE(cluster.StartMaster({1, 2}).ok());
  ASSERT_TRUE(cluster.StartMaster({1, 2}).ok());
  const std::string masters = cluster.master_addresses();
  ASSERT_EQ(client::KvClient(masters).masters().size(), 2u);
  const std::vector<std::string> keys = MakeKeys("masters-", 30);
  HistoryLoad load(masters, {.clients = 4, .keys = keys});
  load.Start();
  ASSERT_TRUE(load.WaitForOps(100, absl::Seconds(120)));
  const int64_t kill_ns = SteadyNowNs();
  ASSERT_TRUE(cluster.Kill(cluster.Master(0), SIGKILL).ok());
  const int64_t at_kill = load.completed();
  ASSERT_TRUE(load.WaitForOps(at_kill + 150, absl::Seconds(120)))
      << "no progress after the first master died: " << load.completed() - at_kill << " ops";
  load.Stop();

  const auto failures = load.failures();
  EXPECT_TRUE(failures.empty()) << failures.size()
                                << " failed ops; first: " << lincheck::Describe(failures.front());
  std::vector<lincheck::Operation> history = load.history();
  int64_t slowest_ns = 0;
  for (const auto& op : history) {
    if (op.return_ns >= kill_ns && op.return_ns != lincheck::kNeverReturned) {
      slowest_ns = std::max(slowest_ns, op.return_ns - op.call_ns);
    }
  }
  RecordProperty("slowest_op_after_kill_ms", std::to_string(slowest_ns / 1000000));
  std::cout << "slowest operation ending after the kill: " << slowest_ns / 1000000 << " ms\n";
  const std::string survivor = cluster.Master(1).address;
  auto final_values = FinalReads(survivor, keys, &history);
  ExpectLinearizable(history);
  ExpectKeysInOwnerShards(cluster, CurrentRing(survivor), final_values);
}

// Goal: killing a shard's leader under load is invisible to clients: the master re-routes to
// the new leader within the clients' deadline, so no operation fails, and the history stays
// linearizable. Method: 4 clients on 30 keys over 2 shards; kill -9 shard 1's leader after
// 100 ops, await 150 more ops, restart the old leader, await 50 more.
TEST(EndToEndFailureTest, ShardLeaderKilledUnderLoadIsInvisibleToClients) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartShards(cluster, {1, 2}));
  ASSERT_TRUE(cluster.StartMaster({1, 2}).ok());
  const std::vector<std::string> keys = MakeKeys("fail-", 30);
  HistoryLoad load(cluster.master_address(), {.clients = 4, .keys = keys});
  load.Start();
  ASSERT_TRUE(load.WaitForOps(100, absl::Seconds(120)));

  Process* victim = FindReplica(cluster, 1, /*leader=*/true);
  ASSERT_NE(victim, nullptr);
  const std::string leader = victim->address;
  ASSERT_TRUE(cluster.Kill(*victim, SIGKILL).ok());
  const int64_t at_kill = load.completed();
  ASSERT_TRUE(load.WaitForOps(at_kill + 150, absl::Seconds(120)))
      << "no progress after the leader died: " << load.completed() - at_kill << " ops";
  auto new_leader = cluster.WaitForLeader(1);
  ASSERT_TRUE(new_leader.ok()) << new_leader.status();
  EXPECT_NE(*new_leader, leader);

  ASSERT_TRUE(cluster.Restart(*victim).ok());
  const int64_t at_restart = load.completed();
  ASSERT_TRUE(load.WaitForOps(at_restart + 50, absl::Seconds(120)));
  load.Stop();

  const auto failures = load.failures();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed ops; first: "
                                << lincheck::Describe(failures.front());
  std::vector<lincheck::Operation> history = load.history();
  auto final_values = FinalReads(cluster.master_address(), keys, &history);
  ExpectLinearizable(history);
  ExpectKeysInOwnerShards(cluster, CurrentRing(cluster.master_address()), final_values);
}

// Goal: a replica restarted on an empty data directory under the id of a member is not that
// member (it forgot its promises and acceptances): the shard refuses it, it takes no part,
// says why in its log, and clients never notice. Method: 2 clients on 20 keys; kill -9 a
// follower of shard 1, wipe its directory, restart it with the same flags; await 150 more ops.
TEST(EndToEndFailureTest, AReplicaRestartedOnAWipedDirectoryIsRefusedAndChangesNothing) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartShards(cluster, {1}));
  ASSERT_TRUE(cluster.StartMaster({1}).ok());
  const std::vector<std::string> keys = MakeKeys("wipe-", 20);
  HistoryLoad load(cluster.master_address(), {.clients = 2, .keys = keys});
  load.Start();
  ASSERT_TRUE(load.WaitForOps(100, absl::Seconds(120)));

  Process* victim = FindReplica(cluster, 1, /*leader=*/false);
  ASSERT_NE(victim, nullptr);
  auto before = cluster.ReplicaStatus(*victim);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_GT(before->chosen_slot(), 0u);
  ASSERT_TRUE(cluster.Kill(*victim, SIGKILL).ok());
  std::filesystem::remove_all(victim->data_dir);
  std::filesystem::create_directories(victim->data_dir);
  ASSERT_TRUE(cluster.Restart(*victim).ok());

  // It gets a new incarnation, learns nothing and refuses what the shard sends its old one.
  bool refused = false;
  paxoskv::v1::ReplicaStatus after;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!refused && absl::Now() < deadline) {
    auto status = cluster.ReplicaStatus(*victim);
    if (status.ok()) {
      after = *status;
      refused = after.refused_messages() > 0;
    }
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // Polling.
  }
  ASSERT_TRUE(refused) << "the wiped replica refused nothing: " << after.ShortDebugString();
  EXPECT_NE(after.incarnation(), before->incarnation());
  const int64_t at_restart = load.completed();
  ASSERT_TRUE(load.WaitForOps(at_restart + 150, absl::Seconds(120)));
  load.Stop();
  after = *cluster.ReplicaStatus(*victim);
  EXPECT_EQ(after.chosen_slot(), 0u) << "the wiped replica took part: " << after.ShortDebugString();
  std::ifstream log(victim->log_path);
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("it is not that member"), std::string::npos)
      << "the wiped replica's log does not say why it is refused";

  const auto failures = load.failures();
  EXPECT_TRUE(failures.empty()) << failures.size()
                                << " failed ops; first: " << lincheck::Describe(failures.front());
  std::vector<lincheck::Operation> history = load.history();
  auto final_values = FinalReads(cluster.master_address(), keys, &history);
  ExpectLinearizable(history);
}

}  // namespace
}  // namespace paxoskv::testing

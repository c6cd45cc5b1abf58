// Goal: the real paxoskv-replica binary, three processes on 127.0.0.1, survives kill -9 of
// its leader (a new leader serves writes; the time it took is printed), lets the killed
// replica catch up after a restart, and keeps every acknowledged write across a kill -9 of
// all three processes followed by a restart.
// Method: tests/integration ProcessCluster starts the binaries; ShardRouter routes commands
// like the master does.
#include <csignal>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/integration/process_cluster.h"
#include "tests/replica/shard_router.h"

namespace paxoskv::testing {
namespace {

constexpr uint64_t kClient = 77;

class ReplicaProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status started = cluster_.StartShard(1);
    ASSERT_TRUE(started.ok()) << started;
    ASSERT_TRUE(cluster_.WaitForLeader(1).ok()) << cluster_.LogTails();
    router_ = std::make_unique<ShardRouter>(cluster_.ShardAddresses(1));
  }

  Process* LeaderProcess() {
    auto leader = cluster_.WaitForLeader(1);
    if (!leader.ok()) return nullptr;
    for (Process* process : cluster_.ShardReplicas(1)) {
      if (process->address == *leader) return process;
    }
    return nullptr;
  }

  void WriteKeys(int from, int to) {
    for (int i = from; i < to; ++i) {
      auto result = router_->Execute(
          ShardRouter::Put(absl::StrCat("key", i), absl::StrCat("value", i), kClient, i + 1));
      ASSERT_TRUE(result.ok()) << "put key" << i << ": " << result.status();
    }
  }

  void ExpectKeys(int from, int to) {
    for (int i = from; i < to; ++i) {
      auto result = router_->Execute(ShardRouter::Get(absl::StrCat("key", i)));
      ASSERT_TRUE(result.ok()) << "get key" << i << ": " << result.status();
      EXPECT_EQ(result->value(), absl::StrCat("value", i));
    }
  }

  ProcessCluster cluster_;
  std::unique_ptr<ShardRouter> router_;
};

TEST_F(ReplicaProcessTest, KillLeaderThenNewLeaderServesAndOldOneCatchesUp) {
  WriteKeys(0, 100);
  Process* leader = LeaderProcess();
  ASSERT_NE(leader, nullptr);
  ASSERT_TRUE(cluster_.Kill(*leader, SIGKILL).ok());
  const absl::Time killed = absl::Now();
  // The first write after the kill is acknowledged by a new leader.
  auto result = router_->Execute(ShardRouter::Put("after-kill", "x", kClient, 1000));
  ASSERT_TRUE(result.ok()) << result.status() << cluster_.LogTails();
  std::printf("failover_ms=%.0f (kill -9 of the leader to the first acknowledged write)\n",
              absl::ToDoubleMilliseconds(absl::Now() - killed));
  WriteKeys(100, 150);
  ExpectKeys(0, 150);

  ASSERT_TRUE(cluster_.Restart(*leader).ok());
  Process* current = LeaderProcess();
  ASSERT_NE(current, nullptr);
  auto leader_status = cluster_.ReplicaStatus(*current);
  ASSERT_TRUE(leader_status.ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(15);
  uint64_t applied = 0;
  while (absl::Now() < deadline) {
    auto status = cluster_.ReplicaStatus(*leader);
    if (status.ok()) applied = status->applied_slot();
    if (applied >= leader_status->applied_slot()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(applied, leader_status->applied_slot()) << cluster_.LogTails();
}

TEST_F(ReplicaProcessTest, EveryAcknowledgedWriteSurvivesKillingAllThree) {
  WriteKeys(0, 200);
  for (Process* process : cluster_.ShardReplicas(1)) {
    ASSERT_TRUE(cluster_.Kill(*process, SIGKILL).ok());
  }
  for (Process* process : cluster_.ShardReplicas(1)) {
    ASSERT_TRUE(cluster_.Restart(*process).ok());
  }
  ASSERT_TRUE(cluster_.WaitForLeader(1).ok()) << cluster_.LogTails();
  ExpectKeys(0, 200);
}

TEST_F(ReplicaProcessTest, CleanStopOnSigterm) {
  WriteKeys(0, 10);
  Process& replica = cluster_.Replica(1, 1);
  ASSERT_TRUE(cluster_.Kill(replica, SIGTERM).ok());
  EXPECT_FALSE(replica.running());
  ASSERT_TRUE(cluster_.Restart(replica).ok());
  ExpectKeys(0, 10);
}

}  // namespace
}  // namespace paxoskv::testing

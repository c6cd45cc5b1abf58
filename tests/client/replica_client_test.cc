// Tests of services/client ReplicaClient against in-process fake replicas
// (tests/master/fake_replica.h): it follows leader hints, but at most hint_hops_max of them
// per round; it fails over past dead and leaderless replicas; a final answer (a stale seq) is
// returned at once; an unreachable group fails UNAVAILABLE by the deadline.
#include <string>

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "services/client/kv_client.h"
#include "tests/master/fake_replica.h"

namespace paxoskv::client {
namespace {

using master::testing::DeadAddress;
using master::testing::FakeReplica;
namespace pb = paxoskv::v1;

pb::Command Put(const std::string& key, const std::string& value, uint64_t client, uint64_t seq) {
  pb::Command command;
  command.set_op(pb::OP_PUT);
  command.set_key(key);
  command.set_value(value);
  command.set_client_id(client);
  command.set_seq(seq);
  return command;
}

TEST(ReplicaClientTest, FollowsTheLeaderHintAndRemembersTheLeader) {
  FakeReplica r1(1), r2(1), r3(1);
  r1.SetMode(FakeReplica::Mode::kFollower, r3.address());
  r2.SetMode(FakeReplica::Mode::kFollower, r3.address());
  ReplicaClient client({r1.address(), r2.address(), r3.address()});
  ASSERT_TRUE(client.Put("a", "1").ok());
  EXPECT_EQ(r1.execute_calls(), 1);
  EXPECT_EQ(r2.execute_calls(), 0);   // the hint went straight to r3
  EXPECT_EQ(client.leader(), r3.address());
  ASSERT_TRUE(client.Put("b", "2").ok());
  EXPECT_EQ(r1.execute_calls(), 1);
  EXPECT_EQ(r3.data(), (std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}}));
}

// Two stale followers naming each other must not keep the client from the real leader.
TEST(ReplicaClientTest, FollowsAtMostHintHopsMaxHintsPerRound) {
  FakeReplica r1(1), r2(1), r3(1);
  r1.SetMode(FakeReplica::Mode::kFollower, r2.address());
  r2.SetMode(FakeReplica::Mode::kFollower, r1.address());
  ReplicaClient client({r1.address(), r2.address(), r3.address()});
  absl::Status status = client.Put("a", "1", {.timeout = absl::Seconds(10)});
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(r3.data().at("a"), "1");
  EXPECT_LE(r1.execute_calls() + r2.execute_calls(), LeaderRetryPolicy().hint_hops_max + 2);
}

TEST(ReplicaClientTest, FailsOverPastDeadAndLeaderlessReplicas) {
  FakeReplica leaderless(1), leader(1);
  leaderless.SetMode(FakeReplica::Mode::kUnavailable);
  ReplicaClient client({DeadAddress(), leaderless.address(), leader.address()});
  ASSERT_TRUE(client.Put("x", "y").ok());
  EXPECT_EQ(client.Get("x").value_or(""), "y");
  EXPECT_EQ(client.leader(), leader.address());
}

TEST(ReplicaClientTest, StaleSeqIsAbortedAtOnce) {
  FakeReplica r1(1, kv::KvLimits{.dedup_window_per_client = 2});
  ReplicaClient client({r1.address()});
  for (uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(client.Execute(Put("k", "v", 7, seq)).ok());
  absl::StatusOr<pb::CommandResult> stale = client.Execute(Put("k", "late", 7, 1));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted) << stale.status();
  EXPECT_EQ(r1.execute_calls(), 4);
}

TEST(ReplicaClientTest, UnreachableGroupFailsUnavailableWithinTheDeadline) {
  ReplicaClient client({DeadAddress(), DeadAddress()});
  const absl::Time start = absl::Now();
  absl::Status status = client.Put("k", "v", {.timeout = absl::Milliseconds(500)});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("replica group has no reachable leader"), std::string::npos)
      << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// A call's retries keep its (client_id, seq), so they end by retry_window_max whatever the
// timeout asked: the replicas' dedup sessions recognise a copy of a command only that long.
TEST(ReplicaClientTest, RetriesOfOneSeqEndWithinTheRetryWindow) {
  ReplicaClientOptions options;
  options.retry_window_max = absl::Milliseconds(300);
  ReplicaClient client({DeadAddress()}, options);
  const absl::Time start = absl::Now();
  absl::Status status = client.Put("k", "v", {.timeout = absl::Hours(1)});
  EXPECT_FALSE(status.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  KvClientOptions kv_options;
  kv_options.retry_window_max = absl::Milliseconds(300);
  KvClient kv(DeadAddress(), kv_options);
  const absl::Time kv_start = absl::Now();
  EXPECT_FALSE(kv.Put("k", "v", {.timeout = absl::Hours(1)}).ok());
  EXPECT_LT(absl::Now() - kv_start, absl::Seconds(5));
}

}  // namespace
}  // namespace paxoskv::client

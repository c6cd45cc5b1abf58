// Tests of services/client KvClient against real in-process masters (MasterServer) over a
// fake replica (tests/master/fake_replica.h): given several masters it starts at the first,
// goes on at the next one that answers when a master is dead or stops, and remembers it; a
// retry at another master keeps the call's (client_id, seq), so the write is applied once;
// with no master reachable it fails UNAVAILABLE by the deadline, naming them; an empty list
// is refused.
#include "services/client/kv_client.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "services/master/master_server.h"
#include "tests/master/fake_replica.h"

namespace paxoskv::client {
namespace {

using master::testing::DeadAddress;
using master::testing::FakeReplica;
namespace pb = paxoskv::v1;

std::string TempDir() {
  std::string pattern = ::testing::TempDir() + "/kv_client_test_XXXXXX";
  EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
  return pattern;
}

// A master over `shard` (shard 1, one replica), with its own data directory.
std::unique_ptr<master::MasterServer> StartMaster(const FakeReplica& shard) {
  master::MasterOptions options;
  options.data_dir = TempDir();
  pb::ShardConfig config;
  config.set_shard_id(1);
  config.add_replicas(shard.address());
  options.initial_shards = {config};
  options.logger = NullLogger();
  auto server = master::MasterServer::Start(std::move(options), "127.0.0.1:0", 64);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(KvClientTest, GoesOnAtTheNextMasterAndRemembersIt) {
  FakeReplica shard(1);
  auto first = StartMaster(shard);
  auto second = StartMaster(shard);
  ASSERT_TRUE(first && second);
  const std::string dead = DeadAddress();
  KvClient client(absl::StrCat(dead, ", ", first->address(), ",", second->address(), ",", dead));
  EXPECT_EQ(client.masters(),
            (std::vector<std::string>{dead, first->address(), second->address()}));
  ASSERT_TRUE(client.Put("a", "1").ok());
  EXPECT_EQ(client.current_master(), first->address());
  auto value = client.Get("a");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "1");

  first->Shutdown();
  ASSERT_TRUE(client.Put("b", "2").ok());
  EXPECT_EQ(client.current_master(), second->address());
  value = client.Get("a");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, "1");
  auto status = client.ClusterStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->shards_size(), 1);
  // Each write carried the client's id and its own seq, whichever master it went through.
  std::vector<uint64_t> seqs;
  for (const pb::Command& c : shard.applied()) {
    if (c.op() == pb::OP_PUT) {
      EXPECT_EQ(c.client_id(), client.client_id());
      seqs.push_back(c.seq());
    }
  }
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2}));
}

// A write whose first attempt times out at a hung master goes on at the next one with the same
// (client_id, seq): when the first attempt lands too, the replica applies it once.
TEST(KvClientTest, ARetryAtAnotherMasterKeepsTheCallsSeq) {
  FakeReplica shard(1);
  auto first = StartMaster(shard);
  auto second = StartMaster(shard);
  ASSERT_TRUE(first && second);
  shard.BlockOps({pb::OP_PUT});  // the first attempt waits inside the replica
  KvClientOptions options;
  options.attempt_timeout = absl::Milliseconds(300);
  KvClient client(absl::StrCat(first->address(), ",", second->address()), options);
  auto release = std::async(std::launch::async, [&] {
    EXPECT_TRUE(shard.AwaitBlocked(2, absl::Seconds(20)));  // one attempt through each master
    shard.Release();
  });
  ASSERT_TRUE(client.Put("k", "v", {.timeout = absl::Seconds(20)}).ok());
  release.get();
  int applied = 0;
  for (const pb::Command& c : shard.applied()) applied += c.op() == pb::OP_PUT ? 1 : 0;
  EXPECT_EQ(applied, 1);
  int sent = 0;
  for (const pb::Command& c : shard.commands()) {
    if (c.op() != pb::OP_PUT) continue;
    ++sent;
    EXPECT_EQ(std::pair(c.client_id(), c.seq()), std::pair(client.client_id(), uint64_t{1}));
  }
  EXPECT_GE(sent, 2);  // through both masters
}

TEST(KvClientTest, NoReachableMasterFailsUnavailableByTheDeadline) {
  const std::string a = DeadAddress(), b = DeadAddress();
  KvClient client(absl::StrCat(a, ",", b));
  const absl::Time start = absl::Now();
  absl::Status status = client.Put("k", "v", {.timeout = absl::Milliseconds(500)});
  EXPECT_TRUE(status.code() == absl::StatusCode::kUnavailable ||
              status.code() == absl::StatusCode::kDeadlineExceeded)
      << status;
  EXPECT_NE(status.message().find(b), std::string::npos) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  KvClient none(" , ");
  EXPECT_EQ(none.Get("k").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace paxoskv::client

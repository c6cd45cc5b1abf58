// End-to-end bad-input tests with the real binaries: AddShard misuse, membership changes
// that cannot be made, oversized or empty keys and values through the master, and kvctl's
// exit codes. Each bad request must get a
// clear status and change nothing (ring epoch and shards, stored values).

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/common/limits.h"
#include "tests/integration/e2e_util.h"
#include "tests/integration/process_cluster.h"

namespace paxoskv::testing {
namespace {

namespace pb = ::paxoskv::v1;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint32_t id : {1u, 2u}) ASSERT_TRUE(cluster_.StartShard(id).ok());
    for (uint32_t id : {1u, 2u}) ASSERT_TRUE(cluster_.WaitForLeader(id).ok());
    ASSERT_TRUE(cluster_.StartMaster({1}).ok());
    kv_ = std::make_unique<client::KvClient>(cluster_.master_address());
    ASSERT_TRUE(kv_->Put("sentinel", "intact").ok());
    auto status = kv_->ClusterStatus();
    ASSERT_TRUE(status.ok());
    epoch_ = status->epoch();
  }

  // Nothing changed: same epoch, only shard 1 in the ring, no migration, sentinel intact.
  void ExpectUnchanged() {
    auto status = kv_->ClusterStatus();
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_EQ(status->epoch(), epoch_);
    ASSERT_EQ(status->shards_size(), 1);
    EXPECT_EQ(status->shards(0).shard_id(), 1u);
    EXPECT_FALSE(status->migration().running());
    auto value = kv_->Get("sentinel");
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(*value, "intact");
  }

  ProcessCluster cluster_;
  std::unique_ptr<client::KvClient> kv_;
  uint64_t epoch_ = 0;
};

TEST_F(BadInputTest, AddShardWithExistingIdIsAlreadyExists) {
  auto added = kv_->AddShard(1, cluster_.ShardAddresses(2));
  EXPECT_EQ(added.status().code(), absl::StatusCode::kAlreadyExists) << added.status();
  EXPECT_TRUE(absl::StrContains(added.status().message(), "shard 1")) << added.status();
  ExpectUnchanged();
}

TEST_F(BadInputTest, AddShardWithoutReplicasIsInvalidArgument) {
  auto added = kv_->AddShard(5, {});
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument) << added.status();
  auto zero = kv_->AddShard(0, cluster_.ShardAddresses(2));
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument) << zero.status();
  const std::string a = cluster_.ShardAddresses(2)[0];
  auto twice = kv_->AddShard(2, {a, a, cluster_.ShardAddresses(2)[1]});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument) << twice.status();
  auto garbage = kv_->AddShard(2, {"not an address"});
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument) << garbage.status();
  ExpectUnchanged();
}

// Membership changes the shard cannot make are refused with a clear status and change
// nothing; a learner added and removed again leaves only its id behind, never to be reused.
TEST_F(BadInputTest, MembershipChangesThatCannotBeMadeAreRefused) {
  auto before = kv_->MemberList(1);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->members_size(), 3);
  const std::string taken = before->members(0).address();
  auto add = [&](uint32_t shard, uint32_t id, const std::string& address) {
    pb::MemberAddRequest request;
    request.set_shard_id(shard);
    request.set_replica_id(id);
    request.set_address(address);
    request.set_no_promote(true);
    return kv_->MemberAdd(request);
  };
  auto remove = [&](uint32_t id) {
    pb::MemberRemoveRequest request;
    request.set_shard_id(1);
    request.set_replica_id(id);
    return kv_->MemberRemove(request);
  };
  auto promote = [&](uint32_t id) {
    pb::MemberPromoteRequest request;
    request.set_shard_id(1);
    request.set_replica_id(id);
    return kv_->MemberPromote(request);
  };
  EXPECT_EQ(add(99, 9, "127.0.0.1:1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(add(1, 0, "127.0.0.1:1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(add(1, 9, "no port").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(add(1, 2, "127.0.0.1:1").status().code(), absl::StatusCode::kFailedPrecondition)
      << "id 2 is a member already";
  EXPECT_EQ(add(1, 9, taken).status().code(), absl::StatusCode::kFailedPrecondition)
      << "another member's address";
  EXPECT_EQ(remove(7).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(promote(7).status().code(), absl::StatusCode::kFailedPrecondition);
  auto voter = promote(2);  // already a voter: in effect, nothing proposed
  ASSERT_TRUE(voter.ok()) << voter.status();
  EXPECT_TRUE(voter->already());
  auto after = kv_->MemberList(1);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->members_size(), 3);
  EXPECT_TRUE(after->removed().empty());

  // A learner (never started: it is not counted, so no quorum changes) added and removed.
  auto added = add(1, 9, "127.0.0.1:1");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->membership().members_size(), 4);
  auto again = add(1, 9, "127.0.0.1:1");  // a retry: already in effect
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already());
  auto removed = remove(9);
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_EQ(removed->membership().removed_size(), 1);
  EXPECT_EQ(removed->membership().removed(0), 9u);
  EXPECT_EQ(add(1, 9, "127.0.0.1:1").status().code(), absl::StatusCode::kFailedPrecondition)
      << "a removed id is never reused";
  ExpectUnchanged();
}

TEST_F(BadInputTest, AddShardWithUnreachableReplicasIsUnavailable) {
  std::vector<std::string> nobody;
  for (int i = 0; i < 3; ++i) {
    nobody.push_back(absl::StrCat("127.0.0.1:", ProcessCluster::PickFreePort()));
  }
  auto added = kv_->AddShard(3, nobody, {.timeout = absl::Seconds(30)});
  EXPECT_EQ(added.status().code(), absl::StatusCode::kUnavailable) << added.status();
  EXPECT_TRUE(absl::StrContains(added.status().message(), "unreachable")) << added.status();
  ExpectUnchanged();
}

TEST_F(BadInputTest, AddShardWithAnotherShardsReplicasIsRefused) {
  // Shard 1's own replicas under a new id.
  auto reused = kv_->AddShard(7, cluster_.ShardAddresses(1));
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kInvalidArgument) << reused.status();
  // Shard 2's replicas (they serve shard 2) announced as shard 9.
  auto mislabeled = kv_->AddShard(9, cluster_.ShardAddresses(2));
  EXPECT_EQ(mislabeled.status().code(), absl::StatusCode::kFailedPrecondition)
      << mislabeled.status();
  ExpectUnchanged();
}

TEST_F(BadInputTest, OversizedAndEmptyKeysAndValuesAreInvalidArgument) {
  const std::string big_key(kKeySizeMax + 1, 'k');
  const std::string big_value(kValueSizeMax + 1, 'v');
  EXPECT_EQ(kv_->Put(big_key, "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv_->Get(big_key).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv_->Delete(big_key).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv_->Put("", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv_->Get("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kv_->Delete("").status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status too_big = kv_->Put("sentinel", big_value);
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument) << too_big;
  EXPECT_FALSE(too_big.message().empty());
  // The limits themselves are fine.
  EXPECT_TRUE(kv_->Put(std::string(kKeySizeMax, 'k'), std::string(kValueSizeMax, 'v')).ok());
  ExpectUnchanged();
}

TEST_F(BadInputTest, SecondAddShardDuringAMigrationIsFailedPrecondition) {
  // Enough keys that the migration to shard 2 runs for a while (1,500 proved too few once
  // batches got faster: under a parallel ctest the migration could end unobserved).
  std::vector<std::thread> writers;
  std::atomic<size_t> next{0};
  const std::vector<std::string> keys = MakeKeys("busy-", 4000);
  for (int w = 0; w < 16; ++w) {
    writers.emplace_back([&] {
      client::KvClient kv(cluster_.master_address());
      for (size_t i = next++; i < keys.size(); i = next++) {
        EXPECT_TRUE(kv.Put(keys[i], "v", {.timeout = absl::Seconds(30)}).ok());
      }
    });
  }
  for (auto& t : writers) t.join();
  std::atomic<bool> done{false};
  std::thread adder([&] {
    client::KvClient kv(cluster_.master_address());
    EXPECT_TRUE(kv.AddShard(2, cluster_.ShardAddresses(2), {.timeout = absl::Seconds(120)}).ok());
    done = true;
  });
  client::KvClient watcher(cluster_.master_address(), {.retry = false});
  bool running = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (!done && absl::Now() < deadline) {  // Polls until the migration shows as running.
    auto status = watcher.ClusterStatus({.timeout = absl::Milliseconds(500)});
    if (status.ok() && status->migration().running()) {
      running = true;
      break;
    }
  }
  absl::Status second = absl::OkStatus();
  if (running) {
    std::vector<std::string> nobody = {absl::StrCat("127.0.0.1:", ProcessCluster::PickFreePort())};
    second = kv_->AddShard(3, nobody).status();
  }
  adder.join();
  ASSERT_TRUE(running) << "the migration finished before a second AddShard could be sent";
  if (second.code() != absl::StatusCode::kFailedPrecondition) {
    // The only other acceptable outcome: the migration ended in between, and shard 3's
    // (unreachable) replicas were then probed.
    EXPECT_EQ(second.code(), absl::StatusCode::kUnavailable) << second;
    GTEST_SKIP() << "the migration ended before the second AddShard arrived: " << second;
  }
  EXPECT_TRUE(absl::StrContains(second.message(), "migration")) << second;
  auto status = kv_->ClusterStatus();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->shards_size(), 2);  // 1 and 2; never 3.
}

// ---- kvctl --------------------------------------------------------------------------------

CommandResult RunKvctl(const ProcessCluster& cluster, const std::string& args,
                       const std::string& master) {
  return RunCommand(absl::StrCat(cluster.bin_dir(), "/kvctl --insecure ",
                                 master.empty() ? "" : "--master " + master + " ", args));
}

TEST_F(BadInputTest, KvctlExitCodes) {
  const std::string master = cluster_.master_address();
  auto run = [&](const std::string& args) { return RunKvctl(cluster_, args, master); };

  // Usage errors: exit 2 with a one-line hint.
  for (const std::string args : {"", "frob", "put onlykey", "get", "get a b",
                                 "--timeout_ms abc get k", "--bogus get k", "add-shard 3",
                                 "add-shard x 127.0.0.1:1", "get k --json"}) {
    CommandResult r = run(args);
    EXPECT_EQ(r.exit_code, 2) << "kvctl " << args << ": " << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "usage: kvctl")) << "kvctl " << args << ": " << r.out;
  }
  // Not found: exit 1.
  CommandResult missing = run("get no-such-key");
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_TRUE(absl::StrContains(missing.out, "not found")) << missing.out;
  EXPECT_EQ(run("delete no-such-key").exit_code, 1);
  // Success: exit 0.
  EXPECT_EQ(run("put kvctl-key 'hello world'").exit_code, 0);
  CommandResult got = run("get kvctl-key");
  EXPECT_EQ(got.exit_code, 0);
  EXPECT_EQ(got.out, "hello world\n");
  EXPECT_EQ(run("delete kvctl-key").exit_code, 0);
  EXPECT_EQ(run("get kvctl-key").exit_code, 1);
  CommandResult status = run("status");
  EXPECT_EQ(status.exit_code, 0) << status.out;
  EXPECT_TRUE(absl::StrContains(status.out, "shard 1")) << status.out;
  CommandResult json = run("status --json");
  EXPECT_EQ(json.exit_code, 0) << json.out;
  EXPECT_TRUE(absl::StrContains(json.out, "\"epoch\": ")) << json.out;
  // Other failures: exit 3 with one clear line.
  CommandResult empty_key = run("put '' v");
  EXPECT_EQ(empty_key.exit_code, 3) << empty_key.out;
  EXPECT_TRUE(absl::StartsWith(empty_key.out, "kvctl: put failed: INVALID_ARGUMENT: "))
      << empty_key.out;
  CommandResult existing = run(absl::StrCat("add-shard 1 ", cluster_.ShardAddresses(2)[0]));
  EXPECT_EQ(existing.exit_code, 3) << existing.out;
  EXPECT_TRUE(absl::StrContains(existing.out, "ALREADY_EXISTS")) << existing.out;
  CommandResult down = RunKvctl(
      cluster_, "--timeout_ms 300 get k",
      absl::StrCat("127.0.0.1:", ProcessCluster::PickFreePort()));
  EXPECT_EQ(down.exit_code, 3) << down.out;
  EXPECT_TRUE(absl::StartsWith(down.out, "kvctl: get failed: UNAVAILABLE: ")) << down.out;
  EXPECT_EQ(std::count(down.out.begin(), down.out.end(), '\n'), 1) << down.out;
  ExpectUnchanged();
}

}  // namespace
}  // namespace paxoskv::testing

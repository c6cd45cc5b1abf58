// Tests of services/master against in-process fake replicas (tests/master/fake_replica.h):
// routing by the ring, leader-hint retry, failover, isolation of a dead shard, deadlines, input
// validation, exactly-once ids, batching of concurrent commands (coalescing, fallback, per-command
// outcomes), AddShard and RemoveShard validation, migration (exact key placement, dedup tables
// carried, paused requests), durability of the ring and resume after a crash.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/ring/hash_ring.h"
#include "libs/ring/stable_hash.h"
#include "paxoskv/v1/admin.grpc.pb.h"
#include "paxoskv/v1/kv.grpc.pb.h"
#include "paxoskv/v1/replica.grpc.pb.h"
#include "services/master/config_store.h"
#include "services/master/master_server.h"
#include "tests/master/fake_replica.h"

namespace paxoskv::master {
namespace {

using testing::DeadAddress;
using testing::FakeReplica;
namespace pb = paxoskv::v1;

std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "/master_test_XXXXXX";
  char* dir = ::mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// The (client_id, seq) of each command.
std::set<std::pair<uint64_t, uint64_t>> Ids(const std::vector<pb::Command>& commands) {
  std::set<std::pair<uint64_t, uint64_t>> ids;
  for (const pb::Command& c : commands) ids.emplace(c.client_id(), c.seq());
  return ids;
}

// The migration writes (imports and deletes) among `commands`.
std::vector<pb::Command> MigrationWrites(const std::vector<pb::Command>& commands) {
  std::vector<pb::Command> writes;
  for (const pb::Command& c : commands) {
    if (c.op() == pb::OP_IMPORT || c.op() == pb::OP_DELETE_KEYS) writes.push_back(c);
  }
  return writes;
}

// Starts `count` concurrent put(key<i>, value<i>) calls; returns once every thread has begun.
std::vector<std::future<grpc::Status>> StartPuts(
    int count, std::function<grpc::Status(std::string, std::string)> put) {
  std::atomic<int> started{0};
  std::vector<std::future<grpc::Status>> puts;
  for (int i = 0; i < count; ++i) {
    puts.push_back(std::async(std::launch::async, [put, &started, i] {
      ++started;
      return put(absl::StrCat("key", i), absl::StrCat("value", i));
    }));
  }
  while (started.load() < count) absl::SleepFor(absl::Milliseconds(1));
  return puts;
}

pb::ShardConfig Shard(uint32_t id, const std::vector<std::string>& replicas) {
  pb::ShardConfig shard;
  shard.set_shard_id(id);
  for (const auto& r : replicas) shard.add_replicas(r);
  return shard;
}

class MasterTest : public ::testing::Test {
 protected:
  MasterTest() : dir_(MakeTempDir()) {}
  ~MasterTest() override {
    if (server_) server_->Shutdown();
  }

  MasterOptions Options(std::vector<pb::ShardConfig> shards) {
    MasterOptions options;
    options.data_dir = dir_;
    options.initial_shards = std::move(shards);
    options.logger = NullLogger();
    // Generous, so a loaded CI machine never turns a slow answer into a failover (tests that
    // count calls per replica rely on that); tests of timeouts set their own.
    options.router.attempt_timeout = absl::Seconds(5);
    options.migrator.page_size = 16;  // Many pages, so cursors matter.
    options.migrator.op_deadline = absl::Seconds(5);
    options.migrator.attempt_timeout = absl::Seconds(2);
    options.migrator.retry_backoff = absl::Milliseconds(20);
    return options;
  }

  void Start(MasterOptions options, int max_threads = 256) {
    auto server = MasterServer::Start(std::move(options), "127.0.0.1:0", max_threads);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    kv_ = pb::KV::NewStub(channel);
    admin_ = pb::Admin::NewStub(channel);
  }

  void Restart(MasterOptions options) {
    server_->Shutdown();
    server_.reset();
    Start(std::move(options));
  }

  static void SetDeadline(grpc::ClientContext* context, absl::Duration timeout) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }

  grpc::Status Put(const std::string& key, const std::string& value, uint64_t client_id = 0,
                   uint64_t seq = 0, absl::Duration timeout = absl::Seconds(10)) {
    grpc::ClientContext context;
    SetDeadline(&context, timeout);
    pb::PutRequest request;
    request.set_key(key);
    request.set_value(value);
    request.set_client_id(client_id);
    request.set_seq(seq);
    pb::PutResponse response;
    return kv_->Put(&context, request, &response);
  }

  grpc::Status Get(const std::string& key, std::string* value,
                   absl::Duration timeout = absl::Seconds(10)) {
    grpc::ClientContext context;
    SetDeadline(&context, timeout);
    pb::GetRequest request;
    request.set_key(key);
    pb::GetResponse response;
    grpc::Status status = kv_->Get(&context, request, &response);
    *value = response.value();
    return status;
  }

  grpc::Status Delete(const std::string& key, bool* deleted, uint64_t client_id = 0,
                      uint64_t seq = 0, absl::Duration timeout = absl::Seconds(10)) {
    grpc::ClientContext context;
    SetDeadline(&context, timeout);
    pb::DeleteRequest request;
    request.set_key(key);
    request.set_client_id(client_id);
    request.set_seq(seq);
    pb::DeleteResponse response;
    grpc::Status status = kv_->Delete(&context, request, &response);
    *deleted = response.deleted();
    return status;
  }

  grpc::Status AddShard(uint32_t id, const std::vector<std::string>& replicas,
                        pb::AddShardResponse* response,
                        absl::Duration timeout = absl::Seconds(60)) {
    grpc::ClientContext context;
    SetDeadline(&context, timeout);
    pb::AddShardRequest request;
    request.set_shard_id(id);
    for (const auto& r : replicas) request.add_replicas(r);
    return admin_->AddShard(&context, request, response);
  }

  grpc::Status RemoveShard(uint32_t id, pb::RemoveShardResponse* response,
                           absl::Duration timeout = absl::Seconds(60)) {
    grpc::ClientContext context;
    SetDeadline(&context, timeout);
    pb::RemoveShardRequest request;
    request.set_shard_id(id);
    return admin_->RemoveShard(&context, request, response);
  }

  pb::ClusterStatusResponse Status() {
    grpc::ClientContext context;
    SetDeadline(&context, absl::Seconds(10));
    pb::ClusterStatusResponse response;
    EXPECT_TRUE(admin_->ClusterStatus(&context, pb::ClusterStatusRequest(), &response).ok());
    return response;
  }

  // A key owned by `shard` in `ring` (and, if `moves_from` is set, owned by it before).
  static std::string KeyOwnedBy(const ring::HashRing& ring, uint32_t shard,
                                const std::string& prefix = "k") {
    for (int i = 0;; ++i) {
      std::string key = absl::StrCat(prefix, i);
      if (ring.OwnerOf(key) == shard) return key;
    }
  }

  // A key whose hash lies in `range`.
  static std::string KeyIn(const pb::HashRange& range, const std::string& prefix) {
    for (int i = 0;; ++i) {
      std::string key = absl::StrCat(prefix, i);
      if (ring::HashRing::RangeContains(range, ring::StableHash(key))) return key;
    }
  }

  std::string dir_;
  std::unique_ptr<MasterServer> server_;
  std::unique_ptr<pb::KV::Stub> kv_;
  std::unique_ptr<pb::Admin::Stub> admin_;
};

// ---- Routing and retries --------------------------------------------------------------------

TEST_F(MasterTest, RoutesEachKeyToItsOwnerShard) {
  FakeReplica s1(1), s2(2);
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()})}));
  const auto ring = server_->master()->ring();
  std::map<uint32_t, std::set<std::string>> expected;
  for (int i = 0; i < 60; ++i) {
    const std::string key = absl::StrCat("key-", i);
    ASSERT_TRUE(Put(key, absl::StrCat("v", i)).ok());
    expected[ring->OwnerOf(key)].insert(key);
  }
  ASSERT_FALSE(expected[1].empty());
  ASSERT_FALSE(expected[2].empty());
  for (auto [fake, id] : {std::pair{&s1, 1u}, std::pair{&s2, 2u}}) {
    std::set<std::string> keys;
    for (const auto& [k, v] : fake->data()) keys.insert(k);
    EXPECT_EQ(keys, expected[id]) << "shard " << id;
  }
  std::string value;
  ASSERT_TRUE(Get("key-7", &value).ok());
  EXPECT_EQ(value, "v7");
  bool deleted = false;
  ASSERT_TRUE(Delete("key-7", &deleted).ok());
  EXPECT_TRUE(deleted);
  ASSERT_TRUE(Delete("key-7", &deleted).ok());
  EXPECT_FALSE(deleted);
  grpc::Status missing = Get("key-7", &value);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_message(), "key not found");
}

TEST_F(MasterTest, RetriesAtTheLeaderHint) {
  FakeReplica r1(1), r2(1), r3(1);
  r1.SetMode(FakeReplica::Mode::kFollower, r3.address());
  r2.SetMode(FakeReplica::Mode::kFollower, r3.address());
  Start(Options({Shard(1, {r1.address(), r2.address(), r3.address()})}));
  ASSERT_TRUE(Put("a", "1", /*client_id=*/42, /*seq=*/7).ok());
  EXPECT_EQ(r1.execute_calls(), 1);  // Asked first, answered with the hint.
  EXPECT_EQ(r2.execute_calls(), 0);  // Never needed: the hint pointed at r3.
  EXPECT_EQ(r3.data().at("a"), "1");
  // The caller's (client_id, seq) travels unchanged on every attempt.
  for (const FakeReplica* r : {&r1, &r3}) {
    for (const pb::Command& c : r->commands()) {
      EXPECT_EQ(c.client_id(), 42u);
      EXPECT_EQ(c.seq(), 7u);
      EXPECT_EQ(c.ack_below(), 0u);
    }
  }
  // The leader is cached: the next request goes straight to r3.
  ASSERT_TRUE(Put("b", "2").ok());
  EXPECT_EQ(r1.execute_calls(), 1);
  EXPECT_EQ(r3.execute_calls(), 2);
}

TEST_F(MasterTest, FailsOverWhenReplicasAreDownOrHaveNoLeader) {
  FakeReplica unavailable(1), leader(1);
  unavailable.SetMode(FakeReplica::Mode::kUnavailable);
  Start(Options({Shard(1, {DeadAddress(), unavailable.address(), leader.address()})}));
  ASSERT_TRUE(Put("x", "y").ok());
  EXPECT_EQ(leader.data().at("x"), "y");
  EXPECT_GE(unavailable.execute_calls(), 1);
  std::string value;
  ASSERT_TRUE(Get("x", &value).ok());
  EXPECT_EQ(value, "y");
}

// However long the caller's deadline, the master works on a KV request at most
// request_deadline_max, then answers DEADLINE_EXCEEDED (outcome unknown).
TEST_F(MasterTest, RequestDeadlinesAreCapped) {
  FakeReplica r1(1);
  r1.SetMode(FakeReplica::Mode::kHang);
  MasterOptions options = Options({Shard(1, {r1.address()})});
  options.request_deadline_max = absl::Milliseconds(500);
  Start(options);
  const absl::Time start = absl::Now();
  EXPECT_EQ(Put("k", "v", 0, 0, absl::Hours(1)).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  r1.SetMode(FakeReplica::Mode::kLeader);
  r1.Release();
}

TEST_F(MasterTest, RetriedPutWithSameIdsIsAppliedOnce) {
  FakeReplica r1(1);
  Start(Options({Shard(1, {r1.address()})}));
  ASSERT_TRUE(Put("k", "first", 9, 1).ok());
  ASSERT_TRUE(Put("k", "v2", 9, 2).ok());
  ASSERT_TRUE(Put("k", "first", 9, 1).ok());  // A client retry of seq 1: answered, not applied.
  EXPECT_EQ(r1.data().at("k"), "v2");
  // The same pair reused for another command is refused, never answered OK (review F4).
  EXPECT_EQ(Put("k", "second", 9, 1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r1.data().at("k"), "v2");
}

// A seq below the replica's dedup window gets RESULT_CODE_STALE_REQUEST: its outcome is
// unknown, and no other replica or later attempt can change that. The caller sees ABORTED (as
// README's table says), and the master sends it once, on the batch path and the Router's.
TEST_F(MasterTest, StaleResultReachesTheCallerAsAbortedAndIsNotRetried) {
  FakeReplica r1(1, kv::KvLimits{.dedup_window_per_client = 2});
  for (const size_t max_commands : {size_t{256}, size_t{1}}) {
    SCOPED_TRACE(absl::StrCat("batcher.max_commands=", max_commands));
    MasterOptions options = Options({Shard(1, {r1.address()})});
    options.batcher.max_commands = max_commands;
    if (server_ == nullptr) {
      Start(std::move(options));
    } else {
      Restart(std::move(options));
    }
    const uint64_t client = 7 + max_commands;
    for (uint64_t seq = 1; seq <= 3; ++seq) {
      ASSERT_TRUE(Put("k", absl::StrCat("v", seq), client, seq).ok());
    }
    // The window holds seqs 2 and 3; seq 1 is forgotten.
    const int calls = r1.execute_calls();
    grpc::Status stale = Put("k", "late", client, 1);
    EXPECT_EQ(stale.error_code(), grpc::StatusCode::ABORTED) << stale.error_message();
    EXPECT_EQ(r1.execute_calls(), calls + 1);   // sent once, not retried
    EXPECT_EQ(r1.data().at("k"), "v3");
  }
}

// Safety review F4: with seq 0 every write of a client_id would dedup against the first one,
// so a second write would be answered OK and never applied.
TEST_F(MasterTest, RefusesClientIdWithoutSeqWithNothingSent) {
  FakeReplica r1(1);
  Start(Options({Shard(1, {r1.address()})}));
  grpc::Status put = Put("k1", "v1", /*client_id=*/7, /*seq=*/0);
  EXPECT_EQ(put.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << put.error_message();
  EXPECT_NE(put.error_message().find("seq"), std::string::npos) << put.error_message();
  EXPECT_EQ(Put("k2", "v2", 7, 0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  bool deleted = false;
  EXPECT_EQ(Delete("k1", &deleted, 7, 0).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r1.execute_calls(), 0);
  // With seqs, each write is its own (README's grpcurl example: client_id 42, seq 1).
  ASSERT_TRUE(Put("k1", "v1", 42, 1).ok());
  ASSERT_TRUE(Put("k2", "v2", 42, 2).ok());
  ASSERT_TRUE(Put("k2", "v2", 42, 2).ok());   // a retry: answered, not applied again
  std::string value;
  ASSERT_TRUE(Get("k2", &value).ok());
  EXPECT_EQ(value, "v2");
  ASSERT_TRUE(Delete("k1", &deleted, 42, 3).ok());
  EXPECT_TRUE(deleted);
  EXPECT_EQ(Ids(r1.applied()),
            (std::set<std::pair<uint64_t, uint64_t>>{{42, 1}, {42, 2}, {42, 3}}));
  EXPECT_EQ(r1.applied().size(), 3u);
}

TEST_F(MasterTest, AssignsItsOwnClientIdAndSeqWhenCallerHasNone) {
  FakeReplica r1(1);
  Start(Options({Shard(1, {r1.address()})}));
  ASSERT_TRUE(Put("a", "1").ok());
  ASSERT_TRUE(Put("b", "2").ok());
  bool deleted = false;
  ASSERT_TRUE(Delete("a", &deleted).ok());
  std::string value;
  EXPECT_EQ(Get("a", &value).error_code(), grpc::StatusCode::NOT_FOUND);
  std::vector<pb::Command> commands = r1.commands();
  ASSERT_EQ(commands.size(), 4u);
  // One request at a time: each takes the lane the one before gave back, and its next seq; it
  // acknowledges every earlier seq of the lane.
  for (uint64_t i = 0; i < 3; ++i) {
    EXPECT_NE(commands[i].client_id(), 0u);
    EXPECT_EQ(commands[i].client_id(), commands[0].client_id());
    EXPECT_EQ(commands[i].seq(), i + 1);
    EXPECT_EQ(commands[i].ack_below(), commands[i].seq());
  }
  EXPECT_EQ(server_->master()->write_lanes(), 1u);
  EXPECT_EQ(commands[3].op(), pb::OP_GET);
  EXPECT_EQ(commands[3].client_id(), 0u);  // Reads need no dedup.
}

// The master acknowledges each anonymous write's result once it is answered (ack_below), so
// the replica's dedup table does not keep results nobody will ask for again.
TEST_F(MasterTest, SequentialAnonymousWritesLetTheReplicaForgetAnsweredResults) {
  FakeReplica r1(1);
  Start(Options({Shard(1, {r1.address()})}));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Put(absl::StrCat("k", i), "v").ok());
  const std::vector<pb::Command> applied = r1.applied();
  ASSERT_EQ(applied.size(), 5u);
  // Only the last write's result is still remembered: each write acknowledged the ones before.
  EXPECT_EQ(r1.dedup_keys(),
            (std::set<std::pair<uint64_t, uint64_t>>{{applied[4].client_id(), applied[4].seq()}}));
}

// Safety review F5.1. Goal: an anonymous write held back at its shard while thousands of other
// anonymous writes complete is still applied exactly once and answered OK. Method: the replica
// holds every delete (its dedup window keeps 1024 results per client); one anonymous delete is
// stuck there (the master retries it meanwhile) while 2,400 anonymous puts complete; then the
// replica lets the delete through. With one master client id for all anonymous writes the
// window would have moved past the stuck seq, and the delete would come back STALE.
TEST_F(MasterTest, AnonymousWriteHeldBackWhileThousandsCompleteIsAppliedOnce) {
  FakeReplica r1(1);
  Start(Options({Shard(1, {r1.address()})}));
  ASSERT_TRUE(Put("stuck", "v").ok());   // also caches the leader
  r1.BlockOps({pb::OP_DELETE});
  auto stuck = std::async(std::launch::async, [this] {
    bool deleted = false;
    grpc::Status status = Delete("stuck", &deleted, 0, 0, absl::Seconds(120));
    return std::make_pair(status, deleted);
  });
  ASSERT_TRUE(r1.AwaitBlocked(1, absl::Seconds(30)));

  constexpr int kWriters = 8;
  constexpr int kPutsPerWriter = 300;
  std::vector<std::future<int>> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.push_back(std::async(std::launch::async, [this, w] {
      int ok = 0;
      for (int i = 0; i < kPutsPerWriter; ++i) {
        ok += Put(absl::StrCat("w", w, "-", i), "x", 0, 0, absl::Seconds(60)).ok() ? 1 : 0;
      }
      return ok;
    }));
  }
  for (auto& writer : writers) EXPECT_EQ(writer.get(), kPutsPerWriter);
  EXPECT_EQ(stuck.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

  r1.Release();
  auto [status, deleted] = stuck.get();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_TRUE(deleted);
  EXPECT_EQ(r1.data().count("stuck"), 0u);
  int deletes_applied = 0;
  for (const pb::Command& c : r1.applied()) deletes_applied += c.op() == pb::OP_DELETE ? 1 : 0;
  EXPECT_EQ(deletes_applied, 1);
  EXPECT_EQ(r1.applied().size(), static_cast<size_t>(1 + kWriters * kPutsPerWriter + 1));
}

// Concurrent anonymous writes each hold their own lane (client id) while in flight; beyond
// write_lanes_max of them, a write is refused with RESOURCE_EXHAUSTED before anything is sent.
TEST_F(MasterTest, ConcurrentAnonymousWritesTakeOneLaneEachUpToTheMax) {
  FakeReplica r1(1);
  MasterOptions options = Options({Shard(1, {r1.address()})});
  options.write_lanes_max = 2;
  options.batcher.max_commands = 1;   // Each put is its own call, so each blocks on its own.
  Start(std::move(options));
  r1.BlockOps({pb::OP_PUT});
  auto held = StartPuts(2, [this](std::string key, std::string value) {
    return Put(key, value, 0, 0, absl::Seconds(60));
  });
  ASSERT_TRUE(r1.AwaitBlocked(2, absl::Seconds(30)));
  grpc::Status refused = Put("third", "v");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  // A write with the caller's own ids needs no lane.
  bool deleted = true;
  ASSERT_TRUE(Delete("absent", &deleted, 42, 1).ok());
  EXPECT_FALSE(deleted);
  r1.Release();
  for (auto& put : held) EXPECT_TRUE(put.get().ok());
  ASSERT_TRUE(Put("third", "v").ok());   // the lanes are free again
  std::set<uint64_t> lanes;
  for (const pb::Command& c : r1.commands()) {
    if (c.client_id() == 42) continue;
    lanes.insert(c.client_id());
    EXPECT_EQ(c.ack_below(), c.seq());
  }
  EXPECT_EQ(lanes.size(), 2u);
  EXPECT_EQ(r1.commands().size(), 4u);   // "third" was not sent the first time
  EXPECT_EQ(server_->master()->write_lanes(), 2u);
}

// The master holds at most requests_in_flight_max requests and bytes_in_flight_max bytes of
// keys and values; beyond, a request is refused with RESOURCE_EXHAUSTED and nothing is sent.
TEST_F(MasterTest, RequestsBeyondTheInFlightBoundsAreRefusedWithNothingSent) {
  FakeReplica r1(1);
  MasterOptions options = Options({Shard(1, {r1.address()})});
  options.requests_in_flight_max = 2;
  options.bytes_in_flight_max = 1000;
  options.batcher.max_commands = 1;  // Each put is its own call, so each blocks on its own.
  Start(std::move(options));
  grpc::Status too_big = Put("big", std::string(1001, 'x'), 7, 1);
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << too_big.error_message();
  r1.BlockOps({pb::OP_PUT});
  auto held = StartPuts(2, [this](std::string key, std::string value) {
    return Put(key, value, 0, 0, absl::Seconds(60));
  });
  ASSERT_TRUE(r1.AwaitBlocked(2, absl::Seconds(30)));
  grpc::Status refused = Put("third", "v", 7, 2);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  r1.Release();
  for (auto& put : held) EXPECT_TRUE(put.get().ok());
  ASSERT_TRUE(Put("third", "v", 7, 3).ok());
  for (const pb::Command& c : r1.commands()) {
    EXPECT_NE(c.key(), "big");
    EXPECT_FALSE(c.key() == "third" && c.seq() == 2) << "the refused put was sent";
  }
}

TEST_F(MasterTest, RejectsBadInputWithNothingSent) {
  FakeReplica r1(1);
  Start(Options({Shard(1, {r1.address()})}));
  std::string value;
  bool deleted = false;
  EXPECT_EQ(Put("", "v").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Put(std::string(1025, 'k'), "v").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status big = Put("k", std::string(1024 * 1024 + 1, 'v'));
  EXPECT_EQ(big.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(big.error_message().find("value"), std::string::npos) << big.error_message();
  EXPECT_EQ(Get("", &value).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Delete(std::string(2000, 'k'), &deleted).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(r1.execute_calls(), 0);
  // The limits themselves are accepted.
  EXPECT_TRUE(Put(std::string(1024, 'k'), std::string(1024 * 1024, 'v')).ok());
}

TEST_F(MasterTest, HungShardDoesNotStallAnotherShard) {
  FakeReplica s1(1), s2(2);
  s1.SetMode(FakeReplica::Mode::kHang);
  MasterOptions options = Options({Shard(1, {s1.address()}), Shard(2, {s2.address()})});
  options.router.attempt_timeout = absl::Seconds(60);  // The shard-1 call stays in flight.
  Start(std::move(options));
  const auto ring = server_->master()->ring();
  auto stalled = std::async(std::launch::async, [&] {
    return Put(KeyOwnedBy(*ring, 1), "v", 0, 0, absl::Seconds(60));
  });
  ASSERT_TRUE(s1.AwaitBlocked(1, absl::Seconds(30)));
  for (int i = 0; i < 20; ++i) {
    const std::string key = KeyOwnedBy(*ring, 2, absl::StrCat("other", i, "-"));
    ASSERT_TRUE(Put(key, "w").ok()) << key;
  }
  EXPECT_EQ(stalled.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  s1.Release();
  EXPECT_TRUE(stalled.get().ok());
}

TEST_F(MasterTest, UnreachableShardFailsUnavailableWithinTheDeadline) {
  Start(Options({Shard(1, {DeadAddress(), DeadAddress()})}));
  const absl::Time start = absl::Now();
  grpc::Status status = Put("k", "v", 0, 0, absl::Milliseconds(800));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_NE(status.error_message().find("shard 1 has no reachable leader"), std::string::npos)
      << status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // Bounded by the 0.8 s deadline.
}

TEST_F(MasterTest, HungShardFailsWithDeadlineExceeded) {
  FakeReplica r1(1), r2(1);
  r1.SetMode(FakeReplica::Mode::kHang);
  r2.SetMode(FakeReplica::Mode::kHang);
  MasterOptions options = Options({Shard(1, {r1.address(), r2.address()})});
  options.router.attempt_timeout = absl::Milliseconds(300);  // Several attempts fit.
  Start(std::move(options));
  grpc::Status status = Put("k", "v", 0, 0, absl::Seconds(1));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_GE(r1.execute_calls(), 1);
  EXPECT_GE(r2.execute_calls(), 1);  // Timed out on one replica, it tried the other.
  r1.Release();
  r2.Release();
}

TEST_F(MasterTest, SeedsRingOnceAndKeepsItAcrossRestarts) {
  FakeReplica s1(1), s2(2);
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()})}));
  EXPECT_EQ(Status().shards_size(), 2);
  // A different --shards on restart is ignored: the durable ring wins.
  Restart(Options({Shard(7, {s1.address()})}));
  pb::ClusterStatusResponse status = Status();
  EXPECT_EQ(status.epoch(), 1u);
  ASSERT_EQ(status.shards_size(), 2);
  EXPECT_EQ(status.shards(0).shard_id(), 1u);
  EXPECT_EQ(status.shards(0).leader(), s1.address());
  EXPECT_TRUE(status.shards(0).replicas(0).healthy());
  EXPECT_EQ(status.shards(0).replicas(0).role(), "leader");
  EXPECT_EQ(status.virtual_nodes(), ring::kDefaultVirtualNodes);
}

// ---- Batching -------------------------------------------------------------------------------

TEST_F(MasterTest, CoalescesConcurrentPutsIntoBatches) {
  FakeReplica r1(1);
  MasterOptions options = Options({Shard(1, {r1.address()})});
  options.batcher.attempt_timeout = absl::Seconds(60);  // The stalled batches stay in flight.
  options.batcher.max_in_flight = 2;
  Start(std::move(options));
  ASSERT_TRUE(Put("warm", "up").ok());  // Caches the leader (no cache: the Router's Execute).
  ASSERT_TRUE(r1.batch_sizes().empty());

  r1.BlockOps({pb::OP_PUT});
  constexpr int kPuts = 20;
  auto puts = StartPuts(kPuts, [this](std::string key, std::string value) {
    return Put(key, value, 0, 0, absl::Seconds(60));
  });
  // max_in_flight = 2: two batches stall at the leader, the other puts queue behind them.
  ASSERT_TRUE(r1.AwaitBlocked(2, absl::Seconds(30)));
  // Not an assertion: time for the started calls to reach the queue (only two must have).
  absl::SleepFor(absl::Seconds(1));
  r1.Release();
  for (auto& put : puts) {
    grpc::Status status = put.get();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  std::map<std::string, std::string> want = {{"warm", "up"}};
  for (int i = 0; i < kPuts; ++i) want[absl::StrCat("key", i)] = absl::StrCat("value", i);
  EXPECT_EQ(r1.data(), want);
  const std::vector<int> sizes = r1.batch_sizes();
  // Every put was sent once, in a batch (no fallback), and fewer calls than puts were made.
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), 0), kPuts);
  EXPECT_LT(sizes.size(), static_cast<size_t>(kPuts));
  EXPECT_GT(*std::max_element(sizes.begin(), sizes.end()), 1);
  EXPECT_EQ(r1.execute_calls(), kPuts + 1);
  // Each put was applied once, under its own (client_id, seq).
  EXPECT_EQ(r1.applied().size(), static_cast<size_t>(kPuts + 1));
  EXPECT_EQ(Ids(r1.applied()).size(), static_cast<size_t>(kPuts + 1));
}

TEST_F(MasterTest, BatchToFormerLeaderFallsBackToTheHintedLeader) {
  FakeReplica a(1), b(1);
  MasterOptions options = Options({Shard(1, {a.address(), b.address()})});
  options.batcher.attempt_timeout = absl::Seconds(60);
  options.batcher.max_in_flight = 2;
  Start(std::move(options));
  ASSERT_TRUE(Put("warm", "up").ok());  // a is asked first, leads, and is cached.
  ASSERT_EQ(a.data().count("warm"), 1u);

  // Batches stall at a, which then loses leadership to b while they are in flight.
  a.BlockOps({pb::OP_PUT});
  constexpr int kPuts = 10;
  auto puts = StartPuts(kPuts, [this](std::string key, std::string value) {
    return Put(key, value, 0, 0, absl::Seconds(60));
  });
  ASSERT_TRUE(a.AwaitBlocked(2, absl::Seconds(30)));
  a.SetMode(FakeReplica::Mode::kFollower, b.address());
  a.Release();
  for (auto& put : puts) {
    grpc::Status status = put.get();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  EXPECT_GE(a.batch_sizes().size(), 2u);  // The batch path was taken, and refused.
  EXPECT_EQ(a.data(), (std::map<std::string, std::string>{{"warm", "up"}}));
  EXPECT_EQ(a.applied().size(), 1u);  // The follower applied nothing of the batches.
  std::map<std::string, std::string> want;
  for (int i = 0; i < kPuts; ++i) want[absl::StrCat("key", i)] = absl::StrCat("value", i);
  EXPECT_EQ(b.data(), want);
  // Each command reached b once and was applied once.
  std::map<std::string, int> received;
  for (const pb::Command& c : b.commands()) ++received[c.key()];
  for (const auto& [key, value] : want) EXPECT_EQ(received[key], 1) << key;
  EXPECT_EQ(b.applied().size(), static_cast<size_t>(kPuts));
  EXPECT_EQ(Ids(b.applied()).size(), static_cast<size_t>(kPuts));
  // b is cached now: the next put is one batch to b.
  const size_t b_batches = b.batch_sizes().size();
  ASSERT_TRUE(Put("after", "failover").ok());
  EXPECT_EQ(b.batch_sizes().size(), b_batches + 1);
  EXPECT_EQ(b.data().at("after"), "failover");
}

TEST_F(MasterTest, BatchToUnavailableLeaderFailsOver) {
  FakeReplica a(1), b(1);
  Start(Options({Shard(1, {a.address(), b.address()})}));
  ASSERT_TRUE(Put("warm", "up").ok());  // a is cached.
  a.SetMode(FakeReplica::Mode::kUnavailable);
  ASSERT_TRUE(Put("k", "v").ok());
  EXPECT_EQ(a.batch_sizes(), std::vector<int>{1});  // Tried as a batch, refused as a whole.
  EXPECT_EQ(a.data().count("k"), 0u);
  EXPECT_EQ(b.data().at("k"), "v");
}

TEST_F(MasterTest, BatchedCommandsKeepTheirOwnOutcomes) {
  FakeReplica r1(1);
  Start(Options({Shard(1, {r1.address()})}));
  ASSERT_TRUE(Put("present", "v").ok());  // Caches the leader, so what follows is batched.
  std::string value;
  grpc::Status missing = Get("missing", &value);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_message(), "key not found");
  ASSERT_TRUE(Get("present", &value).ok());
  EXPECT_EQ(value, "v");
  bool deleted = false;
  ASSERT_TRUE(Delete("present", &deleted).ok());
  EXPECT_TRUE(deleted);
  ASSERT_TRUE(Delete("present", &deleted).ok());
  EXPECT_FALSE(deleted);
  missing = Get("present", &value);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(missing.error_message(), "key not found");
  // Each went once through ExecuteBatch (a NOT_FOUND outcome is final, not a fallback).
  EXPECT_EQ(r1.batch_sizes(), std::vector<int>(5, 1));
  EXPECT_EQ(r1.execute_calls(), 6);
  EXPECT_TRUE(r1.data().empty());
}

TEST_F(MasterTest, MaxCommandsOneDisablesBatching) {
  FakeReplica r1(1);
  MasterOptions options = Options({Shard(1, {r1.address()})});
  options.batcher.max_commands = 1;
  Start(std::move(options));
  constexpr int kPuts = 10;
  auto puts = StartPuts(kPuts, [this](std::string key, std::string value) {
    return Put(key, value, 0, 0, absl::Seconds(60));
  });
  for (auto& put : puts) {
    grpc::Status status = put.get();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_TRUE(Put("after", "warm").ok());  // The leader is cached; still no batch.
  EXPECT_TRUE(r1.batch_sizes().empty());
  EXPECT_EQ(r1.execute_calls(), kPuts + 1);
  EXPECT_EQ(r1.data().size(), static_cast<size_t>(kPuts + 1));
  std::string value;
  ASSERT_TRUE(Get("key3", &value).ok());
  EXPECT_EQ(value, "value3");
}

TEST_F(MasterTest, BatchedRequestsHoldNoThreadWhileTheyWait) {
  FakeReplica r1(1);
  MasterOptions options = Options({Shard(1, {r1.address()})});
  options.batcher.attempt_timeout = absl::Seconds(60);  // The stalled batches stay in flight.
  options.batcher.max_in_flight = 2;
  options.max_blocking_threads = 2;
  // 4 sync handler threads: a gateway parking a thread per request would refuse most of what
  // follows with RESOURCE_EXHAUSTED.
  Start(std::move(options), /*max_threads=*/4);
  ASSERT_TRUE(Put("warm", "up").ok());  // Caches the leader.

  r1.BlockOps({pb::OP_PUT});
  constexpr int kPuts = 64;
  auto puts = StartPuts(kPuts, [this](std::string key, std::string value) {
    return Put(key, value, 0, 0, absl::Seconds(60));
  });
  ASSERT_TRUE(r1.AwaitBlocked(2, absl::Seconds(30)));
  // Not an assertion: time for the started calls to reach the master's queue.
  absl::SleepFor(absl::Seconds(1));
  r1.Release();
  for (auto& put : puts) {
    grpc::Status status = put.get();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(r1.data().size(), static_cast<size_t>(kPuts + 1));
  // All of them went in batches (only the warm-up, with no leader cached yet, took the
  // Router's blocking path).
  const std::vector<int> sizes = r1.batch_sizes();
  EXPECT_EQ(std::accumulate(sizes.begin(), sizes.end(), 0), kPuts);
  EXPECT_EQ(r1.execute_calls(), kPuts + 1);
}

TEST_F(MasterTest, QueuedCommandPastItsDeadlineIsNeverSent) {
  FakeReplica r1(1);
  MasterOptions options = Options({Shard(1, {r1.address()})});
  options.batcher.attempt_timeout = absl::Seconds(60);
  options.batcher.max_in_flight = 2;
  Start(std::move(options));
  ASSERT_TRUE(Put("warm", "up").ok());

  r1.BlockOps({pb::OP_PUT});
  auto stalled = StartPuts(2, [this](std::string key, std::string value) {
    return Put(key, value, 0, 0, absl::Seconds(60));
  });
  ASSERT_TRUE(r1.AwaitBlocked(2, absl::Seconds(30)));   // both batch slots are taken
  grpc::Status late = Put("late", "v", 0, 0, absl::Milliseconds(300));
  EXPECT_EQ(late.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << late.error_message();
  r1.Release();
  for (auto& put : stalled) EXPECT_TRUE(put.get().ok());
  ASSERT_TRUE(Put("after", "v").ok());   // the queue has moved past "late"
  EXPECT_EQ(r1.data().count("late"), 0u);
  for (const pb::Command& command : r1.commands()) EXPECT_NE(command.key(), "late");
}

// ---- AddShard -------------------------------------------------------------------------------

TEST_F(MasterTest, AddShardValidationErrorsChangeNothing) {
  FakeReplica s1(1), s2(2);
  FakeReplica follower(3), wrong_shard(8);
  follower.SetMode(FakeReplica::Mode::kFollower, "");
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()})}));
  const std::string state_before = ReadFile(dir_ + "/master_state.pb");
  ASSERT_FALSE(state_before.empty());
  struct Case {
    uint32_t id;
    std::vector<std::string> replicas;
    grpc::StatusCode code;
  };
  const std::vector<Case> cases = {
      {0, {follower.address()}, grpc::StatusCode::INVALID_ARGUMENT},
      {2, {follower.address()}, grpc::StatusCode::ALREADY_EXISTS},
      {3, {}, grpc::StatusCode::INVALID_ARGUMENT},
      {3, {"no-port"}, grpc::StatusCode::INVALID_ARGUMENT},
      {3, {"127.0.0.1:99999"}, grpc::StatusCode::INVALID_ARGUMENT},
      {3, {follower.address(), follower.address()}, grpc::StatusCode::INVALID_ARGUMENT},
      {3, {DeadAddress(), DeadAddress()}, grpc::StatusCode::INVALID_ARGUMENT},  // Even.
      {3, std::vector<std::string>(9, DeadAddress()), grpc::StatusCode::INVALID_ARGUMENT},
      {3, {s1.address()}, grpc::StatusCode::INVALID_ARGUMENT},  // Belongs to shard 1.
      {3, {DeadAddress()}, grpc::StatusCode::UNAVAILABLE},
      {3, {follower.address()}, grpc::StatusCode::UNAVAILABLE},  // No leader.
      {3, {wrong_shard.address()}, grpc::StatusCode::FAILED_PRECONDITION},
  };
  for (const Case& c : cases) {
    pb::AddShardResponse response;
    grpc::Status status = AddShard(c.id, c.replicas, &response);
    EXPECT_EQ(status.error_code(), c.code)
        << "shard " << c.id << " first replica "
        << (c.replicas.empty() ? "-" : c.replicas[0]) << ": " << status.error_message();
    EXPECT_FALSE(status.error_message().empty());
  }
  EXPECT_EQ(ReadFile(dir_ + "/master_state.pb"), state_before);
  pb::ClusterStatusResponse status = Status();
  EXPECT_EQ(status.epoch(), 1u);
  EXPECT_EQ(status.shards_size(), 2);
  EXPECT_FALSE(status.migration().running());
  EXPECT_EQ(server_->master()->ring()->shards(), (std::vector<uint32_t>{1, 2}));
  for (const FakeReplica* r : {&s1, &s2, &follower, &wrong_shard}) {
    EXPECT_EQ(r->execute_calls(), 0);
  }
}

TEST_F(MasterTest, AddShardMovesExactlyTheKeysTheNewRingNames) {
  FakeReplica s1(1), s2(2), s3(3);
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()})}));
  const auto old_ring = server_->master()->ring();
  const ring::HashRing next = *old_ring->WithShard(3);
  std::map<std::string, std::string> all;
  for (int i = 0; i < 300; ++i) {
    const std::string key = absl::StrCat("key-", i);
    all[key] = absl::StrCat("value-", i);
    ASSERT_TRUE(Put(key, all[key]).ok());
  }
  // A client write whose key will move: its dedup entry must travel with it.
  const std::string moving_key = [&] {
    for (int i = 0;; ++i) {
      std::string key = absl::StrCat("dedup-", i);
      if (next.OwnerOf(key) == 3) return key;
    }
  }();
  ASSERT_TRUE(Put(moving_key, "once", 77, 1).ok());
  all[moving_key] = "once";

  pb::AddShardResponse response;
  grpc::Status added = AddShard(3, {s3.address()}, &response);
  ASSERT_TRUE(added.ok()) << added.error_message();
  EXPECT_EQ(response.epoch(), 2u);
  uint64_t expected_moved = 0;
  for (const auto& [key, value] : all) expected_moved += next.OwnerOf(key) == 3 ? 1 : 0;
  EXPECT_EQ(response.keys_moved(), expected_moved);
  EXPECT_GT(expected_moved, 0u);

  for (auto [fake, id] : {std::pair{&s1, 1u}, std::pair{&s2, 2u}, std::pair{&s3, 3u}}) {
    std::map<std::string, std::string> want;
    for (const auto& [key, value] : all) {
      if (next.OwnerOf(key) == id) want[key] = value;
    }
    EXPECT_EQ(fake->data(), want) << "shard " << id;
  }
  EXPECT_EQ(s3.dedup_keys().count({77, 1}), 1u);
  // A late retry of (77, 1) reaches the new shard and is not applied again.
  ASSERT_TRUE(Put(moving_key, "once", 77, 1).ok());
  EXPECT_EQ(s3.data().at(moving_key), "once");
  for (const pb::Command& c : s3.applied()) {
    EXPECT_FALSE(c.client_id() == 77 && c.seq() == 1) << "applied again at the new shard";
  }
  for (const auto& [key, value] : all) {
    std::string got;
    ASSERT_TRUE(Get(key, &got).ok()) << key;
    EXPECT_EQ(got, value);
  }
  pb::ClusterStatusResponse status = Status();
  EXPECT_EQ(status.epoch(), 2u);
  EXPECT_EQ(status.shards_size(), 3);
  EXPECT_FALSE(status.migration().running());
  EXPECT_EQ(status.migration().keys_moved(), expected_moved);
  // The new ring is durable.
  Restart(Options({Shard(1, {s1.address()})}));
  EXPECT_EQ(server_->master()->ring()->epoch(), 2u);
  EXPECT_EQ(server_->master()->ring()->shards(), (std::vector<uint32_t>{1, 2, 3}));
}

TEST_F(MasterTest, OnlyTheRangeBeingMovedWaitsAndMovedRangesGoToTheirNewOwner) {
  FakeReplica s1(1), s2(2), s3(3), s4(4);
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()})}));
  const auto old_ring = server_->master()->ring();
  const ring::HashRing next = *old_ring->WithShard(3);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Put(absl::StrCat("key-", i), "old").ok());
  // Ranges move one at a time, in the order of the plan: block the second one's fence (the
  // first range is moved by then).
  const std::vector<ring::MovingRange> moving = old_ring->Diff(next);
  ASSERT_GE(moving.size(), 3u);
  FakeReplica* second_from = moving[1].from_shard == 1 ? &s1 : &s2;
  second_from->BlockOps({pb::OP_FREEZE_RANGES},
                        /*pass=*/moving[0].from_shard == moving[1].from_shard ? 1 : 0);
  std::future<grpc::Status> adding = std::async(std::launch::async, [&] {
    pb::AddShardResponse response;
    return AddShard(3, {s3.address()}, &response);
  });
  ASSERT_TRUE(second_from->AwaitBlocked(1, absl::Seconds(30)));  // Moving the second range.

  const std::string moved_key = KeyIn(moving[0].range, "fresh-");
  const std::string moving_key = KeyIn(moving[1].range, "fresh-");
  const std::string later_key = KeyIn(moving.back().range, "fresh-");
  std::string staying_key;
  for (int i = 0; staying_key.empty(); ++i) {
    const std::string key = absl::StrCat("fresh-", i);
    if (next.OwnerOf(key) != 3) staying_key = key;
  }
  std::future<grpc::Status> paused =
      std::async(std::launch::async, [&] { return Put(moving_key, "new", 0, 0, absl::Seconds(60)); });
  ASSERT_TRUE(server_->master()->AwaitWaitingRequests(1, absl::Now() + absl::Seconds(30)));
  // Keys outside the moving ranges are served meanwhile, and so are those of the ranges that
  // move later (by their old shard).
  ASSERT_TRUE(Put(staying_key, "served").ok());
  ASSERT_TRUE(Put(later_key, "early", 77, 1).ok());
  FakeReplica* later_from = moving.back().from_shard == 1 ? &s1 : &s2;
  EXPECT_EQ(later_from->data().at(later_key), "early");
  // A range already moved is served by its new owner before the ring switches.
  ASSERT_TRUE(Put(moved_key, "moved").ok());
  EXPECT_EQ(s3.data().at(moved_key), "moved");
  EXPECT_EQ(server_->master()->waiting_requests(), 1);
  // A second AddShard is refused while one runs.
  pb::AddShardResponse response;
  EXPECT_EQ(AddShard(4, {s4.address()}, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(Status().migration().running());
  EXPECT_EQ(paused.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

  second_from->Release();
  grpc::Status added = adding.get();
  ASSERT_TRUE(added.ok()) << added.error_message();
  ASSERT_TRUE(paused.get().ok());
  EXPECT_EQ(s3.data().at(moving_key), "new");
  EXPECT_EQ(s1.data().count(moving_key) + s2.data().count(moving_key), 0u);
  EXPECT_EQ(s3.data().at(later_key), "early");  // moved with its range
  EXPECT_EQ(s1.data().count(later_key) + s2.data().count(later_key), 0u);
  // Its range carried the old shard's dedup table as it was when that range was fenced (after
  // the first range's import): a late retry of (77, 1) is recognised, not applied again.
  ASSERT_TRUE(Put(later_key, "early", 77, 1).ok());
  EXPECT_EQ(s3.data().at(later_key), "early");
  for (const pb::Command& c : s3.applied()) {
    EXPECT_FALSE(c.client_id() == 77 && c.seq() == 1) << "applied again at the new shard";
  }
  std::string value;
  ASSERT_TRUE(Get(moving_key, &value).ok());
  EXPECT_EQ(value, "new");
}

// Goal: a range is copied while it still serves, and what changes in it meanwhile (an
// overwrite, a delete, a new key) moves with it; the pause is only for those changes. Method:
// every moving range holds two keys; the new shard holds the first pre-copy import; meanwhile
// requests to that range are served by its old shard at once (none waits at the master).
TEST_F(MasterTest, ARangeServesWhileItIsCopiedAndWhatChangesMeanwhileMovesWithIt) {
  FakeReplica s1(1), s2(2), s3(3);
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()})}));
  const auto old_ring = server_->master()->ring();
  const ring::HashRing next = *old_ring->WithShard(3);
  std::map<std::string, std::string> all;
  for (const ring::MovingRange& m : old_ring->Diff(next)) {
    for (const char* prefix : {"first-", "second-"}) {
      const std::string key = KeyIn(m.range, absl::StrCat(prefix, m.range.begin(), "-"));
      all[key] = "old";
      ASSERT_TRUE(Put(key, "old").ok());
    }
  }
  // The first import is the old shard's dedup table (one import: it is small here), sent
  // before any range is paused; the second, held, is the first range's two keys.
  s3.BlockOps({pb::OP_IMPORT}, /*pass=*/1);
  std::future<grpc::Status> adding = std::async(std::launch::async, [&] {
    pb::AddShardResponse response;
    return AddShard(3, {s3.address()}, &response);
  });
  ASSERT_TRUE(s3.AwaitBlocked(1, absl::Seconds(30)));
  const std::vector<pb::Command> imports = MigrationWrites(s3.commands());
  ASSERT_EQ(imports.size(), 2u);
  EXPECT_GT(imports[0].import_dedup_size(), 0);
  EXPECT_EQ(imports[0].import_entries_size(), 0);
  const pb::Command precopy = imports[1];
  ASSERT_EQ(precopy.import_entries_size(), 2);  // the two keys of the first range
  ASSERT_EQ(precopy.import_dedup_size(), 0);
  const std::string overwritten = precopy.import_entries(0).key();
  const std::string deleted = precopy.import_entries(1).key();
  pb::HashRange range;
  for (const ring::MovingRange& m : old_ring->Diff(next)) {
    if (ring::HashRing::RangeContains(m.range, ring::StableHash(overwritten))) range = m.range;
  }
  const std::string added = KeyIn(range, "added-");
  const uint32_t from = old_ring->OwnerOf(overwritten);
  FakeReplica* old_shard = from == 1 ? &s1 : &s2;

  // Served at once by the old shard, while its copy is held.
  ASSERT_TRUE(Put(overwritten, "changed", 88, 1).ok());
  bool existed = false;
  ASSERT_TRUE(Delete(deleted, &existed).ok());
  EXPECT_TRUE(existed);
  ASSERT_TRUE(Put(added, "new").ok());
  EXPECT_EQ(old_shard->data().at(overwritten), "changed");
  EXPECT_EQ(server_->master()->waiting_requests(), 0);
  all[overwritten] = "changed";
  all.erase(deleted);
  all[added] = "new";

  s3.Release();
  grpc::Status done = adding.get();
  ASSERT_TRUE(done.ok()) << done.error_message();
  for (auto [fake, id] : {std::pair{&s1, 1u}, std::pair{&s2, 2u}, std::pair{&s3, 3u}}) {
    std::map<std::string, std::string> want;
    for (const auto& [key, value] : all) {
      if (next.OwnerOf(key) == id) want[key] = value;
    }
    EXPECT_EQ(fake->data(), want) << "shard " << id;
  }
  // The overwrite's dedup entry moved too: its retry is answered, not applied again.
  ASSERT_TRUE(Put(overwritten, "changed", 88, 1).ok());
  for (const pb::Command& c : s3.applied()) {
    EXPECT_FALSE(c.client_id() == 88 && c.op() == pb::OP_PUT) << "applied again at shard 3";
  }
  // Every range was tracked at its old shard, and every tracking ended with its range.
  const size_t ranges = old_ring->Diff(next).size();
  size_t starts = 0;
  size_t stops = 0;
  for (FakeReplica* fake : {&s1, &s2}) {
    for (const pb::Command& c : fake->applied()) {
      if (c.op() != pb::OP_TRACK_CHANGES) continue;
      (c.track_stop() ? stops : starts) += 1;
    }
  }
  EXPECT_EQ(starts, ranges);
  EXPECT_EQ(stops, ranges);
  // Keys moved: those the moving ranges held at their fence (one added, one deleted).
  EXPECT_EQ(Status().migration().keys_moved(), 2 * ranges);
}

// Goal: a master killed mid-migration resumes from its persisted plan and ends with every key
// exactly once in its new shard. Method: build the on-disk state a crash would leave (one range
// finished, the next half-copied with a key imported but not yet deleted), then open a master
// on that directory.
TEST_F(MasterTest, ResumesHalfDoneMigrationAfterCrash) {
  FakeReplica s1(1), s2(2), s3(3);
  const ring::HashRing old_ring = *ring::HashRing::Create(1, {1, 2});
  const ring::HashRing next = *old_ring.WithShard(3);
  std::map<uint32_t, FakeReplica*> fakes = {{1, &s1}, {2, &s2}, {3, &s3}};
  std::map<std::string, std::string> all;
  std::map<uint32_t, std::map<std::string, std::string>> initial;
  for (int i = 0; i < 400; ++i) {
    const std::string key = absl::StrCat("key-", i);
    all[key] = absl::StrCat("v", i);
    initial[old_ring.OwnerOf(key)][key] = all[key];
  }
  std::vector<ring::MovingRange> moving = old_ring.Diff(next);
  ASSERT_GE(moving.size(), 2u);

  pb::MasterState state;
  state.mutable_ring()->set_epoch(1);
  state.mutable_ring()->set_virtual_nodes(old_ring.virtual_nodes());
  *state.mutable_ring()->add_shards() = Shard(1, {s1.address()});
  *state.mutable_ring()->add_shards() = Shard(2, {s2.address()});
  pb::MigrationPlan* plan = state.mutable_migration();
  *plan->mutable_new_shard() = Shard(3, {s3.address()});
  *plan->mutable_next_ring() = state.ring();
  plan->mutable_next_ring()->set_epoch(2);
  *plan->mutable_next_ring()->add_shards() = Shard(3, {s3.address()});
  plan->set_phase("copying");
  for (const auto& m : moving) {
    pb::MigrationRange* range = plan->add_ranges();
    *range->mutable_range() = m.range;
    range->set_from_shard(m.from_shard);
    range->set_to_shard(m.to_shard);
  }
  // Range 0: finished before the crash.
  std::map<std::string, std::string> new_shard;
  auto keys_in = [&](const pb::HashRange& r) {
    std::vector<std::pair<uint64_t, std::string>> keys;
    for (const auto& [key, value] : all) {
      const uint64_t h = ring::StableHash(key);
      if (ring::HashRing::RangeContains(r, h)) keys.emplace_back(h, key);
    }
    std::sort(keys.begin(), keys.end());
    return keys;
  };
  pb::MigrationRange* done = plan->mutable_ranges(0);
  for (const auto& [h, key] : keys_in(done->range())) {
    new_shard[key] = all[key];
    initial[done->from_shard()].erase(key);
  }
  done->set_started(true);
  done->set_done(true);
  // The first range with at least two keys after range 0: its first key copied and deleted
  // (cursor persisted), its second key imported but not yet deleted (crash).
  int half = -1;
  for (int i = 1; i < plan->ranges_size() && half < 0; ++i) {
    if (keys_in(plan->ranges(i).range()).size() >= 2) half = i;
  }
  ASSERT_GT(half, 0);
  pb::MigrationRange* partial = plan->mutable_ranges(half);
  const auto partial_keys = keys_in(partial->range());
  new_shard[partial_keys[0].second] = all[partial_keys[0].second];
  initial[partial->from_shard()].erase(partial_keys[0].second);
  partial->set_started(true);
  partial->set_after_hash(partial_keys[0].first);
  partial->set_after_key(partial_keys[0].second);
  new_shard[partial_keys[1].second] = all[partial_keys[1].second];  // Imported, not deleted.
  plan->add_dedup_imported_from(partial->from_shard());
  plan->set_keys_moved(new_shard.size());

  s1.SetData(initial[1]);
  s2.SetData(initial[2]);
  s3.SetData(new_shard);
  auto store = FileConfigStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Save(nullptr, state).ok());

  Start(Options({}));  // --shards is ignored: the directory holds a ring.
  ASSERT_TRUE(server_->master()->AwaitMigrationIdle(absl::Now() + absl::Seconds(60)));
  EXPECT_EQ(server_->master()->ring()->epoch(), 2u);
  for (const auto& [id, fake] : fakes) {
    std::map<std::string, std::string> want;
    for (const auto& [key, value] : all) {
      if (next.OwnerOf(key) == id) want[key] = value;
    }
    EXPECT_EQ(fake->data(), want) << "shard " << id;
  }
  auto saved = (*store)->Load();
  ASSERT_TRUE(saved.ok());
  EXPECT_FALSE(saved->has_migration());
  EXPECT_EQ(saved->ring().epoch(), 2u);
  EXPECT_EQ(saved->ring().shards_size(), 3);
  for (const auto& [key, value] : all) {
    std::string got;
    ASSERT_TRUE(Get(key, &got).ok()) << key;
    EXPECT_EQ(got, value);
  }
  // The plan came from an older master, without a client id: the run drew one and kept it.
  std::set<uint64_t> ids;
  for (const auto& [id, fake] : fakes) {
    for (const pb::Command& c : MigrationWrites(fake->commands())) ids.insert(c.client_id());
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids.count(0), 0u);
}

// Safety review F6. Goal: a migration resumed after a master restart writes under the client
// id its plan was made with, with seqs above every seq the interrupted run may have used, so a
// stray write of that run that reaches a replica late is refused as stale, never applied.
// Method: the new shard lets 3 imports through and holds the 4th; the master shuts down
// meanwhile (the held import lands after that, as a stray would); a new master resumes and
// finishes the move; then one of the first run's imports is delivered again.
TEST_F(MasterTest, ResumedMigrationKeepsItsClientIdAndContinuesItsSeqs) {
  FakeReplica s1(1), s2(2), s3(3);
  std::map<uint32_t, FakeReplica*> fakes = {{1, &s1}, {2, &s2}, {3, &s3}};
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()})}));
  const ring::HashRing next = *server_->master()->ring()->WithShard(3);
  std::map<std::string, std::string> all;
  for (int i = 0; i < 300; ++i) {
    const std::string key = absl::StrCat("key-", i);
    all[key] = absl::StrCat("value-", i);
    ASSERT_TRUE(Put(key, all[key]).ok());
  }
  s3.BlockOps({pb::OP_IMPORT}, /*pass=*/3);
  std::future<grpc::Status> adding = std::async(std::launch::async, [&] {
    pb::AddShardResponse response;
    return AddShard(3, {s3.address()}, &response);
  });
  ASSERT_TRUE(s3.AwaitBlocked(1, absl::Seconds(30)));
  auto store = FileConfigStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  const uint64_t client_id = (*store)->Load()->migration().client_id();
  ASSERT_NE(client_id, 0u);

  server_->Shutdown();   // the migration stops; its plan stays on disk
  EXPECT_FALSE(adding.get().ok());
  server_.reset();
  const pb::MigrationPlan interrupted = (*store)->Load()->migration();
  EXPECT_EQ(interrupted.client_id(), client_id);
  std::map<uint32_t, size_t> first_run_commands;
  uint64_t first_run_seq_max = 0;
  for (const auto& [id, fake] : fakes) {
    first_run_commands[id] = fake->commands().size();
    for (const pb::Command& c : MigrationWrites(fake->commands())) {
      EXPECT_EQ(c.client_id(), client_id);
      first_run_seq_max = std::max(first_run_seq_max, c.seq());
    }
  }
  EXPECT_LT(first_run_seq_max, interrupted.next_seq());   // every used seq was reserved
  const std::vector<pb::Command> first_imports = MigrationWrites(s3.commands());
  ASSERT_GE(first_imports.size(), 4u);
  s3.Release();   // the held import lands now

  Start(Options({}));
  ASSERT_TRUE(server_->master()->AwaitMigrationIdle(absl::Now() + absl::Seconds(60)));
  EXPECT_EQ(server_->master()->ring()->epoch(), 2u);
  int resumed_writes = 0;
  for (const auto& [id, fake] : fakes) {
    const std::vector<pb::Command> commands = fake->commands();
    const std::vector<pb::Command> resumed = MigrationWrites(std::vector<pb::Command>(
        commands.begin() + static_cast<long>(first_run_commands[id]), commands.end()));
    for (const pb::Command& c : resumed) {
      EXPECT_EQ(c.client_id(), client_id);
      EXPECT_GE(c.seq(), interrupted.next_seq());
      EXPECT_EQ(c.ack_below(), c.seq());
      ++resumed_writes;
    }
    std::map<std::string, std::string> want;
    for (const auto& [key, value] : all) {
      if (next.OwnerOf(key) == id) want[key] = value;
    }
    EXPECT_EQ(fake->data(), want) << "shard " << id;
  }
  EXPECT_GT(resumed_writes, 0);

  // The first run's first import, delivered again (a copy stranded in a deposed leader's log
  // would be re-proposed like this): the new shard's dedup table refuses it as stale.
  auto stub = pb::Migration::NewStub(
      grpc::CreateChannel(s3.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  SetDeadline(&context, absl::Seconds(10));
  pb::CommandResult result;
  grpc::Status stray = stub->Execute(&context, first_imports.front(), &result);
  EXPECT_EQ(stray.error_code(), grpc::StatusCode::ABORTED) << stray.error_message();
}

// ---- RemoveShard ----------------------------------------------------------------------------

TEST_F(MasterTest, RemoveShardValidationErrorsChangeNothing) {
  FakeReplica s1(1), s2(2), s3(3);
  s3.SetMode(FakeReplica::Mode::kUnavailable);
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()}), Shard(3, {s3.address()})}));
  const std::string state_before = ReadFile(dir_ + "/master_state.pb");
  const std::vector<std::pair<uint32_t, grpc::StatusCode>> cases = {
      {0, grpc::StatusCode::INVALID_ARGUMENT},
      {9, grpc::StatusCode::NOT_FOUND},
      {1, grpc::StatusCode::UNAVAILABLE},  // shard 3, an heir, has no leader
      {3, grpc::StatusCode::UNAVAILABLE},  // the leaving shard has no leader
  };
  for (const auto& [id, code] : cases) {
    pb::RemoveShardResponse response;
    grpc::Status status = RemoveShard(id, &response);
    EXPECT_EQ(status.error_code(), code) << "shard " << id << ": " << status.error_message();
    EXPECT_FALSE(status.error_message().empty());
  }
  EXPECT_EQ(ReadFile(dir_ + "/master_state.pb"), state_before);
  EXPECT_EQ(server_->master()->ring()->shards(), (std::vector<uint32_t>{1, 2, 3}));
  for (const FakeReplica* r : {&s1, &s2, &s3}) {
    for (const pb::Command& c : r->commands()) EXPECT_NE(c.op(), pb::OP_FREEZE_RANGES);
  }

  // The last shard cannot go: its keys would have nowhere to live.
  FakeReplica only(7);
  const std::string other_dir = MakeTempDir();
  MasterOptions options = Options({Shard(7, {only.address()})});
  options.data_dir = other_dir;
  Restart(std::move(options));
  pb::RemoveShardResponse response;
  grpc::Status last = RemoveShard(7, &response);
  EXPECT_EQ(last.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << last.error_message();
  EXPECT_EQ(server_->master()->ring()->shards(), (std::vector<uint32_t>{7}));
}

TEST_F(MasterTest, RemoveShardMovesItsKeysToTheirNewOwnersWithTheirDedupEntries) {
  FakeReplica s1(1), s2(2), s3(3), s4(4);
  std::map<uint32_t, FakeReplica*> fakes = {{1, &s1}, {2, &s2}, {3, &s3}, {4, &s4}};
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()}), Shard(3, {s3.address()}),
                 Shard(4, {s4.address()})}));
  const auto old_ring = server_->master()->ring();
  const ring::HashRing next = *old_ring->WithoutShard(2);
  std::map<std::string, std::string> all;
  for (int i = 0; i < 400; ++i) {
    const std::string key = absl::StrCat("key-", i);
    all[key] = absl::StrCat("value-", i);
    ASSERT_TRUE(Put(key, all[key]).ok());
  }
  // Client 77 wrote once to a key of shard 2 that goes to each heir: every heir must know the
  // write, since a retry may come for any of them (one client id, one dedup window per shard).
  std::map<uint32_t, std::string> dedup_key;  // heir -> key
  for (int i = 0; dedup_key.size() < 3; ++i) {
    const std::string key = absl::StrCat("dedup-", i);
    if (old_ring->OwnerOf(key) == 2 && dedup_key.count(next.OwnerOf(key)) == 0) {
      dedup_key[next.OwnerOf(key)] = key;
    }
  }
  uint64_t seq = 0;
  std::map<uint32_t, uint64_t> dedup_seq;
  for (const auto& [heir, key] : dedup_key) {
    dedup_seq[heir] = ++seq;
    ASSERT_TRUE(Put(key, "once", 77, seq).ok());
    all[key] = "once";
  }
  uint64_t expected_moved = 0;
  for (const auto& [key, value] : all) expected_moved += old_ring->OwnerOf(key) == 2 ? 1 : 0;

  pb::RemoveShardResponse response;
  grpc::Status removed = RemoveShard(2, &response);
  ASSERT_TRUE(removed.ok()) << removed.error_message();
  EXPECT_EQ(response.epoch(), 2u);
  EXPECT_EQ(response.keys_moved(), expected_moved);
  EXPECT_GT(expected_moved, 0u);

  for (const auto& [id, fake] : fakes) {
    std::map<std::string, std::string> want;
    for (const auto& [key, value] : all) {
      if (id != 2 && next.OwnerOf(key) == id) want[key] = value;
    }
    EXPECT_EQ(fake->data(), want) << "shard " << id;
  }
  for (const auto& [heir, key] : dedup_key) {
    for (uint64_t s = 1; s <= seq; ++s) {
      EXPECT_EQ(fakes[heir]->dedup_keys().count({77, s}), 1u) << "heir " << heir << " seq " << s;
    }
    // A late retry reaches the heir and is answered from its table, not applied again.
    ASSERT_TRUE(Put(key, "once", 77, dedup_seq[heir]).ok());
    for (const pb::Command& c : fakes[heir]->applied()) {
      EXPECT_FALSE(c.client_id() == 77 && c.op() == pb::OP_PUT) << "applied again at " << heir;
    }
  }
  for (const auto& [key, value] : all) {
    std::string got;
    ASSERT_TRUE(Get(key, &got).ok()) << key;
    EXPECT_EQ(got, value);
  }
  const size_t s2_commands = s2.commands().size();
  ASSERT_TRUE(Put(dedup_key.begin()->second, "after").ok());
  all[dedup_key.begin()->second] = "after";
  EXPECT_EQ(s2.commands().size(), s2_commands) << "nothing routes to a removed shard";

  pb::ClusterStatusResponse status = Status();
  EXPECT_EQ(status.epoch(), 2u);
  ASSERT_EQ(status.shards_size(), 3);
  for (const auto& shard : status.shards()) EXPECT_NE(shard.shard_id(), 2u);
  EXPECT_FALSE(status.migration().running());
  EXPECT_EQ(status.migration().kind(), "remove");
  EXPECT_EQ(status.migration().shard_id(), 2u);
  EXPECT_EQ(status.migration().keys_moved(), expected_moved);

  // Gone for good: removing again is NOT_FOUND, and the id is never used again, even after a
  // restart (the removed id is in the durable ring).
  EXPECT_EQ(RemoveShard(2, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  Restart(Options({}));
  EXPECT_EQ(server_->master()->ring()->epoch(), 2u);
  EXPECT_EQ(server_->master()->ring()->shards(), (std::vector<uint32_t>{1, 3, 4}));
  pb::AddShardResponse added;
  grpc::Status again = AddShard(2, {s2.address()}, &added);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << again.error_message();
  // The remaining shards can still be removed down to the last one.
  ASSERT_TRUE(RemoveShard(3, &response).ok());
  ASSERT_TRUE(RemoveShard(4, &response).ok());
  EXPECT_EQ(RemoveShard(1, &response).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s1.data(), all);
}

TEST_F(MasterTest, RemoveShardPausesOnlyTheLeavingShardsKeys) {
  FakeReplica s1(1), s2(2), s3(3), s4(4);
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()}), Shard(3, {s3.address()})}));
  const auto old_ring = server_->master()->ring();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Put(absl::StrCat("key-", i), "old").ok());
  // Ranges move one at a time, in the order of the plan: block the first one's fence.
  const std::vector<ring::MovingRange> moving = old_ring->Diff(*old_ring->WithoutShard(2));
  ASSERT_GE(moving.size(), 2u);
  s2.BlockOps({pb::OP_FREEZE_RANGES});
  std::future<grpc::Status> removing = std::async(std::launch::async, [&] {
    pb::RemoveShardResponse response;
    return RemoveShard(2, &response);
  });
  ASSERT_TRUE(s2.AwaitBlocked(1, absl::Seconds(30)));  // Moving the first range.
  const std::string leaving_key = KeyIn(moving.front().range, "fresh-");
  const std::string later_key = KeyIn(moving.back().range, "fresh-");
  const std::string staying_key = KeyOwnedBy(*old_ring, 3, "fresh-");
  std::future<grpc::Status> paused = std::async(
      std::launch::async, [&] { return Put(leaving_key, "new", 0, 0, absl::Seconds(60)); });
  ASSERT_TRUE(server_->master()->AwaitWaitingRequests(1, absl::Now() + absl::Seconds(30)));
  ASSERT_TRUE(Put(staying_key, "served").ok());
  ASSERT_TRUE(Put(later_key, "early").ok());  // the leaving shard still serves it
  EXPECT_EQ(s2.data().at(later_key), "early");
  pb::ClusterStatusResponse status = Status();
  EXPECT_TRUE(status.migration().running());
  EXPECT_EQ(status.migration().kind(), "remove");
  EXPECT_EQ(status.shards_size(), 3);  // the leaving shard is still listed
  // Progress per range: the plan's ranges, not all of them moved while a delete waits.
  const size_t ranges = old_ring->Diff(*old_ring->WithoutShard(2)).size();
  EXPECT_EQ(status.migration().ranges_to_move(), ranges);
  EXPECT_LT(status.migration().ranges_moved(), ranges);
  // No other change to the ring or to members meanwhile.
  pb::RemoveShardResponse response;
  EXPECT_EQ(RemoveShard(3, &response).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  pb::AddShardResponse added;
  EXPECT_EQ(AddShard(4, {s4.address()}, &added).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(paused.wait_for(std::chrono::seconds(0)), std::future_status::timeout);

  s2.Release();
  grpc::Status removed = removing.get();
  ASSERT_TRUE(removed.ok()) << removed.error_message();
  ASSERT_TRUE(paused.get().ok());
  EXPECT_TRUE(s2.data().empty());
  status = Status();
  EXPECT_EQ(status.migration().ranges_moved(), ranges);
  EXPECT_EQ(status.migration().ranges_to_move(), ranges);
  std::string value;
  ASSERT_TRUE(Get(leaving_key, &value).ok());
  EXPECT_EQ(value, "new");
  ASSERT_TRUE(Get(staying_key, &value).ok());
  EXPECT_EQ(value, "served");
  ASSERT_TRUE(Get(later_key, &value).ok());
  EXPECT_EQ(value, "early");
}

// Goal: a shard added and then removed gives its ranges back to the shards that gave them,
// and those serve them again: they lift the fence they set when the ranges left (found by
// bench/reshard.sh: without it every such key answered "wrong shard" until its deadline).
TEST_F(MasterTest, RangesComingBackToTheirOldShardAreServedThere) {
  FakeReplica s1(1), s2(2), s3(3);
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()})}));
  std::map<std::string, std::string> all;
  for (int i = 0; i < 300; ++i) {
    const std::string key = absl::StrCat("key-", i);
    all[key] = absl::StrCat("value-", i);
    ASSERT_TRUE(Put(key, all[key]).ok());
  }
  pb::AddShardResponse added;
  ASSERT_TRUE(AddShard(3, {s3.address()}, &added).ok());
  ASSERT_GT(added.keys_moved(), 0u);
  pb::RemoveShardResponse removed;
  ASSERT_TRUE(RemoveShard(3, &removed).ok());
  EXPECT_EQ(removed.keys_moved(), added.keys_moved());
  for (const auto& [key, value] : all) {
    std::string got;
    grpc::Status status = Get(key, &got, absl::Seconds(3));
    ASSERT_TRUE(status.ok()) << key << ": " << status.error_message();
    EXPECT_EQ(got, value);
    ASSERT_TRUE(Put(key, value + "-again", 0, 0, absl::Seconds(3)).ok()) << key;
  }
}

// Goal: a master stopped in the middle of a RemoveShard resumes it from its plan and ends with
// every key once, at its new owner, and the shard gone from the durable ring.
TEST_F(MasterTest, ResumesInterruptedRemoveShard) {
  FakeReplica s1(1), s2(2), s3(3);
  std::map<uint32_t, FakeReplica*> fakes = {{1, &s1}, {2, &s2}, {3, &s3}};
  Start(Options({Shard(1, {s1.address()}), Shard(2, {s2.address()}), Shard(3, {s3.address()})}));
  const ring::HashRing next = *server_->master()->ring()->WithoutShard(1);
  std::map<std::string, std::string> all;
  for (int i = 0; i < 300; ++i) {
    const std::string key = absl::StrCat("key-", i);
    all[key] = absl::StrCat("value-", i);
    ASSERT_TRUE(Put(key, all[key]).ok());
  }
  s1.BlockOps({pb::OP_DELETE_KEYS}, /*pass=*/2);
  std::future<grpc::Status> removing = std::async(std::launch::async, [&] {
    pb::RemoveShardResponse response;
    return RemoveShard(1, &response);
  });
  ASSERT_TRUE(s1.AwaitBlocked(1, absl::Seconds(30)));
  server_->Shutdown();  // the migration stops; its plan stays on disk
  EXPECT_FALSE(removing.get().ok());
  server_.reset();
  auto store = FileConfigStore::Open(dir_);
  ASSERT_TRUE(store.ok());
  const pb::MigrationPlan interrupted = (*store)->Load()->migration();
  EXPECT_EQ(interrupted.removed_shard(), 1u);
  EXPECT_GT(interrupted.keys_moved(), 0u);
  s1.Release();  // the held delete lands now (harmless: those keys were imported first)

  Start(Options({}));
  ASSERT_TRUE(server_->master()->AwaitMigrationIdle(absl::Now() + absl::Seconds(60)));
  EXPECT_EQ(server_->master()->ring()->shards(), (std::vector<uint32_t>{2, 3}));
  for (const auto& [id, fake] : fakes) {
    std::map<std::string, std::string> want;
    for (const auto& [key, value] : all) {
      if (id != 1 && next.OwnerOf(key) == id) want[key] = value;
    }
    EXPECT_EQ(fake->data(), want) << "shard " << id;
  }
  auto saved = (*store)->Load();
  ASSERT_TRUE(saved.ok());
  EXPECT_FALSE(saved->has_migration());
  EXPECT_EQ(saved->ring().shards_size(), 2);
  EXPECT_EQ(std::vector<uint32_t>(saved->ring().removed_shards().begin(),
                                  saved->ring().removed_shards().end()),
            (std::vector<uint32_t>{1}));
  for (const auto& [key, value] : all) {
    std::string got;
    ASSERT_TRUE(Get(key, &got).ok()) << key;
    EXPECT_EQ(got, value);
  }
}

TEST(ParseShardsFlagTest, ParsesAndRejects) {
  auto shards = ParseShardsFlag("2=127.0.0.1:7201,127.0.0.1:7202;1=h:1");
  ASSERT_TRUE(shards.ok()) << shards.status();
  ASSERT_EQ(shards->size(), 2u);
  EXPECT_EQ((*shards)[0].shard_id(), 1u);
  EXPECT_EQ((*shards)[1].replicas_size(), 2);
  for (const char* bad : {"", "0=h:1", "1=", "1=h", "1=h:0", "x=h:1", "1=h:1;1=h:2", "1=h:1x"}) {
    EXPECT_EQ(ParseShardsFlag(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace paxoskv::master

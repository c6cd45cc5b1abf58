// Goal: one shard of three in-process replicas, each a real ReplicaLoop with a RocksDB store
// on disk, a real gRPC server on 127.0.0.1 and the real async peer transport, serves
// Get/Put/Delete through its leader, redirects from followers, survives the loss of any one
// replica, and keeps every acknowledged write across a restart of all three.
// Method: drive it through paxoskv.v1.Replica stubs the way the master does (follow the
// leader hint, try others on UNAVAILABLE) and check every result.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/grpc_status.h"
#include "libs/common/logging.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/replica.grpc.pb.h"
#include "services/replica/replica_loop.h"
#include "services/replica/services.h"
#include "services/replica/transport.h"
#include "tests/replica/shard_router.h"

namespace paxoskv::replica {
namespace {

// Plaintext: these in-process replicas check no certificates (tests/integration covers TLS).
const Authorizer kPlaintext(/*enforce=*/false);

using paxoskv::v1::Command;
using paxoskv::v1::CommandResult;
using testing::ShardRouter;

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// One in-process replica: store + transport + loop + gRPC server. Destroying it is a crash
// as far as the others can tell (unsynced state is whatever RocksDB kept).
struct InProcessReplica {
  std::unique_ptr<ReplicaLoop> loop;
  std::unique_ptr<PaxosService> paxos_service;
  std::unique_ptr<ReplicaService> replica_service;
  std::unique_ptr<grpc::Server> server;

  ~InProcessReplica() {
    if (server) server->Shutdown(std::chrono::system_clock::now());
    if (loop) loop->Stop();
  }
};

class ReplicaGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::path(::testing::TempDir()) /
            absl::StrCat("replica_group_", getpid(), "_", absl::ToUnixNanos(absl::Now()));
    for (uint32_t id = 1; id <= 3; ++id) {
      members_[id] = absl::StrCat("127.0.0.1:", PickFreePort());
    }
    for (uint32_t id = 1; id <= 3; ++id) Start(id);
  }

  void TearDown() override {
    replicas_.clear();
    std::filesystem::remove_all(root_);
  }

  void Start(uint32_t id) {
    ReplicaOptions options;
    options.core.shard_id = 1;
    options.core.replica_id = id;
    options.core.members = members_;
    options.tick_ms = 10;
    options.core.election_timeout_ticks = 20;
    options.core.snapshot_every_commands = snapshot_every_;
    options.core.snapshot_chunk_bytes = snapshot_chunk_bytes_;
    auto store = storage::OpenRocksDbStore((root_ / absl::StrCat("r", id)).string());
    ASSERT_TRUE(store.ok()) << store.status();
    std::map<uint32_t, std::string> others = members_;
    others.erase(id);
    auto logger = GetLogger(absl::StrCat("test s1/n", id));
    auto transport =
        std::make_unique<PeerTransport>(others, TransportOptions{.shard_id = 1}, logger);
    auto loop = ReplicaLoop::Create(options, std::move(*store), std::move(transport), logger);
    ASSERT_TRUE(loop.ok()) << loop.status();
    auto replica = std::make_unique<InProcessReplica>();
    replica->loop = std::move(*loop);
    replica->paxos_service = std::make_unique<PaxosService>(replica->loop.get(), &kPlaintext);
    replica->replica_service = std::make_unique<ReplicaService>(replica->loop.get(), &kPlaintext,
                                                                /*direct_clients=*/false);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(members_[id], grpc::InsecureServerCredentials());
    builder.RegisterService(replica->paxos_service.get());
    builder.RegisterService(replica->replica_service.get());
    replica->server = builder.BuildAndStart();
    ASSERT_NE(replica->server, nullptr);
    replica->loop->Start();
    replicas_[id] = std::move(replica);
  }

  void Crash(uint32_t id) { replicas_.erase(id); }

  ShardRouter& router() {
    if (!router_) {
      std::vector<std::string> addresses;
      for (const auto& [id, address] : members_) addresses.push_back(address);
      router_ = std::make_unique<testing::ShardRouter>(addresses);
    }
    return *router_;
  }
  absl::StatusOr<CommandResult> Execute(const Command& command) {
    return router().Execute(command);
  }
  absl::StatusOr<CommandResult> ExecuteAt(const std::string& address, const Command& command) {
    return router().ExecuteAt(address, command);
  }
  static Command Put(const std::string& key, const std::string& value, uint64_t client,
                     uint64_t seq) {
    return testing::ShardRouter::Put(key, value, client, seq);
  }
  static Command Get(const std::string& key) { return testing::ShardRouter::Get(key); }

  std::optional<uint32_t> WaitForLeader(absl::Duration budget = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + budget;
    while (absl::Now() < deadline) {
      for (auto& [id, replica] : replicas_) {
        if (replica->loop->GetStatus().role() == "leader") return id;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return std::nullopt;
  }

  std::filesystem::path root_;
  std::map<uint32_t, std::string> members_;
  std::map<uint32_t, std::unique_ptr<InProcessReplica>> replicas_;
  std::unique_ptr<testing::ShardRouter> router_;
  uint64_t snapshot_every_ = 100000;
  size_t snapshot_chunk_bytes_ = 4 << 20;
};

TEST_F(ReplicaGroupTest, PutThenGetThroughTheLeader) {
  ASSERT_TRUE(WaitForLeader().has_value());
  ASSERT_TRUE(Execute(Put("alpha", "1", 7, 1)).ok());
  auto got = Execute(Get("alpha"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), "1");
  EXPECT_TRUE(absl::IsNotFound(Execute(Get("missing")).status()));
}

TEST_F(ReplicaGroupTest, FollowerRedirectsWithLeaderHint) {
  auto leader = WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(Execute(Put("warm", "up", 7, 1)).ok());   // followers now know the leader
  const uint32_t follower = *leader == 1 ? 2 : 1;
  auto result = ExecuteAt(members_[follower], Put("k", "v", 7, 2));
  ASSERT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();
  ASSERT_TRUE(LeaderHint(result.status()).has_value());
  EXPECT_EQ(*LeaderHint(result.status()), members_[*leader]);
}

TEST_F(ReplicaGroupTest, BadInputIsRejectedWithInvalidArgument) {
  ASSERT_TRUE(WaitForLeader().has_value());
  Command empty_key = Put("", "v", 7, 1);
  EXPECT_TRUE(absl::IsInvalidArgument(Execute(empty_key).status()));
  Command big_key = Put(std::string(2000, 'k'), "v", 7, 2);
  EXPECT_TRUE(absl::IsInvalidArgument(Execute(big_key).status()));
  Command no_op;
  no_op.set_key("k");
  EXPECT_TRUE(absl::IsInvalidArgument(Execute(no_op).status()));
  // Nothing was applied: the group still serves normally.
  ASSERT_TRUE(Execute(Put("k", "v", 7, 3)).ok());
  EXPECT_EQ(Execute(Get("k"))->value(), "v");
}

// A replica reached under another shard's address (containers swapping IPs) refuses both a
// command meant for another shard and another group's Paxos messages.
TEST_F(ReplicaGroupTest, RefusesCommandsAndMessagesOfAnotherShard) {
  auto leader = WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  Command command = Put("k", "v", 7, 1);
  command.set_shard_id(2);
  auto result = ExecuteAt(members_[*leader], command);
  EXPECT_TRUE(absl::IsFailedPrecondition(result.status())) << result.status();
  EXPECT_TRUE(IsWrongReplica(result.status())) << result.status();
  paxoskv::v1::PaxosMessage message;
  message.set_from(2);
  message.set_to(*leader);
  message.set_shard_id(2);
  message.mutable_prepare()->mutable_ballot()->set_round(1000);
  message.mutable_prepare()->mutable_ballot()->set_node_id(2);
  EXPECT_TRUE(IsWrongReplica(replicas_[*leader]->loop->Deliver(message)));
  // Nothing changed: no replica promised the foreign ballot, and the shard's own commands
  // work. (Whether the replica still leads is not the question: a leader elected at start
  // may step down by itself, as when it re-campaigns under the membership it recovered.)
  for (auto& [id, replica] : replicas_) {
    EXPECT_LT(replica->loop->GetStatus().ballot_round(), 1000u) << "replica " << id;
  }
  command.set_shard_id(1);
  EXPECT_TRUE(Execute(command).ok());
}

// The master's coalesced call: one ExecuteBatch with writes, gets (one read-index round),
// a bad command, a retry and a reused (client_id, seq); each command gets the outcome Execute
// would give it alone.
TEST_F(ReplicaGroupTest, ExecuteBatchAnswersEachCommandOnItsOwn) {
  auto leader = WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(Execute(Put("before", "0", 9, 1)).ok());
  auto channel = grpc::CreateChannel(members_[*leader], grpc::InsecureChannelCredentials());
  auto stub = paxoskv::v1::Replica::NewStub(channel);

  paxoskv::v1::CommandBatch batch;
  batch.set_shard_id(1);
  for (int i = 0; i < 20; ++i) {
    *batch.add_commands() = Put(absl::StrCat("k", i), absl::StrCat("v", i), 9, 2 + i);
  }
  *batch.add_commands() = Get("before");
  *batch.add_commands() = Get("missing");
  *batch.add_commands() = Put("", "empty key", 9, 100);
  *batch.add_commands() = Put("before", "0", 9, 1);   // a retry of seq 1
  *batch.add_commands() = Put("before", "must not apply", 9, 1);   // seq 1 reused
  paxoskv::v1::CommandBatchResult response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status status = stub->ExecuteBatch(&context, batch, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.outcomes_size(), 25);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(response.outcomes(i).status_code(), 0) << i << ": "
                                                     << response.outcomes(i).status_message();
  }
  EXPECT_EQ(response.outcomes(20).status_code(), 0);
  EXPECT_EQ(response.outcomes(20).result().value(), "0");
  EXPECT_EQ(response.outcomes(21).status_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(response.outcomes(22).status_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(response.outcomes(23).status_code(), 0);   // the first result, replayed
  EXPECT_EQ(response.outcomes(24).status_code(), grpc::StatusCode::INVALID_ARGUMENT);
  for (int i = 0; i < 20; ++i) {
    auto got = Execute(Get(absl::StrCat("k", i)));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value(), absl::StrCat("v", i));
  }
  EXPECT_EQ(Execute(Get("before"))->value(), "0");

  // At a follower the whole call fails with the leader hint, as Execute does.
  const uint32_t follower = *leader == 1 ? 2 : 1;
  auto follower_stub = paxoskv::v1::Replica::NewStub(
      grpc::CreateChannel(members_[follower], grpc::InsecureChannelCredentials()));
  grpc::ClientContext follower_context;
  follower_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  response.Clear();
  status = follower_stub->ExecuteBatch(&follower_context, batch, &response);
  const absl::Status refused = FromGrpcStatus(status, &follower_context);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
  ASSERT_TRUE(LeaderHint(refused).has_value());
  EXPECT_EQ(*LeaderHint(refused), members_[*leader]);
  EXPECT_EQ(response.outcomes_size(), 0);
}

// ExecuteBatch holds no thread while it waits (callback API): a batch that cannot be chosen
// (both followers down) ends at the caller's deadline with DEADLINE_EXCEEDED or CANCELLED,
// and once the followers are back the same commands (same ids) complete, applied once.
TEST_F(ReplicaGroupTest, ExecuteBatchPastItsDeadlineEndsAndTheGroupGoesOn) {
  auto leader = WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  ASSERT_TRUE(Execute(Put("warm", "up", 11, 1)).ok());
  std::vector<uint32_t> followers;
  for (uint32_t id = 1; id <= 3; ++id) {
    if (id != *leader) followers.push_back(id);
  }
  for (uint32_t id : followers) Crash(id);

  auto stub = paxoskv::v1::Replica::NewStub(
      grpc::CreateChannel(members_[*leader], grpc::InsecureChannelCredentials()));
  paxoskv::v1::CommandBatch batch;
  batch.set_shard_id(1);
  for (int i = 0; i < 5; ++i) {
    *batch.add_commands() = Put(absl::StrCat("stuck", i), "v", 11, 2 + i);
  }
  *batch.add_commands() = Get("warm");
  paxoskv::v1::CommandBatchResult response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  const absl::Time sent = absl::Now();
  grpc::Status status = stub->ExecuteBatch(&context, batch, &response);
  EXPECT_LT(absl::Now() - sent, absl::Seconds(5));
  // The leader may also step down (no quorum) and fail the batch as UNAVAILABLE first.
  EXPECT_TRUE(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
              status.error_code() == grpc::StatusCode::CANCELLED ||
              status.error_code() == grpc::StatusCode::UNAVAILABLE)
      << status.error_code() << ": " << status.error_message();

  for (uint32_t id : followers) Start(id);
  ASSERT_TRUE(WaitForLeader().has_value());
  for (int i = 0; i < 5; ++i) {   // retried with the same ids: applied once
    auto retried = Execute(Put(absl::StrCat("stuck", i), "v", 11, 2 + i));
    ASSERT_TRUE(retried.ok()) << retried.status();
    auto got = Execute(Get(absl::StrCat("stuck", i)));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value(), "v");
  }
}

TEST_F(ReplicaGroupTest, RetriedCommandIsAppliedOnce) {
  ASSERT_TRUE(WaitForLeader().has_value());
  ASSERT_TRUE(Execute(Put("x", "first", 42, 1)).ok());
  ASSERT_TRUE(Execute(Put("x", "second", 42, 2)).ok());
  // A late duplicate of seq 1 returns seq 1's result and does not overwrite "second".
  auto duplicate = Execute(Put("x", "first", 42, 1));
  ASSERT_TRUE(duplicate.ok()) << duplicate.status();
  EXPECT_EQ(Execute(Get("x"))->value(), "second");
}

TEST_F(ReplicaGroupTest, SurvivesLeaderCrashAndCatchesUpOnRestart) {
  auto leader = WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(Execute(Put(absl::StrCat("k", i), absl::StrCat("v", i), 9, i + 1)).ok());
  }
  Crash(*leader);
  const absl::Time crashed = absl::Now();
  auto next_leader = WaitForLeader();
  ASSERT_TRUE(next_leader.has_value());
  ASSERT_NE(*next_leader, *leader);
  ASSERT_TRUE(Execute(Put("after", "crash", 9, 100)).ok());
  std::printf("failover: first write acknowledged %.0f ms after the leader crashed\n",
              absl::ToDoubleMilliseconds(absl::Now() - crashed));
  for (int i = 0; i < 50; ++i) {
    auto got = Execute(Get(absl::StrCat("k", i)));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value(), absl::StrCat("v", i));
  }
  Start(*leader);
  // The restarted replica catches up: its applied slot reaches the leader's.
  const uint64_t target = replicas_[*next_leader]->loop->GetStatus().applied_slot();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (replicas_[*leader]->loop->GetStatus().applied_slot() < target &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_GE(replicas_[*leader]->loop->GetStatus().applied_slot(), target);
}

TEST_F(ReplicaGroupTest, EveryAcknowledgedWriteSurvivesFullRestart) {
  ASSERT_TRUE(WaitForLeader().has_value());
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(Execute(Put(absl::StrCat("k", i), absl::StrCat("v", i), 5, i + 1)).ok());
  }
  replicas_.clear();
  for (uint32_t id = 1; id <= 3; ++id) Start(id);
  ASSERT_TRUE(WaitForLeader().has_value());
  for (int i = 0; i < 100; ++i) {
    auto got = Execute(Get(absl::StrCat("k", i)));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->value(), absl::StrCat("v", i));
  }
}

// Snapshots are taken by a background thread while commands keep being chosen (their
// application waits for the snapshot): with a snapshot every 15 commands under concurrent
// writers, every write is answered with its own result, every replica ends with the same
// state, and a restart of all three (snapshot + log tail) brings back exactly that state.
TEST_F(ReplicaGroupTest, BackgroundSnapshotsUnderConcurrentWritesLoseNothing) {
  replicas_.clear();
  snapshot_every_ = 15;
  for (uint32_t id = 1; id <= 3; ++id) Start(id);
  ASSERT_TRUE(WaitForLeader().has_value());
  constexpr int kWriters = 8;
  constexpr int kPutsEach = 40;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  std::vector<std::string> addresses;
  for (const auto& [id, address] : members_) addresses.push_back(address);
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      ShardRouter router(addresses);   // not thread-safe: one per writer
      for (int i = 0; i < kPutsEach; ++i) {
        // Each writer overwrites its own 5 keys: the last value of each key is known.
        auto result = router.Execute(Put(absl::StrCat("w", w, "-k", i % 5), absl::StrCat(i),
                                         100 + w, i + 1));
        if (!result.ok()) ++failures;
      }
    });
  }
  for (auto& writer : writers) writer.join();
  ASSERT_EQ(failures.load(), 0);
  auto check = [&] {
    for (int w = 0; w < kWriters; ++w) {
      for (int k = 0; k < 5; ++k) {
        auto got = Execute(Get(absl::StrCat("w", w, "-k", k)));
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(got->value(), absl::StrCat(kPutsEach - 5 + k));
      }
    }
  };
  check();
  // Every replica applies everything and took snapshots along the way.
  const uint64_t target = replicas_[*WaitForLeader()]->loop->GetStatus().applied_slot();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (auto& [id, replica] : replicas_) {
    while (replica->loop->GetStatus().applied_slot() < target && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    const auto status = replica->loop->GetStatus();
    EXPECT_GE(status.applied_slot(), target) << "replica " << id;
    EXPECT_EQ(status.key_count(), static_cast<uint64_t>(kWriters * 5)) << "replica " << id;
    EXPECT_GT(status.snapshot_slot(), 0u) << "replica " << id;
  }
  replicas_.clear();
  for (uint32_t id = 1; id <= 3; ++id) Start(id);
  ASSERT_TRUE(WaitForLeader().has_value());
  check();
}

// A lagging replica catches up from a snapshot of many chunks (200 B each: the state is
// ~30 of them), sent over real gRPC one call per chunk, staged, checked and installed.
TEST_F(ReplicaGroupTest, LaggingReplicaCatchesUpFromSnapshot) {
  // Restart the group with frequent snapshots so the log is truncated behind them.
  replicas_.clear();
  snapshot_every_ = 20;
  snapshot_chunk_bytes_ = 200;
  for (uint32_t id = 1; id <= 3; ++id) Start(id);
  auto leader = WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const uint32_t lagging = *leader == 3 ? 2 : 3;
  Crash(lagging);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(Execute(Put(absl::StrCat("k", i), absl::StrCat("v", i), 5, i + 1)).ok());
  }
  Start(lagging);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  const uint64_t target = replicas_[*leader]->loop->GetStatus().applied_slot();
  while (replicas_[lagging]->loop->GetStatus().applied_slot() < target &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  auto status = replicas_[lagging]->loop->GetStatus();
  EXPECT_GE(status.applied_slot(), target);
  EXPECT_EQ(status.key_count(), 200u);
}

}  // namespace
}  // namespace paxoskv::replica

// Goal: the threads of ReplicaLoop (callers of Execute/Deliver/GetStatus, the loop thread,
// the ticker, background snapshots) share one replica safely, with no gRPC in the way, so
// that ThreadSanitizer can check them: it cannot follow Debian's uninstrumented gRPC from
// thread to thread, and scripts/test.sh --sanitize=thread leaves out the replica tests over
// gRPC (replica_group_test covers the same loop over real gRPC and RocksDB).
// Method: three ReplicaLoops over MemoryStores, linked by an in-process network whose own
// thread delivers every message (snapshots chunk by chunk); client threads write and read
// through whichever replica leads while another thread polls every replica's status and
// snapshots are taken every few commands; then the leader is stopped for good under load.
// Every acknowledged write must be read back with its last value.
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/common/logging.h"
#include "libs/replica/message_sink.h"
#include "libs/replica/snapshot_transfer.h"
#include "libs/storage/memory_store.h"
#include "services/replica/replica_loop.h"

namespace paxoskv::replica {
namespace {

using paxoskv::v1::Command;
using paxoskv::v1::CommandResult;
using paxoskv::v1::PaxosMessage;

// Delivers messages between the loops of one process, in order, on a thread of its own (as
// the gRPC transport does on gRPC's threads). Thread-safe.
class LocalNetwork {
 public:
  LocalNetwork() : thread_([this] { Run(); }) {}
  ~LocalNetwork() { Stop(); }

  void Attach(uint32_t id, ReplicaLoop* loop) {
    absl::MutexLock lock(&mu_);
    loops_[id] = loop;
  }
  // The replica is gone (stopped): messages to it are dropped from now on.
  void Detach(uint32_t id) {
    absl::MutexLock lock(&mu_);
    loops_.erase(id);
    while (delivering_ == id) mu_.Await(absl::Condition(this, &LocalNetwork::NotDelivering));
  }
  void Post(PaxosMessage message) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(message));
  }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }
  bool NotDelivering() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return delivering_ == 0; }

  void Run() {
    while (true) {
      PaxosMessage message;
      ReplicaLoop* loop = nullptr;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &LocalNetwork::HasWork));
        if (stopping_) return;
        message = std::move(queue_.front());
        queue_.pop_front();
        auto it = loops_.find(message.to());
        if (it == loops_.end()) continue;
        loop = it->second;
        delivering_ = message.to();
      }
      loop->Deliver(message).IgnoreError();   // refusals are the core's business
      absl::MutexLock lock(&mu_);
      delivering_ = 0;
    }
  }

  absl::Mutex mu_;
  std::map<uint32_t, ReplicaLoop*> loops_ ABSL_GUARDED_BY(mu_);
  std::deque<PaxosMessage> queue_ ABSL_GUARDED_BY(mu_);
  uint32_t delivering_ ABSL_GUARDED_BY(mu_) = 0;   // whose Deliver runs now (0: none)
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

class LocalSink final : public MessageSink {
 public:
  LocalSink(LocalNetwork* network, uint32_t shard_id) : network_(network), shard_id_(shard_id) {}
  void Send(PaxosMessage message) override {
    message.set_shard_id(shard_id_);
    network_->Post(std::move(message));
  }
  void SendSnapshot(PaxosMessage header, std::unique_ptr<storage::SnapshotReader> reader) override {
    SendAllChunks(header, *reader, [this](PaxosMessage chunk) { Send(std::move(chunk)); })
        .IgnoreError();   // best effort: the core asks again
  }

 private:
  LocalNetwork* const network_;
  const uint32_t shard_id_;
};

class ReplicaLoopTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kShard = 1;

  void SetUp() override {
    std::map<uint32_t, std::string> members;
    for (uint32_t id = 1; id <= 3; ++id) members[id] = absl::StrCat("local:", id);
    for (uint32_t id = 1; id <= 3; ++id) {
      ReplicaOptions options;
      options.core.shard_id = kShard;
      options.core.replica_id = id;
      options.core.members = members;
      options.tick_ms = 5;
      options.core.heartbeat_ticks = 2;
      options.core.election_timeout_ticks = 20;
      options.core.snapshot_every_commands = 16;   // background snapshots and compaction, often
      options.core.snapshot_chunk_bytes = 256;     // transfers of many chunks
      options.seed = id;
      auto loop = ReplicaLoop::Create(options, std::make_unique<storage::MemoryStore>(),
                                      std::make_unique<LocalSink>(&network_, kShard),
                                      NullLogger());
      ASSERT_TRUE(loop.ok()) << loop.status();
      loops_[id] = std::move(*loop);
      network_.Attach(id, loops_[id].get());
    }
    for (auto& [id, loop] : loops_) loop->Start();
  }

  void TearDown() override {
    network_.Stop();
    for (auto& [id, loop] : loops_) loop->Stop();
  }

  // Stops replica `id` for good (as a crash, minus losing what it synced).
  void StopForGood(uint32_t id) {
    network_.Detach(id);
    loops_.at(id)->Stop();
    stopped_.insert(id);
  }

  // Runs `command` on whichever live replica takes it, retrying (with the same client id and
  // seq, so at most once) until OK or NOT_FOUND or the budget ends.
  absl::StatusOr<CommandResult> Execute(const Command& command, uint32_t& hint) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    absl::Status last = absl::DeadlineExceededError("no attempt");
    for (uint32_t attempt = 0; absl::Now() < deadline; ++attempt) {
      const uint32_t id = hint != 0 && attempt % 4 == 0 ? hint : 1 + attempt % 3;
      if (stopped_.contains(id)) continue;
      auto result = loops_.at(id)->Execute(command, absl::Now() + absl::Milliseconds(500),
                                           CommandOrigin::kClient);
      if (result.ok()) {
        hint = id;
        return result;
      }
      last = result.status();
      absl::SleepFor(absl::Milliseconds(2));
    }
    return last;
  }

  static Command Put(uint64_t client, uint64_t seq, std::string key, std::string value) {
    Command c;
    c.set_client_id(client);
    c.set_seq(seq);
    c.set_op(paxoskv::v1::OP_PUT);
    c.set_key(std::move(key));
    c.set_value(std::move(value));
    return c;
  }
  static Command Get(std::string key) {
    Command c;
    c.set_op(paxoskv::v1::OP_GET);
    c.set_key(std::move(key));
    return c;
  }

  LocalNetwork network_;
  std::map<uint32_t, std::unique_ptr<ReplicaLoop>> loops_;
  std::set<uint32_t> stopped_;   // written before the client threads start or after they end
};

TEST_F(ReplicaLoopTest, ConcurrentClientsSnapshotsAndALostLeaderLoseNoWrite) {
  constexpr int kClients = 4;
  constexpr int kWritesPerClient = 40;
  // GetStatus from yet another thread, all along (a stopped loop answers too); joined when
  // the test body ends, however it ends.
  std::jthread poller([this](std::stop_token stop) {
    while (!stop.stop_requested()) {
      for (auto& [id, loop] : loops_) loop->GetStatus();
      absl::SleepFor(absl::Milliseconds(3));
    }
  });

  // Two rounds of concurrent writers; between them the leader is stopped for good.
  std::map<std::string, std::string> expected;
  for (int round = 0; round < 2; ++round) {
    std::vector<std::thread> clients;
    std::vector<std::map<std::string, std::string>> written(kClients);
    std::vector<absl::Status> failures(kClients);
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        uint32_t hint = 0;
        for (int i = 0; i < kWritesPerClient; ++i) {
          const uint64_t seq = static_cast<uint64_t>(round * kWritesPerClient + i + 1);
          const std::string key = absl::StrCat("k", c, "-", i % 8);
          const std::string value = absl::StrCat("v", seq);
          auto result = Execute(Put(static_cast<uint64_t>(c + 1), seq, key, value), hint);
          if (!result.ok()) {
            failures[c] = result.status();
            return;
          }
          written[c][key] = value;
        }
      });
    }
    for (std::thread& t : clients) t.join();
    for (int c = 0; c < kClients; ++c) {
      ASSERT_TRUE(failures[c].ok()) << "client " << c << ": " << failures[c];
      for (auto& [key, value] : written[c]) expected[key] = value;
    }
    if (round == 0) {
      uint32_t leader = 0;
      for (auto& [id, loop] : loops_) {
        if (loop->GetStatus().role() == "leader") leader = id;
      }
      ASSERT_NE(leader, 0u) << "no leader after the first round";
      StopForGood(leader);
    }
  }
  uint32_t hint = 0;
  for (const auto& [key, value] : expected) {
    auto result = Execute(Get(key), hint);
    ASSERT_TRUE(result.ok()) << key << ": " << result.status();
    EXPECT_EQ(result->value(), value) << key;
  }
}

}  // namespace
}  // namespace paxoskv::replica

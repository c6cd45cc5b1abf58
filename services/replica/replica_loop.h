// ReplicaLoop owns one replica's Paxos node, KV state machine and durable store, and drives
// them: inputs (peer messages, ticks, client commands) go into the node under one mutex; a
// single loop thread takes each Ready and acts on it in the order node.h prescribes
// (persist with fsync -> send -> install snapshot -> apply), then completes waiting clients.
// Persisting outside the mutex lets proposals pile up meanwhile: the next Ready carries them
// all in one synced write (group commit) and one Accept round (batching).
// Snapshots are taken by a background thread that serializes the state machine and saves it
// while the loop thread goes on persisting, sending and heartbeating; only applying waits
// (chosen entries queue up and are applied when the snapshot is saved), so a large state's
// snapshot delays replies for a moment but never stalls consensus into an election.
// Thread-safe: gRPC handler threads call Deliver/Execute/GetStatus; Start() spawns the loop
// thread and the ticker thread; the loop thread spawns the snapshot thread (one at a time,
// reading kv_ while the loop thread only reads it too); Stop() joins them.
#pragma once

#include <atomic>
#include <deque>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/logger.h>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/kv/kv_state_machine.h"
#include "libs/paxos/node.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/replica.pb.h"
#include "services/replica/message_sink.h"

namespace paxoskv::replica {

struct ReplicaOptions {
  uint32_t shard_id = 0;
  uint32_t replica_id = 0;
  std::map<uint32_t, std::string> members;   // every member id -> host:port (self included)
  int tick_ms = 10;
  int heartbeat_ticks = 5;
  int election_timeout_ticks = 30;
  uint64_t snapshot_every_commands = 50000;   // applied commands between snapshots
  size_t inflight_slots_max = 64;             // slots in flight; more commands wait and batch
  uint64_t seed = 0;                          // 0 = derive from time and ids
};

class ReplicaLoop {
 public:
  // Loads the durable state (snapshot + acceptor state) and builds the node.
  // kFailedPrecondition if the store belongs to another shard/replica.
  static absl::StatusOr<std::unique_ptr<ReplicaLoop>> Create(
      ReplicaOptions options, std::unique_ptr<storage::AcceptorStore> store,
      std::unique_ptr<MessageSink> sink, std::shared_ptr<spdlog::logger> logger);
  ~ReplicaLoop();

  void Start();
  void Stop();

  // A message from a peer. kInvalidArgument if malformed.
  absl::Status Deliver(const paxoskv::v1::PaxosMessage& message) ABSL_LOCKS_EXCLUDED(mu_);

  // Runs a client command to completion or `deadline`:
  //  - kInvalidArgument: bad input (nothing proposed);
  //  - kFailedPrecondition + leader hint (NotLeaderError): another replica leads;
  //  - kUnavailable: no leader known, or leadership lost while waiting (outcome unknown:
  //    retry with the same client_id/seq);
  //  - kDeadlineExceeded: not chosen in time (outcome unknown: retry with the same id);
  //  - OK with the state machine's result (which may itself say NOT_FOUND etc.).
  // Gets are served by a read-index round, other ops go through the log.
  absl::StatusOr<paxoskv::v1::CommandResult> Execute(paxoskv::v1::Command command,
                                                     absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Runs many commands together: one lock, proposals that share slots, one read-index round
  // for all the gets. The call fails as a whole only for what holds for every command (wrong
  // shard id, not the leader, no leader, shutting down); otherwise each command has the
  // outcome Execute would have given it (an overloaded leader fails the ones it could not take).
  using Outcome = absl::StatusOr<paxoskv::v1::CommandResult>;
  absl::StatusOr<std::vector<Outcome>> ExecuteBatch(std::vector<paxoskv::v1::Command> commands,
                                                    absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);

  // ExecuteBatch without a waiting thread: proposes and returns. `done` runs exactly once:
  // at once (on this thread, without mu_) when the call fails as a whole or nothing needs
  // waiting, otherwise on the thread that completes the last command (the loop thread or the
  // ticker, with mu_ held: it must not block or call back into the loop). There is no
  // deadline here: the caller gives up on its own (e.g. when gRPC cancels the call); the
  // commands still complete (or fail with the leadership) and `done` still runs.
  using BatchDone = absl::AnyInvocable<void(absl::StatusOr<std::vector<Outcome>>) &&>;
  void ExecuteBatchAsync(std::vector<paxoskv::v1::Command> commands, BatchDone done)
      ABSL_LOCKS_EXCLUDED(mu_);

  paxoskv::v1::ReplicaStatus GetStatus() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The outcomes of one ExecuteBatchAsync call, filled in as its commands complete.
  struct AsyncBatch {
    absl::Mutex mu;
    std::vector<Outcome> outcomes ABSL_GUARDED_BY(mu);
    size_t remaining ABSL_GUARDED_BY(mu) = 0;
    BatchDone done ABSL_GUARDED_BY(mu);
    // Records one outcome; the last one runs `done`.
    void Complete(size_t index, Outcome outcome);
  };
  struct Waiter {
    absl::Notification done;
    absl::StatusOr<paxoskv::v1::CommandResult> result = absl::UnknownError("not completed");
    // Set for a command of ExecuteBatchAsync: where its outcome goes.
    std::shared_ptr<AsyncBatch> batch;
    size_t index = 0;
    // Records the result, wakes a waiting thread, feeds the async batch.
    void Finish(absl::StatusOr<paxoskv::v1::CommandResult> outcome);
  };
  // One command of a batch that waits for an outcome.
  struct Pending {
    size_t index;
    std::shared_ptr<Waiter> waiter;
    std::pair<uint64_t, uint64_t> key{0, 0};   // writes: (client_id, seq)
  };
  // Validates and proposes `commands` (gets: one read-index round): outcomes of the commands
  // refused at once go to `outcomes`, the others to `pending` with a waiter (tied to `batch`
  // when given). Not OK: the call fails as a whole, nothing was proposed. Sets *read_id.
  absl::Status ProposeBatchLocked(std::vector<paxoskv::v1::Command>& commands,
                                  std::vector<Outcome>& outcomes, std::vector<Pending>& pending,
                                  const std::shared_ptr<AsyncBatch>& batch, uint64_t* read_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The gets of one call, confirmed by one read-index round.
  struct PendingRead {
    std::vector<std::pair<std::shared_ptr<Waiter>, paxoskv::v1::Command>> gets;
    std::optional<SlotId> read_slot;   // set once the leader confirmed its leadership
  };
  using CommandKey = std::pair<uint64_t, uint64_t>;   // (client_id, seq)
  struct CommandKeyHash {
    size_t operator()(const CommandKey& key) const {
      return std::hash<uint64_t>()(key.first * 0x9E3779B97F4A7C15ULL ^ key.second);
    }
  };

  ReplicaLoop(ReplicaOptions options, std::unique_ptr<storage::AcceptorStore> store,
              std::unique_ptr<MessageSink> sink, std::shared_ptr<spdlog::logger> logger);

  void RunLoop();
  void RunTicker();
  bool ShouldWakeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Acts on one Ready; called by the loop thread only, without mu_.
  void Process(paxos::Ready ready) ABSL_LOCKS_EXCLUDED(mu_);
  void ApplyAndComplete(paxos::Ready& ready) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts a background snapshot when one is due (loop thread).
  void MaybeStartSnapshot() ABSL_LOCKS_EXCLUDED(mu_);
  // Once the background snapshot is saved: compacts the log and applies what queued meanwhile.
  // `wait`: block until it is saved (before replacing the state machine).
  void MaybeFinishSnapshot(bool wait) ABSL_LOCKS_EXCLUDED(mu_);
  void FailAllWaitersLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ServeReadsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status NotLeaderLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ReplicaOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  std::unique_ptr<storage::AcceptorStore> store_;   // loop thread writes; thread-safe reads
  std::unique_ptr<MessageSink> sink_;

  absl::Mutex mu_;
  std::unique_ptr<paxos::Node> node_ ABSL_GUARDED_BY(mu_);
  std::unordered_multimap<CommandKey, std::shared_ptr<Waiter>, CommandKeyHash> waiters_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, PendingRead> reads_ ABSL_GUARDED_BY(mu_);
  uint64_t next_read_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_local_seq_ ABSL_GUARDED_BY(mu_) = 1;
  bool was_leader_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set by the snapshot thread when it is done (wakes the loop thread).
  bool snapshot_saved_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status snapshot_status_ ABSL_GUARDED_BY(mu_);
  // Applied state, mirrored under mu_ for reads and status (kv_ itself is loop-thread only).
  SlotId applied_slot_ ABSL_GUARDED_BY(mu_) = 0;

  // Loop thread only (reads are served by the loop thread too).
  kv::KvStateMachine kv_;
  uint64_t commands_since_snapshot_ = 0;
  SlotId snapshot_running_slot_ = 0;              // 0: no snapshot thread running
  absl::Time snapshot_started_;
  std::deque<paxoskv::v1::Entry> unapplied_;      // chosen, waiting for the snapshot thread
  std::thread snapshot_thread_;
  // Loop statistics, logged every few seconds at info when there was traffic.
  struct LoopStats {
    uint64_t readies = 0;
    uint64_t syncs = 0;
    absl::Duration sync_time;
    uint64_t slots_applied = 0;
    uint64_t commands_applied = 0;
    uint64_t messages_sent = 0;
    absl::Time since = absl::Now();
  };
  LoopStats stats_;
  void MaybeLogStats();
  SlotId last_applied_slot_ = 0;
  SlotId snapshot_slot_ = 0;

  const uint64_t local_client_id_;   // for commands that arrive without a client id
  std::atomic<uint64_t> key_count_{0};
  std::atomic<uint64_t> snapshot_slot_published_{0};
  std::thread loop_thread_;
  std::thread ticker_thread_;
};

}  // namespace paxoskv::replica

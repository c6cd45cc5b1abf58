// ReplicaLoop: the threads, the lock and the clock around one replica core
// (libs/replica/replica_core.h, which holds everything else: the Paxos node, the KV state
// machine, the waiting clients and the order in which a Ready is acted on).
//  - gRPC threads call Deliver / Execute / ExecuteAsync / GetStatus: the core's input side,
//    under mu_;
//  - the ticker thread calls Tick every tick_ms, under mu_;
//  - the state side (persisting with fsync, sending, installing, applying) runs on one thread
//    at a time, the holder of the state token (`state_busy_`), without mu_, so that inputs
//    pile up meanwhile: the next Ready carries them all in one synced write (group commit)
//    and one Accept round (batching); then the holder completes the clients under mu_.
//    Run to completion: a gRPC thread whose input made work while the token was free takes
//    it and processes that one Work itself (the follower persists and answers an Accept on
//    the thread that read it; the leader sends and persists a proposal on the thread that
//    received it), saving a wake-up of the loop thread and a context switch per hop. Work
//    that arrives while the token is held waits for the next Ready, which the loop thread
//    takes (snapshots, space checks and stats are the loop thread's too);
//  - a snapshot thread serialises the state machine in the background when the core asks,
//    while the loop thread goes on persisting, sending and heartbeating (only applying waits);
//  - the metrics endpoint's thread reads GetStatus at each scrape (replica_metrics.h).
// A failed durable write (fsync, disk) crashes the process on purpose: replying after a lost
// promise would break safety.
// Thread-safe. Start() spawns the loop and ticker threads; Stop() joins every thread and waits
// for a gRPC thread that holds the state token.
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/metrics/metrics.h"
#include "libs/replica/message_sink.h"
#include "libs/replica/replica_core.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/replica.pb.h"
#include "services/replica/replica_metrics.h"

namespace paxoskv::replica {

struct ReplicaOptions {
  // The core's options. Create sets core.seed (from `seed`) and core.local_client_id (at
  // random, so that two incarnations of a replica never share one).
  CoreOptions core;
  int tick_ms = 10;
  uint64_t seed = 0;  // 0 = derive from time and ids
  // Space (etcd's --quota-backend-bytes, and a free-disk floor): about once a second the loop
  // thread compares the state's size with `quota_bytes` and the free bytes of `data_dir`'s
  // file system with `min_free_bytes`; past either, the replica is out of space
  // (ReplicaCore::SetNoSpace: the leader raises a NOSPACE alarm, puts are refused) and takes
  // no snapshot it has no room for. Empty data_dir (in-process tests): not checked. 0: no
  // limit.
  std::string data_dir;
  uint64_t quota_bytes = uint64_t{2} << 30;
  uint64_t min_free_bytes = uint64_t{256} << 20;
};

class ReplicaLoop {
 public:
  using Outcome = ReplicaCore::Outcome;
  using Done = ReplicaCore::Done;

  // Opens the core over `store` (see ReplicaCore::Open for the errors).
  static absl::StatusOr<std::unique_ptr<ReplicaLoop>> Create(
      ReplicaOptions options, std::unique_ptr<storage::AcceptorStore> store,
      std::unique_ptr<MessageSink> sink, std::shared_ptr<spdlog::logger> logger);
  ~ReplicaLoop();

  void Start();
  void Stop();

  // A message from a peer (ReplicaCore::Deliver).
  absl::Status Deliver(const paxoskv::v1::PaxosMessage& message) ABSL_LOCKS_EXCLUDED(mu_);

  // Runs one command to completion or `deadline` (a thread waits):
  //  - kInvalidArgument: bad input, or an op `origin` does not take (nothing proposed);
  //  - kFailedPrecondition + leader hint (NotLeaderError): another replica leads;
  //  - kUnavailable: no leader known, or leadership lost while waiting (outcome unknown:
  //    retry with the same client_id/seq);
  //  - kDeadlineExceeded: not chosen in time (outcome unknown: retry with the same id);
  //  - OK with the state machine's result (which may itself say NOT_FOUND etc.).
  // Gets are served by a read-index round, other ops go through the log.
  absl::StatusOr<paxoskv::v1::CommandResult> Execute(paxoskv::v1::Command command,
                                                     absl::Time deadline, CommandOrigin origin)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Many commands without a waiting thread (ReplicaCore::Propose): proposes and returns;
  // `done` runs once, at once (without mu_) when the call fails as a whole or nothing needs
  // waiting, otherwise on the thread that completes the last command (the state token's
  // holder, which may be this very caller running its Work to completion, or the ticker
  // thread; with mu_ held: it must not block or call back into the loop). No deadline here:
  // the caller gives up on its own; the commands still complete and `done` still runs.
  void ExecuteAsync(std::vector<paxoskv::v1::Command> commands, CommandOrigin origin, Done done)
      ABSL_LOCKS_EXCLUDED(mu_);

  paxoskv::v1::ReplicaStatus GetStatus() ABSL_LOCKS_EXCLUDED(mu_);

  // Proposes a membership change and waits until it is chosen (ReplicaCore::ChangeMembership
  // for the refusals). OK: the membership then, and whether the change was in effect already.
  // kUnavailable when leadership is lost first, kDeadlineExceeded at `deadline`: the outcome
  // is unknown, and a retry is safe (a change in effect answers OK).
  // `shard_id` 0 means any; another shard's: the wrong-replica status.
  absl::StatusOr<paxoskv::v1::MembershipChangeResult> ChangeMembership(
      uint32_t shard_id, const paxos::ConfChange& change, absl::Time deadline)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  ReplicaLoop(ReplicaOptions options, std::unique_ptr<storage::AcceptorStore> store,
              std::unique_ptr<MessageSink> sink, std::unique_ptr<ReplicaCore> core,
              std::shared_ptr<ReplicaMetrics> metrics, std::shared_ptr<spdlog::logger> logger);

  // The core's input side, only under mu_; its state side, only by the state token's holder.
  ReplicaCore& inputs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return *core_; }
  ReplicaCore& state_side() { return *core_; }

  void RunLoop();
  void RunTicker();
  bool ShouldWakeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StateIdleLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !state_busy_; }
  // Run to completion (the header): after an input, takes the state token and the Work when
  // the token is free and there is work; the caller then runs RunInline without mu_.
  std::optional<ReplicaCore::Work> TakeWorkInline() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Processes `work`, completes its clients and gives the token back (the loop thread takes
  // whatever arrived meanwhile).
  void RunInline(ReplicaCore::Work work) ABSL_LOCKS_EXCLUDED(mu_);
  // Processes one Work (the token's holder) and completes it.
  void ProcessAndComplete(ReplicaCore::Work work) ABSL_LOCKS_EXCLUDED(mu_);
  // Crashes on a failed durable write, else completes the clients (the token's holder).
  void CompleteOrDie(absl::StatusOr<ReplicaCore::Applied> applied) ABSL_LOCKS_EXCLUDED(mu_);
  // Starts a background snapshot when the core wants one; finishes one that is saved.
  void MaybeStartSnapshot() ABSL_LOCKS_EXCLUDED(mu_);
  void MaybeFinishSnapshot() ABSL_LOCKS_EXCLUDED(mu_);
  // Logs the loop's counters every 5 s; true when commands were applied meanwhile (the
  // caller then gives free pages back: ReleaseMemory, after giving the state token back).
  bool MaybeLogStats();
  void ReleaseMemory();  // loop thread
  // Measures this replica's space (ReplicaOptions) about once a second and tells the core.
  void MaybeCheckSpace() ABSL_LOCKS_EXCLUDED(mu_);

  const ReplicaOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  const std::unique_ptr<storage::AcceptorStore> store_;
  const std::unique_ptr<MessageSink> sink_;
  const std::unique_ptr<ReplicaCore> core_;
  // Its Prometheus metrics (replica_metrics.h); the collector reads GetStatus at scrape time.
  const std::shared_ptr<ReplicaMetrics> metrics_;
  const std::shared_ptr<metrics::FunctionCollector> collector_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The state token: someone runs the core's state side (the loop thread, or a gRPC thread
  // running its input's Work to completion). Taken and given back under mu_, which orders
  // one holder's writes before the next holder's reads.
  bool state_busy_ ABSL_GUARDED_BY(mu_) = false;
  // Set by the snapshot thread when it is done (wakes the loop thread).
  bool snapshot_saved_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status snapshot_status_ ABSL_GUARDED_BY(mu_);

  // The state token's holder only (the snapshot fields and space_checked_: the loop thread).
  std::optional<ReplicaCore::SnapshotJob> snapshot_job_;
  std::thread snapshot_thread_;
  absl::Time snapshot_started_;
  absl::Duration process_time_;  // spent in Process since the last stats line
  absl::Duration last_trim_;     // the last ReleaseMemory (loop thread)
  absl::Time stats_since_ = absl::Now();
  absl::Time space_checked_ = absl::InfinitePast();  // loop thread
  bool out_of_space_ ABSL_GUARDED_BY(mu_) = false;
  // The data directory's free bytes at the last check (max: not measured).
  uint64_t free_bytes_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;

  std::thread loop_thread_;
  std::thread ticker_thread_;
};

}  // namespace paxoskv::replica

// Batcher: coalesces the KV commands in flight to one shard into Replica.ExecuteBatch calls to
// its leader, so N concurrent client requests cost the master and the leader one RPC instead
// of N (and reach the leader's Paxos core together, so they share slots and fsyncs).
//
// Adaptive, like group commit: a command is sent at once when fewer than `max_in_flight`
// batches to its shard are outstanding; otherwise it waits in the shard's queue, and the
// completion of a batch sends what waited (FIFO, up to `max_commands` / `max_bytes`) in the
// next. There is no timer: at low load each batch holds one command, and batches grow only
// while the leader is busy. A call ends by the earliest deadline it carries; a command whose
// deadline passed while it waited is answered kDeadlineExceeded without being sent.
//
// Asynchronous: ExecuteAsync returns at once; batches go out with the gRPC callback API, and
// the outcomes are delivered on gRPC's callback threads. No thread waits for a batch.
//
// The fast path only: when the shard has no cached leader, the batch call fails (not leader,
// unavailable, timeout, wrong replica) or one command's outcome is retryable (leadership lost,
// replica overloaded), that command goes through Router::Execute, whose retries, leader hints
// and failover rules apply unchanged (blocking: on the BlockingPool for ExecuteAsync, on the
// caller's thread for Execute). Commands keep their (client_id, seq), so a command the failed
// batch did get chosen is applied once. Non-retryable outcomes (NOT_FOUND, INVALID_ARGUMENT,
// ABORTED) and "wrong shard" are returned as the Router would.
//
// Thread-safe; no lock is held across an RPC or a callback. With max_commands <= 1 every
// command goes straight to the Router. The destructor waits for the calls in flight.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "paxoskv/v1/command.pb.h"
#include "services/master/blocking_pool.h"
#include "services/master/router.h"
#include "services/master/shard_directory.h"

namespace paxoskv::master {

struct BatcherOptions {
  size_t max_commands = 256;          // per batch; <= 1 disables batching
  size_t max_bytes = 4 << 20;         // serialized commands per batch (one always fits)
  int max_in_flight = 1;              // outstanding batches per shard
  absl::Duration attempt_timeout = absl::Seconds(1);   // one ExecuteBatch call
};

class Batcher {
 public:
  // The outcome, with the command given back (a caller may route it again).
  using Done = absl::AnyInvocable<void(absl::StatusOr<paxoskv::v1::CommandResult>,
                                       paxoskv::v1::Command) &&>;

  Batcher(ShardDirectory* directory, Router* router, BlockingPool* pool, BatcherOptions options,
          std::shared_ptr<spdlog::logger> log);
  ~Batcher();

  // Same contract as Router::Execute(shard_id, command, deadline); `done` runs exactly once,
  // on a gRPC callback thread, a pool thread, or inside this call (a command already past its
  // deadline). The caller holds no lock `done` takes.
  void ExecuteAsync(uint32_t shard_id, paxoskv::v1::Command command, absl::Time deadline,
                    Done done);

  // The blocking form, for callers that own a thread (the slow paths, tests).
  absl::StatusOr<paxoskv::v1::CommandResult> Execute(uint32_t shard_id,
                                                     const paxoskv::v1::Command& command,
                                                     absl::Time deadline);

 private:
  struct Item;
  struct Lane;   // one shard's queue
  struct Call;   // one ExecuteBatch in flight

  Lane* LaneOf(uint32_t shard_id) ABSL_LOCKS_EXCLUDED(lanes_mu_);
  void Enqueue(uint32_t shard_id, std::unique_ptr<Item> item);
  // Queues `item` (if any) and, `slot_freed` after a batch ended, frees its slot; then sends
  // the next batch if a slot is free and answers the commands that waited past their deadline.
  void Dispatch(uint32_t shard_id, std::unique_ptr<Item> item, bool slot_freed);
  void Send(uint32_t shard_id, std::vector<std::unique_ptr<Item>> batch);
  void OnCallDone(Call* call, const grpc::Status& status);

  ShardDirectory* const directory_;
  Router* const router_;
  BlockingPool* const pool_;
  const BatcherOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<int> calls_in_flight_{0};

  absl::Mutex lanes_mu_;
  std::map<uint32_t, std::unique_ptr<Lane>> lanes_ ABSL_GUARDED_BY(lanes_mu_);
};

}  // namespace paxoskv::master

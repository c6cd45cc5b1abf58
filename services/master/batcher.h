// Batcher: coalesces the KV commands in flight to one shard into Replica.ExecuteBatch calls to
// its leader, so N concurrent client requests cost the master and the leader one RPC instead
// of N (and reach the leader's Paxos core together, so they share slots and fsyncs).
//
// Adaptive, like group commit: a command is sent at once when fewer than `max_in_flight`
// batches to its shard are outstanding; otherwise it waits, and the first waiting caller to
// find a free slot sends its own command with those queued before it (up to `max_commands` /
// `max_bytes`). There is no timer: at low load each batch holds one command, and batches grow
// only while the leader is busy. A call ends by the earliest deadline it carries.
//
// The fast path only: when the shard has no cached leader, the batch call fails (not leader,
// unavailable, timeout, wrong replica) or one command's outcome is retryable (leadership lost,
// replica overloaded), that command goes through Router::Execute, whose retries, leader hints
// and failover rules apply unchanged. Commands keep their (client_id, seq), so a command the
// failed batch did get chosen is applied once. Non-retryable outcomes (NOT_FOUND,
// INVALID_ARGUMENT, ABORTED) and "wrong shard" are returned as the Router would.
//
// Thread-safe. The caller's own thread (a gRPC handler) sends the batch: no extra threads, no
// lock held across an RPC. With max_commands <= 1 every command goes straight to the Router.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>

#include <spdlog/spdlog.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "paxoskv/v1/command.pb.h"
#include "services/master/router.h"
#include "services/master/shard_directory.h"

namespace paxoskv::master {

struct BatcherOptions {
  size_t max_commands = 256;          // per batch; <= 1 disables batching
  size_t max_bytes = 4 << 20;         // serialized commands per batch (one always fits)
  int max_in_flight = 2;              // outstanding batches per shard
  absl::Duration attempt_timeout = absl::Seconds(1);   // one ExecuteBatch call
};

class Batcher {
 public:
  Batcher(ShardDirectory* directory, Router* router, BatcherOptions options,
          std::shared_ptr<spdlog::logger> log);
  ~Batcher();

  // Same contract as Router::Execute(shard_id, command, deadline).
  absl::StatusOr<paxoskv::v1::CommandResult> Execute(uint32_t shard_id,
                                                     const paxoskv::v1::Command& command,
                                                     absl::Time deadline);

 private:
  struct Item;
  struct Lane;   // one shard's queue

  Lane* LaneOf(uint32_t shard_id) ABSL_LOCKS_EXCLUDED(lanes_mu_);
  // Sends `batch` to `leader` and settles every item (result, or fallback).
  void SendBatch(uint32_t shard_id, const std::string& leader,
                 const std::vector<std::shared_ptr<Item>>& batch);

  ShardDirectory* const directory_;
  Router* const router_;
  const BatcherOptions options_;
  std::shared_ptr<spdlog::logger> log_;

  absl::Mutex lanes_mu_;
  std::map<uint32_t, std::unique_ptr<Lane>> lanes_ ABSL_GUARDED_BY(lanes_mu_);
};

}  // namespace paxoskv::master

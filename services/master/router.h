// Router: sends one command to the leader of one shard and copes with leadership changes.
// Starts at the cached leader and follows libs/common/leader_retry.h's rules (leader hints at
// once, the next replica on UNAVAILABLE, a refused connection or a per-attempt timeout, a short
// backoff after each full round) until the caller's deadline. It keeps the directory's leader
// cache up to date and drops a channel whose address reached another shard's replica. The
// command (client_id, seq included) is sent unchanged on every attempt, so replicas apply it at
// most once. Thread-safe; holds no lock across an RPC, so a dead shard only ever occupies the
// threads of requests routed to it.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/common/leader_retry.h"
#include "paxoskv/v1/command.pb.h"
#include "paxoskv/v1/replica.pb.h"
#include "services/master/shard_directory.h"

namespace paxoskv::master {

using RouterOptions = LeaderRetryPolicy;

// Which service of the replica takes the command: clients' ops (Replica) or the master's
// range-moving ops (Migration). Each refuses the other's.
enum class ReplicaService { kReplica, kMigration };

class Router {
 public:
  Router(ShardDirectory* directory, RouterOptions options, std::shared_ptr<spdlog::logger> log)
      : directory_(directory), options_(options), log_(std::move(log)) {}

  // The replica's CommandResult on OK. Errors:
  //  - the replica's own answer for statuses that are not retried (NOT_FOUND,
  //    INVALID_ARGUMENT, ABORTED, wrong shard, ...);
  //  - kUnavailable "shard N has no reachable leader: <last error>" when every attempt until
  //    the deadline failed fast (refused connection, no leader yet);
  //  - kDeadlineExceeded when the deadline passed with the last attempt timing out;
  //  - kInternal "unknown shard N" if the directory has no such shard (a bug upstream).
  // `attempt_timeout` overrides the per-attempt timeout when positive (long migration pages).
  absl::StatusOr<paxoskv::v1::CommandResult> Execute(
      uint32_t shard_id, const paxoskv::v1::Command& command, absl::Time deadline,
      absl::Duration attempt_timeout = absl::ZeroDuration(),
      ReplicaService service = ReplicaService::kReplica);

  // The same loop around any call to a shard's leader (membership changes, the leader's
  // status): `attempt` makes one call to `target` (its stubs: directory()) and returns its
  // status; not-the-leader hints, failover and the leader cache work as for Execute.
  absl::Status Call(uint32_t shard_id, absl::Time deadline, absl::Duration attempt_timeout,
                    LeaderAttempt attempt);

  // Replica.Status of the replica that answers as the shard's leader (through Call).
  // kNotFound for an unknown shard.
  absl::StatusOr<paxoskv::v1::ReplicaStatus> LeaderStatus(uint32_t shard_id, absl::Time deadline);

  ShardDirectory* directory() const { return directory_; }

 private:
  ShardDirectory* const directory_;
  const RouterOptions options_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace paxoskv::master

// See router.h.
#include "services/master/router.h"

#include <algorithm>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "libs/common/grpc_status.h"

namespace paxoskv::master {

bool IsRetryableCode(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kCancelled || code == absl::StatusCode::kResourceExhausted ||
         code == absl::StatusCode::kFailedPrecondition;
  // Not kAborted: a stale request stays stale wherever it is retried.
}

absl::StatusOr<paxoskv::v1::CommandResult> Router::Execute(uint32_t shard_id,
                                                           const paxoskv::v1::Command& command,
                                                           absl::Time deadline,
                                                           absl::Duration attempt_timeout) {
  std::optional<std::vector<std::string>> replicas = directory_->Replicas(shard_id);
  if (!replicas.has_value() || replicas->empty()) {
    return absl::InternalError(absl::StrCat("unknown shard ", shard_id));
  }
  if (attempt_timeout <= absl::ZeroDuration()) attempt_timeout = options_.attempt_timeout;
  const size_t n = replicas->size();
  std::string target = directory_->Leader(shard_id);
  size_t next_index = 0;
  if (target.empty()) {
    target = (*replicas)[0];
    next_index = 1;
  } else {
    auto it = std::find(replicas->begin(), replicas->end(), target);
    next_index = it == replicas->end() ? 0 : static_cast<size_t>(it - replicas->begin()) + 1;
  }

  // Every attempt names the shard, so a replica of another shard refuses it.
  paxoskv::v1::Command stamped = command;
  stamped.set_shard_id(shard_id);
  absl::Status last_error = absl::DeadlineExceededError("no attempt was made");
  bool last_timed_out = true;
  size_t failures = 0;
  size_t hint_hops = 0;
  int attempts = 0;
  absl::Duration backoff = options_.backoff_initial;
  while (true) {
    const absl::Time now = absl::Now();
    if (now >= deadline) break;
    const absl::Time attempt_deadline = std::min(now + attempt_timeout, deadline);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(attempt_deadline));
    paxoskv::v1::CommandResult result;
    ++attempts;
    grpc::Status grpc_status = directory_->Stub(target)->Execute(&context, stamped, &result);
    absl::Status status = FromGrpcStatus(grpc_status, &context);
    if (IsWrongReplica(status)) {
      // The address now reaches another shard's replica (e.g. a container got another's IP):
      // drop the channel so the next use resolves the name again, and try another replica.
      log_->warn("address {} of shard {} reached another shard: {}", target, shard_id,
                 std::string(status.message()));
      directory_->ResetChannel(target);
    }
    if (status.ok()) {
      directory_->SetLeader(shard_id, target);
      return result;
    }
    if (IsWrongShard(status)) return status;   // Master::Route re-reads the ring.
    if (!IsRetryableCode(status.code())) {
      // The replica answered (it is the leader): NOT_FOUND, INVALID_ARGUMENT, ...
      directory_->SetLeader(shard_id, target);
      return status;
    }
    if (status.code() == absl::StatusCode::kFailedPrecondition) {
      std::optional<std::string> hint = LeaderHint(status);
      if (hint.has_value() && !hint->empty() && *hint != target && hint_hops < 2 * n + 2) {
        log_->debug("not leader shard={} replica={} hint={}", shard_id, target, *hint);
        ++hint_hops;
        target = *hint;
        continue;
      }
    }
    log_->debug("attempt failed shard={} replica={} code={} error={}", shard_id, target,
                absl::StatusCodeToString(status.code()), std::string(status.message()));
    directory_->ForgetLeader(shard_id, target);
    last_error = absl::Status(status.code(), absl::StrCat(target, ": ", status.message()));
    last_timed_out = status.code() == absl::StatusCode::kDeadlineExceeded;
    target = (*replicas)[next_index % n];
    ++next_index;
    ++failures;
    if (failures % n == 0) {
      // A full round failed: nobody leads right now. Back off briefly, then start again.
      hint_hops = 0;
      const absl::Duration pause = std::min(backoff, deadline - absl::Now());
      if (pause > absl::ZeroDuration()) absl::SleepFor(pause);
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  }
  log_->warn("shard unreachable shard={} attempts={} last_error={}", shard_id, attempts,
             last_error.ToString());
  if (last_timed_out) {
    return absl::DeadlineExceededError(absl::StrCat("shard ", shard_id, ": deadline exceeded after ",
                                                    attempts, " attempts; last error: ",
                                                    last_error.message()));
  }
  return absl::UnavailableError(
      absl::StrCat("shard ", shard_id, " has no reachable leader: ", last_error.message()));
}

}  // namespace paxoskv::master

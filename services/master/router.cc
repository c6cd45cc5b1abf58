// See router.h.
#include "services/master/router.h"

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/common/grpc_status.h"
#include "libs/common/status_macros.h"
#include "libs/common/status_markers.h"
#include "services/master/master_metrics.h"

namespace paxoskv::master {

absl::StatusOr<paxoskv::v1::CommandResult> Router::Execute(uint32_t shard_id,
                                                           const paxoskv::v1::Command& command,
                                                           absl::Time deadline,
                                                           absl::Duration attempt_timeout,
                                                           ReplicaService service) {
  // Every attempt names the shard, so a replica of another shard refuses it.
  paxoskv::v1::Command stamped = command;
  stamped.set_shard_id(shard_id);
  paxoskv::v1::CommandResult result;
  auto attempt = [&](const std::string& target, absl::Time attempt_deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(attempt_deadline));
    result.Clear();
    grpc::Status status =
        service == ReplicaService::kMigration
            ? directory_->MigrationStub(target)->Execute(&context, stamped, &result)
            : directory_->Stub(target)->Execute(&context, stamped, &result);
    return FromGrpcStatus(status, &context);
  };
  RETURN_IF_ERROR(Call(shard_id, deadline, attempt_timeout, attempt));
  return result;
}

absl::Status Router::Call(uint32_t shard_id, absl::Time deadline, absl::Duration attempt_timeout,
                          LeaderAttempt attempt) {
  std::optional<std::vector<std::string>> replicas = directory_->Replicas(shard_id);
  if (!replicas.has_value() || replicas->empty()) {
    return absl::InternalError(absl::StrCat("unknown shard ", shard_id));
  }
  RouterOptions policy = options_;
  if (attempt_timeout > absl::ZeroDuration()) policy.attempt_timeout = attempt_timeout;
  LeaderRetryHooks hooks;
  hooks.answered = [&](const std::string& target) { directory_->SetLeader(shard_id, target); };
  hooks.failed = [&](const std::string& target, const absl::Status& status) {
    log_->debug("attempt failed shard={} replica={} error={}", shard_id, target,
                status.ToString());
    MasterMetrics::Get().Retry(status);
    directory_->ForgetLeader(shard_id, target);
  };
  hooks.redirected = [](const std::string&, const std::string&) {
    MasterMetrics::Get().RetryAfterHint();
  };
  hooks.wrong_replica = [&](const std::string& target) {
    // The address now reaches another shard's replica (e.g. a container got another's IP):
    // drop the channel so the next use resolves the name again.
    log_->warn("address {} of shard {} reached another shard", target, shard_id);
    directory_->ResetChannel(target);
  };
  const absl::Time started = absl::Now();
  absl::Status status = RetryAtLeader(absl::StrCat("shard ", shard_id), *replicas,
                                      directory_->Leader(shard_id), deadline, policy, attempt,
                                      hooks);
  MasterMetrics::Get().ShardRequest(shard_id).Observe(absl::ToDoubleSeconds(absl::Now() - started));
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    log_->warn("shard unreachable shard={} error={}", shard_id, status.ToString());
  }
  return status;
}

absl::StatusOr<paxoskv::v1::ReplicaStatus> Router::LeaderStatus(uint32_t shard_id,
                                                                absl::Time deadline) {
  if (!directory_->Replicas(shard_id).has_value()) {
    return absl::NotFoundError(absl::StrCat("unknown shard ", shard_id));
  }
  namespace pb = paxoskv::v1;
  pb::ReplicaStatus leader;
  RETURN_IF_ERROR(
      Call(shard_id, deadline, absl::ZeroDuration(),
           [&](const std::string& target, absl::Time attempt_deadline) -> absl::Status {
             grpc::ClientContext context;
             context.set_deadline(absl::ToChronoTime(attempt_deadline));
             pb::ReplicaStatus status;
             grpc::Status rpc =
                 directory_->Stub(target)->Status(&context, pb::ReplicaStatusRequest(), &status);
             if (!rpc.ok()) return FromGrpcStatus(rpc, &context);
             if (status.shard_id() != shard_id) {
               return WrongReplicaError(absl::StrCat(target, " is a replica of shard ",
                                                     status.shard_id(), ", not ", shard_id));
             }
             if (status.role() == "leader") {
               leader = std::move(status);
               return absl::OkStatus();
             }
             // Not the leader: follow its hint, as for any command.
             if (!status.leader_address().empty() && status.leader_address() != target) {
               return NotLeaderError(status.leader_address());
             }
             return absl::UnavailableError(absl::StrCat("replica ", status.replica_id(),
                                                        " knows no leader of shard ", shard_id));
           }));
  return leader;
}

}  // namespace paxoskv::master

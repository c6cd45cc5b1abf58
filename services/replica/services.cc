// See services.h.
#include "services/replica/services.h"

#include <chrono>

#include "absl/time/clock.h"
#include "libs/common/grpc_status.h"

namespace paxoskv::replica {

using paxoskv::v1::PaxosMessage;

grpc::Status PaxosService::Deliver(const PaxosMessage& message, PaxosMessage::BodyCase expected) {
  if (message.body_case() != expected) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "message body does not match the RPC");
  }
  return ToGrpcStatus(loop_->Deliver(message));
}

grpc::Status PaxosService::Prepare(grpc::ServerContext*, const PaxosMessage* m,
                                   paxoskv::v1::Ack*) {
  return Deliver(*m, PaxosMessage::kPrepare);
}
grpc::Status PaxosService::Promise(grpc::ServerContext*, const PaxosMessage* m,
                                   paxoskv::v1::Ack*) {
  return Deliver(*m, PaxosMessage::kPromise);
}
grpc::Status PaxosService::Accept(grpc::ServerContext*, const PaxosMessage* m,
                                  paxoskv::v1::Ack*) {
  return Deliver(*m, PaxosMessage::kAccept);
}
grpc::Status PaxosService::Accepted(grpc::ServerContext*, const PaxosMessage* m,
                                    paxoskv::v1::Ack*) {
  return Deliver(*m, PaxosMessage::kAccepted);
}
grpc::Status PaxosService::Learn(grpc::ServerContext*, const PaxosMessage* m,
                                 paxoskv::v1::Ack*) {
  return Deliver(*m, PaxosMessage::kLearn);
}
grpc::Status PaxosService::InstallSnapshot(grpc::ServerContext*, const PaxosMessage* m,
                                           paxoskv::v1::Ack*) {
  return Deliver(*m, PaxosMessage::kInstallSnapshot);
}

namespace {

constexpr absl::Duration kDefaultDeadline = absl::Seconds(10);

absl::Time DeadlineOf(const grpc::ServerContext* context) {
  const absl::Time fallback = absl::Now() + kDefaultDeadline;
  const auto deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return fallback;
  return std::min(fallback, absl::FromChrono(deadline));
}

}  // namespace

grpc::Status ReplicaService::Execute(grpc::ServerContext* context,
                                     const paxoskv::v1::Command* command,
                                     paxoskv::v1::CommandResult* result) {
  absl::StatusOr<paxoskv::v1::CommandResult> outcome =
      loop_->Execute(*command, DeadlineOf(context));
  if (!outcome.ok()) return ToGrpcStatus(outcome.status(), context);
  switch (outcome->code()) {
    case paxoskv::v1::RESULT_CODE_OK:
      *result = std::move(*outcome);
      return grpc::Status::OK;
    case paxoskv::v1::RESULT_CODE_NOT_FOUND:
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "key not found");
    case paxoskv::v1::RESULT_CODE_INVALID_ARGUMENT:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, outcome->message());
    case paxoskv::v1::RESULT_CODE_STALE_REQUEST:
      return grpc::Status(grpc::StatusCode::ABORTED, outcome->message());
    case paxoskv::v1::RESULT_CODE_WRONG_SHARD:
      return ToGrpcStatus(WrongShardError(outcome->message()), context);
    default:
      return grpc::Status(grpc::StatusCode::INTERNAL, "unknown result code");
  }
}

grpc::Status ReplicaService::Status(grpc::ServerContext*, const paxoskv::v1::ReplicaStatusRequest*,
                                    paxoskv::v1::ReplicaStatus* status) {
  *status = loop_->GetStatus();
  return grpc::Status::OK;
}

}  // namespace paxoskv::replica

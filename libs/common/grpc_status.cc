// See grpc_status.h.
#include "libs/common/grpc_status.h"

#include "absl/strings/cord.h"

namespace paxoskv {

grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context) {
  if (status.ok()) return grpc::Status::OK;
  if (context != nullptr) {
    if (auto hint = LeaderHint(status); hint.has_value()) {
      context->AddTrailingMetadata(kLeaderHintMetadata, *hint);
    }
    if (IsWrongShard(status)) context->AddTrailingMetadata(kWrongShardMetadata, "1");
    if (IsWrongReplica(status)) context->AddTrailingMetadata(kWrongReplicaMetadata, "1");
    if (IsNoSpace(status)) context->AddTrailingMetadata(kNoSpaceMetadata, "1");
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status, const grpc::ClientContext* context) {
  if (status.ok()) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (context != nullptr) {
    const auto& trailers = context->GetServerTrailingMetadata();
    auto it = trailers.find(kLeaderHintMetadata);
    if (it != trailers.end()) {
      result.SetPayload(kLeaderHintPayload,
                        absl::Cord(std::string(it->second.data(), it->second.size())));
    }
    if (trailers.count(kWrongShardMetadata) > 0) {
      result.SetPayload(kWrongShardPayload, absl::Cord("1"));
    }
    if (trailers.count(kWrongReplicaMetadata) > 0) {
      result.SetPayload(kWrongReplicaPayload, absl::Cord("1"));
    }
    if (trailers.count(kNoSpaceMetadata) > 0) result.SetPayload(kNoSpacePayload, absl::Cord("1"));
  }
  return result;
}

}  // namespace paxoskv

// Conversions between absl::Status and grpc::Status at service edges: the marks of
// status_markers.h (leader hint, wrong shard, wrong replica) travel as trailing metadata.
#pragma once

#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "libs/common/status_markers.h"

namespace paxoskv {

inline constexpr char kLeaderHintMetadata[] = "paxoskv-leader";
inline constexpr char kWrongShardMetadata[] = "paxoskv-wrong-shard";
inline constexpr char kWrongReplicaMetadata[] = "paxoskv-wrong-replica";
inline constexpr char kNoSpaceMetadata[] = "paxoskv-nospace";

// Server side: converts and, when the status carries a leader hint, adds trailing metadata.
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context = nullptr);
// Client side: converts and restores the leader hint from the call's trailing metadata.
absl::Status FromGrpcStatus(const grpc::Status& status,
                            const grpc::ClientContext* context = nullptr);

}  // namespace paxoskv

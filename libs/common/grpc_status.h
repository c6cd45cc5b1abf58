// Conversions between absl::Status and grpc::Status at service edges, with the marks of
// libs/common/routing_errors.h (leader hint, wrong shard, wrong replica) carried as
// absl::Status payloads <-> trailing metadata ("paxoskv-leader", ...). Includes
// routing_errors.h, so its users need only this header.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "libs/common/routing_errors.h"

namespace paxoskv {

inline constexpr char kLeaderHintMetadata[] = "paxoskv-leader";
inline constexpr char kWrongShardMetadata[] = "paxoskv-wrong-shard";
inline constexpr char kWrongReplicaMetadata[] = "paxoskv-wrong-replica";

// Server side: converts and, when the status carries a leader hint, adds trailing metadata.
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context = nullptr);
// Client side: converts and restores the leader hint from the call's trailing metadata.
absl::Status FromGrpcStatus(const grpc::Status& status,
                            const grpc::ClientContext* context = nullptr);

}  // namespace paxoskv

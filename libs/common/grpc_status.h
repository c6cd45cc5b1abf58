// Conversions between absl::Status and grpc::Status at service edges, with the leader hint
// carried as an absl::Status payload <-> trailing metadata "paxoskv-leader".
#pragma once

#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace paxoskv {

inline constexpr char kLeaderHintMetadata[] = "paxoskv-leader";
inline constexpr char kLeaderHintPayload[] = "paxoskv.dev/leader";
inline constexpr char kWrongShardMetadata[] = "paxoskv-wrong-shard";
inline constexpr char kWrongShardPayload[] = "paxoskv.dev/wrong-shard";
inline constexpr char kWrongReplicaMetadata[] = "paxoskv-wrong-replica";
inline constexpr char kWrongReplicaPayload[] = "paxoskv.dev/wrong-replica";

// Builds a status (FAILED_PRECONDITION by default) naming the leader's address.
absl::Status NotLeaderError(const std::string& leader_address);
// The leader address attached by NotLeaderError, if any.
std::optional<std::string> LeaderHint(const absl::Status& status);

// FAILED_PRECONDITION marked "wrong shard": the key's range moved to another shard (the
// caller re-reads its ring and routes again). Travels as trailing metadata.
absl::Status WrongShardError(const std::string& message);
bool IsWrongShard(const absl::Status& status);

// FAILED_PRECONDITION marked "wrong replica": the address reached a replica of another shard
// (or another group), so the caller's channel to it is stale: re-resolve, try another.
absl::Status WrongReplicaError(const std::string& message);
bool IsWrongReplica(const absl::Status& status);

// Server side: converts and, when the status carries a leader hint, adds trailing metadata.
grpc::Status ToGrpcStatus(const absl::Status& status, grpc::ServerContextBase* context = nullptr);
// Client side: converts and restores the leader hint from the call's trailing metadata.
absl::Status FromGrpcStatus(const grpc::Status& status,
                            const grpc::ClientContext* context = nullptr);

}  // namespace paxoskv

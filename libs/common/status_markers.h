// Marks on an absl::Status that tell a caller what to do next, kept as status payloads so
// that code without gRPC (the replica core, the simulator) can make and read them:
//   - a leader hint (not the leader; ask this address instead);
//   - "wrong shard" (the key's range moved: re-read the ring and route again);
//   - "wrong replica" (the address reached another shard's replica: re-resolve it);
//   - "no space" (a NOSPACE alarm refused a write: do not retry until it is cleared).
// At a gRPC edge, libs/common/grpc_status.h carries them as trailing metadata.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace paxoskv {

inline constexpr char kLeaderHintPayload[] = "paxoskv.dev/leader";
inline constexpr char kWrongShardPayload[] = "paxoskv.dev/wrong-shard";
inline constexpr char kWrongReplicaPayload[] = "paxoskv.dev/wrong-replica";
inline constexpr char kNoSpacePayload[] = "paxoskv.dev/nospace";

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

// RESOURCE_EXHAUSTED marked "no space": the shard's NOSPACE alarm is raised and refused a
// write (nothing applied). Unlike other RESOURCE_EXHAUSTED answers, retrying does not help
// until an admin clears the alarm, so no retry loop retries it.
absl::Status NoSpaceError(const std::string& message);
bool IsNoSpace(const absl::Status& status);

}  // namespace paxoskv

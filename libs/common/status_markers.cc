// See status_markers.h.
#include "libs/common/status_markers.h"

#include "absl/strings/cord.h"

namespace paxoskv {

absl::Status NotLeaderError(const std::string& leader_address) {
  absl::Status status(absl::StatusCode::kFailedPrecondition,
                      "not the leader; leader is " + leader_address);
  status.SetPayload(kLeaderHintPayload, absl::Cord(leader_address));
  return status;
}

std::optional<std::string> LeaderHint(const absl::Status& status) {
  auto payload = status.GetPayload(kLeaderHintPayload);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

namespace {

// FAILED_PRECONDITION with the mark `payload`.
absl::Status MarkedError(const char* payload, const std::string& message) {
  absl::Status status(absl::StatusCode::kFailedPrecondition, message);
  status.SetPayload(payload, absl::Cord("1"));
  return status;
}

}  // namespace

absl::Status WrongShardError(const std::string& message) {
  return MarkedError(kWrongShardPayload, message);
}

bool IsWrongShard(const absl::Status& status) {
  return status.GetPayload(kWrongShardPayload).has_value();
}

absl::Status WrongReplicaError(const std::string& message) {
  return MarkedError(kWrongReplicaPayload, message);
}

bool IsWrongReplica(const absl::Status& status) {
  return status.GetPayload(kWrongReplicaPayload).has_value();
}

absl::Status NoSpaceError(const std::string& message) {
  absl::Status status(absl::StatusCode::kResourceExhausted, message);
  status.SetPayload(kNoSpacePayload, absl::Cord("1"));
  return status;
}

bool IsNoSpace(const absl::Status& status) {
  return status.GetPayload(kNoSpacePayload).has_value();
}

}  // namespace paxoskv

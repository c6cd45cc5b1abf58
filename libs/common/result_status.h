// ResultStatus: the one mapping from a command's result code (paxoskv.v1.CommandResult.code,
// decided deterministically by the KV state machine) to the status a caller sees. The replica
// answers Execute with it; the master and the client library use it on the results they get.
// Pure function; thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "paxoskv/v1/command.pb.h"

namespace paxoskv {

// RESULT_CODE_OK -> OK; NOT_FOUND -> kNotFound "key not found"; INVALID_ARGUMENT ->
// kInvalidArgument(message); STALE_REQUEST -> kAborted(message): the seq is below the dedup
// window, its outcome is unknown and a retry stays stale; WRONG_SHARD -> WrongShardError
// (message) (libs/common/status_markers.h; the caller routes again); RESOURCE_EXHAUSTED ->
// kResourceExhausted(message): nothing applied, retry later; any other code -> kInternal.
absl::Status ResultStatus(const paxoskv::v1::CommandResult& result);

// What a Get, Put or Delete answers, from the outcome of its routed command (a replica's
// status, or its result mapped by ResultStatus): the master, a direct client and ReplicaClient
// answer alike. A get of a missing key is kNotFound; a delete of one is false, not an error.
absl::StatusOr<std::string> GetAnswer(absl::StatusOr<paxoskv::v1::CommandResult> result);
absl::Status PutAnswer(const absl::StatusOr<paxoskv::v1::CommandResult>& result);
absl::StatusOr<bool> DeleteAnswer(const absl::StatusOr<paxoskv::v1::CommandResult>& result);

}  // namespace paxoskv

// See result_status.h.
#include "libs/common/result_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "libs/common/status_markers.h"

namespace paxoskv {

absl::Status ResultStatus(const paxoskv::v1::CommandResult& result) {
  switch (result.code()) {
    case paxoskv::v1::RESULT_CODE_OK:
      return absl::OkStatus();
    case paxoskv::v1::RESULT_CODE_NOT_FOUND:
      return absl::NotFoundError("key not found");
    case paxoskv::v1::RESULT_CODE_INVALID_ARGUMENT:
      return absl::InvalidArgumentError(result.message());
    case paxoskv::v1::RESULT_CODE_STALE_REQUEST:
      return absl::AbortedError(result.message());
    case paxoskv::v1::RESULT_CODE_WRONG_SHARD:
      return WrongShardError(result.message());
    case paxoskv::v1::RESULT_CODE_RESOURCE_EXHAUSTED:
      return absl::ResourceExhaustedError(result.message());
    case paxoskv::v1::RESULT_CODE_NOSPACE:
      return NoSpaceError(result.message());
    default:
      return absl::InternalError(absl::StrCat("unknown result code ", result.code()));
  }
}

absl::StatusOr<std::string> GetAnswer(absl::StatusOr<paxoskv::v1::CommandResult> result) {
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError("key not found");
    }
    return result.status();
  }
  if (absl::Status status = ResultStatus(*result); !status.ok()) return status;
  return std::move(*result->mutable_value());
}

absl::Status PutAnswer(const absl::StatusOr<paxoskv::v1::CommandResult>& result) {
  if (!result.ok()) return result.status();
  return ResultStatus(*result);
}

absl::StatusOr<bool> DeleteAnswer(const absl::StatusOr<paxoskv::v1::CommandResult>& result) {
  if (!result.ok()) {
    // A replica may answer a delete of a missing key with NOT_FOUND: not an error here.
    if (result.status().code() == absl::StatusCode::kNotFound) return false;
    return result.status();
  }
  if (result->code() == paxoskv::v1::RESULT_CODE_NOT_FOUND) return false;
  if (absl::Status status = ResultStatus(*result); !status.ok()) return status;
  return result->existed();
}

}  // namespace paxoskv

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

}  // namespace paxoskv

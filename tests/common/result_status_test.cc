// Tests of libs/common/result_status.h: every result code maps to the status README's table
// promises, messages and the wrong-shard mark included.
#include "libs/common/result_status.h"

#include <gtest/gtest.h>

#include "libs/common/status_markers.h"

namespace paxoskv {
namespace {

namespace pb = paxoskv::v1;

pb::CommandResult Result(pb::ResultCode code, const std::string& message = "detail") {
  pb::CommandResult result;
  result.set_code(code);
  result.set_message(message);
  return result;
}

TEST(ResultStatusTest, MapsEveryResultCode) {
  EXPECT_TRUE(ResultStatus(Result(pb::RESULT_CODE_OK)).ok());
  EXPECT_EQ(ResultStatus(Result(pb::RESULT_CODE_NOT_FOUND, "")),
            absl::NotFoundError("key not found"));
  EXPECT_EQ(ResultStatus(Result(pb::RESULT_CODE_INVALID_ARGUMENT)),
            absl::InvalidArgumentError("detail"));
  EXPECT_EQ(ResultStatus(Result(pb::RESULT_CODE_RESOURCE_EXHAUSTED)),
            absl::ResourceExhaustedError("detail"));
  EXPECT_EQ(ResultStatus(Result(static_cast<pb::ResultCode>(99))).code(),
            absl::StatusCode::kInternal);
}

// A stale seq's outcome is unknown and stays so: ABORTED, which no router retries, never
// FAILED_PRECONDITION (which means "go to the leader" there).
TEST(ResultStatusTest, StaleRequestIsAborted) {
  const absl::Status status = ResultStatus(Result(pb::RESULT_CODE_STALE_REQUEST, "too old"));
  EXPECT_EQ(status, absl::AbortedError("too old"));
}

TEST(ResultStatusTest, WrongShardCarriesTheMark) {
  const absl::Status status = ResultStatus(Result(pb::RESULT_CODE_WRONG_SHARD, "moved"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "moved");
  EXPECT_TRUE(IsWrongShard(status));
  EXPECT_FALSE(LeaderHint(status).has_value());
}

}  // namespace
}  // namespace paxoskv

// Tests of libs/common/status_markers.h: each marked status carries its own mark, and only it.
#include "libs/common/status_markers.h"

#include <gtest/gtest.h>

namespace paxoskv {
namespace {

TEST(StatusMarkersTest, EachErrorCarriesOnlyItsMark) {
  const absl::Status not_leader = NotLeaderError("10.0.0.3:7000");
  const absl::Status wrong_shard = WrongShardError("moved");
  const absl::Status wrong_replica = WrongReplicaError("another shard's replica");
  for (const absl::Status& status : {not_leader, wrong_shard, wrong_replica}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  }
  EXPECT_EQ(LeaderHint(not_leader), "10.0.0.3:7000");
  EXPECT_FALSE(IsWrongShard(not_leader) || IsWrongReplica(not_leader));
  EXPECT_TRUE(IsWrongShard(wrong_shard));
  EXPECT_FALSE(IsWrongReplica(wrong_shard) || LeaderHint(wrong_shard).has_value());
  EXPECT_EQ(wrong_shard.message(), "moved");
  EXPECT_TRUE(IsWrongReplica(wrong_replica));
  EXPECT_FALSE(IsWrongShard(wrong_replica) || LeaderHint(wrong_replica).has_value());
  EXPECT_FALSE(IsWrongShard(absl::FailedPreconditionError("plain")));
}

}  // namespace
}  // namespace paxoskv

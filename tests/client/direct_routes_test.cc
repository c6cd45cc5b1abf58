// Tests of direct mode's pure parts (services/client/kv_client.h): the ring an Admin.Routes
// answer describes is the master's (same owner for every key), and which shard answers a
// direct client returns as final and which send the request through the masters.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "libs/common/status_markers.h"
#include "libs/ring/hash_ring.h"
#include "services/client/kv_client.h"

namespace paxoskv::client {
namespace {

namespace pb = paxoskv::v1;

pb::RoutesResponse Routes(uint64_t epoch, std::vector<uint32_t> shards, uint32_t vnodes) {
  pb::RoutesResponse routes;
  routes.set_epoch(epoch);
  routes.set_virtual_nodes(vnodes);
  for (uint32_t id : shards) {
    pb::ShardRoute* shard = routes.add_shards();
    shard->set_shard_id(id);
    shard->add_replicas(absl::StrCat("10.0.0.", id, ":7000"));
  }
  return routes;
}

TEST(DirectRoutesTest, RingOfRoutesOwnsKeysAsTheMastersRing) {
  // Listed out of order: the ring sorts its shards, as the master's does.
  auto ring = RingOfRoutes(Routes(7, {3, 1, 2}, 64));
  ASSERT_TRUE(ring.ok()) << ring.status();
  auto masters = ring::HashRing::Create(7, {1, 2, 3}, 64);
  ASSERT_TRUE(masters.ok());
  EXPECT_EQ(ring->epoch(), 7u);
  EXPECT_EQ(ring->virtual_nodes(), 64u);
  EXPECT_EQ(ring->shards(), masters->shards());
  for (int i = 0; i < 2000; ++i) {
    const std::string key = absl::StrCat("key-", i);
    EXPECT_EQ(ring->OwnerOf(key), masters->OwnerOf(key)) << key;
  }
}

TEST(DirectRoutesTest, RingOfRoutesRefusesWhatNamesNoRing) {
  EXPECT_EQ(RingOfRoutes(Routes(1, {}, 128)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RingOfRoutes(Routes(1, {1, 2}, 0)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RingOfRoutes(Routes(1, {1, 1}, 128)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DirectRoutesTest, FinalAnswersAreReturnedAsTheMasterWouldReturnThem) {
  for (const absl::Status& status :
       {absl::OkStatus(), absl::NotFoundError("key not found"),
        absl::InvalidArgumentError("key too long"), absl::AbortedError("stale"),
        NoSpaceError("NOSPACE alarm"), absl::ResourceExhaustedError("too many sessions"),
        absl::PermissionDeniedError("'replica:2:1' may not call this method"),
        absl::FailedPreconditionError("no mark"), absl::InternalError("unknown result code")}) {
    EXPECT_EQ(JudgeDirectAnswer(status), DirectVerdict::kAnswer) << status;
  }
}

TEST(DirectRoutesTest, MovedRangesAndUnreachableShardsGoThroughTheMasters) {
  EXPECT_EQ(JudgeDirectAnswer(WrongShardError("the key's hash range has moved")),
            DirectVerdict::kWrongShard);
  EXPECT_EQ(JudgeDirectAnswer(absl::UnavailableError("shard 1 has no reachable leader")),
            DirectVerdict::kUnreachable);
  EXPECT_EQ(JudgeDirectAnswer(absl::DeadlineExceededError("deadline")),
            DirectVerdict::kUnreachable);
}

}  // namespace
}  // namespace paxoskv::client

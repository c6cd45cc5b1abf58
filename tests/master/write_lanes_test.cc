// Tests of services/master/write_lanes.h: a lane carries one request at a time, is reused
// with its next seq (ack_below = seq) once given back, and no more than lanes_max exist.
#include "services/master/write_lanes.h"

#include <set>

#include <gtest/gtest.h>

namespace paxoskv::master {
namespace {

paxoskv::v1::Command Stamped(WriteLanes& lanes) {
  paxoskv::v1::Command command;
  EXPECT_TRUE(lanes.Stamp(&command).ok());
  return command;
}

TEST(WriteLanesTest, ConcurrentRequestsGetDistinctLanes) {
  WriteLanes lanes(8);
  std::set<uint64_t> ids;
  for (int i = 0; i < 8; ++i) {
    const paxoskv::v1::Command command = Stamped(lanes);
    EXPECT_NE(command.client_id(), 0u);
    EXPECT_EQ(command.seq(), 1u);
    EXPECT_EQ(command.ack_below(), 1u);
    ids.insert(command.client_id());
  }
  EXPECT_EQ(ids.size(), 8u);
  EXPECT_EQ(lanes.lanes(), 8u);
}

TEST(WriteLanesTest, AReleasedLaneIsReusedWithItsNextSeq) {
  WriteLanes lanes(8);
  const paxoskv::v1::Command first = Stamped(lanes);
  lanes.Release(first);
  const paxoskv::v1::Command second = Stamped(lanes);
  EXPECT_EQ(second.client_id(), first.client_id());
  EXPECT_EQ(second.seq(), 2u);
  EXPECT_EQ(second.ack_below(), 2u);   // seq 1 has finished
  EXPECT_EQ(lanes.lanes(), 1u);
}

TEST(WriteLanesTest, RefusesBeyondLanesMaxUntilOneIsReleased) {
  WriteLanes lanes(2);
  const paxoskv::v1::Command a = Stamped(lanes);
  Stamped(lanes);
  paxoskv::v1::Command refused;
  EXPECT_EQ(lanes.Stamp(&refused).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.client_id(), 0u);
  lanes.Release(a);
  const paxoskv::v1::Command c = Stamped(lanes);
  EXPECT_EQ(c.client_id(), a.client_id());
  EXPECT_EQ(lanes.lanes(), 2u);
}

}  // namespace
}  // namespace paxoskv::master

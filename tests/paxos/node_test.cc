// Node-level contract: Restore, malformed input, read-index, a group of one, invariants.
#include <gtest/gtest.h>

#include "tests/paxos/paxos_test_util.h"

namespace paxoskv::paxos {
namespace {

using namespace ::paxoskv::paxos::testing;  // NOLINT

// Restore: applied starts at the snapshot; chosen entries after it are handed out again in
// the first Ready so the driver replays them; accepted-but-not-chosen ones are not.
TEST(RestoreTest, ReplaysChosenEntriesAfterSnapshot) {
  const pb::Ballot b = MakeBallot(3, 2);
  DurableState d;
  d.promised = b;
  d.entries = {Ent(2, b, Val("two")), Ent(3, b, Val("three")), Ent(4, b, Val("four"))};
  d.chosen_through = 3;
  d.snapshot_slot = 1;
  auto node = MakeNode(Config(1), d);
  Status s = node->status();
  EXPECT_EQ(s.applied_through, 1u);
  EXPECT_EQ(s.chosen_through, 3u);
  EXPECT_TRUE(SameBallot(s.ballot, b));
  ASSERT_TRUE(node->HasReady());
  Ready r = node->TakeReady();
  ASSERT_EQ(r.chosen.size(), 2u);
  EXPECT_EQ(r.chosen[0].slot(), 2u);
  EXPECT_EQ(r.chosen[1].slot(), 3u);
  EXPECT_FALSE(r.promised.has_value());
  EXPECT_TRUE(r.accepted.empty());
}

// A restarted node never reuses a ballot: its next campaign is above its durable promise.
TEST(RestoreTest, CampaignsAboveDurablePromise) {
  DurableState d;
  d.promised = MakeBallot(4, 1);
  auto node = MakeNode(Config(1), d);
  node->Campaign();
  node->Tick();
  Ready r = node->TakeReady();
  EXPECT_EQ(Of(r, pb::PaxosMessage::kPrepare).at(0).prepare().ballot().round(), 5u);
}

// Defence in depth (review F1): a durable chosen_through beyond the entries on disk (a store
// of an older version crashed between raising it and saving a snapshot) no longer stops the
// replica for good: chosen_through is lowered to the last slot held, and the rest is learned
// again. Slots above it are kept as merely accepted.
TEST(RestoreTest, LowersChosenThroughToTheLastContiguousSlot) {
  DurableState d;
  d.promised = MakeBallot(1, 1);
  d.entries = {Ent(1, MakeBallot(1, 1), Val("a")), Ent(3, MakeBallot(1, 1), Val("c"))};
  d.chosen_through = 3;  // slot 2 missing
  auto node = Node::Restore(Config(1), d);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)->status().chosen_through, 1u);
  Ready r = (*node)->TakeReady();
  ASSERT_EQ(r.chosen.size(), 1u);
  EXPECT_EQ(r.chosen[0].slot(), 1u);
}

TEST(RestoreTest, RejectsInconsistentDurableStateAndBadConfig) {
  DurableState above;
  above.promised = MakeBallot(1, 1);
  above.entries = {Ent(1, MakeBallot(2, 2), Val("a"))};  // above the promise
  EXPECT_EQ(Node::Restore(Config(1), above).status().code(),
            absl::StatusCode::kInvalidArgument);
  NodeConfig c = Config(4);  // not a member
  EXPECT_EQ(Node::Restore(c, {}).status().code(), absl::StatusCode::kInvalidArgument);
  c = Config(1, 2);  // even group
  EXPECT_EQ(Node::Restore(c, {}).status().code(), absl::StatusCode::kInvalidArgument);
  c = Config(1);
  c.logger = nullptr;
  EXPECT_EQ(Node::Restore(c, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

// Malformed messages are rejected with kInvalidArgument and change nothing.
TEST(NodeTest, RejectsMalformedMessagesWithoutChangingState) {
  auto node = MakeNode(2);
  const pb::Ballot b = MakeBallot(1, 1);
  std::vector<pb::PaxosMessage> bad;
  bad.push_back(Envelope(1, 2));                                   // no body
  bad.push_back(PrepareMsg(1, 3, b, 1));                           // wrong `to`
  bad.push_back(PrepareMsg(0, 2, MakeBallot(1, 1), 1));            // from node 0
  pb::Value mixed = Val("x");                                      // commands and membership
  *mixed.mutable_membership() = PinnedMembership(3);
  bad.push_back(AcceptMsg(1, 2, b, {Ent(1, b, mixed)}));
  pb::Value voterless;  // a membership without voter
  voterless.mutable_membership()->add_members()->set_id(1);
  voterless.mutable_membership()->mutable_members(0)->set_learner(true);
  bad.push_back(AcceptMsg(1, 2, b, {Ent(1, b, voterless)}));
  bad.push_back(PrepareMsg(2, 2, MakeBallot(1, 2), 1));            // from self
  bad.push_back(PrepareMsg(1, 2, MakeBallot(0, 0), 1));            // zero ballot
  bad.push_back(PrepareMsg(1, 2, MakeBallot(1, 3), 1));            // someone else's ballot
  bad.push_back(AcceptMsg(1, 2, b, {Ent(0, b, Val("x"))}));         // slot 0
  bad.push_back(AcceptMsg(1, 2, MakeBallot(0, 0), {}));            // zero ballot
  bad.push_back(AcceptedMsg(1, 2, MakeBallot(1, 1), {1}));         // not our ballot
  bad.push_back(PromiseMsg(1, 2, MakeBallot(1, 1), {}));           // not our ballot
  pb::PaxosMessage snap = Envelope(1, 2);
  *snap.mutable_install_snapshot()->mutable_ballot() = b;  // last_slot 0
  bad.push_back(snap);
  for (const auto& m : bad) {
    EXPECT_EQ(node->Step(m).code(), absl::StatusCode::kInvalidArgument) << m.ShortDebugString();
  }
  EXPECT_FALSE(node->HasReady());
  EXPECT_EQ(node->status().ballot.round(), 0u);
}

// Read-index: a read becomes safe once a majority echoes a heartbeat sent after it was
// registered, at the leader's current ballot; read_slot is the highest assigned slot.
TEST(ReadIndexTest, ConfirmsAfterMajorityEchoesALaterHeartbeat) {
  auto node = MakeNode(1);
  pb::Ballot b = ElectWithEmptyPromises(*node, 1);
  ASSERT_TRUE(node->Propose(Cmd(1, 1)).ok());
  Ready r = node->TakeReady();
  const uint64_t old_heartbeat = Of(r, pb::PaxosMessage::kAccept, 2).at(0).accept().heartbeat_id();
  ASSERT_TRUE(node->ReadIndex(42).ok());
  r = node->TakeReady();
  EXPECT_TRUE(r.reads.empty());
  auto heartbeats = Of(r, pb::PaxosMessage::kAccept, 2);
  ASSERT_EQ(heartbeats.size(), 1u);
  const uint64_t hb = heartbeats[0].accept().heartbeat_id();
  EXPECT_GT(hb, old_heartbeat);
  // An echo of a heartbeat sent before the read does not confirm it.
  ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, b, {}, 0, old_heartbeat)).ok());
  EXPECT_TRUE(node->TakeReady().reads.empty());
  // An echo at another ballot does not either.
  ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, MakeBallot(b.round() + 1, 1), {}, 0, hb)).ok());
  EXPECT_TRUE(node->TakeReady().reads.empty());
  ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, b, {}, 0, hb)).ok());
  r = node->TakeReady();
  ASSERT_EQ(r.reads.size(), 1u);
  EXPECT_EQ(r.reads[0].id, 42u);
  EXPECT_EQ(r.reads[0].read_slot, 1u);
}

TEST(ReadIndexTest, FailsReadsWhenLeadershipIsLost) {
  auto node = MakeNode(1);
  ElectWithEmptyPromises(*node, 1);
  ASSERT_TRUE(node->ReadIndex(7).ok());
  ASSERT_TRUE(node->ReadIndex(8).ok());
  node->TakeReady();
  ASSERT_TRUE(node->Step(PrepareMsg(3, 1, MakeBallot(99, 3), 1)).ok());
  Ready r = node->TakeReady();
  EXPECT_TRUE(r.reads.empty());
  EXPECT_EQ(r.reads_failed, (std::vector<uint64_t>{7, 8}));
  EXPECT_EQ(node->status().role, Role::kFollower);
}

// A group of one chooses on its own acceptance and confirms reads at once.
TEST(NodeTest, GroupOfOneChoosesAlone) {
  auto node = MakeNode(Config(1, 1));
  node->Campaign();
  node->Tick();
  EXPECT_EQ(node->status().role, Role::kLeader);
  node->TakeReady();
  ASSERT_TRUE(node->Propose(Cmd(1, 1)).ok());
  Ready r = node->TakeReady();
  ASSERT_EQ(r.accepted.size(), 1u);
  ASSERT_EQ(r.chosen.size(), 1u);
  ASSERT_TRUE(node->ReadIndex(5).ok());
  r = node->TakeReady();
  ASSERT_EQ(r.reads.size(), 1u);
  EXPECT_EQ(r.reads[0].read_slot, 1u);
}

// The checker itself: it flags a decreasing promise (as after a lost fsync).
TEST(InvariantsTest, FlagsPromiseGoingBackwards) {
  Invariants inv;
  DurableState high;
  high.promised = MakeBallot(5, 2);
  auto a = MakeNode(Config(1), high);
  ASSERT_TRUE(inv.Check(*a).ok());
  auto b = MakeNode(Config(1), {});  // "restarted" without its durable promise
  EXPECT_EQ(inv.Check(*b).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace paxoskv::paxos

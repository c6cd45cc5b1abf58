// Acceptor rules of the Multi-Paxos core, driven through Step and inspected through TakeReady.
#include <gtest/gtest.h>

#include "tests/paxos/paxos_test_util.h"

namespace paxoskv::paxos {
namespace {

using namespace ::paxoskv::paxos::testing;  // NOLINT

// Rule: an acceptor never accepts a ballot below its promise, and says which ballot it holds.
TEST(AcceptorTest, RejectsAcceptBelowPromisedBallot) {
  auto node = MakeNode(2);
  ASSERT_TRUE(node->Step(PrepareMsg(1, 2, MakeBallot(5, 1), 1)).ok());
  node->TakeReady();
  ASSERT_TRUE(node->Step(AcceptMsg(3, 2, MakeBallot(3, 3), {Ent(1, MakeBallot(3, 3), Val("x"))}))
                  .ok());
  Ready r = node->TakeReady();
  EXPECT_TRUE(r.accepted.empty());
  EXPECT_FALSE(r.promised.has_value());
  auto replies = Of(r, pb::PaxosMessage::kAccepted, 3);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_FALSE(replies[0].accepted().ok());
  EXPECT_EQ(replies[0].accepted().promised().round(), 5u);
  EXPECT_EQ(replies[0].accepted().promised().node_id(), 1u);
}

// Rule: a Prepare below the promise is refused with the higher promised ballot.
TEST(AcceptorTest, RejectsPrepareBelowPromisedBallotWithHigherBallot) {
  auto node = MakeNode(2);
  ASSERT_TRUE(node->Step(PrepareMsg(3, 2, MakeBallot(7, 3), 1)).ok());
  node->TakeReady();
  ASSERT_TRUE(node->Step(PrepareMsg(1, 2, MakeBallot(6, 1), 1)).ok());
  Ready r = node->TakeReady();
  EXPECT_FALSE(r.promised.has_value());
  auto replies = Of(r, pb::PaxosMessage::kPromise, 1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_FALSE(replies[0].promise().ok());
  EXPECT_EQ(replies[0].promise().promised().round(), 7u);
  EXPECT_EQ(replies[0].promise().promised().node_id(), 3u);
}

// Rule: Prepare(b) with b >= promised is answered (a retransmitted Prepare gets a new Promise).
TEST(AcceptorTest, AnswersRetransmittedPrepareAgain) {
  auto node = MakeNode(2);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(node->Step(PrepareMsg(1, 2, MakeBallot(2, 1), 1)).ok());
    Ready r = node->TakeReady();
    EXPECT_EQ(r.promised.has_value(), i == 0);  // persisted once
    auto replies = Of(r, pb::PaxosMessage::kPromise, 1);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_TRUE(replies[0].promise().ok());
  }
}

// Rule: a Promise carries the accepted entries at slots >= from_slot, with their ballots.
TEST(AcceptorTest, PromiseReturnsAcceptedEntriesFromSlot) {
  auto node = MakeNode(2);
  const pb::Ballot b1 = MakeBallot(1, 1);
  ASSERT_TRUE(node->Step(AcceptMsg(1, 2, b1,
                                   {Ent(1, b1, Val("a")), Ent(2, b1, Val("b")),
                                    Ent(4, b1, Val("d"))}))
                  .ok());
  node->TakeReady();
  // (From the leader itself: another candidate waits until the leader is silent, below.)
  ASSERT_TRUE(node->Step(PrepareMsg(1, 2, MakeBallot(2, 1), 2)).ok());
  Ready r = node->TakeReady();
  ASSERT_TRUE(r.promised.has_value());
  EXPECT_EQ(r.promised->round(), 2u);
  auto replies = Of(r, pb::PaxosMessage::kPromise, 1);
  ASSERT_EQ(replies.size(), 1u);
  const pb::Promise& p = replies[0].promise();
  EXPECT_TRUE(p.ok());
  ASSERT_EQ(p.accepted_size(), 2);
  EXPECT_EQ(p.accepted(0).slot(), 2u);
  EXPECT_EQ(p.accepted(0).value().commands(0).value(), "b");
  EXPECT_EQ(p.accepted(0).ballot().round(), 1u);
  EXPECT_EQ(p.accepted(1).slot(), 4u);
}

// Rule: an acceptor may accept a slot with holes before it.
TEST(AcceptorTest, AcceptsSlotWithHolesBeforeIt) {
  auto node = MakeNode(2);
  const pb::Ballot b = MakeBallot(1, 1);
  ASSERT_TRUE(node->Step(AcceptMsg(1, 2, b, {Ent(5, b, Val("e"))})).ok());
  Ready r = node->TakeReady();
  ASSERT_EQ(r.accepted.size(), 1u);
  EXPECT_EQ(r.accepted[0].slot(), 5u);
  auto replies = Of(r, pb::PaxosMessage::kAccepted, 1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_TRUE(replies[0].accepted().ok());
  ASSERT_EQ(replies[0].accepted().slots_size(), 1);
  EXPECT_EQ(replies[0].accepted().slots(0), 5u);
  EXPECT_TRUE(r.chosen.empty());
}

// Persist before reply: the Ready holding the Accepted reply also holds the durable promise
// and the accepted entries it vouches for, so the owner saves them before sending.
TEST(AcceptorTest, ReadyCarriesDurableStateWithTheReply) {
  auto node = MakeNode(2);
  const pb::Ballot b = MakeBallot(3, 1);
  ASSERT_TRUE(node->Step(AcceptMsg(1, 2, b, {Ent(1, b, Val("a")), Ent(2, b, Val("b"))})).ok());
  ASSERT_TRUE(node->HasReady());
  Ready r = node->TakeReady();
  ASSERT_TRUE(r.promised.has_value());
  EXPECT_TRUE(SameBallot(*r.promised, b));
  ASSERT_EQ(r.accepted.size(), 2u);
  for (const auto& e : r.accepted) EXPECT_TRUE(SameBallot(e.ballot(), b));
  EXPECT_EQ(Of(r, pb::PaxosMessage::kAccepted, 1).size(), 1u);
  EXPECT_FALSE(node->HasReady());
}

// An Accept for a slot already covered by the acceptor's snapshot is acknowledged (it is
// chosen) without storing anything.
TEST(AcceptorTest, AcknowledgesCompactedSlotsWithoutStoring) {
  DurableState d;
  d.snapshot_slot = 10;
  d.chosen_through = 10;
  auto node = MakeNode(Config(2), d);
  const pb::Ballot b = MakeBallot(1, 1);
  ASSERT_TRUE(node->Step(AcceptMsg(1, 2, b, {Ent(9, b, Val("old")), Ent(11, b, Val("new"))}))
                  .ok());
  Ready r = node->TakeReady();
  ASSERT_EQ(r.accepted.size(), 1u);
  EXPECT_EQ(r.accepted[0].slot(), 11u);
  auto replies = Of(r, pb::PaxosMessage::kAccepted, 1);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].accepted().slots_size(), 2);
  EXPECT_EQ(replies[0].accepted().chosen_through(), 10u);
}

// A candidate behind this acceptor's snapshot gets the snapshot along with the Promise.
TEST(AcceptorTest, SendsSnapshotToCandidateBehindCompaction) {
  DurableState d;
  d.snapshot_slot = 10;
  d.chosen_through = 10;
  auto node = MakeNode(Config(2), d);
  ASSERT_TRUE(node->Step(PrepareMsg(1, 2, MakeBallot(1, 1), 3)).ok());
  Ready r = node->TakeReady();
  EXPECT_EQ(Of(r, pb::PaxosMessage::kPromise, 1).size(), 1u);
  auto snaps = Of(r, pb::PaxosMessage::kInstallSnapshot, 1);
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0].install_snapshot().last_slot(), 10u);
}

TEST(AcceptorTest, AFollowerOfALiveLeaderIgnoresOtherCandidates) {
  auto node = MakeNode(2);
  const pb::Ballot b1 = MakeBallot(1, 1);
  ASSERT_TRUE(node->Step(AcceptMsg(1, 2, b1, {})).ok());
  node->TakeReady();
  // Node 3 lags (say it was removed and does not know): its campaign would depose a leader we
  // heard from a tick ago. No promise, no reply.
  ASSERT_TRUE(node->Step(PrepareMsg(3, 2, MakeBallot(5, 3), 1)).ok());
  EXPECT_FALSE(node->HasReady());
  EXPECT_EQ(node->status().ballot.round(), 1u);
  // Once the leader has been silent for an election timeout, the candidate gets its promise.
  // (It may have started a campaign of its own meanwhile; a higher ballot ends that too.)
  for (int i = 0; i < 10; ++i) node->Tick();
  node->TakeReady();
  ASSERT_TRUE(node->Step(PrepareMsg(3, 2, MakeBallot(50, 3), 1)).ok());
  EXPECT_EQ(node->status().ballot.round(), 50u);
  EXPECT_EQ(Of(node->TakeReady(), pb::PaxosMessage::kPromise, 3).size(), 1u);
}

}  // namespace
}  // namespace paxoskv::paxos

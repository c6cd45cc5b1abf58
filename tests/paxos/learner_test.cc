// Learner rules: when a slot is chosen, how followers learn it (piggy-backed chosen_through,
// Learn, InstallSnapshot), and execution order (never past a hole).
#include <gtest/gtest.h>

#include "tests/paxos/paxos_test_util.h"

namespace paxoskv::paxos {
namespace {

using namespace ::paxoskv::paxos::testing;  // NOLINT

// Rule: a value is chosen when a majority (the leader included) accepted it; the leader then
// hands it out in Ready::chosen and piggy-backs chosen_through on its next Accept.
TEST(LearnerTest, LeaderLearnsChosenOnMajorityAndPiggyBacksIt) {
  auto node = MakeNode(1);
  pb::Ballot b = ElectWithEmptyPromises(*node, 1);
  ASSERT_TRUE(node->Propose(Cmd(1, 1, "x")).ok());
  Ready r = node->TakeReady();
  EXPECT_TRUE(r.chosen.empty());
  ASSERT_TRUE(node->Step(AcceptedMsg(3, 1, b, {1})).ok());
  r = node->TakeReady();
  ASSERT_EQ(r.chosen.size(), 1u);
  EXPECT_EQ(r.chosen[0].slot(), 1u);
  EXPECT_EQ(r.chosen[0].value().commands(0).value(), "x");
  ASSERT_TRUE(r.chosen_through.has_value());
  EXPECT_EQ(*r.chosen_through, 1u);
  node->Tick();
  r = node->TakeReady();
  auto heartbeats = Of(r, pb::PaxosMessage::kAccept, 2);
  ASSERT_FALSE(heartbeats.empty());
  EXPECT_EQ(heartbeats[0].accept().chosen_through(), 1u);
}

// Rule: a follower marks a slot chosen from the piggy-backed chosen_through only when its
// entry there carries the leader's current ballot; a stale-ballot entry must be learned.
TEST(LearnerTest, PiggyBackDoesNotMarkStaleBallotEntryChosen) {
  auto node = MakeNode(2);
  const pb::Ballot old_ballot = MakeBallot(1, 1);
  const pb::Ballot b = MakeBallot(2, 3);
  ASSERT_TRUE(node->Step(AcceptMsg(1, 2, old_ballot, {Ent(1, old_ballot, Val("stale"))})).ok());
  node->TakeReady();
  ASSERT_TRUE(node->Step(AcceptMsg(3, 2, b, {}, /*chosen_through=*/1)).ok());
  Ready r = node->TakeReady();
  EXPECT_TRUE(r.chosen.empty());
  EXPECT_EQ(node->status().chosen_through, 0u);
  // The leader re-proposes the slot at its ballot: now the piggy-back applies.
  ASSERT_TRUE(node->Step(AcceptMsg(3, 2, b, {Ent(1, b, Val("real"))}, 1)).ok());
  r = node->TakeReady();
  ASSERT_EQ(r.chosen.size(), 1u);
  EXPECT_EQ(r.chosen[0].value().commands(0).value(), "real");
}

// Rule: a Learn of a value the follower already holds (it accepted it; the Learn overtook
// the next Accept's chosen_through) marks it chosen without writing it again; a Learn of a
// value it does not hold (a stale proposal there) is stored, then applied.
TEST(LearnerTest, LearnOfAHeldValueWritesNothing) {
  auto node = MakeNode(2);
  const pb::Ballot old_ballot = MakeBallot(1, 3);
  const pb::Ballot b = MakeBallot(2, 1);
  ASSERT_TRUE(node->Step(AcceptMsg(3, 2, old_ballot, {Ent(2, old_ballot, Val("stale"))})).ok());
  node->TakeReady();
  ASSERT_TRUE(node->Step(AcceptMsg(1, 2, b, {Ent(1, b, Val("held"))})).ok());
  Ready r = node->TakeReady();
  ASSERT_EQ(r.accepted.size(), 1u);
  ASSERT_TRUE(node->Step(LearnMsg(1, 2, b, {Ent(1, b, Val("held")), Ent(2, b, Val("real"))},
                                  /*chosen_through=*/2))
                  .ok());
  r = node->TakeReady();
  // Slot 1 is not rewritten; slot 2 (a different value) is, at the teacher's ballot.
  ASSERT_EQ(r.accepted.size(), 1u);
  EXPECT_EQ(r.accepted[0].slot(), 2u);
  EXPECT_EQ(r.accepted[0].value().commands(0).value(), "real");
  ASSERT_EQ(r.chosen.size(), 2u);
  EXPECT_EQ(r.chosen[0].value().commands(0).value(), "held");
  EXPECT_EQ(r.chosen[1].value().commands(0).value(), "real");
  EXPECT_EQ(node->status().chosen_through, 2u);
}

// Rule (seed rule 3): execution never passes a hole, even when later slots are chosen.
TEST(LearnerTest, ExecutionNeverPassesAHole) {
  auto node = MakeNode(2);
  const pb::Ballot b = MakeBallot(1, 1);
  ASSERT_TRUE(node->Step(AcceptMsg(1, 2, b, {})).ok());   // follows leader 1 (a heartbeat)
  node->TakeReady();
  ASSERT_TRUE(
      node->Step(LearnMsg(1, 2, b, {Ent(1, b, Val("a")), Ent(3, b, Val("c"))}, 0)).ok());
  Ready r = node->TakeReady();
  ASSERT_EQ(r.chosen.size(), 1u);
  EXPECT_EQ(r.chosen[0].slot(), 1u);
  EXPECT_EQ(node->status().applied_through, 1u);
  ASSERT_TRUE(node->Step(LearnMsg(1, 2, b, {Ent(2, b, Val("b"))}, 0)).ok());
  r = node->TakeReady();
  ASSERT_EQ(r.chosen.size(), 2u);
  EXPECT_EQ(r.chosen[0].slot(), 2u);
  EXPECT_EQ(r.chosen[1].slot(), 3u);
}

// Catch-up: a follower that reports a lower chosen_through gets a Learn with the chosen
// entries it misses, bounded by learn_entries_max.
TEST(LearnerTest, LeaderSendsLearnToLaggingFollower) {
  NodeConfig c = Config(1);
  c.learn_entries_max = 2;
  c.batch_commands_max = 1;
  auto node = MakeNode(c);
  pb::Ballot b = ElectWithEmptyPromises(*node, 1);
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(node->Propose(Cmd(1, i)).ok());
  node->TakeReady();
  ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, b, {1, 2, 3}, 0)).ok());
  node->TakeReady();
  ASSERT_EQ(node->status().chosen_through, 3u);
  // Two ticks: the slots were chosen before the one before last, so a follower that still
  // does not know them lags (not merely an Accept behind), and the rate limit allows one
  // catch-up message.
  node->Tick();
  node->Tick();
  node->TakeReady();
  ASSERT_TRUE(node->Step(AcceptedMsg(3, 1, b, {}, 0)).ok());
  Ready r = node->TakeReady();
  auto learns = Of(r, pb::PaxosMessage::kLearn, 3);
  ASSERT_EQ(learns.size(), 1u);
  ASSERT_EQ(learns[0].learn().entries_size(), 2);
  EXPECT_EQ(learns[0].learn().entries(0).slot(), 1u);
  EXPECT_EQ(learns[0].learn().entries(1).slot(), 2u);
  EXPECT_EQ(learns[0].learn().chosen_through(), 3u);
}

// A follower only an Accept behind (it holds the value of the slot just chosen, and the next
// Accept's chosen_through tells it) gets no Learn: under load that was a whole entry resent
// to every follower on every tick. Once the slot has been chosen for two ticks, a follower
// that still reports it unchosen lags and is taught.
TEST(LearnerTest, NoLearnForAFollowerOnlyAnAcceptBehind) {
  auto node = MakeNode(1);
  pb::Ballot b = ElectWithEmptyPromises(*node, 1);
  for (int t = 0; t < 3; ++t) node->Tick();
  ASSERT_TRUE(node->Propose(Cmd(1, 1)).ok());
  node->TakeReady();
  // Node 2's acceptance chooses slot 1; node 3's, which reports chosen_through 0 as it must
  // (it has not seen a later Accept yet), arrives just after.
  ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, b, {1}, 0)).ok());
  ASSERT_EQ(node->status().chosen_through, 1u);
  ASSERT_TRUE(node->Step(AcceptedMsg(3, 1, b, {1}, 0)).ok());
  EXPECT_TRUE(Of(node->TakeReady(), pb::PaxosMessage::kLearn, 3).empty());
  node->Tick();
  ASSERT_TRUE(node->Step(AcceptedMsg(3, 1, b, {}, 0)).ok());
  EXPECT_TRUE(Of(node->TakeReady(), pb::PaxosMessage::kLearn, 3).empty());
  node->Tick();
  ASSERT_TRUE(node->Step(AcceptedMsg(3, 1, b, {}, 0)).ok());
  auto learns = Of(node->TakeReady(), pb::PaxosMessage::kLearn, 3);
  ASSERT_EQ(learns.size(), 1u);
  ASSERT_EQ(learns[0].learn().entries_size(), 1);
  EXPECT_EQ(learns[0].learn().entries(0).slot(), 1u);
}

// Compaction: once the leader compacted the entries a follower needs, it sends an
// InstallSnapshot; the follower installs it and continues after its last slot.
TEST(LearnerTest, CompactedLeaderSendsInstallSnapshotToLaggingFollower) {
  auto leader = MakeNode(1);
  pb::Ballot b = ElectWithEmptyPromises(*leader, 1);
  for (uint64_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(leader->Propose(Cmd(1, i)).ok());
    leader->TakeReady();
    ASSERT_TRUE(leader->Step(AcceptedMsg(2, 1, b, {i}, i - 1)).ok());
    leader->TakeReady();
  }
  ASSERT_EQ(leader->status().applied_through, 3u);
  leader->Compact(3);
  EXPECT_EQ(leader->status().compacted_through, 3u);
  leader->Tick();
  leader->Tick();
  leader->TakeReady();
  ASSERT_TRUE(leader->Step(AcceptedMsg(3, 1, b, {}, 0)).ok());
  Ready r = leader->TakeReady();
  auto snaps = Of(r, pb::PaxosMessage::kInstallSnapshot, 3);
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0].install_snapshot().last_slot(), 3u);
  EXPECT_TRUE(snaps[0].install_snapshot().data().empty());  // the driver fills it

  auto follower = MakeNode(3);
  pb::PaxosMessage snap = snaps[0];
  snap.mutable_install_snapshot()->set_data("state");
  // The follower takes a snapshot only from the leader it follows, up to what that leader
  // said is chosen: here the heartbeat that made it report its lag.
  ASSERT_FALSE(follower->Step(snap).ok());
  ASSERT_TRUE(follower->Step(AcceptMsg(1, 3, b, {}, /*chosen_through=*/3)).ok());
  follower->TakeReady();
  ASSERT_TRUE(follower->Step(snap).ok());
  r = follower->TakeReady();
  ASSERT_TRUE(r.snapshot.has_value());
  EXPECT_EQ(r.snapshot->last_slot(), 3u);
  EXPECT_EQ(r.snapshot->data(), "state");
  EXPECT_TRUE(r.chosen.empty());
  Status s = follower->status();
  EXPECT_EQ(s.applied_through, 3u);
  EXPECT_EQ(s.chosen_through, 3u);
  // It continues from slot 4.
  ASSERT_TRUE(follower->Step(LearnMsg(1, 3, b, {Ent(4, b, Val("d"))}, 4)).ok());
  r = follower->TakeReady();
  ASSERT_EQ(r.chosen.size(), 1u);
  EXPECT_EQ(r.chosen[0].slot(), 4u);
  // A stale snapshot (at or below applied) is ignored.
  ASSERT_TRUE(follower->Step(snap).ok());
  EXPECT_FALSE(follower->TakeReady().snapshot.has_value());
}

}  // namespace
}  // namespace paxoskv::paxos

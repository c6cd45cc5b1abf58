// Proposer rules: elections, recovery of open slots by a new leader, batching, pipelining,
// retransmission and stepping down.
#include <set>

#include <gtest/gtest.h>

#include "tests/paxos/paxos_test_util.h"

namespace paxoskv::paxos {
namespace {

using namespace ::paxoskv::paxos::testing;  // NOLINT

// Rule: a follower that hears no leader for [T, 2T) ticks campaigns with a ballot above every
// round it has seen, promising it to itself (persisted) before the Prepares go out.
TEST(ProposerTest, CampaignsAfterRandomisedElectionTimeout) {
  auto node = MakeNode(1);
  ASSERT_TRUE(node->Step(PrepareMsg(2, 1, MakeBallot(4, 2), 1)).ok());
  node->TakeReady();
  for (int i = 0; i < 9; ++i) {
    node->Tick();
    EXPECT_TRUE(Of(node->TakeReady(), pb::PaxosMessage::kPrepare).empty()) << "tick " << i;
  }
  bool campaigned = false;
  for (int i = 9; i < 20 && !campaigned; ++i) {
    node->Tick();
    Ready r = node->TakeReady();
    auto prepares = Of(r, pb::PaxosMessage::kPrepare);
    if (prepares.empty()) continue;
    campaigned = true;
    EXPECT_EQ(prepares.size(), 2u);
    EXPECT_EQ(prepares[0].prepare().ballot().round(), 5u);
    EXPECT_EQ(prepares[0].prepare().ballot().node_id(), 1u);
    EXPECT_EQ(prepares[0].prepare().from_slot(), 1u);
    ASSERT_TRUE(r.promised.has_value());
    EXPECT_EQ(r.promised->round(), 5u);
  }
  EXPECT_TRUE(campaigned);
  EXPECT_EQ(node->status().role, Role::kCandidate);
}

// Rule: a reject (ok=false with a higher promise) makes a candidate step down and remember
// the higher round for its next ballot.
TEST(ProposerTest, RejectedPrepareStepsDownAndRemembersRound) {
  auto node = MakeNode(1);
  node->Campaign();
  node->Tick();
  Ready r = node->TakeReady();
  pb::Ballot b = Of(r, pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  pb::PaxosMessage reject = PromiseMsg(2, 1, b, {});
  reject.mutable_promise()->set_ok(false);
  *reject.mutable_promise()->mutable_promised() = MakeBallot(9, 3);
  ASSERT_TRUE(node->Step(reject).ok());
  EXPECT_EQ(node->status().role, Role::kFollower);
  node->Campaign();
  node->Tick();
  r = node->TakeReady();
  EXPECT_EQ(Of(r, pb::PaxosMessage::kPrepare).at(0).prepare().ballot().round(), 10u);
}

// Rule: the new leader re-proposes, per open slot, the value with the highest ballot among
// the promises (its own accepted entry included), not a lower one.
TEST(ProposerTest, NewLeaderReproposesHighestBallotValue) {
  auto node = MakeNode(1);
  // Our own acceptor accepted "mine" at ballot 2.3 for slot 1.
  ASSERT_TRUE(
      node->Step(AcceptMsg(3, 1, MakeBallot(2, 3), {Ent(1, MakeBallot(2, 3), Val("mine"))})).ok());
  node->TakeReady();
  node->Campaign();
  node->Tick();
  Ready r = node->TakeReady();
  pb::Ballot b = Of(r, pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  EXPECT_EQ(b.round(), 3u);
  // Node 2 reports an older value for slot 1 and a newer one for slot 2.
  ASSERT_TRUE(node->Step(PromiseMsg(2, 1, b,
                                    {Ent(1, MakeBallot(1, 2), Val("older")),
                                     Ent(2, MakeBallot(2, 2), Val("two"))}))
                  .ok());
  ASSERT_EQ(node->status().role, Role::kLeader);
  r = node->TakeReady();
  auto accepts = Of(r, pb::PaxosMessage::kAccept, 2);
  ASSERT_EQ(accepts.size(), 1u);
  const pb::Accept& a = accepts[0].accept();
  ASSERT_EQ(a.entries_size(), 2);
  EXPECT_EQ(a.entries(0).slot(), 1u);
  EXPECT_EQ(a.entries(0).value().commands(0).value(), "mine");
  EXPECT_EQ(a.entries(1).slot(), 2u);
  EXPECT_EQ(a.entries(1).value().commands(0).value(), "two");
  for (const auto& e : a.entries()) EXPECT_TRUE(SameBallot(e.ballot(), b));
  // The leader accepted its own proposals, durably, in the same Ready.
  EXPECT_EQ(r.accepted.size(), 2u);
}

// Rule: slots nobody reported become no-ops; fresh commands go after the recovered slots.
TEST(ProposerTest, HolesBecomeNoOpsAndNewCommandsFollowRecovery) {
  auto node = MakeNode(1);
  node->Campaign();
  node->Tick();
  pb::Ballot b = Of(node->TakeReady(), pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  ASSERT_TRUE(node->Step(PromiseMsg(2, 1, b, {Ent(3, MakeBallot(1, 2), Val("three"))})).ok());
  ASSERT_TRUE(node->Propose(Cmd(7, 1, "fresh")).ok());
  Ready r = node->TakeReady();
  std::vector<pb::Entry> sent;
  for (const auto& m : Of(r, pb::PaxosMessage::kAccept, 2)) {
    for (const auto& e : m.accept().entries()) sent.push_back(e);
  }
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].slot(), 1u);
  EXPECT_EQ(sent[0].value().commands_size(), 0);
  EXPECT_EQ(sent[1].slot(), 2u);
  EXPECT_EQ(sent[1].value().commands_size(), 0);
  EXPECT_EQ(sent[2].slot(), 3u);
  EXPECT_EQ(sent[2].value().commands(0).value(), "three");
  EXPECT_EQ(sent[3].slot(), 4u);
  EXPECT_EQ(sent[3].value().commands(0).value(), "fresh");
}

// A slot some promiser knows chosen takes that promiser's value even over a higher ballot;
// a chosen slot whose value was compacted away is never re-proposed (it is learned instead).
TEST(ProposerTest, NeverReproposesOverAChosenSlot) {
  auto node = MakeNode(1);
  node->Campaign();
  node->Tick();
  pb::Ballot b = Of(node->TakeReady(), pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  // Node 2 knows slots <= 4 chosen but compacted slots <= 3; it still holds slot 4.
  ASSERT_TRUE(node->Step(PromiseMsg(2, 1, b, {Ent(4, MakeBallot(1, 2), Val("four"))}, 4)).ok());
  ASSERT_EQ(node->status().role, Role::kLeader);
  EXPECT_EQ(node->status().fence, 4u);
  ASSERT_TRUE(node->Propose(Cmd(7, 1, "fresh")).ok());
  Ready r = node->TakeReady();
  // Nothing is proposed while slots 1..4 are known chosen only at node 2 (one of them could
  // change the membership, and with it the quorum of every slot above): not slot 4, not the
  // fresh command.
  for (const auto& m : Of(r, pb::PaxosMessage::kAccept)) EXPECT_EQ(m.accept().entries_size(), 0);
  EXPECT_TRUE(r.chosen.empty());
  // A follower that knows them teaches the leader; execution proceeds in order, and with every
  // slot up to the fence chosen the leader campaigns again from slot 5.
  ASSERT_TRUE(node->Step(LearnMsg(2, 1, b,
                                  {Ent(1, MakeBallot(1, 2), Val("one")),
                                   Ent(2, MakeBallot(1, 2), Val("two")),
                                   Ent(3, MakeBallot(1, 2), Val("three")),
                                   Ent(4, MakeBallot(1, 2), Val("four"))},
                                  0))
                  .ok());
  r = node->TakeReady();
  ASSERT_EQ(r.chosen.size(), 4u);
  EXPECT_EQ(r.chosen[0].value().commands(0).value(), "one");
  EXPECT_EQ(r.chosen[3].value().commands(0).value(), "four");
  const auto prepares = Of(r, pb::PaxosMessage::kPrepare, 2);
  ASSERT_EQ(prepares.size(), 1u);
  EXPECT_EQ(prepares[0].prepare().from_slot(), 5u);
  const pb::Ballot again = prepares[0].prepare().ballot();
  ASSERT_TRUE(node->Step(PromiseMsg(2, 1, again, {}, 4)).ok());
  ASSERT_EQ(node->status().role, Role::kLeader);
  ASSERT_TRUE(node->Propose(Cmd(7, 1, "fresh")).ok());
  std::vector<pb::Entry> sent;
  for (const auto& m : Of(node->TakeReady(), pb::PaxosMessage::kAccept, 2)) {
    for (const auto& e : m.accept().entries()) sent.push_back(e);
  }
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].slot(), 5u);
  EXPECT_EQ(sent[0].value().commands(0).value(), "fresh");
}

// Batching: commands proposed between two TakeReady calls share one slot.
TEST(ProposerTest, BatchesManyProposesIntoOneSlot) {
  auto node = MakeNode(1);
  pb::Ballot b = ElectWithEmptyPromises(*node, 1);
  for (uint64_t i = 1; i <= 100; ++i) ASSERT_TRUE(node->Propose(Cmd(1, i)).ok());
  Ready r = node->TakeReady();
  auto accepts = Of(r, pb::PaxosMessage::kAccept, 2);
  ASSERT_EQ(accepts.size(), 1u);
  ASSERT_EQ(accepts[0].accept().entries_size(), 1);
  EXPECT_EQ(accepts[0].accept().entries(0).value().commands_size(), 100);
  EXPECT_TRUE(SameBallot(accepts[0].accept().ballot(), b));
}

// Fresh proposals go in Ready::proposals (the owner may send them before its fsync), together
// with the leader's own accepted entry to persist; nothing about them is chosen in that Ready,
// since that needs a follower's Accepted, which can only arrive in a later one.
TEST(ProposerTest, FreshProposalsMayLeaveBeforePersistButChooseNothingYet) {
  auto node = MakeNode(1);
  ElectWithEmptyPromises(*node, 1);
  ASSERT_TRUE(node->Propose(Cmd(1, 1)).ok());
  Ready r = node->TakeReady();
  ASSERT_EQ(r.proposals.size(), 2u);   // one Accept per follower
  for (const auto& m : r.proposals) EXPECT_TRUE(m.has_accept());
  for (const auto& m : r.messages) EXPECT_FALSE(m.has_accept() && m.accept().entries_size() > 0);
  ASSERT_EQ(r.accepted.size(), 1u);    // the leader's own acceptance, to persist
  EXPECT_TRUE(r.chosen.empty());
  EXPECT_FALSE(r.chosen_through.has_value());
}

// Pipelining: with a small batch size, several slots go out in one Accept per peer, up to
// inflight_slots_max; the rest waits until slots are chosen.
TEST(ProposerTest, PipelinesSeveralSlotsPerAcceptUpToInflightLimit) {
  NodeConfig c = Config(1);
  c.batch_commands_max = 2;
  c.inflight_slots_max = 3;
  auto node = MakeNode(c);
  pb::Ballot b = ElectWithEmptyPromises(*node, 1);
  for (uint64_t i = 1; i <= 10; ++i) ASSERT_TRUE(node->Propose(Cmd(1, i)).ok());
  Ready r = node->TakeReady();
  auto accepts = Of(r, pb::PaxosMessage::kAccept, 2);
  ASSERT_EQ(accepts.size(), 1u);
  ASSERT_EQ(accepts[0].accept().entries_size(), 3);
  EXPECT_EQ(node->status().pending_commands, 4u);
  // Node 2 accepts slot 1: it is chosen, so one more slot may go out.
  ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, b, {1})).ok());
  r = node->TakeReady();
  ASSERT_EQ(r.chosen.size(), 1u);
  accepts = Of(r, pb::PaxosMessage::kAccept, 2);
  ASSERT_EQ(accepts.size(), 1u);
  ASSERT_EQ(accepts[0].accept().entries_size(), 1);
  EXPECT_EQ(accepts[0].accept().entries(0).slot(), 4u);
}

// Check-quorum: a leader that hears from no majority for 2 election timeouts steps down; one
// that keeps hearing from a single follower (a majority with itself) stays leader.
TEST(ProposerTest, LeaderCutOffFromMajorityStepsDown) {
  auto node = MakeNode(1);
  ElectWithEmptyPromises(*node, 1);
  for (int i = 0; i < 2 * 10 + 2; ++i) node->Tick();
  EXPECT_EQ(node->status().role, Role::kFollower);
}

TEST(ProposerTest, LeaderHearingFromOneFollowerKeepsLeading) {
  auto node = MakeNode(1);
  pb::Ballot b = ElectWithEmptyPromises(*node, 1);
  for (int i = 0; i < 5 * 10; ++i) {
    node->Tick();
    ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, b, {}, 0)).ok());
    node->TakeReady();
  }
  EXPECT_EQ(node->status().role, Role::kLeader);
}

TEST(ProposerTest, ProposeOnFollowerFailsPrecondition) {
  auto node = MakeNode(2);
  EXPECT_EQ(node->Propose(Cmd(1, 1)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(node->ReadIndex(1).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ProposerTest, TooManyPendingCommandsIsResourceExhausted) {
  NodeConfig c = Config(1);
  c.pending_commands_max = 2;
  auto node = MakeNode(c);
  ElectWithEmptyPromises(*node, 1);
  ASSERT_TRUE(node->Propose(Cmd(1, 1)).ok());
  ASSERT_TRUE(node->Propose(Cmd(1, 2)).ok());
  EXPECT_EQ(node->Propose(Cmd(1, 3)).code(), absl::StatusCode::kResourceExhausted);
}

// Rule: a message with a higher ballot makes the leader a follower; pending commands are
// dropped and it now reports the new leader.
TEST(ProposerTest, HigherBallotMakesLeaderStepDown) {
  NodeConfig c = Config(1);
  c.inflight_slots_max = 1;
  auto node = MakeNode(c);
  ElectWithEmptyPromises(*node, 1);
  ASSERT_TRUE(node->Propose(Cmd(1, 1)).ok());
  ASSERT_TRUE(node->Propose(Cmd(1, 2)).ok());
  node->TakeReady();
  ASSERT_TRUE(node->Propose(Cmd(1, 3)).ok());
  ASSERT_TRUE(node->Step(AcceptMsg(3, 1, MakeBallot(50, 3), {}, 0, 1)).ok());
  Status s = node->status();
  EXPECT_EQ(s.role, Role::kFollower);
  EXPECT_EQ(s.pending_commands, 0u);
  ASSERT_TRUE(s.leader.has_value());
  EXPECT_EQ(ToInt(*s.leader), 3u);
}

// Messages can be lost: unacknowledged Accepts are sent again after retransmit_ticks, only to
// the peers that did not acknowledge them.
TEST(ProposerTest, RetransmitsUnacknowledgedAccepts) {
  auto node = MakeNode(Config(1, /*members=*/5));
  pb::Ballot b = ElectWithEmptyPromises(*node, 1, /*members=*/5);
  ASSERT_TRUE(node->Propose(Cmd(1, 1)).ok());
  Ready r = node->TakeReady();
  const uint64_t slot = Of(r, pb::PaxosMessage::kAccept, 2).at(0).accept().entries(0).slot();
  ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, b, {slot})).ok());  // 2 of 5: not chosen yet
  node->TakeReady();
  std::set<uint32_t> resent_to;
  for (int i = 0; i < 4; ++i) {
    node->Tick();
    r = node->TakeReady();
    for (const auto& m : Of(r, pb::PaxosMessage::kAccept)) {
      if (m.accept().entries_size() > 0) resent_to.insert(m.to());
    }
  }
  EXPECT_EQ(resent_to, (std::set<uint32_t>{3, 4, 5}));
}

}  // namespace
}  // namespace paxoskv::paxos

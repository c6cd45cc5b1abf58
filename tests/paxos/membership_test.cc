// Membership changes in the Paxos core (libs/paxos README, "Membership"): the rules of
// ApplyConfChange, the founding entry, one change at a time behind a fence, learners that
// are never counted, and incarnations that tell a wiped replica from the member it replaces.
#include "libs/paxos/membership.h"

#include <gtest/gtest.h>

#include "tests/paxos/paxos_test_util.h"

namespace paxoskv::paxos {
namespace {

using namespace ::paxoskv::paxos::testing;  // NOLINT

pb::Membership WithLearner(int voters, uint32_t learner, bool promote = false) {
  pb::Membership m = PinnedMembership(voters);
  pb::Member* l = m.add_members();
  l->set_id(learner);
  l->set_learner(true);
  l->set_address("replica-" + std::to_string(learner));
  l->set_promote(promote);
  return m;
}

Configuration Make(const pb::Membership& m) {
  absl::StatusOr<Configuration> c = Configuration::Make(m);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

// Every entry the leader sent to `to` in `r`.
std::vector<pb::Entry> SentTo(const Ready& r, uint32_t to) {
  std::vector<pb::Entry> out;
  for (const auto& m : Of(r, pb::PaxosMessage::kAccept, to)) {
    for (const auto& e : m.accept().entries()) out.push_back(e);
  }
  return out;
}

ConfChange Change(ConfChange::Type type, uint32_t id, std::string address = "") {
  ConfChange c;
  c.type = type;
  c.id = id;
  c.address = std::move(address);
  return c;
}

TEST(ConfChangeTest, OneMemberAtATimeAndIdsAreNeverReused) {
  const Configuration three = Make(PinnedMembership(3));
  auto added = ApplyConfChange(three, Change(ConfChange::Type::kAddLearner, 4, "r4:1"));
  ASSERT_TRUE(added.ok()) << added.status();
  const Configuration four = Make(*added);
  EXPECT_TRUE(four.Contains(4));
  EXPECT_FALSE(four.IsVoter(4));
  EXPECT_EQ(four.QuorumSize(), 2u);  // a learner is not counted

  EXPECT_EQ(ApplyConfChange(four, Change(ConfChange::Type::kAddLearner, 4, "r4:1")).status().code(),
            absl::StatusCode::kFailedPrecondition);  // already a member
  EXPECT_EQ(ApplyConfChange(three, Change(ConfChange::Type::kAddLearner, 5)).status().code(),
            absl::StatusCode::kInvalidArgument);  // no address
  // Another member's address, added or moved to: refused (remove that member first).
  EXPECT_EQ(ApplyConfChange(four, Change(ConfChange::Type::kAddLearner, 5, "r4:1")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ApplyConfChange(four, Change(ConfChange::Type::kSetAddress, 2, "r4:1")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Promotion needs the incarnation the leader heard from the learner.
  EXPECT_EQ(ApplyConfChange(four, Change(ConfChange::Type::kPromote, 4)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ConfChange promote = Change(ConfChange::Type::kPromote, 4);
  promote.incarnation = 77;
  auto promoted = ApplyConfChange(four, promote);
  ASSERT_TRUE(promoted.ok());
  EXPECT_EQ(Make(*promoted).QuorumSize(), 3u);  // 4 voters
  EXPECT_EQ(Make(*promoted).IncarnationOf(4), 77u);

  auto removed = ApplyConfChange(Make(*promoted), Change(ConfChange::Type::kRemove, 2));
  ASSERT_TRUE(removed.ok());
  const Configuration after = Make(*removed);
  EXPECT_FALSE(after.Contains(2));
  EXPECT_TRUE(after.WasRemoved(2));
  // A removed id never comes back: its replacement takes a new id.
  EXPECT_EQ(
      ApplyConfChange(after, Change(ConfChange::Type::kAddLearner, 2, "r2:1")).status().code(),
      absl::StatusCode::kFailedPrecondition);

  pb::Membership one;
  one.add_members()->set_id(1);
  one.mutable_members(0)->set_incarnation(5);
  EXPECT_EQ(ApplyConfChange(Make(one), Change(ConfChange::Type::kRemove, 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);  // the last voter
}

TEST(ConfChangeTest, AChangeAlreadyInEffectIsRecognised) {
  const Configuration three = Make(PinnedMembership(3));
  const ConfChange add = Change(ConfChange::Type::kAddLearner, 4, "r4:1");
  EXPECT_FALSE(ChangeInEffect(three, add));
  const Configuration four = Make(*ApplyConfChange(three, add));
  EXPECT_TRUE(ChangeInEffect(four, add));
  EXPECT_FALSE(ChangeInEffect(four, Change(ConfChange::Type::kAddLearner, 4, "elsewhere:1")));
  ConfChange promote = Change(ConfChange::Type::kPromote, 4);
  EXPECT_FALSE(ChangeInEffect(four, promote));
  promote.incarnation = 77;
  const Configuration promoted = Make(*ApplyConfChange(four, promote));
  EXPECT_TRUE(ChangeInEffect(promoted, Change(ConfChange::Type::kPromote, 4)));
  EXPECT_TRUE(ChangeInEffect(promoted, Change(ConfChange::Type::kSetAddress, 4, "r4:1")));
  const ConfChange remove = Change(ConfChange::Type::kRemove, 2);
  EXPECT_FALSE(ChangeInEffect(promoted, remove));
  EXPECT_TRUE(ChangeInEffect(Make(*ApplyConfChange(promoted, remove)), remove));
}

TEST(MembershipTest, TheFoundingEntryPinsIncarnationsAsTheyAreHeard) {
  // A fresh shard: no membership recorded, the flags' members are voters of unknown
  // incarnation, and a majority elects.
  NodeConfig config = Config(1);
  config.addresses = {{1, "r1:7000"}, {2, "r2:7000"}, {3, "r3:7000"}};
  absl::StatusOr<std::unique_ptr<Node>> restored = Node::Restore(config, {});
  ASSERT_TRUE(restored.ok()) << restored.status();
  std::unique_ptr<Node> node = *std::move(restored);
  EXPECT_EQ(node->status().membership.members(0).incarnation(), 0u);
  node->Campaign();
  node->Tick();
  const pb::Ballot b = Of(node->TakeReady(), pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  ASSERT_TRUE(node->Step(PromiseMsg(2, 1, b, {})).ok());
  ASSERT_EQ(node->status().role, Role::kLeader);

  // The first slot is the founding entry, alone: commands wait behind it. Node 3 has not been
  // heard from: it stays unpinned.
  ASSERT_TRUE(node->Propose(Cmd(7, 1)).ok());
  Ready r = node->TakeReady();
  std::vector<pb::Entry> sent = SentTo(r, 2);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].value().has_membership());
  const Configuration founding = Make(sent[0].value().membership());
  EXPECT_EQ(founding.IncarnationOf(1), Inc(1));
  EXPECT_EQ(founding.IncarnationOf(2), Inc(2));
  EXPECT_EQ(founding.IncarnationOf(3), 0u);
  // The flags' addresses go into the log with it: every membership says where members are.
  EXPECT_EQ(founding.Find(3)->address(), "r3:7000");
  EXPECT_EQ(node->status().fence, 1u);

  // Chosen, in effect from slot 2. The voters are the same: the leader's Prepare still has a
  // quorum of them, so it leads on, and the command proposed meanwhile follows.
  ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, b, {1})).ok());
  EXPECT_EQ(node->status().chosen_through, 1u);
  EXPECT_EQ(node->status().membership.members(1).incarnation(), Inc(2));
  EXPECT_EQ(node->status().role, Role::kLeader);
  r = node->TakeReady();
  EXPECT_TRUE(Of(r, pb::PaxosMessage::kPrepare).empty());
  sent = SentTo(r, 2);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].slot(), 2u);
  EXPECT_EQ(sent[0].value().commands_size(), 1);
  // Node 3 answers now: the next slot pins it.
  ASSERT_TRUE(node->Step(AcceptedMsg(3, 1, b, {2}, 0)).ok());
  sent = SentTo(node->TakeReady(), 3);
  ASSERT_FALSE(sent.empty());
  EXPECT_EQ(sent.back().slot(), 3u);
  ASSERT_TRUE(sent.back().value().has_membership());
  EXPECT_TRUE(Make(sent.back().value().membership()).pinned());
  ASSERT_TRUE(node->Step(AcceptedMsg(3, 1, b, {3}, 0)).ok());
  EXPECT_EQ(node->status().membership.members(2).incarnation(), Inc(3));
  // A wiped node 3 is now refused.
  pb::PaxosMessage wiped = AcceptedMsg(3, 1, b, {}, 1);
  wiped.set_from_incarnation(12345);
  EXPECT_EQ(node->Step(wiped).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(MembershipTest, OneChangeAtATimeBehindAFence) {
  auto leader = MakeNode(1);
  const pb::Ballot b = ElectWithEmptyPromises(*leader, 1);
  ASSERT_TRUE(
      leader->ProposeConfChange(Change(ConfChange::Type::kAddLearner, 4, "replica-4:7000")).ok());
  // A second change while the first is open is refused, whatever it is.
  EXPECT_EQ(leader->ProposeConfChange(Change(ConfChange::Type::kRemove, 3)).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(leader->Propose(Cmd(7, 1)).ok());
  Ready r = leader->TakeReady();
  std::vector<pb::Entry> sent = SentTo(r, 2);
  ASSERT_EQ(sent.size(), 1u);  // the change alone; the command waits behind the fence
  EXPECT_EQ(sent[0].slot(), 1u);
  ASSERT_TRUE(sent[0].value().has_membership());
  EXPECT_EQ(leader->status().fence, 1u);
  EXPECT_EQ(leader->ProposeConfChange(Change(ConfChange::Type::kRemove, 3)).code(),
            absl::StatusCode::kFailedPrecondition);
  leader->Tick();
  EXPECT_TRUE(SentTo(leader->TakeReady(), 3).size() <= 1u);  // a retransmit at most

  // Chosen: in effect from slot 2. A learner does not change the voters, so the leader leads
  // on: the waiting command goes out, to the learner too.
  ASSERT_TRUE(leader->Step(AcceptedMsg(2, 1, b, {1})).ok());
  EXPECT_EQ(leader->status().membership.members_size(), 4);
  EXPECT_EQ(leader->status().fence, 0u);
  r = leader->TakeReady();
  EXPECT_TRUE(Of(r, pb::PaxosMessage::kPrepare).empty());
  for (uint32_t to : {2u, 3u, 4u}) {
    sent = SentTo(r, to);
    ASSERT_EQ(sent.size(), 1u) << to;
    EXPECT_EQ(sent[0].slot(), 2u);
  }
  // Now the next change may go.
  EXPECT_TRUE(leader->ProposeConfChange(Change(ConfChange::Type::kRemove, 3)).ok());
}

TEST(MembershipTest, ReadsWaitBehindARecoveryFenceAndFailWhenTheLeaderCampaignsAgain) {
  auto leader = MakeNode(1);
  leader->Campaign();
  leader->Tick();
  const pb::Ballot b = Of(leader->TakeReady(), pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  // Node 2 knows slots <= 4 chosen and holds none: one of them may change the membership.
  ASSERT_TRUE(leader->Step(PromiseMsg(2, 1, b, {}, 4)).ok());
  ASSERT_EQ(leader->status().role, Role::kLeader);
  ASSERT_EQ(leader->status().fence, 4u);
  leader->TakeReady();
  // A majority echoes the heartbeat the read started, yet the read is not served.
  ASSERT_TRUE(leader->ReadIndex(9).ok());
  uint64_t heartbeat = 0;
  for (const auto& m : Of(leader->TakeReady(), pb::PaxosMessage::kAccept, 2)) {
    heartbeat = std::max(heartbeat, m.accept().heartbeat_id());
  }
  ASSERT_GT(heartbeat, 0u);
  ASSERT_TRUE(leader->Step(AcceptedMsg(2, 1, b, {}, 4, heartbeat)).ok());
  EXPECT_TRUE(leader->TakeReady().reads.empty());
  // Node 2 teaches slots 1..4: the leader campaigns again, and the read fails (the client
  // retries it).
  std::vector<pb::Entry> learned;
  for (uint64_t slot = 1; slot <= 4; ++slot) learned.push_back(Ent(slot, b, Val("x")));
  ASSERT_TRUE(leader->Step(LearnMsg(2, 1, b, learned, 0)).ok());
  const Ready r = leader->TakeReady();
  EXPECT_TRUE(r.reads.empty());
  ASSERT_EQ(r.reads_failed.size(), 1u);
  EXPECT_EQ(r.reads_failed[0], 9u);
  EXPECT_EQ(Of(r, pb::PaxosMessage::kPrepare, 2).size(), 1u);
}

TEST(MembershipTest, ALearnersAcceptanceIsNotCounted) {
  DurableState d;
  d.membership = WithLearner(3, 4);
  auto leader = MakeNode(Config(1), d);
  leader->Campaign();
  leader->Tick();
  const pb::Ballot b = Of(leader->TakeReady(), pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  // The learner's promise does not elect.
  ASSERT_TRUE(leader->Step(PromiseMsg(4, 1, b, {})).ok());
  EXPECT_EQ(leader->status().role, Role::kCandidate);
  ASSERT_TRUE(leader->Step(PromiseMsg(2, 1, b, {})).ok());
  ASSERT_EQ(leader->status().role, Role::kLeader);
  ASSERT_TRUE(leader->Propose(Cmd(7, 1)).ok());
  const Ready r = leader->TakeReady();
  ASSERT_EQ(SentTo(r, 4).size(), 1u);  // the learner gets the log
  ASSERT_TRUE(leader->Step(AcceptedMsg(4, 1, b, {1})).ok());
  EXPECT_EQ(leader->status().chosen_through, 0u);
  ASSERT_TRUE(leader->Step(AcceptedMsg(3, 1, b, {1})).ok());
  EXPECT_EQ(leader->status().chosen_through, 1u);
}

TEST(MembershipTest, ACaughtUpLearnerAddedToBePromotedIsPromoted) {
  DurableState d;
  d.membership = WithLearner(3, 4, /*promote=*/true);
  auto leader = MakeNode(Config(1), d);
  leader->Campaign();
  leader->Tick();
  const pb::Ballot b = Of(leader->TakeReady(), pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  ASSERT_TRUE(leader->Step(PromiseMsg(2, 1, b, {})).ok());
  ASSERT_TRUE(leader->Step(PromiseMsg(4, 1, b, {})).ok());
  ASSERT_TRUE(leader->Propose(Cmd(7, 1)).ok());
  leader->TakeReady();
  ASSERT_TRUE(leader->Step(AcceptedMsg(2, 1, b, {1})).ok());
  ASSERT_TRUE(leader->Step(AcceptedMsg(4, 1, b, {1}, 1)).ok());
  leader->Tick();
  leader->Tick();  // slot 1 settles: node 4 holds everything chosen a tick ago
  ASSERT_TRUE(leader->Step(AcceptedMsg(4, 1, b, {}, 1)).ok());
  const std::vector<pb::Entry> sent = SentTo(leader->TakeReady(), 2);
  ASSERT_FALSE(sent.empty());
  ASSERT_TRUE(sent.back().value().has_membership());
  const Configuration next = Make(sent.back().value().membership());
  EXPECT_TRUE(next.IsVoter(4));
  EXPECT_EQ(next.IncarnationOf(4), Inc(4));
}

TEST(MembershipTest, RemovingTheLeaderHandsLeadershipToTheMostCaughtUpVoterFirst) {
  auto leader = MakeNode(1);
  const pb::Ballot b = ElectWithEmptyPromises(*leader, 1);
  ASSERT_TRUE(leader->Propose(Cmd(7, 1)).ok());
  leader->TakeReady();
  // 3 has slot 1 and knows it chosen; 2 answers too, but knows nothing chosen.
  ASSERT_TRUE(leader->Step(AcceptedMsg(3, 1, b, {1})).ok());
  ASSERT_TRUE(leader->Step(AcceptedMsg(3, 1, b, {}, 1)).ok());
  ASSERT_TRUE(leader->Step(AcceptedMsg(2, 1, b, {}, 0)).ok());
  leader->TakeReady();

  EXPECT_EQ(leader->ProposeConfChange(Change(ConfChange::Type::kRemove, 1)).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(leader->status().role, Role::kFollower);
  EXPECT_EQ(leader->status().membership.members_size(), 3);  // nothing proposed
  const Ready r = leader->TakeReady();
  EXPECT_TRUE(SentTo(r, 2).empty());
  const std::vector<pb::PaxosMessage> handed = Of(r, pb::PaxosMessage::kTimeoutNow);
  ASSERT_EQ(handed.size(), 1u);
  EXPECT_EQ(handed[0].to(), 3u);

  // 3 follows 1 and campaigns at once; its Prepares say that leadership was handed to it.
  auto three = MakeNode(3);
  ASSERT_TRUE(three->Step(AcceptMsg(1, 3, b, {})).ok());
  three->TakeReady();
  ASSERT_TRUE(three->Step(handed[0]).ok());
  EXPECT_EQ(three->status().role, Role::kCandidate);
  const Ready campaign = three->TakeReady();
  const std::vector<pb::PaxosMessage> prepares = Of(campaign, pb::PaxosMessage::kPrepare, 2);
  ASSERT_EQ(prepares.size(), 1u);
  EXPECT_TRUE(prepares[0].prepare().transfer());

  // 2 heard leader 1 a moment ago: an ordinary Prepare from 3 is ignored (stickiness), the
  // handed-over one is promised at once.
  auto two = MakeNode(2);
  ASSERT_TRUE(two->Step(AcceptMsg(1, 2, b, {})).ok());
  two->TakeReady();
  pb::PaxosMessage plain = prepares[0];
  plain.mutable_prepare()->set_transfer(false);
  ASSERT_TRUE(two->Step(plain).ok());
  EXPECT_TRUE(Of(two->TakeReady(), pb::PaxosMessage::kPromise).empty());
  ASSERT_TRUE(two->Step(prepares[0]).ok());
  const std::vector<pb::PaxosMessage> promises = Of(two->TakeReady(), pb::PaxosMessage::kPromise);
  ASSERT_EQ(promises.size(), 1u);
  ASSERT_TRUE(promises[0].promise().ok());

  // 3 leads, and removes 1 as it would any follower.
  ASSERT_TRUE(three->Step(promises[0]).ok());
  EXPECT_EQ(three->status().role, Role::kLeader);
  EXPECT_TRUE(three->ProposeConfChange(Change(ConfChange::Type::kRemove, 1)).ok());
}

TEST(MembershipTest, OnlyTheLeaderWeFollowCanHandItsLeadershipOver) {
  auto two = MakeNode(2);
  const pb::Ballot b = MakeBallot(1, 1);
  ASSERT_TRUE(two->Step(AcceptMsg(1, 2, b, {})).ok());
  two->TakeReady();
  const Observed before = Observe(*two);
  // Another member, at its own ballot: not our leader, ignored.
  pb::PaxosMessage from_three = Envelope(3, 2);
  *from_three.mutable_timeout_now()->mutable_ballot() = MakeBallot(2, 3);
  EXPECT_TRUE(two->Step(from_three).ok());
  ExpectUnchanged(before, *two);
  // Our leader at an older ballot than we promised: stale, ignored.
  ASSERT_TRUE(two->Step(AcceptMsg(1, 2, MakeBallot(3, 1), {})).ok());
  two->TakeReady();
  const Observed now = Observe(*two);
  pb::PaxosMessage stale = Envelope(1, 2);
  *stale.mutable_timeout_now()->mutable_ballot() = b;
  EXPECT_TRUE(two->Step(stale).ok());
  ExpectUnchanged(now, *two);
  // A ballot that is not the sender's: refused.
  *from_three.mutable_timeout_now()->mutable_ballot() = MakeBallot(3, 1);
  EXPECT_EQ(two->Step(from_three).code(), absl::StatusCode::kInvalidArgument);
  ExpectUnchanged(now, *two);
}

TEST(MembershipTest, ARemovedLeaderStepsDownOnceItsRemovalIsChosen) {
  auto leader = MakeNode(1);
  const pb::Ballot b = ElectWithEmptyPromises(*leader, 1);
  // No voter heard from for an election timeout: nobody to hand leadership to, so the leader
  // proposes its own removal.
  for (int i = 0; i < 10; ++i) leader->Tick();
  leader->TakeReady();
  ASSERT_EQ(leader->status().role, Role::kLeader);
  ASSERT_TRUE(leader->ProposeConfChange(Change(ConfChange::Type::kRemove, 1)).ok());
  const std::vector<pb::Entry> sent = SentTo(leader->TakeReady(), 2);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(leader->status().role, Role::kLeader);  // it still leads its own removal
  ASSERT_TRUE(leader->Step(AcceptedMsg(2, 1, b, {1})).ok());
  EXPECT_EQ(leader->status().role, Role::kFollower);
  EXPECT_FALSE(leader->status().voter);
  for (int i = 0; i < 50; ++i) leader->Tick();
  EXPECT_TRUE(Of(leader->TakeReady(), pb::PaxosMessage::kPrepare).empty());  // never again

  // A member that learned the removal refuses the removed node.
  auto follower = MakeNode(2);
  ASSERT_TRUE(follower->Step(AcceptMsg(1, 2, b, sent, 1)).ok());
  EXPECT_FALSE(follower->status().membership.members(0).id() == 1);
  EXPECT_EQ(follower->Step(PrepareMsg(1, 2, MakeBallot(b.round() + 1, 1), 2)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MembershipTest, AnotherIncarnationIsRefusedEitherWay) {
  auto node = MakeNode(2);
  const Observed before = Observe(*node);
  // From node 1, but not the directory the membership names.
  pb::PaxosMessage m = PrepareMsg(1, 2, MakeBallot(1, 1), 1);
  m.set_from_incarnation(999);
  EXPECT_EQ(node->Step(m).code(), absl::StatusCode::kFailedPrecondition);
  // For node 2 at another incarnation (the sender knows it; this directory is new).
  m = PrepareMsg(1, 2, MakeBallot(1, 1), 1);
  m.set_to_incarnation(998);
  EXPECT_EQ(node->Step(m).code(), absl::StatusCode::kFailedPrecondition);
  ExpectUnchanged(before, *node);

  // A replica restarted on an empty directory under id 2: the membership it learns names
  // another incarnation, so it never campaigns.
  NodeConfig wiped = Config(2);
  wiped.incarnation = 4242;
  auto impostor = MakeNode(wiped);
  EXPECT_FALSE(impostor->status().voter);
  for (int i = 0; i < 100; ++i) impostor->Tick();
  EXPECT_TRUE(Of(impostor->TakeReady(), pb::PaxosMessage::kPrepare).empty());
  EXPECT_EQ(impostor->Step(PrepareMsg(1, 2, MakeBallot(1, 1), 1)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(MembershipTest, RestartAndSnapshotFindTheMembership) {
  // A chosen change in the log is in effect after a restart.
  const pb::Ballot b = MakeBallot(1, 1);
  pb::Value change;
  *change.mutable_membership() = WithLearner(3, 4);
  DurableState d;
  d.promised = b;
  d.entries = {Ent(1, b, change), Ent(2, b, Val("x"))};
  d.chosen_through = 2;
  auto node = MakeNode(Config(2), d);
  EXPECT_EQ(node->status().membership.members_size(), 4);

  // A snapshot brings the membership it records.
  auto other = MakeNode(3);
  ASSERT_TRUE(other->Step(AcceptMsg(1, 3, b, {}, 0)).ok());
  other->TakeReady();
  pb::PaxosMessage snap = Envelope(1, 3);
  pb::InstallSnapshot* s = snap.mutable_install_snapshot();
  *s->mutable_ballot() = b;
  s->set_last_slot(5);
  *s->mutable_membership() = WithLearner(3, 4);
  ASSERT_TRUE(other->Step(AcceptMsg(1, 3, b, {}, 5)).ok());  // the leader vouches for 5
  ASSERT_TRUE(other->Step(snap).ok());
  EXPECT_EQ(other->status().membership.members_size(), 4);
}

}  // namespace
}  // namespace paxoskv::paxos

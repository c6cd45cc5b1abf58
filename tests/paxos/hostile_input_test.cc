// Rules for input the core must refuse (limits.h, Node::Step): every message is checked
// against the receiver's own state before it changes anything; a refused message changes
// nothing, gets a clear status and is counted. The cases are the ones the safety and security
// reviews found at ebb748f (S1-S3, F3), each with the message that used to break a shard.
#include <gtest/gtest.h>

#include "libs/paxos/limits.h"
#include "tests/paxos/paxos_test_util.h"

namespace paxoskv::paxos {
namespace {

using namespace ::paxoskv::paxos::testing;  // NOLINT

pb::PaxosMessage SnapshotMsg(uint32_t from, uint32_t to, pb::Ballot b, uint64_t last_slot) {
  pb::PaxosMessage m = Envelope(from, to);
  *m.mutable_install_snapshot()->mutable_ballot() = b;
  m.mutable_install_snapshot()->set_last_slot(last_slot);
  return m;
}

// A follower of leader 1 at ballot (2, 1) that has slots 1 and 2 chosen ("a", "b").
std::unique_ptr<Node> FollowerWithTwoChosenSlots() {
  auto node = MakeNode(2);
  const pb::Ballot b = MakeBallot(2, 1);
  EXPECT_TRUE(node->Step(AcceptMsg(1, 2, b, {Ent(1, b, Val("a")), Ent(2, b, Val("b"))}, 2)).ok());
  node->TakeReady();
  EXPECT_EQ(node->status().chosen_through, 2u);
  return node;
}

// S2: one Prepare at round 2^64-1 left a shard without a leader for good (the next campaign's
// round overflowed to 0). Rule: a round above kRoundMax is refused, and the promise stands.
TEST(HostileInputTest, PrepareAtMaximalRoundIsRefused) {
  auto node = FollowerWithTwoChosenSlots();
  const Observed before = Observe(*node);
  for (uint64_t round : {UINT64_MAX, kRoundMax + 1}) {
    absl::Status status = node->Step(PrepareMsg(3, 2, MakeBallot(round, 3), 1));
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    ExpectUnchanged(before, *node);
  }
  EXPECT_EQ(node->status().refused_messages, 2u);
  // The node still campaigns one round above what it had seen.
  node->Campaign();
  node->Tick();
  Ready r = node->TakeReady();
  EXPECT_EQ(Of(r, pb::PaxosMessage::kPrepare).at(0).prepare().ballot().round(), 3u);
}

// Rule: one message cannot push rounds far ahead (kRoundJumpMax), nor through a reject's
// `promised` ballot, which used to raise the next campaign's round before any check.
TEST(HostileInputTest, RoundJumpsAreRefusedInEveryBallotField) {
  auto node = MakeNode(1);
  const pb::Ballot far = MakeBallot(kRoundJumpMax + 10, 3);
  EXPECT_EQ(node->Step(PrepareMsg(3, 1, far, 1)).code(), absl::StatusCode::kInvalidArgument);
  // Campaign, then a forged reject claiming a huge promise.
  node->Campaign();
  node->Tick();
  Ready r = node->TakeReady();
  const pb::Ballot mine = Of(r, pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  pb::PaxosMessage reject = PromiseMsg(2, 1, mine, {});
  reject.mutable_promise()->set_ok(false);
  *reject.mutable_promise()->mutable_promised() = MakeBallot(UINT64_MAX, 2);
  EXPECT_EQ(node->Step(reject).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(node->status().role, Role::kCandidate);
  // A legitimate jump (a peer some elections ahead) is fine.
  EXPECT_TRUE(node->Step(PrepareMsg(3, 1, MakeBallot(mine.round() + 1000, 3), 1)).ok());
}

// S3: an Accept at slot 4,000,000,000 used to be stored; a leader recovering from a promise
// that reported it then filled 4e9 slots with no-ops (out of memory). Rule: entries more
// than kSlotWindow slots beyond what the receiver knows chosen are refused.
TEST(HostileInputTest, AcceptFarBeyondChosenIsRefused) {
  auto node = FollowerWithTwoChosenSlots();
  const Observed before = Observe(*node);
  const pb::Ballot b = MakeBallot(2, 1);
  absl::Status status =
      node->Step(AcceptMsg(1, 2, b, {Ent(4'000'000'000, b, Val("evil"))}, 4'000'000'000));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  ExpectUnchanged(before, *node);
  // At the edge of the window it is taken.
  EXPECT_TRUE(node->Step(AcceptMsg(1, 2, b, {Ent(2 + kSlotWindow, b, Val("ok"))})).ok());
}

// S3 again, through a Promise (found by paxos_node_fuzz: tests/fuzz/regressions/paxos_node/
// promise_chosen_through_far_ahead): a Promise reporting chosen_through 3,942,619,068,623,357
// was taken, so the new leader proposed at the slot above it; at its next election the node
// recovered its own log and filled every hole below that slot with no-ops (it never finished;
// the same after a restart, the entry being durable). Rule: a Promise reporting a chosen
// prefix more than kSlotWindow beyond the receiver's is refused, as an Accepted's is.
TEST(HostileInputTest, PromiseOfAChosenPrefixFarBeyondOursIsRefused) {
  auto node = MakeNode(1);
  node->Campaign();
  node->Tick();
  const pb::Ballot b = Of(node->TakeReady(), pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  const Observed before = Observe(*node);
  absl::Status status = node->Step(PromiseMsg(3, 1, b, {}, 3'942'619'068'623'357));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  ExpectUnchanged(before, *node);
  // At the edge of the window it is taken: the leader proposes nothing until it has learned
  // the slots below it (README "Membership", the fence).
  ASSERT_TRUE(node->Step(PromiseMsg(3, 1, b, {}, kSlotWindow)).ok());
  ASSERT_EQ(node->status().role, Role::kLeader);
  EXPECT_EQ(node->status().fence, kSlotWindow);
  ASSERT_TRUE(node->Propose(Cmd(1, 1)).ok());
  const auto accepts = Of(node->TakeReady(), pb::PaxosMessage::kAccept, 3);
  ASSERT_FALSE(accepts.empty());
  for (const auto& m : accepts) EXPECT_EQ(m.accept().entries_size(), 0);
}

// S3 and the Done-when of the hardening issue: another value for a slot the receiver knows
// chosen, by Accept or by Learn, is refused; the chosen value never changes.
TEST(HostileInputTest, AnotherValueForAChosenSlotIsRefused) {
  auto node = FollowerWithTwoChosenSlots();
  const Observed before = Observe(*node);
  const pb::Ballot b = MakeBallot(2, 1);
  EXPECT_EQ(node->Step(LearnMsg(1, 2, b, {Ent(1, b, Val("evil"))}, 2)).code(),
            absl::StatusCode::kFailedPrecondition);
  const pb::Ballot higher = MakeBallot(3, 3);
  EXPECT_EQ(node->Step(AcceptMsg(3, 2, higher, {Ent(2, higher, Val("evil"))}, 2)).code(),
            absl::StatusCode::kFailedPrecondition);
  ExpectUnchanged(before, *node);
  // The same value again is fine (a retransmission, a new leader re-proposing it).
  EXPECT_TRUE(node->Step(LearnMsg(1, 2, b, {Ent(1, b, Val("a"))}, 2)).ok());
  EXPECT_EQ(node->status().refused_messages, 2u);
}

// Found by paxos_node_fuzz: a leader took a member's catch-up Learn for slots above the one it
// would propose into next, then proposed into them, overwriting a value it held chosen. Honest
// members cannot send that (the leader's Prepare round already told it of every chosen slot).
// Rule: a leader takes a member's help only below next_slot; above, refused, nothing changes.
TEST(HostileInputTest, HelpForALeaderAboveTheSlotsItRecoveredIsRefused) {
  auto node = MakeNode(1);
  const pb::Ballot b = ElectWithEmptyPromises(*node, 1);
  const Observed before = Observe(*node);
  const absl::Status status =
      node->Step(LearnMsg(3, 1, b, {Ent(2, b, Val("x")), Ent(3, b, Val("y"))}, 0));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  ExpectUnchanged(before, *node);
  // The leader proposes from slot 1 and gets it chosen as usual.
  ASSERT_TRUE(node->Propose(Cmd(1, 1)).ok());
  const auto accepts = Of(node->TakeReady(), pb::PaxosMessage::kAccept, 2);
  ASSERT_EQ(accepts.size(), 1u);
  ASSERT_EQ(accepts[0].accept().entries(0).slot(), 1u);
  ASSERT_TRUE(node->Step(AcceptedMsg(2, 1, b, {1})).ok());
  const Ready r = node->TakeReady();
  ASSERT_EQ(r.chosen.size(), 1u);
  EXPECT_EQ(r.chosen[0].value().commands(0).seq(), 1u);
}

// S1: one InstallSnapshot (empty data, slot 1,000,000) emptied all three replicas: it was
// installed at any ballot, then passed on to the leader. Rules: a snapshot below the promise
// is stale and ignored; above it, refused (a leader is followed after its Prepare or Accept,
// never its catch-up); at the promised ballot, refused beyond what its leader said is chosen.
TEST(HostileInputTest, InstallSnapshotOnlyFromTheFollowedLeaderWithinWhatItVouched) {
  auto node = FollowerWithTwoChosenSlots();
  const Observed before = Observe(*node);
  EXPECT_TRUE(node->Step(SnapshotMsg(3, 2, MakeBallot(1, 3), 1'000'000)).ok());   // stale
  ExpectUnchanged(before, *node);
  EXPECT_EQ(node->Step(SnapshotMsg(3, 2, MakeBallot(9, 3), 1'000'000)).code(),
            absl::StatusCode::kFailedPrecondition);
  ExpectUnchanged(before, *node);
  EXPECT_EQ(node->Step(SnapshotMsg(1, 2, MakeBallot(2, 1), 1'000'000)).code(),
            absl::StatusCode::kFailedPrecondition);
  ExpectUnchanged(before, *node);
  // Not even the leader's ballot from a node that is not its leader.
  EXPECT_EQ(node->Step(SnapshotMsg(3, 2, MakeBallot(2, 1), 5)).code(),
            absl::StatusCode::kInvalidArgument);
  ExpectUnchanged(before, *node);
  // Once the leader says slot 40 is chosen, its snapshot at 40 is installed.
  const pb::Ballot b = MakeBallot(2, 1);
  ASSERT_TRUE(node->Step(AcceptMsg(1, 2, b, {}, /*chosen_through=*/40)).ok());
  node->TakeReady();
  ASSERT_TRUE(node->Step(SnapshotMsg(1, 2, b, 40)).ok());
  EXPECT_TRUE(node->TakeReady().snapshot.has_value());
  EXPECT_EQ(node->status().applied_through, 40u);
  // CheckInstallSnapshot answers the same without changing anything.
  EXPECT_EQ(node->CheckInstallSnapshot(SnapshotMsg(3, 2, MakeBallot(9, 3), 50)).code(),
            absl::StatusCode::kFailedPrecondition);
}

// Rule: a Learn at a ballot above the promise does not make the receiver follow its sender.
TEST(HostileInputTest, LearnAboveThePromiseIsRefused) {
  auto node = FollowerWithTwoChosenSlots();
  const Observed before = Observe(*node);
  const pb::Ballot higher = MakeBallot(5, 3);
  EXPECT_EQ(node->Step(LearnMsg(3, 2, higher, {Ent(3, higher, Val("c"))}, 3)).code(),
            absl::StatusCode::kFailedPrecondition);
  ExpectUnchanged(before, *node);
}

// Rule: entry counts and sizes are bounded: too many entries in one message, too many
// commands in one entry.
TEST(HostileInputTest, OversizedMessagesAreRefused) {
  auto node = FollowerWithTwoChosenSlots();
  const Observed before = Observe(*node);
  const pb::Ballot b = MakeBallot(2, 1);
  std::vector<pb::Entry> many;
  for (uint64_t s = 3; s < 3 + kEntriesPerMessageMax + 1; ++s) many.push_back(Ent(s, b, {}));
  EXPECT_EQ(node->Step(AcceptMsg(1, 2, b, many)).code(), absl::StatusCode::kInvalidArgument);
  pb::Value fat;
  for (size_t i = 0; i < kCommandsPerEntryMax + 1; ++i) fat.add_commands();
  EXPECT_EQ(node->Step(AcceptMsg(1, 2, b, {Ent(3, b, fat)})).code(),
            absl::StatusCode::kInvalidArgument);
  ExpectUnchanged(before, *node);
}

// The core keeps its own messages under the bounds it enforces: Accepts of large slots are
// split (kMessageEntryBytesTarget), and every part still reaches the follower.
TEST(HostileInputTest, LeaderSplitsLargeAcceptsUnderTheMessageBound) {
  NodeConfig c = Config(1);
  c.inflight_slots_max = 8;
  auto leader = MakeNode(c);
  ElectWithEmptyPromises(*leader, 1);
  const std::string big(6 << 20, 'x');   // above batch_bytes_max: one command per slot
  for (uint64_t i = 1; i <= 6; ++i) ASSERT_TRUE(leader->Propose(Cmd(1, i, big)).ok());
  Ready r = leader->TakeReady();
  auto accepts = Of(r, pb::PaxosMessage::kAccept, 2);
  ASSERT_GE(accepts.size(), 3u);
  size_t entries = 0;
  for (const auto& m : accepts) {
    EXPECT_LE(m.accept().ByteSizeLong(), kMessageEntryBytesTarget + (7 << 20));
    entries += static_cast<size_t>(m.accept().entries_size());
  }
  EXPECT_EQ(entries, 6u);
}

// F3: a leader that skipped a slot (a promiser said it was chosen but had compacted its
// value) stalls for good if that promiser dies and the value survives only as an accepted
// entry elsewhere. Rule: a leader whose open slots are not chosen for 2 election timeouts,
// while it hears a majority, campaigns again; the new quorum reports the value.
// Method: 5 nodes. Slot 1 was chosen with "v" by {1, 2, 4}; node 2 compacted it; node 1 is
// down. Node 5 wins with promises from 2 (chosen_through 1, nothing reported) and 3 (empty),
// so it skips slot 1. Node 2 dies. Nodes 3 and 4 keep acknowledging slot 2, but slot 1 is
// never learned: chosen_through stays 0 until node 5 campaigns again and 4 reports "v".
TEST(HostileInputTest, StalledLeaderCampaignsAgainAndRecoversASkippedSlot) {
  auto leader = MakeNode(Config(5, 5));
  leader->Campaign();
  leader->Tick();
  Ready r = leader->TakeReady();
  const pb::Ballot b = Of(r, pb::PaxosMessage::kPrepare).at(0).prepare().ballot();
  ASSERT_TRUE(leader->Step(PromiseMsg(2, 5, b, {}, /*chosen_through=*/1)).ok());
  ASSERT_TRUE(leader->Step(PromiseMsg(3, 5, b, {})).ok());
  ASSERT_EQ(leader->status().role, Role::kLeader);
  leader->TakeReady();
  EXPECT_EQ(leader->status().fence, 1u);  // slot 1 must be learned first: nothing above it
  ASSERT_TRUE(leader->Propose(Cmd(7, 1, "w")).ok());
  r = leader->TakeReady();
  for (const auto& m : Of(r, pb::PaxosMessage::kAccept)) EXPECT_EQ(m.accept().entries_size(), 0);
  // Nodes 3 and 4 acknowledge every tick; node 2 is gone.
  bool recampaigned = false;
  pb::Ballot again;
  for (int tick = 0; tick < 60 && !recampaigned; ++tick) {
    for (uint32_t peer : {3u, 4u}) {
      ASSERT_TRUE(leader->Step(AcceptedMsg(peer, 5, b, {}, 0)).ok());
    }
    leader->Tick();
    r = leader->TakeReady();
    auto prepares = Of(r, pb::PaxosMessage::kPrepare);
    if (!prepares.empty()) {
      recampaigned = true;
      again = prepares[0].prepare().ballot();
    }
    EXPECT_EQ(leader->status().chosen_through, 0u);
  }
  ASSERT_TRUE(recampaigned);
  EXPECT_GT(again.round(), b.round());
  // Node 4 holds slot 1's value (accepted at the old leader's ballot).
  const pb::Ballot old = MakeBallot(1, 1);
  ASSERT_TRUE(leader->Step(PromiseMsg(3, 5, again, {})).ok());
  ASSERT_TRUE(leader->Step(PromiseMsg(4, 5, again, {Ent(1, old, Val("v"))})).ok());
  ASSERT_EQ(leader->status().role, Role::kLeader);
  r = leader->TakeReady();
  auto accepts = Of(r, pb::PaxosMessage::kAccept, 4);
  ASSERT_FALSE(accepts.empty());
  ASSERT_GE(accepts[0].accept().entries_size(), 1);
  EXPECT_EQ(accepts[0].accept().entries(0).slot(), 1u);
  EXPECT_EQ(accepts[0].accept().entries(0).value().commands(0).value(), "v");
  for (uint32_t peer : {3u, 4u}) {
    ASSERT_TRUE(leader->Step(AcceptedMsg(peer, 5, again, {1}, 0)).ok());
  }
  EXPECT_EQ(leader->status().chosen_through, 1u);
}

}  // namespace
}  // namespace paxoskv::paxos

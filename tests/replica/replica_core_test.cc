// Rules of the replica core (libs/replica/replica_core.h), driven directly over the
// fault-injecting store: the order of a Ready around a snapshot install (review F1), what a
// failed write does, chunked snapshot transfers and their refusals, which service takes
// which ops, a reused (client_id, seq), and membership changes as the owner sees them. The
// simulator (tests/sim) runs the same core under random faults; these pin the cases down one by
// one.
#include "libs/replica/replica_core.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/status_markers.h"
#include "libs/storage/faulty_store.h"

namespace paxoskv::replica {
namespace {

namespace pb = ::paxoskv::v1;

class RecordingSink final : public MessageSink {
 public:
  void Send(pb::PaxosMessage message) override { sent.push_back(std::move(message)); }
  void SendSnapshot(pb::PaxosMessage header,
                    std::unique_ptr<storage::SnapshotReader> reader) override {
    ASSERT_TRUE(SendAllChunks(header, *reader, [this](pb::PaxosMessage chunk) {
                  sent.push_back(std::move(chunk));
                }).ok());
  }
  void SetPeerAddresses(const std::map<uint32_t, std::string>& others) override { peers = others; }
  std::vector<pb::PaxosMessage> sent;
  std::map<uint32_t, std::string> peers;
};

CoreOptions Options(uint32_t id, std::vector<uint32_t> members) {
  CoreOptions o;
  o.shard_id = 1;
  o.replica_id = id;
  for (uint32_t m : members) o.members[m] = absl::StrCat("n", m);
  o.heartbeat_ticks = 1;
  o.election_timeout_ticks = 10;
  o.local_client_id = 1000 + id;
  o.snapshot_every_commands = 1000000;
  o.snapshot_chunk_bytes = 64;
  o.check_invariants = true;
  return o;
}

// A core over a FaultyStore that a test can crash and reopen.
struct Replica {
  Replica(uint32_t id, std::vector<uint32_t> members) : options(Options(id, members)) {
    Open();
  }
  void Open() {
    auto opened = ReplicaCore::Open(options, &store, &sink, NullLogger());
    ASSERT_TRUE(opened.ok()) << opened.status();
    core = *std::move(opened);
  }
  // Processes every Work; returns the first failure (a real replica would crash there).
  absl::Status Drain() {
    while (core->HasWork()) {
      absl::StatusOr<ReplicaCore::Applied> applied = core->Process(core->TakeWork());
      if (!applied.ok()) return applied.status();
      if (store.power_cut()) return absl::UnavailableError("power cut");
      core->Complete(*std::move(applied));
    }
    return absl::OkStatus();
  }
  void CrashAndReopen(size_t keep_volatile = 0) {
    core.reset();
    store.SimulateCrash(keep_volatile);
    Open();
  }

  CoreOptions options;
  storage::FaultyStore store;
  RecordingSink sink;
  std::unique_ptr<ReplicaCore> core;
};

// The outcomes a Propose call delivers.
struct Outcomes {
  bool done = false;
  absl::StatusOr<std::vector<ReplicaCore::Outcome>> value = absl::UnknownError("none");
  ReplicaCore::Done Callback() {
    return [this](absl::StatusOr<std::vector<ReplicaCore::Outcome>> outcomes) {
      done = true;
      value = std::move(outcomes);
    };
  }
};

pb::Command Put(const std::string& key, const std::string& value, uint64_t client, uint64_t seq) {
  pb::Command c;
  c.set_op(pb::OP_PUT);
  c.set_key(key);
  c.set_value(value);
  c.set_client_id(client);
  c.set_seq(seq);
  return c;
}

// Ticks a single replica group until it leads.
void Elect(Replica& r) {
  for (int i = 0; i < 25 && !r.core->is_leader(); ++i) {
    r.core->Tick();
    EXPECT_TRUE(r.Drain().ok());
  }
  EXPECT_TRUE(r.core->is_leader());
}

std::unique_ptr<Replica> Leader() {
  auto r = std::make_unique<Replica>(1, std::vector<uint32_t>{1});
  Elect(*r);
  return r;
}

absl::Status Write(Replica& r, pb::Command command) {
  Outcomes out;
  std::vector<pb::Command> one{std::move(command)};
  r.core->Propose(std::move(one), CommandOrigin::kClient, 1000, out.Callback());
  absl::Status drained = r.Drain();
  if (!drained.ok()) return drained;
  if (!out.done) return absl::DeadlineExceededError("not completed");
  if (!out.value.ok()) return out.value.status();
  return out.value->front().status();
}

// The chunks of leader `from`'s current snapshot, as its core would send them at `ballot`.
std::vector<pb::PaxosMessage> SnapshotChunks(Replica& from, const pb::Ballot& ballot,
                                             uint32_t to) {
  auto reader = from.store.OpenSnapshot();
  EXPECT_TRUE(reader.ok());
  pb::PaxosMessage request;
  request.set_from(1);
  request.set_to(to);
  request.set_shard_id(1);
  *request.mutable_install_snapshot()->mutable_ballot() = ballot;
  std::vector<pb::PaxosMessage> chunks;
  EXPECT_TRUE(SendAllChunks(SnapshotHeader(request, (*reader)->meta()), **reader,
                            [&chunks](pb::PaxosMessage m) { chunks.push_back(std::move(m)); })
                  .ok());
  return chunks;
}

// A leader with 20 keys and a snapshot of many chunks at slot `*slot`.
std::unique_ptr<Replica> LeaderWithSnapshot(SlotId* slot) {
  auto leader = Leader();
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(Write(*leader, Put(absl::StrCat("key", i), absl::StrCat("value", i), 7, i + 1)).ok());
  }
  // Take a snapshot now, inline.
  leader->core.reset();
  leader->options.snapshot_every_commands = 1;
  leader->Open();
  Elect(*leader);
  EXPECT_TRUE(Write(*leader, Put("last", "x", 7, 21)).ok());
  auto job = leader->core->MaybeStartSnapshot();
  EXPECT_TRUE(job.has_value());
  EXPECT_TRUE(job->Run().ok());
  auto applied = leader->core->FinishSnapshot(*job, absl::OkStatus());
  EXPECT_TRUE(applied.ok());
  leader->core->Complete(*std::move(applied));
  *slot = job->slot();
  return leader;
}

pb::Ballot MakeBallot(uint64_t round, uint32_t node) {
  pb::Ballot b;
  b.set_round(round);
  b.set_node_id(node);
  return b;
}

// A heartbeat from leader 1 at `b` saying slots <= chosen are chosen.
pb::PaxosMessage Heartbeat(const pb::Ballot& b, uint32_t to, SlotId chosen) {
  pb::PaxosMessage m;
  m.set_from(1);
  m.set_to(to);
  m.set_shard_id(1);
  *m.mutable_accept()->mutable_ballot() = b;
  m.mutable_accept()->set_chosen_through(chosen);
  return m;
}

// Review F1: a crash between persisting the Ready that carries a received snapshot and the
// snapshot's commit used to leave chosen_through above the log on disk, so that the replica
// refused every start ("chosen_through X but slot Y is missing"), or, with stale entries in
// the gap, applied them as chosen. Rule: nothing may make a chosen_through durable above the
// entries on disk; the snapshot's commit raises it, in one step. Method: power cuts after 0,
// 1 and 2 durable operations of the install; every reopen must succeed and, once the
// snapshot is committed, hold the leader's state.
TEST(ReplicaCoreTest, CrashAtEveryStepOfAnInstallLeavesARestartableReplica) {
  SlotId slot = 0;
  auto leader = LeaderWithSnapshot(&slot);
  const pb::Ballot b = MakeBallot(1, 1);
  const std::vector<pb::PaxosMessage> chunks = SnapshotChunks(*leader, b, 2);
  ASSERT_GT(chunks.size(), 5u);   // a snapshot of many chunks
  for (uint64_t cut_after : {0, 1, 2}) {
    SCOPED_TRACE(absl::StrCat("power cut after ", cut_after, " durable operations"));
    Replica follower(2, {1, 2, 3});
    // The follower holds stale entries in the gap, accepted at an older ballot.
    pb::PaxosMessage stale = Heartbeat(MakeBallot(1, 1), 2, 0);
    for (SlotId s = 1; s <= slot; ++s) {
      pb::Entry* e = stale.mutable_accept()->add_entries();
      e->set_slot(s);
      *e->mutable_ballot() = MakeBallot(1, 1);
      *e->mutable_value()->add_commands() = Put("key0", "stale", 9, s);
    }
    ASSERT_TRUE(follower.core->Deliver(stale).ok());
    ASSERT_TRUE(follower.Drain().ok());
    ASSERT_TRUE(follower.core->Deliver(Heartbeat(MakeBallot(2, 1), 2, slot)).ok());
    for (const pb::PaxosMessage& chunk : chunks) {
      pb::PaxosMessage at_two = chunk;
      *at_two.mutable_install_snapshot()->mutable_ballot() = MakeBallot(2, 1);
      ASSERT_TRUE(follower.core->Deliver(at_two).ok());
    }
    follower.store.CutPowerAfter(cut_after);
    (void)follower.Drain();
    follower.CrashAndReopen(/*keep_volatile=*/100);   // even if every unsynced write survived
    const pb::ReplicaStatus status = follower.core->status();
    if (cut_after >= 2) {
      EXPECT_EQ(status.snapshot_slot(), slot);   // the commit was durable
      EXPECT_EQ(status.key_count(), 21u);        // the leader's state
    } else {
      // Not committed: nothing in the gap may count as chosen (the stale entries stay stale).
      EXPECT_EQ(status.snapshot_slot(), 0u);
      EXPECT_EQ(status.chosen_slot(), 0u);
      EXPECT_EQ(status.applied_slot(), 0u);
    }
  }
}

// Rule: a failed write (or fsync) stops the core at once: Process returns it, nothing more is
// sent, and the replica restarts from what was durable.
TEST(ReplicaCoreTest, FailedWriteStopsProcessingBeforeAnyMessage) {
  Replica follower(2, {1, 2, 3});
  pb::PaxosMessage accept = Heartbeat(MakeBallot(3, 1), 2, 0);
  pb::Entry* e = accept.mutable_accept()->add_entries();
  e->set_slot(1);
  *e->mutable_ballot() = MakeBallot(3, 1);
  *e->mutable_value()->add_commands() = Put("k", "v", 9, 1);
  ASSERT_TRUE(follower.core->Deliver(accept).ok());
  follower.store.FailNextWrites(1);
  follower.sink.sent.clear();
  absl::StatusOr<ReplicaCore::Applied> applied = follower.core->Process(follower.core->TakeWork());
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(follower.sink.sent.empty());   // the Accepted promising slot 1 never left
  follower.CrashAndReopen();
  EXPECT_EQ(follower.core->status().ballot_round(), 0u);   // the promise was never durable
}

// A snapshot transfer is taken chunk by chunk only in order, only as offered by the leader we
// follow within what it said is chosen, and only whole with the digest it announced; a refusal
// stages nothing and changes nothing.
TEST(ReplicaCoreTest, SnapshotChunksAreRefusedOutOfOrderOrCorrupt) {
  SlotId slot = 0;
  auto leader = LeaderWithSnapshot(&slot);
  const pb::Ballot b = MakeBallot(2, 1);
  std::vector<pb::PaxosMessage> chunks = SnapshotChunks(*leader, b, 2);
  ASSERT_GT(chunks.size(), 3u);
  Replica follower(2, {1, 2, 3});
  // Offered before the leader vouched for the slot: refused at chunk 0.
  ASSERT_TRUE(follower.core->Deliver(Heartbeat(b, 2, slot - 1)).ok());
  EXPECT_EQ(follower.core->Deliver(chunks[0]).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(follower.core->Deliver(Heartbeat(b, 2, slot)).ok());
  ASSERT_TRUE(follower.Drain().ok());
  // Out of order.
  ASSERT_TRUE(follower.core->Deliver(chunks[0]).ok());
  EXPECT_EQ(follower.core->Deliver(chunks[2]).code(), absl::StatusCode::kFailedPrecondition);
  // A corrupt chunk (the digest no longer matches at the end).
  std::vector<pb::PaxosMessage> corrupt = chunks;
  corrupt[1].mutable_install_snapshot()->set_data(chunks[1].install_snapshot().data());
  corrupt.back().mutable_install_snapshot()->set_snapshot_digest(12345);
  absl::Status last;
  for (const auto& chunk : corrupt) last = follower.core->Deliver(chunk);
  EXPECT_FALSE(last.ok());
  EXPECT_FALSE(follower.core->HasWork());
  EXPECT_EQ(follower.core->status().applied_slot(), 0u);
  // Whole and in order: installed.
  for (const auto& chunk : chunks) ASSERT_TRUE(follower.core->Deliver(chunk).ok());
  ASSERT_TRUE(follower.Drain().ok());
  EXPECT_EQ(follower.core->status().snapshot_slot(), slot);
  EXPECT_EQ(follower.core->status().key_count(), 21u);
}

// The migration ops are not a public API: Replica.Execute (kClient) refuses them, the
// Migration service (kMigration) takes them and nothing else. Review S4: one freeze through
// Replica/Execute used to fence a shard's whole keyspace for good.
TEST(ReplicaCoreTest, MigrationOpsOnlyThroughTheMigrationService) {
  auto leader = Leader();
  pb::Command freeze;
  freeze.set_op(pb::OP_FREEZE_RANGES);
  freeze.set_freeze_id(5);
  freeze.add_freeze_ranges();   // begin == end: the whole ring
  EXPECT_EQ(Write(*leader, freeze).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Write(*leader, Put("k", "v", 3, 1)).ok());   // nothing was fenced
  Outcomes out;
  leader->core->Propose({Put("k", "w", 3, 2)}, CommandOrigin::kMigration, 1000, out.Callback());
  ASSERT_TRUE(out.done);
  EXPECT_EQ(out.value->front().status().code(), absl::StatusCode::kInvalidArgument);
  Outcomes fenced;
  leader->core->Propose({freeze}, CommandOrigin::kMigration, 1000, fenced.Callback());
  ASSERT_TRUE(leader->Drain().ok());
  ASSERT_TRUE(fenced.done);
  EXPECT_TRUE(fenced.value->front().ok());
}

// Review F4 at the core: two waiters on one (client_id, seq) with different commands; each gets
// its own command's outcome, never the other's result.
TEST(ReplicaCoreTest, AReusedSeqNeverGetsAnotherCommandsResult) {
  auto leader = Leader();
  Outcomes first;
  Outcomes second;
  leader->core->Propose({Put("a", "1", 4, 1)}, CommandOrigin::kClient, 1000, first.Callback());
  leader->core->Propose({Put("b", "2", 4, 1)}, CommandOrigin::kClient, 1000, second.Callback());
  ASSERT_TRUE(leader->Drain().ok());
  ASSERT_TRUE(first.done && second.done);
  EXPECT_TRUE(first.value->front().ok());
  EXPECT_EQ(first.value->front()->code(), pb::RESULT_CODE_OK);
  ASSERT_TRUE(second.value->front().ok());
  EXPECT_EQ(second.value->front()->code(), pb::RESULT_CODE_INVALID_ARGUMENT);
}

// Another shard's message is refused with the wrong-replica mark and changes nothing.
TEST(ReplicaCoreTest, AnotherShardsMessageIsRefused) {
  Replica follower(2, {1, 2, 3});
  pb::PaxosMessage m = Heartbeat(MakeBallot(3, 1), 2, 0);
  m.set_shard_id(9);
  EXPECT_TRUE(IsWrongReplica(follower.core->Deliver(m)));
  EXPECT_FALSE(follower.core->HasWork());
  EXPECT_EQ(follower.core->status().ballot_round(), 0u);
}

TEST(ReplicaCoreTest, MembershipChangesReachTheSinkAndARetryIsAnsweredAtOnce) {
  auto leader = Leader();
  EXPECT_TRUE(leader->sink.peers.empty());  // a group of one
  paxos::ConfChange add;
  add.type = paxos::ConfChange::Type::kAddLearner;
  add.id = 2;
  add.address = "n2-new:7000";
  add.promote = false;
  absl::StatusOr<bool> already = leader->core->ChangeMembership(add);
  ASSERT_TRUE(already.ok()) << already.status();
  EXPECT_FALSE(*already);  // proposed
  EXPECT_FALSE(leader->core->MembershipChangeInEffect(add));
  ASSERT_TRUE(leader->Drain().ok());
  EXPECT_TRUE(leader->core->MembershipChangeInEffect(add));
  // The sink learns the new member's address before anything is sent to it.
  EXPECT_EQ(leader->sink.peers, (std::map<uint32_t, std::string>{{2, "n2-new:7000"}}));
  const pb::ReplicaStatus status = leader->core->status();
  EXPECT_EQ(status.member_address().at(1), "n1");
  EXPECT_EQ(status.member_address().at(2), "n2-new:7000");
  // The same request again (a retry) is answered at once: nothing is proposed.
  already = leader->core->ChangeMembership(add);
  ASSERT_TRUE(already.ok());
  EXPECT_TRUE(*already);
  EXPECT_FALSE(leader->core->HasWork());

  paxos::ConfChange move = add;
  move.type = paxos::ConfChange::Type::kSetAddress;
  move.address = "elsewhere:7000";
  ASSERT_TRUE(leader->core->ChangeMembership(move).ok());
  ASSERT_TRUE(leader->Drain().ok());
  EXPECT_EQ(leader->sink.peers.at(2), "elsewhere:7000");

  paxos::ConfChange remove;
  remove.type = paxos::ConfChange::Type::kRemove;
  remove.id = 2;
  ASSERT_TRUE(leader->core->ChangeMembership(remove).ok());
  ASSERT_TRUE(leader->Drain().ok());
  EXPECT_TRUE(leader->sink.peers.empty());
  // The last voter cannot go.
  remove.id = 1;
  EXPECT_EQ(leader->core->ChangeMembership(remove).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace paxoskv::replica

namespace paxoskv::replica {
namespace {

// Three cores wired together by hand: every message a sink recorded is delivered to its
// addressee, until none is left.
struct Group {
  Group() {
    for (uint32_t id : {1u, 2u, 3u}) {
      replicas.push_back(std::make_unique<Replica>(id, std::vector<uint32_t>{1, 2, 3}));
    }
  }
  Replica& at(uint32_t id) { return *replicas[id - 1]; }
  void Route() {
    for (int round = 0; round < 100; ++round) {
      bool moved = false;
      for (auto& r : replicas) {
        EXPECT_TRUE(r->Drain().ok());
        std::vector<pb::PaxosMessage> sent = std::move(r->sink.sent);
        r->sink.sent.clear();
        for (pb::PaxosMessage& m : sent) {
          moved = true;
          m.set_shard_id(1);                          // as the transport stamps it
          at(m.to()).core->Deliver(m).IgnoreError();  // refusals are the core's business
        }
      }
      if (!moved) return;
    }
  }
  void Tick(int ticks) {
    for (int i = 0; i < ticks; ++i) {
      for (auto& r : replicas) r->core->Tick();
      Route();
    }
  }
  // Proposes `command` at `leader` and routes until it completes: its outcome.
  ReplicaCore::Outcome Execute(Replica& leader, pb::Command command) {
    Outcomes out;
    leader.core->Propose({std::move(command)}, CommandOrigin::kClient, 1000, out.Callback());
    Route();
    if (!out.done) return absl::DeadlineExceededError("not completed");
    if (!out.value.ok()) return out.value.status();
    return out.value->front();
  }
  Replica* Leader() {
    for (auto& r : replicas) {
      if (r->core->is_leader()) return r.get();
    }
    return nullptr;
  }
  std::vector<std::unique_ptr<Replica>> replicas;
};

bool HasNoSpaceAlarm(const pb::ReplicaStatus& status, uint32_t member) {
  for (const pb::Alarm& alarm : status.alarms()) {
    if (alarm.member_id() == member && alarm.type() == pb::ALARM_NOSPACE) return true;
  }
  return false;
}

pb::Command Clear() {
  pb::Command c;
  c.set_op(pb::OP_ALARM);
  c.mutable_alarm()->mutable_alarm()->set_type(pb::ALARM_NOSPACE);
  return c;
}

// The NOSPACE alarm at the core: a follower out of space says so in every message,
// the leader raises the alarm for it through the log, every replica applies it, puts are then
// refused (and change nothing) while gets and deletes work; an admin's clear brings puts back,
// and a member still out of space gets its alarm raised again.
TEST(ReplicaCoreTest, AFollowerOutOfSpaceGetsItsNoSpaceAlarmRaisedThroughTheLog) {
  Group group;
  group.Tick(40);
  Replica* leader = group.Leader();
  ASSERT_NE(leader, nullptr);
  ASSERT_TRUE(group.Execute(*leader, Put("kept", "v", 5, 1)).ok());
  const uint32_t full = leader->options.replica_id == 3 ? 2 : 3;

  group.at(full).core->SetNoSpace(true);
  group.Tick(3);  // heartbeats: the follower's answers carry nospace
  for (auto& r : group.replicas) {
    EXPECT_TRUE(HasNoSpaceAlarm(r->core->status(), full))
        << "replica " << r->options.replica_id << " did not apply the alarm";
  }
  EXPECT_TRUE(group.at(full).core->status().nospace());

  ReplicaCore::Outcome put = group.Execute(*leader, Put("refused", "v", 5, 2));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->code(), pb::RESULT_CODE_NOSPACE);
  EXPECT_EQ(leader->core->status().key_count(), 1u) << "a refused put changed the state";
  pb::Command remove;
  remove.set_op(pb::OP_DELETE);
  remove.set_key("kept");
  remove.set_client_id(5);
  remove.set_seq(3);
  ReplicaCore::Outcome deleted = group.Execute(*leader, remove);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(deleted->existed());

  // Cleared while the member is still out of space: raised again.
  ASSERT_TRUE(group.Execute(*leader, Clear()).ok());
  EXPECT_FALSE(HasNoSpaceAlarm(leader->core->status(), full));
  group.Tick(15);
  EXPECT_TRUE(HasNoSpaceAlarm(leader->core->status(), full)) << "not raised again";

  // Space is back and the alarm cleared: the refused (client_id, seq) applies now.
  group.at(full).core->SetNoSpace(false);
  group.Tick(3);
  ASSERT_TRUE(group.Execute(*leader, Clear()).ok());
  group.Tick(15);
  EXPECT_TRUE(leader->core->status().alarms().empty());
  ReplicaCore::Outcome again = group.Execute(*leader, Put("refused", "v", 5, 2));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->code(), pb::RESULT_CODE_OK);
}

// A client may clear alarms but never raise one (only a replica's core does, for a member
// that reports itself out of space).
TEST(ReplicaCoreTest, ClientsMayClearAlarmsButNotRaiseThem) {
  auto leader = Leader();
  pb::Command raise = Clear();
  raise.mutable_alarm()->set_activate(true);
  raise.mutable_alarm()->mutable_alarm()->set_member_id(1);
  EXPECT_EQ(Write(*leader, raise).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(leader->core->status().alarms().empty());
  EXPECT_TRUE(Write(*leader, Clear()).ok());
  // The leader itself out of space raises its own alarm.
  leader->core->SetNoSpace(true);
  leader->core->Tick();
  ASSERT_TRUE(leader->Drain().ok());
  EXPECT_TRUE(HasNoSpaceAlarm(leader->core->status(), 1));
}

// The log tail is bounded in bytes too: a snapshot is due after snapshot_every_bytes of
// applied commands even when far fewer than snapshot_every_commands were applied.
TEST(ReplicaCoreTest, ASnapshotIsDueAfterEnoughBytesOfCommands) {
  auto leader = std::make_unique<Replica>(1, std::vector<uint32_t>{1});
  leader->core.reset();
  leader->options.snapshot_every_bytes = 4096;
  leader->Open();
  Elect(*leader);
  ASSERT_TRUE(Write(*leader, Put("small", "v", 6, 1)).ok());
  EXPECT_FALSE(leader->core->MaybeStartSnapshot().has_value());
  ASSERT_TRUE(Write(*leader, Put("large", std::string(5000, 'x'), 6, 2)).ok());
  auto job = leader->core->MaybeStartSnapshot();
  ASSERT_TRUE(job.has_value());
  ASSERT_TRUE(job->Run().ok());
  auto applied = leader->core->FinishSnapshot(*job, absl::OkStatus());
  ASSERT_TRUE(applied.ok());
  leader->core->Complete(*std::move(applied));
  EXPECT_FALSE(leader->core->MaybeStartSnapshot().has_value()) << "the count starts again";
}

}  // namespace
}  // namespace paxoskv::replica

// Acceptor role of Node: answers Prepare and Accept from its promised ballot, stores accepted
// entries (persisted through Ready before any reply leaves), and takes in chosen values
// (Learn, InstallSnapshot). Not thread-safe: part of Node.
#include <algorithm>

#include "libs/common/check.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/node_impl.h"

namespace paxoskv::paxos {

namespace pb = ::paxoskv::v1;

void Node::Impl::SetPromised(const pb::Ballot& b) {
  NoteRound(b.round());
  if (Compare(b, promised) <= 0) return;
  promised = b;
  ready_promised = b;
}

void Node::Impl::StoreEntry(SlotId slot, const pb::Ballot& b, const pb::Value& value,
                            bool chosen) {
  PAXOSKV_CHECK(Compare(b, promised) <= 0) << "storing slot " << slot << " above promise";
  if (slot <= compacted_through) return;  // chosen and covered by our snapshot
  LogSlot& ls = log_slots[slot];
  ls.entry.set_slot(slot);
  *ls.entry.mutable_ballot() = b;
  *ls.entry.mutable_value() = value;
  ls.packed = false;
  ls.packed_value.clear();
  ls.chosen = ls.chosen || chosen;
  ready_accepted[slot] = ls.entry;
}

bool Node::Impl::HoldsValue(SlotId slot, const pb::Value& value) const {
  auto it = log_slots.find(slot);
  if (it == log_slots.end()) return false;
  const std::string learned = value.SerializeAsString();
  return it->second.packed ? it->second.packed_value == learned
                           : it->second.entry.value().SerializeAsString() == learned;
}

void Node::Impl::FollowLeader(const pb::Ballot& b) {
  if (role != Role::kFollower) StepDown("higher ballot");
  if (!SameBallot(b, promised) || !leader.has_value() || ToInt(*leader) != b.node_id()) {
    leader_chosen_seen = 0;   // what another leader vouched for says nothing about this one
  }
  SetPromised(b);
  if (!leader.has_value() || ToInt(*leader) != b.node_id()) {
    log->info("following leader={} ballot={}.{}", b.node_id(), b.round(), b.node_id());
  }
  leader = static_cast<NodeId>(b.node_id());
  ResetElectionTimer();
}

void Node::Impl::OnPrepare(uint32_t from, const pb::Prepare& m) {
  const pb::Ballot& b = m.ballot();
  log->debug("prepare from={} ballot={}.{} from_slot={}", from, b.round(), b.node_id(),
             m.from_slot());
  NoteRound(b.round());
  pb::PaxosMessage reply;
  pb::Promise* p = reply.mutable_promise();
  *p->mutable_ballot() = b;
  if (Compare(b, promised) < 0) {
    p->set_ok(false);
    *p->mutable_promised() = promised;
    Send(from, std::move(reply));
    return;
  }
  if (Compare(b, promised) > 0 && role == Role::kFollower && leader.has_value() &&
      ToInt(*leader) != from && election_elapsed < config.election_timeout_ticks && !m.transfer()) {
    // We heard from our leader less than an election timeout ago: it lives, so this candidate
    // is one that lags (a member removed without knowing it, or one cut off for a while).
    // Promising would depose a working leader, again and again (etcd raft ignores such votes
    // for the same reason). Once the leader is silent for a timeout, we promise; at once when
    // the leader handed leadership to this candidate (Prepare.transfer).
    log->debug("ignored prepare from={} ballot={}.{}: leader {} heard {} ticks ago", from,
               b.round(), b.node_id(), ToInt(*leader), election_elapsed);
    return;
  }
  if (Compare(b, promised) > 0) {
    if (role != Role::kFollower) StepDown("prepare with higher ballot");
    SetPromised(b);
    leader.reset();
    ResetElectionTimer();
    log->info("promised ballot={}.{} from={}", b.round(), b.node_id(), from);
  }
  p->set_ok(true);
  *p->mutable_promised() = promised;
  p->set_chosen_through(chosen_through);
  for (auto it = log_slots.lower_bound(m.from_slot()); it != log_slots.end(); ++it) {
    *p->add_accepted() = FullEntry(it->second);
  }
  Send(from, std::move(reply));
  if (compacted_through > 0 && m.from_slot() <= compacted_through) {
    // The candidate lags behind our snapshot: it cannot learn those slots from entries.
    pb::PaxosMessage snap;
    *snap.mutable_install_snapshot()->mutable_ballot() = b;
    snap.mutable_install_snapshot()->set_last_slot(compacted_through);
    Send(from, std::move(snap));
  }
}

void Node::Impl::OnAccept(uint32_t from, const pb::Accept& m) {
  const pb::Ballot& b = m.ballot();
  log->debug("accept from={} ballot={}.{} entries={} chosen_through={}", from, b.round(),
             b.node_id(), m.entries_size(), m.chosen_through());
  NoteRound(b.round());
  pb::PaxosMessage reply;
  pb::Accepted* a = reply.mutable_accepted();
  *a->mutable_ballot() = b;
  a->set_heartbeat_id(m.heartbeat_id());
  if (Compare(b, promised) < 0) {
    a->set_ok(false);
    *a->mutable_promised() = promised;
    a->set_chosen_through(chosen_through);
    Send(from, std::move(reply));
    return;
  }
  FollowLeader(b);
  leader_chosen_seen = std::max(leader_chosen_seen, m.chosen_through());
  for (const pb::Entry& e : m.entries()) {
    StoreEntry(e.slot(), b, e.value(), /*chosen=*/false);
    a->add_slots(e.slot());
  }
  MarkChosenAtBallot(b, m.chosen_through());
  a->set_ok(true);
  *a->mutable_promised() = promised;
  a->set_chosen_through(chosen_through);
  Send(from, std::move(reply));
  if (m.chosen_through() < chosen_through) MaybeHelpLeader(from, b, m.chosen_through());
}

void Node::Impl::OnLearn(uint32_t from, const pb::Learn& m) {
  const pb::Ballot& b = m.ballot();
  log->debug("learn from={} ballot={}.{} entries={} chosen_through={}", from, b.round(),
             b.node_id(), m.entries_size(), m.chosen_through());
  NoteRound(b.round());
  if (Compare(b, promised) < 0) return;  // stale; the current leader will teach us
  if (b.node_id() == from) {
    FollowLeader(b);   // b == promised (Validate): the leader we follow
    leader_chosen_seen = std::max(leader_chosen_seen, m.chosen_through());
  } else if (!(role == Role::kLeader && SameBallot(b, my_ballot))) {
    return;  // a follower's catch-up for a leadership we no longer hold
  }
  // A chosen value v stored at the teacher's ballot b is safe: every value accepted at a
  // ballot >= the one v was chosen at is v, and the teacher learned v at a ballot <= b.
  for (const pb::Entry& e : m.entries()) {
    if (e.slot() > compacted_through && HoldsValue(e.slot(), e.value())) {
      // Already durable here with this very value (typically: we accepted it, and the Learn
      // overtook the next Accept that would have told us it is chosen). Only mark it; no
      // rewrite, no fsync. Keeping our (lower) ballot for it is safe: the value is the
      // chosen one, and a later Prepare's majority still reports it at >= its chosen ballot.
      log_slots[e.slot()].chosen = true;
    } else {
      StoreEntry(e.slot(), b, e.value(), /*chosen=*/true);
    }
    if (role == Role::kLeader) proposals.erase(e.slot());
  }
  if (b.node_id() == from) MarkChosenAtBallot(b, m.chosen_through());
  AdvanceChosenThrough();
  if (role == Role::kLeader) next_slot = std::max(next_slot, chosen_through + 1);
}

void Node::Impl::OnInstallSnapshot(uint32_t from, const pb::InstallSnapshot& m) {
  const pb::Ballot& b = m.ballot();
  log->debug("install_snapshot from={} ballot={}.{} last_slot={}", from, b.round(), b.node_id(),
             m.last_slot());
  NoteRound(b.round());
  if (Compare(b, promised) < 0) return;   // stale
  if (b.node_id() == from) {
    FollowLeader(b);   // b == promised (Validate): the leader we follow
  } else if (role == Role::kFollower || !SameBallot(b, my_ballot)) {
    return;   // a member's help for a campaign or leadership we no longer hold
  }
  if (m.last_slot() <= applied_through) return;
  InstallSnapshotLocal(m.last_slot(), m.membership());
  ready_snapshot = m;
}

void Node::Impl::OnTimeoutNow(uint32_t from, const pb::TimeoutNow& m) {
  // Only the leader we follow, at the ballot we promised, can hand its leadership over: a
  // stale or foreign TimeoutNow must not start elections that depose a working leader.
  if (role != Role::kFollower || !leader.has_value() || ToInt(*leader) != from ||
      Compare(m.ballot(), promised) != 0 || !SelfVotes()) {
    log->debug("ignored timeout_now from={} ballot={}.{}", from, m.ballot().round(),
               m.ballot().node_id());
    return;
  }
  log->info("leader {} handed leadership over: campaigning now", from);
  StartCampaign(/*transfer=*/true);
}

}  // namespace paxoskv::paxos

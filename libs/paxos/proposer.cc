// Proposer role of Node: elections (phase 1 once for all future slots), recovery of open slots,
// batching and pipelining of client commands (phase 2), heartbeats, retransmission and
// read-index confirmation. Not thread-safe: part of Node.
#include <algorithm>
#include <utility>

#include "libs/common/check.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/limits.h"
#include "libs/paxos/node_impl.h"
#include "libs/paxos/quorum.h"

namespace paxoskv::paxos {

namespace pb = ::paxoskv::v1;

void Node::Impl::StartCampaign() {
  if (role == Role::kLeader) StepDown("campaign");
  role = Role::kCandidate;
  my_ballot = MakeBallot(std::max(max_round_seen, promised.round()) + 1, self);
  SetPromised(my_ballot);
  leader.reset();
  promises.clear();
  prepare_from_slot = chosen_through + 1;
  // Our own promise, as an acceptor of our own ballot.
  pb::Promise own;
  *own.mutable_ballot() = my_ballot;
  own.set_ok(true);
  own.set_chosen_through(chosen_through);
  for (auto it = log_slots.lower_bound(prepare_from_slot); it != log_slots.end(); ++it) {
    *own.add_accepted() = FullEntry(it->second);
  }
  promises[self] = std::move(own);
  ResetElectionTimer();
  log->info("campaign ballot={}.{} from_slot={}", my_ballot.round(), my_ballot.node_id(),
            prepare_from_slot);
  prepare_sent_tick = now_tick;
  for (uint32_t m : members) {
    if (m != self) SendPrepare(m);
  }
  if (promises.size() >= Majority()) BecomeLeader();
}

void Node::Impl::SendPrepare(uint32_t to) {
  pb::PaxosMessage msg;
  *msg.mutable_prepare()->mutable_ballot() = my_ballot;
  msg.mutable_prepare()->set_from_slot(prepare_from_slot);
  Send(to, std::move(msg));
}

void Node::Impl::TickCandidate() {
  ++election_elapsed;
  if (campaign_requested || election_elapsed >= election_timeout) {
    StartCampaign();  // no majority in time: try again with a higher round
    return;
  }
  if (now_tick - prepare_sent_tick >= RetransmitTicks()) {
    prepare_sent_tick = now_tick;
    for (uint32_t m : members) {
      if (m != self && !promises.contains(m)) SendPrepare(m);
    }
  }
}

void Node::Impl::OnPromise(uint32_t from, const pb::Promise& m) {
  log->debug("promise from={} ballot={}.{} ok={} entries={}", from, m.ballot().round(),
             m.ballot().node_id(), m.ok(), m.accepted_size());
  if (!m.ok()) NoteRound(m.promised().round());
  if (role != Role::kCandidate || !SameBallot(m.ballot(), my_ballot)) return;  // stale
  if (!m.ok()) {
    if (Compare(m.promised(), my_ballot) > 0) StepDown("prepare rejected");
    return;
  }
  promises[from] = m;
  if (promises.size() >= Majority()) BecomeLeader();
}

void Node::Impl::BecomeLeader() {
  PAXOSKV_CHECK(SameBallot(promised, my_ballot)) << "leading without our own promise";
  role = Role::kLeader;
  leader = static_cast<NodeId>(self);
  chosen_progress_tick = now_tick;
  chosen_progress_through = chosen_through;
  proposals.clear();
  pending.clear();
  peers.clear();
  heartbeat_elapsed = 0;
  quorum_checked_tick = now_tick;
  chosen_through_at_tick = chosen_through;
  chosen_through_settled = chosen_through;
  for (uint32_t m : members) {
    if (m == self) continue;
    PeerProgress& p = peers[m];
    p.last_heard_tick = now_tick;   // a full window of grace after winning
    if (auto it = promises.find(m); it != promises.end()) {
      p.chosen_through = it->second.chosen_through();
    }
  }

  // Recovery of every open slot above what we know is chosen.
  //  - A slot some promiser knows chosen (slot <= its chosen_through) takes that promiser's
  //    value; if it compacted the entry we leave the slot alone and learn it (catch-up).
  //  - Other slots take the value with the highest ballot reported, or a no-op.
  // A slot that is chosen but compacted at the one promiser that saw it chosen is still safe:
  // we never propose at a slot <= any promiser's chosen_through without its chosen value.
  struct Candidate {
    const pb::Entry* highest = nullptr;
    const pb::Entry* chosen = nullptr;
  };
  std::map<SlotId, Candidate> slots;
  SlotId max_chosen = chosen_through;
  SlotId max_slot = chosen_through;
  for (const auto& [node, p] : promises) {
    max_chosen = std::max<SlotId>(max_chosen, p.chosen_through());
    for (const pb::Entry& e : p.accepted()) {
      if (e.slot() <= chosen_through) continue;
      max_slot = std::max<SlotId>(max_slot, e.slot());
      Candidate& c = slots[e.slot()];
      if (c.highest == nullptr || Compare(e.ballot(), c.highest->ballot()) > 0) c.highest = &e;
      if (e.slot() <= p.chosen_through()) c.chosen = &e;
    }
  }
  const SlotId last = std::max(max_slot, max_chosen);
  std::vector<pb::Entry> recovered;
  size_t skipped = 0;
  for (SlotId s = chosen_through + 1; s <= last; ++s) {
    if (s <= max_chosen && !slots.contains(s) && !log_slots.contains(s)) {
      // Chosen elsewhere, and nobody here holds a value: learn it (see below). Jump to the
      // next slot anyone reported, without walking a long gap one slot at a time.
      SlotId next = max_chosen + 1;
      if (auto it = slots.upper_bound(s); it != slots.end()) next = std::min(next, it->first);
      if (auto it = log_slots.upper_bound(s); it != log_slots.end()) {
        next = std::min(next, it->first);
      }
      skipped += next - s;
      s = next - 1;
      continue;
    }
    auto own = log_slots.find(s);
    const bool own_chosen = own != log_slots.end() && own->second.chosen;
    auto it = slots.find(s);
    const Candidate* c = it == slots.end() ? nullptr : &it->second;
    pb::Value value;
    bool known_chosen = false;
    if (own_chosen) {
      value = FullEntry(own->second).value();
      known_chosen = true;
    } else if (c != nullptr && c->chosen != nullptr) {
      value = c->chosen->value();
      known_chosen = true;
    } else if (s <= max_chosen) {
      ++skipped;  // chosen elsewhere, value compacted away there: learn it instead
      continue;
    } else if (c != nullptr && c->highest != nullptr) {
      value = c->highest->value();
    }  // else: nobody accepted anything here; a no-op fills the hole
    StoreEntry(s, my_ballot, value, known_chosen);
    pb::Entry e;
    e.set_slot(s);
    *e.mutable_ballot() = my_ballot;
    *e.mutable_value() = std::move(value);
    if (!known_chosen) {
      Proposal& prop = proposals[s];
      prop.acked.assign(members.size(), false);
      prop.acked[self_index] = true;
      prop.ack_count = 1;
      prop.sent_tick = now_tick;
    }
    recovered.push_back(std::move(e));
  }
  next_slot = last + 1;
  promises.clear();
  log->info("became leader ballot={}.{} from_slot={} recovered={} skipped={} next_slot={}",
            my_ballot.round(), my_ballot.node_id(), chosen_through + 1, recovered.size(), skipped,
            next_slot);
  for (auto it = proposals.begin(); it != proposals.end();) {
    SlotId s = it->first;
    ++it;
    if (proposals.at(s).ack_count >= Majority()) {
      log_slots[s].chosen = true;
      proposals.erase(s);
    }
  }
  AdvanceChosenThrough();
  for (uint32_t m : members) {
    if (m != self) SendAccept(m, recovered);
  }
}

void Node::Impl::StepDown(const char* reason) {
  if (role == Role::kFollower) return;
  log->info("stepped down from {} ballot={}.{} reason={} dropped_pending={}",
            role == Role::kLeader ? "leader" : "candidate", my_ballot.round(),
            my_ballot.node_id(), reason, pending.size());
  for (const PendingRead& r : reads_waiting) ready_reads_failed.push_back(r.id);
  reads_waiting.clear();
  pending.clear();
  proposals.clear();
  promises.clear();
  peers.clear();
  role = Role::kFollower;
  leader.reset();
  ResetElectionTimer();
}

bool Node::Impl::CanFlushProposals() const {
  return role == Role::kLeader && !pending.empty() && proposals.size() < config.inflight_slots_max;
}

void Node::Impl::FlushProposals() {
  std::vector<pb::Entry> fresh;
  while (CanFlushProposals()) {
    pb::Entry e;
    e.set_slot(next_slot++);
    *e.mutable_ballot() = my_ballot;
    size_t bytes = 0;
    while (!pending.empty() && static_cast<size_t>(e.value().commands_size()) <
                                   config.batch_commands_max) {
      const size_t size = pending.front().ByteSizeLong();
      if (e.value().commands_size() > 0 && bytes + size > config.batch_bytes_max) break;
      bytes += size;
      *e.mutable_value()->add_commands() = std::move(pending.front());
      pending.pop_front();
    }
    StoreEntry(e.slot(), my_ballot, e.value(), /*chosen=*/false);
    Proposal& prop = proposals[e.slot()];
    prop.acked.assign(members.size(), false);
    prop.acked[self_index] = true;
    prop.ack_count = 1;
    prop.sent_tick = now_tick;
    log->debug("proposed slot={} commands={} bytes={}", e.slot(), e.value().commands_size(),
               bytes);
    if (prop.ack_count >= Majority()) {  // a group of one
      log_slots[e.slot()].chosen = true;
      proposals.erase(e.slot());
    }
    fresh.push_back(std::move(e));
  }
  if (fresh.empty()) return;
  AdvanceChosenThrough();
  for (uint32_t m : members) {
    if (m != self) SendAccept(m, fresh, /*fresh=*/true);
  }
}

void Node::Impl::SendAccept(uint32_t to, std::vector<pb::Entry> entries, bool fresh) {
  std::vector<pb::Entry> part;
  size_t bytes = 0;
  for (pb::Entry& e : entries) {
    const size_t size = e.ByteSizeLong();
    if (!part.empty() &&
        (bytes + size > kMessageEntryBytesTarget || part.size() >= kEntriesPerMessageMax)) {
      SendOneAccept(to, std::move(part), fresh);
      part.clear();
      bytes = 0;
    }
    bytes += size;
    part.push_back(std::move(e));
  }
  SendOneAccept(to, std::move(part), fresh);
}

void Node::Impl::SendOneAccept(uint32_t to, std::vector<pb::Entry> entries, bool fresh) {
  pb::PaxosMessage msg;
  pb::Accept* a = msg.mutable_accept();
  *a->mutable_ballot() = my_ballot;
  for (pb::Entry& e : entries) *a->add_entries() = std::move(e);
  a->set_chosen_through(chosen_through);
  a->set_heartbeat_id(++heartbeat_counter);
  if (fresh) {
    msg.set_from(self);
    msg.set_to(to);
    ready_proposals.push_back(std::move(msg));
    return;
  }
  Send(to, std::move(msg));
}

void Node::Impl::SendHeartbeats() {
  heartbeat_elapsed = 0;
  for (uint32_t m : members) {
    if (m != self) SendAccept(m, {});
  }
}

void Node::Impl::RetransmitAccepts() {
  std::map<uint32_t, std::vector<pb::Entry>> per_peer;
  for (auto& [slot, prop] : proposals) {
    if (now_tick - prop.sent_tick < RetransmitTicks()) continue;
    auto ls = log_slots.find(slot);
    if (ls == log_slots.end()) continue;
    prop.sent_tick = now_tick;
    for (size_t i = 0; i < members.size(); ++i) {
      if (!prop.acked[i]) per_peer[members[i]].push_back(FullEntry(ls->second));
    }
  }
  for (auto& [peer, entries] : per_peer) {
    log->debug("retransmit accept to={} entries={}", peer, entries.size());
    SendAccept(peer, std::move(entries));
  }
}

void Node::Impl::TickLeader() {
  chosen_through_settled = chosen_through_at_tick;
  chosen_through_at_tick = chosen_through;
  if (++heartbeat_elapsed >= config.heartbeat_ticks) SendHeartbeats();
  RetransmitAccepts();
  CheckQuorum();
  if (role == Role::kLeader) CheckProgress();
}

void Node::Impl::CheckProgress() {
  const bool open = next_slot - 1 > chosen_through;
  if (!open || chosen_through != chosen_progress_through) {
    chosen_progress_through = chosen_through;
    chosen_progress_tick = now_tick;
    return;
  }
  const int64_t window = 2 * static_cast<int64_t>(std::max(1, config.election_timeout_ticks));
  if (now_tick - chosen_progress_tick < window) return;
  log->warn("no slot chosen for {} ticks with slots open (chosen_through={} next_slot={}): "
            "campaigning again",
            now_tick - chosen_progress_tick, chosen_through, next_slot);
  StepDown("no progress");
  StartCampaign();
}

void Node::Impl::CheckQuorum() {
  const int64_t window = 2 * static_cast<int64_t>(std::max(1, config.election_timeout_ticks));
  if (now_tick - quorum_checked_tick < window) return;
  quorum_checked_tick = now_tick;
  size_t heard = 1;  // ourselves
  for (const auto& [id, peer] : peers) {
    if (now_tick - peer.last_heard_tick < window) ++heard;
  }
  if (heard < Majority()) StepDown("lost quorum");
}

void Node::Impl::AckProposal(SlotId slot, uint32_t from) {
  auto it = proposals.find(slot);
  if (it == proposals.end()) return;
  Proposal& prop = it->second;
  const size_t i = MemberIndex(from);
  if (prop.acked[i]) return;
  prop.acked[i] = true;
  if (++prop.ack_count >= Majority()) {
    auto ls = log_slots.find(slot);
    if (ls != log_slots.end()) ls->second.chosen = true;
    proposals.erase(it);
  }
}

void Node::Impl::OnAccepted(uint32_t from, const pb::Accepted& m) {
  log->debug("accepted from={} ballot={}.{} ok={} slots={} chosen_through={}", from,
             m.ballot().round(), m.ballot().node_id(), m.ok(), m.slots_size(),
             m.chosen_through());
  if (!m.ok()) NoteRound(m.promised().round());
  if (role != Role::kLeader || !SameBallot(m.ballot(), my_ballot)) return;  // stale
  if (!m.ok()) {
    if (Compare(m.promised(), my_ballot) > 0) StepDown("accept rejected");
    return;
  }
  PeerProgress& peer = peers[from];
  peer.last_heard_tick = now_tick;
  peer.chosen_through = m.chosen_through();
  peer.acked_heartbeat_id = std::max(peer.acked_heartbeat_id, m.heartbeat_id());
  for (uint64_t slot : m.slots()) AckProposal(slot, from);
  AdvanceChosenThrough();
  CheckReads();
  MaybeSendLearn(from);
}

void Node::Impl::CheckReads() {
  if (role != Role::kLeader || reads_waiting.empty()) return;
  std::vector<uint64_t> acked;
  acked.push_back(UINT64_MAX);  // ourselves
  for (const auto& [id, p] : peers) acked.push_back(p.acked_heartbeat_id);
  const uint64_t confirmed = QuorumValue(std::move(acked));
  bool any = false;
  while (!reads_waiting.empty() &&
         reads_waiting.front().registered_after_heartbeat_id < confirmed) {
    ready_reads.push_back(
        ReadState{.id = reads_waiting.front().id, .read_slot = reads_waiting.front().read_slot});
    reads_waiting.pop_front();
    any = true;
  }
  // Reads registered while that round was in flight need a round of their own.
  if (any && !reads_waiting.empty() &&
      reads_waiting.back().registered_after_heartbeat_id >= heartbeat_counter) {
    SendHeartbeats();
  }
}

}  // namespace paxoskv::paxos

// Proposer role of Node: elections (phase 1 once for all future slots), recovery of open slots,
// batching and pipelining of client commands (phase 2), heartbeats, retransmission and
// read-index confirmation. Not thread-safe: part of Node.
#include <algorithm>
#include <utility>

#include "libs/common/check.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/limits.h"
#include "libs/paxos/node_impl.h"

namespace paxoskv::paxos {

namespace pb = ::paxoskv::v1;

std::set<uint32_t> Node::Impl::PromiseIds() const {
  std::set<uint32_t> ids;
  for (const auto& [id, promise] : promises) ids.insert(id);
  return ids;
}

void Node::Impl::StartCampaign(bool transfer) {
  if (role == Role::kLeader) StepDown("campaign");
  if (!SelfVotes()) {
    StepDown("not a voter");
    return;
  }
  role = Role::kCandidate;
  prepare_transfer = transfer;
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
  log->info("campaign ballot={}.{} from_slot={} membership={}", my_ballot.round(),
            my_ballot.node_id(), prepare_from_slot, current().ToString());
  prepare_sent_tick = now_tick;
  for (uint32_t m : current().Others(self)) SendPrepare(m);
  if (current().IsQuorum(PromiseIds())) BecomeLeader();
}

void Node::Impl::SendPrepare(uint32_t to) {
  pb::PaxosMessage msg;
  *msg.mutable_prepare()->mutable_ballot() = my_ballot;
  msg.mutable_prepare()->set_from_slot(prepare_from_slot);
  msg.mutable_prepare()->set_transfer(prepare_transfer);
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
    for (uint32_t m : current().Others(self)) {
      if (!promises.contains(m)) SendPrepare(m);
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
  if (current().IsQuorum(PromiseIds())) BecomeLeader();
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
  fence = 0;
  fence_proposed = false;
  pending_membership.reset();
  heartbeat_elapsed = 0;
  quorum_checked_tick = now_tick;
  chosen_through_at_tick = chosen_through;
  chosen_through_settled = chosen_through;
  for (uint32_t m : current().Others(self)) {
    PeerProgress& p = peers[m];
    p.last_heard_tick = now_tick;   // a full window of grace after winning
    if (auto it = promises.find(m); it != promises.end()) {
      p.chosen_through = it->second.chosen_through();
    }
  }

  // Recovery of every open slot above what we know is chosen, in slot order.
  //  - A slot some promiser knows chosen (slot <= its chosen_through) takes that promiser's
  //    value; if it compacted the entry, recovery stops there and we learn it (catch-up).
  //  - Other slots take the value with the highest ballot reported, or a no-op.
  //  - Recovery stops after a membership change: the slots above it belong to the new
  //    membership, whose quorum our Prepare may not have reached.
  // Where it stops is the fence: nothing is proposed above it until every slot up to it is
  // chosen, and then we campaign again under the membership then in effect (a slot we must
  // learn may hold a membership change we do not know of). We never propose at a slot <= any
  // promiser's chosen_through without its chosen value.
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
  SlotId s = chosen_through + 1;
  for (; s <= last; ++s) {
    if (s <= max_chosen && !slots.contains(s) && !log_slots.contains(s)) {
      fence = max_chosen;  // chosen elsewhere, and nobody here holds a value: learn it
      break;
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
      fence = max_chosen;  // chosen elsewhere, value compacted away there: learn it
      break;
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
      prop.acked.insert(self);
      prop.sent_tick = now_tick;
    }
    const bool membership = e.value().has_membership();
    recovered.push_back(std::move(e));
    if (membership) {
      fence = s;
      ++s;
      break;
    }
  }
  next_slot = s;
  promises.clear();
  log->info("became leader ballot={}.{} from_slot={} recovered={} next_slot={} fence={}",
            my_ballot.round(), my_ballot.node_id(), chosen_through + 1, recovered.size(), next_slot,
            fence);
  for (auto it = proposals.begin(); it != proposals.end();) {
    const SlotId slot = it->first;
    ++it;
    if (current().IsQuorum(proposals.at(slot).acked)) {
      log_slots[slot].chosen = true;
      proposals.erase(slot);
    }
  }
  AdvanceChosenThrough();
  for (uint32_t m : current().Others(self)) SendAccept(m, recovered);
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

absl::StatusOr<uint32_t> Node::Impl::TransferLeadership() {
  if (role != Role::kLeader) return absl::FailedPreconditionError("not leader");
  // The voter most likely to win at once and to need the least catch-up: heard from within
  // an election timeout (it is alive and follows us), with the longest chosen prefix.
  uint32_t to = 0;
  SlotId to_chosen = 0;
  for (uint32_t v : current().voters()) {
    auto it = peers.find(v);
    if (v == self || it == peers.end()) continue;
    if (now_tick - it->second.last_heard_tick >= config.election_timeout_ticks) continue;
    if (to == 0 || it->second.chosen_through > to_chosen) {
      to = v;
      to_chosen = it->second.chosen_through;
    }
  }
  if (to == 0) {
    return absl::FailedPreconditionError(
        "no other voter was heard from within an election timeout to hand leadership to");
  }
  pb::PaxosMessage message;
  *message.mutable_timeout_now()->mutable_ballot() = my_ballot;
  Send(to, std::move(message));
  log->info("handing leadership to {} (chosen through {}, ours {})", to, to_chosen, chosen_through);
  StepDown("leadership handed over");
  return to;
}

bool Node::Impl::CanFlushProposals() const {
  return role == Role::kLeader && fence == 0 && proposals.size() < config.inflight_slots_max &&
         (!pending.empty() || NextMembership().has_value());
}

std::optional<pb::Membership> Node::Impl::NextMembership() const {
  if (!current().pinned()) {
    // The founding entry: the founding voters by the incarnations they answered with (those
    // not heard from yet are pinned by a later one, once they are).
    std::vector<std::pair<uint32_t, uint64_t>> heard(heard_incarnations.begin(),
                                                     heard_incarnations.end());
    heard.emplace_back(self, incarnation);
    absl::StatusOr<pb::Membership> pinned = PinIncarnations(current(), heard);
    if (pinned.ok()) return *std::move(pinned);
  }
  if (pending_membership.has_value()) return pending_membership;
  // A learner added to be promoted becomes a voter once it holds what was chosen a tick ago.
  for (const pb::Member& m : current().membership().members()) {
    if (!m.learner() || !m.promote()) continue;
    auto peer = peers.find(m.id());
    auto heard = heard_incarnations.find(m.id());
    if (peer == peers.end() || heard == heard_incarnations.end() ||
        peer->second.chosen_through < chosen_through_settled || chosen_through_settled == 0) {
      continue;
    }
    ConfChange promote;
    promote.type = ConfChange::Type::kPromote;
    promote.id = m.id();
    promote.incarnation = heard->second;
    absl::StatusOr<pb::Membership> promoted = ApplyConfChange(current(), promote);
    if (promoted.ok()) return *std::move(promoted);
  }
  return std::nullopt;
}

void Node::Impl::FlushProposals() {
  std::vector<pb::Entry> fresh;
  while (CanFlushProposals()) {
    pb::Entry e;
    e.set_slot(next_slot++);
    *e.mutable_ballot() = my_ballot;
    size_t bytes = 0;
    if (std::optional<pb::Membership> membership = NextMembership(); membership.has_value()) {
      // Alone in its slot, and the last slot proposed until it is chosen (the fence).
      *e.mutable_value()->mutable_membership() = *std::move(membership);
      pending_membership.reset();
      fence = e.slot();
      fence_proposed = true;
      log->info("proposed membership slot={}", e.slot());
    }
    while (fence == 0 && !pending.empty() &&
           static_cast<size_t>(e.value().commands_size()) < config.batch_commands_max) {
      const size_t size = pending.front().ByteSizeLong();
      if (e.value().commands_size() > 0 && bytes + size > config.batch_bytes_max) break;
      bytes += size;
      *e.mutable_value()->add_commands() = std::move(pending.front());
      pending.pop_front();
    }
    StoreEntry(e.slot(), my_ballot, e.value(), /*chosen=*/false);
    Proposal& prop = proposals[e.slot()];
    prop.acked.insert(self);
    prop.sent_tick = now_tick;
    log->debug("proposed slot={} commands={} bytes={}", e.slot(), e.value().commands_size(),
               bytes);
    if (current().IsQuorum(prop.acked)) {  // a group of one
      log_slots[e.slot()].chosen = true;
      proposals.erase(e.slot());
    }
    fresh.push_back(std::move(e));
  }
  if (fresh.empty()) return;
  AdvanceChosenThrough();
  for (uint32_t m : current().Others(self)) SendAccept(m, fresh, /*fresh=*/true);
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
    Address(to, msg);
    ready_proposals.push_back(std::move(msg));
    return;
  }
  Send(to, std::move(msg));
}

void Node::Impl::SendHeartbeats() {
  heartbeat_elapsed = 0;
  for (uint32_t m : current().Others(self)) SendAccept(m, {});
}

void Node::Impl::RetransmitAccepts() {
  std::map<uint32_t, std::vector<pb::Entry>> per_peer;
  for (auto& [slot, prop] : proposals) {
    if (now_tick - prop.sent_tick < RetransmitTicks()) continue;
    auto ls = log_slots.find(slot);
    if (ls == log_slots.end()) continue;
    prop.sent_tick = now_tick;
    for (uint32_t m : current().Others(self)) {
      if (!prop.acked.contains(m)) per_peer[m].push_back(FullEntry(ls->second));
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
  const bool open = next_slot - 1 > chosen_through || fence > chosen_through;
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
  std::set<uint32_t> heard = {self};
  for (const auto& [id, peer] : peers) {
    if (now_tick - peer.last_heard_tick < window) heard.insert(id);
  }
  if (!current().IsQuorum(heard)) StepDown("lost quorum");
}

void Node::Impl::AckProposal(SlotId slot, uint32_t from) {
  auto it = proposals.find(slot);
  if (it == proposals.end()) return;
  Proposal& prop = it->second;
  if (!prop.acked.insert(from).second) return;
  if (current().IsQuorum(prop.acked)) {
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

uint64_t Node::Impl::QuorumHeartbeat() const {
  std::vector<uint64_t> acked;
  for (uint32_t v : current().voters()) {
    if (v == self) {
      acked.push_back(UINT64_MAX);
    } else if (auto it = peers.find(v); it != peers.end()) {
      acked.push_back(it->second.acked_heartbeat_id);
    } else {
      acked.push_back(0);
    }
  }
  std::sort(acked.begin(), acked.end(), std::greater<uint64_t>());
  return acked[current().QuorumSize() - 1];
}

void Node::Impl::CheckReads() {
  // Behind a fence it did not propose, the leader may not know every slot chosen before it
  // was elected (slots a promiser alone held, or above a membership change it recovered): a
  // read waits, and fails when the leader campaigns again at the fence.
  if (role != Role::kLeader || reads_waiting.empty() || (fence != 0 && !fence_proposed)) return;
  const uint64_t confirmed = QuorumHeartbeat();
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

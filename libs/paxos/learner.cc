// Learner role of Node: which slots are chosen, the contiguous chosen prefix, catch-up of
// lagging replicas (Learn / InstallSnapshot) and handing chosen entries out in slot order,
// never past a hole. Not thread-safe: part of Node.
#include <algorithm>
#include <utility>

#include "libs/common/check.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/limits.h"
#include "libs/paxos/node_impl.h"

namespace paxoskv::paxos {

namespace pb = ::paxoskv::v1;

void Node::Impl::MarkChosenAtBallot(const pb::Ballot& b, SlotId through) {
  // Only an entry accepted at the leader's current ballot is the value the leader saw chosen;
  // an entry from an older ballot may be stale and must be fetched through Learn.
  for (auto it = log_slots.upper_bound(chosen_through);
       it != log_slots.end() && it->first <= through; ++it) {
    if (!it->second.chosen && SameBallot(it->second.entry.ballot(), b)) {
      it->second.chosen = true;
    }
  }
  AdvanceChosenThrough();
}

void Node::Impl::AdvanceChosenThrough() {
  const SlotId before = chosen_through;
  for (auto it = log_slots.upper_bound(chosen_through);
       it != log_slots.end() && it->first == chosen_through + 1 && it->second.chosen; ++it) {
    ++chosen_through;
    NoteChosenSlot(it->second);
  }
  if (chosen_through != before) {
    log->debug("chosen_through={} (was {})", chosen_through, before);
  }
}

bool Node::Impl::BuildLearn(SlotId after, pb::Learn* learn) const {
  if (after < compacted_through) return false;
  const SlotId last = std::min<SlotId>(chosen_through, after + config.learn_entries_max);
  size_t bytes = 0;
  for (auto it = log_slots.upper_bound(after); it != log_slots.end() && it->first <= last; ++it) {
    PAXOSKV_CHECK(it->second.chosen) << "slot " << it->first << " below chosen_through";
    pb::Entry entry = FullEntry(it->second);
    bytes += entry.ByteSizeLong();
    if (learn->entries_size() > 0 && bytes > kMessageEntryBytesTarget) break;
    *learn->add_entries() = std::move(entry);
  }
  learn->set_chosen_through(chosen_through);
  return true;
}

void Node::Impl::MaybeSendLearn(uint32_t peer_id) {
  PeerProgress& peer = peers[peer_id];
  // Slots chosen in the last tick or two reach a follower that has their values through the
  // next Accept (its chosen_through): a Learn would resend whole entries it already holds.
  if (peer.chosen_through >= chosen_through_settled) return;
  const bool previous_arrived = peer.chosen_through >= peer.learn_sent_through;
  const int64_t since = now_tick - peer.learn_sent_tick;
  const bool snapshot = peer.chosen_through < compacted_through;
  // At most one catch-up message per follower per tick, and none while the previous one may
  // still be in flight (snapshots are heavy: wait longer for those).
  const int64_t wait = snapshot ? std::max(config.election_timeout_ticks, RetransmitTicks())
                                : (previous_arrived ? 1 : RetransmitTicks());
  if (since < wait) return;
  peer.learn_sent_tick = now_tick;
  pb::PaxosMessage msg;
  if (snapshot) {
    pb::InstallSnapshot* s = msg.mutable_install_snapshot();
    *s->mutable_ballot() = my_ballot;
    s->set_last_slot(compacted_through);
    peer.learn_sent_through = compacted_through;
    log->debug("install_snapshot to={} last_slot={}", peer_id, compacted_through);
  } else {
    pb::Learn* l = msg.mutable_learn();
    *l->mutable_ballot() = my_ballot;
    BuildLearn(peer.chosen_through, l);
    peer.learn_sent_through =
        l->entries_size() > 0 ? l->entries(l->entries_size() - 1).slot() : chosen_through;
    log->debug("learn to={} entries={} from_slot={}", peer_id, l->entries_size(),
               peer.chosen_through + 1);
  }
  Send(peer_id, std::move(msg));
}

void Node::Impl::MaybeHelpLeader(uint32_t leader_id, const pb::Ballot& b, SlotId leader_chosen) {
  // The leader knows less than we do (e.g. it restarted and lost its lazily persisted
  // chosen_through, or skipped slots whose values were compacted away): teach it.
  if (now_tick - help_sent_tick < RetransmitTicks()) return;
  help_sent_tick = now_tick;
  pb::PaxosMessage msg;
  if (leader_chosen < compacted_through) {
    pb::InstallSnapshot* s = msg.mutable_install_snapshot();
    *s->mutable_ballot() = b;
    s->set_last_slot(compacted_through);
  } else {
    pb::Learn* l = msg.mutable_learn();
    *l->mutable_ballot() = b;
    BuildLearn(leader_chosen, l);
    l->set_chosen_through(0);  // our chosen prefix is not the leader's to adopt by ballot
  }
  log->debug("helping leader={} from_slot={}", leader_id, leader_chosen + 1);
  Send(leader_id, std::move(msg));
}

void Node::Impl::InstallSnapshotLocal(SlotId last_slot, const pb::Membership& membership) {
  log->info("installing snapshot last_slot={} (applied_through was {})", last_slot,
            applied_through);
  // Memberships of the slots the snapshot covers give way to the one it records (none: none
  // was chosen at or below last_slot, and the one in effect there still holds). Ours above
  // last_slot (slots we know chosen but have not applied) stay.
  const std::vector<uint32_t> voters_before = current().voters();
  auto above = configs.upper_bound(last_slot);
  Configuration at = std::prev(above)->second;
  if (membership.members_size() > 0) {
    absl::StatusOr<Configuration> recorded = Configuration::Make(membership);
    PAXOSKV_CHECK(recorded.ok()) << "Validate let an invalid snapshot membership through";
    at = *std::move(recorded);
  }
  configs.erase(configs.begin(), above);
  configs.emplace(last_slot, std::move(at));
  if (current().voters() != voters_before) voters_changed = true;
  applied_through = last_slot;
  compacted_through = std::max(compacted_through, last_slot);
  chosen_through = std::max(chosen_through, last_slot);
  log_slots.erase(log_slots.begin(), log_slots.upper_bound(last_slot));
  if (role == Role::kLeader) {
    proposals.erase(proposals.begin(), proposals.upper_bound(last_slot));
    next_slot = std::max(next_slot, last_slot + 1);
  }
  AdvanceChosenThrough();
}

std::vector<pb::Entry> Node::Impl::TakeChosen() {
  std::vector<pb::Entry> out;
  while (applied_through < chosen_through) {
    auto it = log_slots.find(applied_through + 1);
    PAXOSKV_CHECK(it != log_slots.end() && it->second.chosen)
        << "chosen slot " << applied_through + 1 << " missing";
    out.push_back(FullEntry(it->second));
    Pack(it->second);
    ++applied_through;
  }
  return out;
}

}  // namespace paxoskv::paxos

// Node: the public API of the Multi-Paxos core (see node.h), input validation, timers and
// Ready assembly. The protocol roles live in acceptor.cc, proposer.cc and learner.cc.
// Not thread-safe: exactly one owner calls a Node.
#include "libs/paxos/node.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/invariants.h"
#include "libs/paxos/node_impl.h"
#include "libs/paxos/quorum.h"

namespace paxoskv::paxos {

namespace pb = ::paxoskv::v1;

int CompareBallots(const pb::Ballot& a, const pb::Ballot& b) { return Compare(a, b); }
bool BallotLess(const pb::Ballot& a, const pb::Ballot& b) { return Compare(a, b) < 0; }

Node::Impl::Impl(const NodeConfig& c) : config(c), log(c.logger) {}
Node::Impl::~Impl() = default;

bool Node::Impl::IsMember(uint32_t id) const {
  return std::binary_search(members.begin(), members.end(), id);
}

size_t Node::Impl::MemberIndex(uint32_t id) const {
  auto it = std::lower_bound(members.begin(), members.end(), id);
  PAXOSKV_CHECK(it != members.end() && *it == id) << "not a member: " << id;
  return static_cast<size_t>(it - members.begin());
}

size_t Node::Impl::Majority() const { return MajoritySize(members.size()); }

pb::Entry Node::Impl::FullEntry(const LogSlot& slot) const {
  pb::Entry entry = slot.entry;
  if (slot.packed) {
    PAXOSKV_CHECK(entry.mutable_value()->ParseFromString(slot.packed_value))
        << "packed value of slot " << entry.slot() << " does not parse";
  }
  return entry;
}

void Node::Impl::Pack(LogSlot& slot) {
  if (slot.packed) return;
  slot.packed_value = slot.entry.value().SerializeAsString();
  slot.entry.clear_value();
  slot.packed = true;
}

int Node::Impl::RetransmitTicks() const { return std::max(1, config.retransmit_ticks); }

void Node::Impl::Send(uint32_t to, pb::PaxosMessage message) {
  message.set_from(self);
  message.set_to(to);
  ready_messages.push_back(std::move(message));
}

void Node::Impl::NoteRound(uint64_t round) { max_round_seen = std::max(max_round_seen, round); }

void Node::Impl::ResetElectionTimer() {
  election_elapsed = 0;
  const int t = std::max(1, config.election_timeout_ticks);
  election_timeout = t + static_cast<int>(rng() % static_cast<uint64_t>(t));
}

void Node::Impl::DebugCheck() {
  if (debug_invariants == nullptr) return;
  // Invariants reads the Node through its Impl; see invariants.h.
  absl::Status s = debug_invariants->CheckImpl(*this);
  PAXOSKV_CHECK(s.ok()) << s.ToString();
}

namespace {

absl::Status Invalid(const std::string& what) { return absl::InvalidArgumentError(what); }

bool ValidBallot(const pb::Ballot& b) { return b.round() > 0 && b.node_id() > 0; }

}  // namespace

absl::Status Node::Impl::Validate(const pb::PaxosMessage& m) const {
  if (m.to() != self) return Invalid(absl::StrCat("message to ", m.to(), " delivered to ", self));
  if (m.from() == self || !IsMember(m.from())) {
    return Invalid(absl::StrCat("message from non-member ", m.from()));
  }
  auto entries_ok = [](const auto& entries) {
    for (const pb::Entry& e : entries) {
      if (e.slot() == 0) return false;
    }
    return true;
  };
  switch (m.body_case()) {
    case pb::PaxosMessage::kPrepare:
      if (!ValidBallot(m.prepare().ballot()) || m.prepare().ballot().node_id() != m.from()) {
        return Invalid("prepare needs the sender's ballot");
      }
      return absl::OkStatus();
    case pb::PaxosMessage::kPromise:
      if (!ValidBallot(m.promise().ballot()) || m.promise().ballot().node_id() != self) {
        return Invalid("promise must answer our ballot");
      }
      if (!m.promise().ok() && !ValidBallot(m.promise().promised())) {
        return Invalid("promise reject without promised ballot");
      }
      if (!entries_ok(m.promise().accepted())) return Invalid("entry slot 0");
      for (const pb::Entry& e : m.promise().accepted()) {
        if (!ValidBallot(e.ballot())) return Invalid("promise entry without ballot");
      }
      return absl::OkStatus();
    case pb::PaxosMessage::kAccept:
      if (!ValidBallot(m.accept().ballot()) || m.accept().ballot().node_id() != m.from()) {
        return Invalid("accept needs the sender's ballot");
      }
      if (!entries_ok(m.accept().entries())) return Invalid("entry slot 0");
      return absl::OkStatus();
    case pb::PaxosMessage::kAccepted:
      if (!ValidBallot(m.accepted().ballot()) || m.accepted().ballot().node_id() != self) {
        return Invalid("accepted must answer our ballot");
      }
      if (!m.accepted().ok() && !ValidBallot(m.accepted().promised())) {
        return Invalid("accepted reject without promised ballot");
      }
      return absl::OkStatus();
    case pb::PaxosMessage::kLearn:
      if (!ValidBallot(m.learn().ballot()) ||
          (m.learn().ballot().node_id() != m.from() && m.learn().ballot().node_id() != self)) {
        return Invalid("learn needs the leader's ballot");
      }
      if (!entries_ok(m.learn().entries())) return Invalid("entry slot 0");
      return absl::OkStatus();
    case pb::PaxosMessage::kInstallSnapshot:
      if (!ValidBallot(m.install_snapshot().ballot())) return Invalid("snapshot needs a ballot");
      if (m.install_snapshot().last_slot() == 0) return Invalid("snapshot at slot 0");
      return absl::OkStatus();
    case pb::PaxosMessage::BODY_NOT_SET:
      break;
  }
  return Invalid("message without body");
}

// ---------------------------------------------------------------------------------------------

Node::Node() = default;
Node::~Node() = default;

absl::StatusOr<std::unique_ptr<Node>> Node::Restore(const NodeConfig& config,
                                                    const DurableState& durable) {
  if (config.logger == nullptr) return Invalid("config.logger is required");
  if (ToInt(config.id) == 0) return Invalid("node id 0");
  std::vector<uint32_t> members;
  for (NodeId m : config.members) members.push_back(ToInt(m));
  std::sort(members.begin(), members.end());
  if (members.empty() || members.size() % 2 == 0) return Invalid("members must be an odd count");
  if (std::adjacent_find(members.begin(), members.end()) != members.end()) {
    return Invalid("duplicate member");
  }
  if (members.front() == 0) return Invalid("member id 0");
  if (!std::binary_search(members.begin(), members.end(), ToInt(config.id))) {
    return Invalid("config.members does not contain config.id");
  }
  if (config.batch_commands_max == 0 || config.inflight_slots_max == 0 ||
      config.learn_entries_max == 0 || config.heartbeat_ticks <= 0 ||
      config.election_timeout_ticks <= 0) {
    return Invalid("zero limit in config");
  }

  std::unique_ptr<Node> node(new Node());
  node->impl_ = std::make_unique<Impl>(config);
  Impl& n = *node->impl_;
  n.self = ToInt(config.id);
  n.members = members;
  n.self_index = n.MemberIndex(n.self);
  // Mix the seed with the node id so replicas sharing a seed still get different jitter.
  n.rng.seed(config.seed * 0x9E3779B97F4A7C15ULL + n.self);

  n.promised = durable.promised;
  n.max_round_seen = durable.promised.round();
  n.compacted_through = durable.snapshot_slot;
  n.applied_through = durable.snapshot_slot;
  n.chosen_through = std::max(durable.chosen_through, durable.snapshot_slot);
  for (const pb::Entry& e : durable.entries) {
    if (e.slot() == 0) return Invalid("durable entry at slot 0");
    if (Compare(e.ballot(), durable.promised) > 0) {
      return Invalid(absl::StrCat("durable entry slot ", e.slot(), " above promised ballot"));
    }
    if (e.slot() <= n.compacted_through) continue;
    n.NoteRound(e.ballot().round());
    LogSlot& ls = n.log_slots[e.slot()];
    ls.entry = e;
    ls.chosen = e.slot() <= n.chosen_through;
  }
  for (SlotId s = n.compacted_through + 1; s <= n.chosen_through; ++s) {
    if (!n.log_slots.contains(s)) {
      return Invalid(absl::StrCat("chosen_through ", n.chosen_through, " but slot ", s,
                                  " is missing"));
    }
  }
  n.reported_chosen_through = n.chosen_through;
  n.next_slot = n.chosen_through + 1;
  n.ResetElectionTimer();
#ifndef NDEBUG
  n.debug_invariants = std::make_unique<Invariants>();
#endif
  n.DebugCheck();
  n.log->info("restored node={} promised={}.{} chosen_through={} snapshot_slot={} entries={}",
              n.self, n.promised.round(), n.promised.node_id(), n.chosen_through,
              n.compacted_through, n.log_slots.size());
  return node;
}

absl::Status Node::Step(const pb::PaxosMessage& message) {
  Impl& n = *impl_;
  absl::Status valid = n.Validate(message);
  if (!valid.ok()) {
    n.log->debug("rejected malformed message from={}: {}", message.from(), std::string(valid.message()));
    return valid;
  }
  const uint32_t from = message.from();
  switch (message.body_case()) {
    case pb::PaxosMessage::kPrepare:
      n.OnPrepare(from, message.prepare());
      break;
    case pb::PaxosMessage::kPromise:
      n.OnPromise(from, message.promise());
      break;
    case pb::PaxosMessage::kAccept:
      n.OnAccept(from, message.accept());
      break;
    case pb::PaxosMessage::kAccepted:
      n.OnAccepted(from, message.accepted());
      break;
    case pb::PaxosMessage::kLearn:
      n.OnLearn(from, message.learn());
      break;
    case pb::PaxosMessage::kInstallSnapshot:
      n.OnInstallSnapshot(from, message.install_snapshot());
      break;
    case pb::PaxosMessage::BODY_NOT_SET:
      break;
  }
  n.DebugCheck();
  return absl::OkStatus();
}

void Node::Tick() {
  Impl& n = *impl_;
  ++n.now_tick;
  switch (n.role) {
    case Role::kLeader:
      n.TickLeader();
      break;
    case Role::kCandidate:
      n.TickCandidate();
      break;
    case Role::kFollower:
      ++n.election_elapsed;
      if (n.campaign_requested || n.election_elapsed >= n.election_timeout) n.StartCampaign();
      break;
  }
  n.campaign_requested = false;
  n.DebugCheck();
}

absl::Status Node::Propose(pb::Command command) {
  Impl& n = *impl_;
  if (n.role != Role::kLeader) return absl::FailedPreconditionError("not leader");
  if (n.pending.size() >= n.config.pending_commands_max) {
    return absl::ResourceExhaustedError("too many pending commands");
  }
  n.pending.push_back(std::move(command));
  return absl::OkStatus();
}

absl::Status Node::ReadIndex(uint64_t id) {
  Impl& n = *impl_;
  if (n.role != Role::kLeader) return absl::FailedPreconditionError("not leader");
  const bool start_round = n.reads_waiting.empty();
  n.reads_waiting.push_back(PendingRead{.id = id,
                                        .read_slot = n.next_slot - 1,
                                        .registered_after_heartbeat_id = n.heartbeat_counter});
  // One heartbeat round confirms every read registered before it; while a round is in flight,
  // new reads wait for the next one (sent when it completes, or by the periodic heartbeat).
  if (start_round) n.SendHeartbeats();
  n.CheckReads();
  return absl::OkStatus();
}

void Node::Compact(SlotId through) {
  Impl& n = *impl_;
  PAXOSKV_CHECK(through <= n.applied_through)
      << "compact through " << through << " beyond applied " << n.applied_through;
  if (through <= n.compacted_through) return;
  n.compacted_through = through;
  n.log_slots.erase(n.log_slots.begin(), n.log_slots.upper_bound(through));
  n.log->debug("compacted through={}", through);
}

void Node::Campaign() { impl_->campaign_requested = true; }

bool Node::HasReady() const {
  const Impl& n = *impl_;
  return n.ready_promised.has_value() || !n.ready_accepted.empty() ||
         n.chosen_through != n.reported_chosen_through || !n.ready_messages.empty() ||
         !n.ready_proposals.empty() ||
         n.ready_snapshot.has_value() || n.applied_through < n.chosen_through ||
         !n.ready_reads.empty() || !n.ready_reads_failed.empty() || n.CanFlushProposals();
}

Ready Node::TakeReady() {
  Impl& n = *impl_;
  n.FlushProposals();
  Ready r;
  r.promised = std::move(n.ready_promised);
  n.ready_promised.reset();
  r.accepted.reserve(n.ready_accepted.size());
  for (auto& [slot, e] : n.ready_accepted) r.accepted.push_back(std::move(e));
  n.ready_accepted.clear();
  if (n.chosen_through != n.reported_chosen_through) {
    r.chosen_through = n.chosen_through;
    n.reported_chosen_through = n.chosen_through;
  }
  r.messages = std::move(n.ready_messages);
  n.ready_messages.clear();
  // FlushProposals above is the only producer: see Ready::proposals for why this is safe.
  r.proposals = std::move(n.ready_proposals);
  n.ready_proposals.clear();
  r.snapshot = std::move(n.ready_snapshot);
  n.ready_snapshot.reset();
  r.chosen = n.TakeChosen();
  r.reads = std::move(n.ready_reads);
  n.ready_reads.clear();
  r.reads_failed = std::move(n.ready_reads_failed);
  n.ready_reads_failed.clear();
  n.DebugCheck();
  return r;
}

Status Node::status() const {
  const Impl& n = *impl_;
  Status s;
  s.role = n.role;
  s.ballot = n.promised;
  s.leader = n.leader;
  s.chosen_through = n.chosen_through;
  s.applied_through = n.applied_through;
  s.compacted_through = n.compacted_through;
  s.pending_commands = n.pending.size();
  return s;
}

}  // namespace paxoskv::paxos

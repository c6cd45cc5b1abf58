// Node: the public API of the Multi-Paxos core (see node.h), input validation, timers and
// Ready assembly. The protocol roles live in acceptor.cc, proposer.cc and learner.cc.
// Not thread-safe: exactly one owner calls a Node.
#include "libs/paxos/node.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/common/status_macros.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/invariants.h"
#include "libs/paxos/limits.h"
#include "libs/paxos/node_impl.h"

namespace paxoskv::paxos {

namespace pb = ::paxoskv::v1;

Node::Impl::Impl(const NodeConfig& c) : config(c), log(c.logger) {}
Node::Impl::~Impl() = default;

bool Node::Impl::SelfVotes() const {
  if (!current().IsVoter(self)) return false;
  const uint64_t pinned = current().IncarnationOf(self);
  return pinned == 0 || pinned == incarnation;
}

void Node::Impl::NoteChosenSlot(const LogSlot& slot) {
  if (slot.packed || !slot.entry.value().has_membership()) return;  // packed: applied, seen
  absl::StatusOr<Configuration> next = Configuration::Make(slot.entry.value().membership());
  // Validate refuses a membership that does not make a Configuration before it is stored.
  PAXOSKV_CHECK(next.ok()) << "chosen membership at slot " << slot.entry.slot() << ": "
                           << next.status().ToString();
  const std::vector<uint32_t> voters_before = current().voters();
  configs[slot.entry.slot()] = *std::move(next);
  if (current().voters() != voters_before) voters_changed = true;
  log->info("membership from slot {}: {} (self {})", slot.entry.slot() + 1, current().ToString(),
            SelfVotes() ? "votes" : (current().Contains(self) ? "learns" : "is not a member"));
  if (current().IsVoter(self) && !SelfVotes()) {
    log->error(
        "this data directory (incarnation {:016x}) is not member {} of the shard "
        "(incarnation {:016x}): it never votes",
        incarnation, self, current().IncarnationOf(self));
  }
}

void Node::Impl::AfterInput() {
  const bool fence_reached = role == Role::kLeader && fence != 0 && chosen_through >= fence;
  if (!voters_changed && !fence_reached) return;
  if (role == Role::kLeader && fence != 0 && !fence_reached) return;  // wait for it
  // A candidate's quorum, or a leader's Prepare, was counted among the voters before: slots
  // above a change of voters need a quorum of the new ones, and a leader that stopped
  // recovery at its fence has slots above it to recover (README "Membership"). A change that
  // we proposed ourselves and that leaves the voters as they were (the founding entry,
  // a learner added or removed, an address) needs neither.
  const bool campaign = voters_changed || (fence_reached && !fence_proposed);
  voters_changed = false;
  fence = 0;
  fence_proposed = false;
  if (role == Role::kFollower) return;
  if (!SelfVotes()) {
    StepDown("no longer a voter");
    return;
  }
  if (campaign) {
    StartCampaign();
  } else {
    CheckReads();
  }
}

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

void Node::Impl::Address(uint32_t to, pb::PaxosMessage& message) const {
  message.set_from(self);
  message.set_to(to);
  message.set_from_incarnation(incarnation);
  message.set_to_incarnation(current().IncarnationOf(to));
}

void Node::Impl::Send(uint32_t to, pb::PaxosMessage message) {
  Address(to, message);
  ready_messages.push_back(std::move(message));
}

void Node::Impl::NoteRound(uint64_t round) { max_round_seen = std::max(max_round_seen, round); }

void Node::Impl::ResetElectionTimer() {
  election_elapsed = 0;
  const int t = std::max(1, config.election_timeout_ticks);
  election_timeout = t + static_cast<int>(rng() % static_cast<uint64_t>(t));
}

void Node::Impl::CheckInvariants() {
  if (invariants == nullptr) return;
  // Invariants reads the Node through its Impl; see invariants.h.
  absl::Status s = invariants->CheckImpl(*this);
  PAXOSKV_CHECK(s.ok()) << s.ToString();
}

void Node::Impl::NoteRefused(const pb::PaxosMessage& m, const absl::Status& why) {
  ++refused;
  // Loud, but bounded: a peer that keeps sending garbage must not flood the log.
  if (refused <= 16 || refused % 1024 == 0) {
    log->warn("refused message from={} body={} refused_total={}: {}", m.from(),
              static_cast<int>(m.body_case()), refused, why.ToString());
  }
}

namespace {

absl::Status Invalid(const std::string& what) { return absl::InvalidArgumentError(what); }

bool ValidBallot(const pb::Ballot& b) { return b.round() > 0 && b.node_id() > 0; }

}  // namespace

absl::Status Node::Impl::ValidateBallot(const pb::Ballot& b, const char* what) const {
  const uint64_t seen = std::max(max_round_seen, promised.round());
  if (b.round() > kRoundMax) {
    return Invalid(absl::StrCat(what, " round ", b.round(), " is above the maximum ", kRoundMax,
                                " (no room left above it)"));
  }
  if (b.round() > seen && b.round() - seen > kRoundJumpMax) {
    return Invalid(absl::StrCat(what, " round ", b.round(), " jumps more than ", kRoundJumpMax,
                                " above every round seen (", seen, ")"));
  }
  return absl::OkStatus();
}

absl::Status Node::Impl::ValidateEntries(
    const google::protobuf::RepeatedPtrField<pb::Entry>& entries, bool ballots) const {
  if (static_cast<size_t>(entries.size()) > kEntriesPerMessageMax) {
    return Invalid(absl::StrCat(entries.size(), " entries in one message; the limit is ",
                                kEntriesPerMessageMax));
  }
  for (const pb::Entry& e : entries) {
    if (e.slot() == 0) return Invalid("entry slot 0");
    if (e.slot() > chosen_through + kSlotWindow) {
      return Invalid(absl::StrCat("entry slot ", e.slot(), " is more than ", kSlotWindow,
                                  " slots beyond what this replica knows chosen (",
                                  chosen_through, ")"));
    }
    if (static_cast<size_t>(e.value().commands_size()) > kCommandsPerEntryMax) {
      return Invalid(absl::StrCat("entry slot ", e.slot(), " has ", e.value().commands_size(),
                                  " commands; the limit is ", kCommandsPerEntryMax));
    }
    if (e.value().ByteSizeLong() > kEntryBytesMax) {
      return Invalid(absl::StrCat("entry slot ", e.slot(), " is larger than ", kEntryBytesMax,
                                  " bytes"));
    }
    if (e.value().has_membership()) {
      if (e.value().commands_size() > 0) {
        return Invalid(absl::StrCat("entry slot ", e.slot(), " mixes commands and membership"));
      }
      absl::StatusOr<Configuration> made = Configuration::Make(e.value().membership());
      if (!made.ok()) {
        return Invalid(absl::StrCat("entry slot ", e.slot(), ": ", made.status().message()));
      }
    }
    if (ballots) {
      if (!ValidBallot(e.ballot())) return Invalid("entry without ballot");
      RETURN_IF_ERROR(ValidateBallot(e.ballot(), "entry ballot"));
    }
  }
  return absl::OkStatus();
}

absl::Status Node::Impl::ValidateTeacher(uint32_t from, const pb::Ballot& b) const {
  if (b.node_id() == from) {
    // From the leader of b. Following a new leader takes a Prepare or an Accept; a Learn or a
    // snapshot only ever comes from the leader we already follow (or an older one: stale).
    if (Compare(b, promised) > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "learn or snapshot at ballot ", b.round(), ".", b.node_id(),
          " above the promised ", promised.round(), ".", promised.node_id(),
          ": a leader is followed after its Prepare or Accept, not its catch-up"));
    }
    return absl::OkStatus();
  }
  if (b.node_id() == self) {
    // A member teaching us at our own ballot (OnLearn / OnInstallSnapshot take it only while
    // we still campaign or lead with it). We promise our own ballot before using it, so one
    // above our promise was never ours.
    if (Compare(b, promised) > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("learn or snapshot at our ballot ", b.round(), ".", b.node_id(),
                       ", which we never used"));
    }
    return absl::OkStatus();
  }
  return Invalid("learn or snapshot needs the leader's ballot");
}

absl::Status Node::Impl::ValidateKnownChosen(
    const google::protobuf::RepeatedPtrField<pb::Entry>& entries) const {
  for (const pb::Entry& e : entries) {
    if (e.slot() <= compacted_through) continue;   // applied; nothing left to compare
    auto it = log_slots.find(e.slot());
    if (it == log_slots.end() || !it->second.chosen) continue;
    if (!HoldsValue(e.slot(), e.value())) {
      return absl::FailedPreconditionError(absl::StrCat(
          "slot ", e.slot(), " is chosen here with another value: refusing to change it"));
    }
  }
  return absl::OkStatus();
}

absl::Status Node::Impl::ValidateHelpForOurLeadership(uint32_t from, const pb::Learn& m) const {
  if (role != Role::kLeader || !SameBallot(m.ballot(), my_ballot) || from == self) {
    return absl::OkStatus();
  }
  // A member's catch-up for our leadership can only name slots below next_slot: a chosen slot
  // was accepted by a majority, which met our Prepare's, so recovery already proposed in or
  // above it. A slot at or above next_slot would be one we are about to propose into, and
  // taking it would have the next proposal overwrite a value we hold chosen (paxos_node_fuzz).
  for (const pb::Entry& e : m.entries()) {
    // Up to a fence (README "Membership") a leader waits to learn slots only promisers held.
    if (e.slot() >= next_slot && e.slot() > fence) {
      return absl::FailedPreconditionError(absl::StrCat(
          "learn of slot ", e.slot(), " from ", from,
          " is at or above every slot this leader's Prepare recovered (next ", next_slot, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status Node::Impl::ValidateSnapshot(uint32_t from, const pb::InstallSnapshot& m) const {
  RETURN_IF_ERROR(ValidateTeacher(from, m.ballot()));
  if (m.last_slot() <= applied_through || Compare(m.ballot(), promised) < 0) {
    return absl::OkStatus();   // stale or already covered: Step ignores it
  }
  // The sender must have told us, in a message we took, that it knows this much chosen.
  SlotId vouched = 0;
  if (m.ballot().node_id() == from) {
    vouched = leader_chosen_seen;
  } else if (role == Role::kCandidate) {
    if (auto it = promises.find(from); it != promises.end()) vouched = it->second.chosen_through();
  } else if (role == Role::kLeader) {
    if (auto it = peers.find(from); it != peers.end()) vouched = it->second.chosen_through;
  }
  if (m.last_slot() > vouched) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot at slot ", m.last_slot(), " from ", from,
                     " is beyond what it reported chosen (", vouched, ")"));
  }
  return absl::OkStatus();
}

absl::Status Node::Impl::ValidateIncarnations(const pb::PaxosMessage& m) const {
  // A sender outside the membership we know is taken: it may be a member added by a change
  // we have not learned yet, and its votes count only where a membership names it.
  if (m.to_incarnation() != 0 && m.to_incarnation() != incarnation) {
    return absl::FailedPreconditionError(absl::StrCat(
        "message for member ", self, " incarnation ", absl::Hex(m.to_incarnation()),
        ", but this data directory is incarnation ", absl::Hex(incarnation),
        ": it is not that member (its directory was wiped or replaced) and takes no part "
        "until it is added as a new member under a new id (kvctl member add)"));
  }
  if (current().WasRemoved(m.from())) {
    return absl::FailedPreconditionError(
        absl::StrCat("message from ", m.from(), ", which was removed from the membership"));
  }
  const uint64_t named = current().IncarnationOf(m.from());
  if (named != 0 && named != m.from_incarnation()) {
    return absl::FailedPreconditionError(
        absl::StrCat("message from ", m.from(), " incarnation ", absl::Hex(m.from_incarnation()),
                     ", but the membership names incarnation ", absl::Hex(named),
                     ": a replica restarted on an empty directory is not the member it replaces"));
  }
  return absl::OkStatus();
}

absl::Status Node::Impl::Validate(const pb::PaxosMessage& m) const {
  if (m.to() != self) return Invalid(absl::StrCat("message to ", m.to(), " delivered to ", self));
  if (m.from() == 0 || m.from() == self) {
    return Invalid(absl::StrCat("message from ", m.from(), " delivered to ", self));
  }
  RETURN_IF_ERROR(ValidateIncarnations(m));
  const auto slot_ok = [](SlotId slot) { return slot <= kSlotMax; };
  switch (m.body_case()) {
    case pb::PaxosMessage::kPrepare:
      if (!ValidBallot(m.prepare().ballot()) || m.prepare().ballot().node_id() != m.from()) {
        return Invalid("prepare needs the sender's ballot");
      }
      if (!slot_ok(m.prepare().from_slot())) return Invalid("prepare from_slot out of range");
      return ValidateBallot(m.prepare().ballot(), "prepare");
    case pb::PaxosMessage::kPromise:
      if (!ValidBallot(m.promise().ballot()) || m.promise().ballot().node_id() != self) {
        return Invalid("promise must answer our ballot");
      }
      if (!m.promise().ok() && !ValidBallot(m.promise().promised())) {
        return Invalid("promise reject without promised ballot");
      }
      if (!slot_ok(m.promise().chosen_through())) return Invalid("promise chosen_through");
      // As for Accepted below: a new leader proposes above every chosen prefix it is told of,
      // so one far ahead would open a slot there and, at its next election, a hole below it
      // to fill with no-ops (tests/paxos/hostile_input_test.cc).
      if (m.promise().chosen_through() > chosen_through + kSlotWindow) {
        return Invalid(absl::StrCat("promise chosen_through ", m.promise().chosen_through(),
                                    " is far beyond ours (", chosen_through, ")"));
      }
      RETURN_IF_ERROR(ValidateBallot(m.promise().ballot(), "promise"));
      RETURN_IF_ERROR(ValidateBallot(m.promise().promised(), "promised"));
      return ValidateEntries(m.promise().accepted(), /*ballots=*/true);
    case pb::PaxosMessage::kAccept:
      if (!ValidBallot(m.accept().ballot()) || m.accept().ballot().node_id() != m.from()) {
        return Invalid("accept needs the sender's ballot");
      }
      if (!slot_ok(m.accept().chosen_through())) return Invalid("accept chosen_through");
      RETURN_IF_ERROR(ValidateBallot(m.accept().ballot(), "accept"));
      RETURN_IF_ERROR(ValidateEntries(m.accept().entries(), /*ballots=*/false));
      if (Compare(m.accept().ballot(), promised) < 0) return absl::OkStatus();   // refused
      return ValidateKnownChosen(m.accept().entries());
    case pb::PaxosMessage::kAccepted:
      if (!ValidBallot(m.accepted().ballot()) || m.accepted().ballot().node_id() != self) {
        return Invalid("accepted must answer our ballot");
      }
      if (!m.accepted().ok() && !ValidBallot(m.accepted().promised())) {
        return Invalid("accepted reject without promised ballot");
      }
      if (m.accepted().chosen_through() > chosen_through + kSlotWindow) {
        return Invalid(absl::StrCat("accepted chosen_through ", m.accepted().chosen_through(),
                                    " is far beyond ours (", chosen_through, ")"));
      }
      RETURN_IF_ERROR(ValidateBallot(m.accepted().ballot(), "accepted"));
      return ValidateBallot(m.accepted().promised(), "promised");
    case pb::PaxosMessage::kLearn:
      if (!ValidBallot(m.learn().ballot())) return Invalid("learn needs the leader's ballot");
      if (!slot_ok(m.learn().chosen_through())) return Invalid("learn chosen_through");
      RETURN_IF_ERROR(ValidateBallot(m.learn().ballot(), "learn"));
      RETURN_IF_ERROR(ValidateTeacher(m.from(), m.learn().ballot()));
      RETURN_IF_ERROR(ValidateEntries(m.learn().entries(), /*ballots=*/false));
      RETURN_IF_ERROR(ValidateHelpForOurLeadership(m.from(), m.learn()));
      return ValidateKnownChosen(m.learn().entries());
    case pb::PaxosMessage::kInstallSnapshot:
      if (!ValidBallot(m.install_snapshot().ballot())) return Invalid("snapshot needs a ballot");
      if (m.install_snapshot().last_slot() == 0 || !slot_ok(m.install_snapshot().last_slot())) {
        return Invalid("snapshot slot out of range");
      }
      RETURN_IF_ERROR(ValidateBallot(m.install_snapshot().ballot(), "snapshot"));
      if (m.install_snapshot().membership().members_size() > 0) {
        absl::StatusOr<Configuration> made = Configuration::Make(m.install_snapshot().membership());
        if (!made.ok()) {
          return Invalid(absl::StrCat("snapshot membership: ", made.status().message()));
        }
      }
      return ValidateSnapshot(m.from(), m.install_snapshot());
    case pb::PaxosMessage::kTimeoutNow:
      if (!ValidBallot(m.timeout_now().ballot()) ||
          m.timeout_now().ballot().node_id() != m.from()) {
        return Invalid("timeout_now needs the sender's ballot");
      }
      return ValidateBallot(m.timeout_now().ballot(), "timeout_now");
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
  if (config.incarnation == 0) return Invalid("incarnation 0");
  std::vector<uint32_t> members;
  for (NodeId m : config.members) {
    if (!config.learner || ToInt(m) != ToInt(config.id)) members.push_back(ToInt(m));
  }
  std::sort(members.begin(), members.end());
  if (members.empty() || members.size() % 2 == 0) return Invalid("members must be an odd count");
  if (std::adjacent_find(members.begin(), members.end()) != members.end()) {
    return Invalid("duplicate member");
  }
  if (members.front() == 0) return Invalid("member id 0");
  if (!config.learner && !std::binary_search(members.begin(), members.end(), ToInt(config.id))) {
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
  n.incarnation = config.incarnation;
  if (durable.membership.members_size() > 0) {
    absl::StatusOr<Configuration> recorded = Configuration::Make(durable.membership);
    if (!recorded.ok()) {
      return Invalid(absl::StrCat("durable membership: ", recorded.status().message()));
    }
    n.configs.emplace(durable.snapshot_slot, *std::move(recorded));
  } else {
    n.configs.emplace(
        0, Configuration::Founding(members, config.learner ? n.self : 0, config.addresses));
  }
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
  // Every slot up to chosen_through must be here. The store never persists a chosen_through
  // beyond its entries (a snapshot raises it only in the same atomic step), so a gap means
  // a store written by an older version or an unforeseen crash. Lowering chosen_through to
  // the gap is always safe: those slots are learned again, and an entry kept as merely
  // accepted is still the chosen value at a ballot at or above the one it was chosen at.
  SlotId contiguous = n.compacted_through;
  for (auto it = n.log_slots.upper_bound(n.compacted_through);
       it != n.log_slots.end() && it->first == contiguous + 1 && contiguous < n.chosen_through;
       ++it) {
    ++contiguous;
  }
  if (contiguous < n.chosen_through) {
    n.log->warn("restored chosen_through={} but slot {} is missing: lowering it to {}",
                n.chosen_through, contiguous + 1, contiguous);
    n.chosen_through = contiguous;
    for (auto it = n.log_slots.upper_bound(contiguous); it != n.log_slots.end(); ++it) {
      it->second.chosen = false;
    }
  }
  for (auto it = n.log_slots.begin(); it != n.log_slots.end() && it->first <= n.chosen_through;
       ++it) {
    n.NoteChosenSlot(it->second);
  }
  n.voters_changed = false;
  n.reported_chosen_through = n.chosen_through;
  n.next_slot = n.chosen_through + 1;
  n.ResetElectionTimer();
#ifdef PAXOSKV_INVARIANTS
  const bool check_invariants = true;
#else
  const bool check_invariants = config.check_invariants;
#endif
  if (check_invariants) n.invariants = std::make_unique<Invariants>();
  n.CheckInvariants();
  n.log->info(
      "restored node={} promised={}.{} chosen_through={} snapshot_slot={} entries={} "
      "membership={}",
      n.self, n.promised.round(), n.promised.node_id(), n.chosen_through, n.compacted_through,
      n.log_slots.size(), n.current().ToString());
  return node;
}

absl::Status Node::Step(const pb::PaxosMessage& message) {
  Impl& n = *impl_;
  absl::Status valid = n.Validate(message);
  if (!valid.ok()) {
    n.NoteRefused(message, valid);
    return valid;
  }
  const uint32_t from = message.from();
  if (message.from_incarnation() != 0) n.heard_incarnations[from] = message.from_incarnation();
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
    case pb::PaxosMessage::kTimeoutNow:
      n.OnTimeoutNow(from, message.timeout_now());
      break;
    case pb::PaxosMessage::BODY_NOT_SET:
      break;
  }
  n.AfterInput();
  n.CheckInvariants();
  return absl::OkStatus();
}

absl::Status Node::CheckInstallSnapshot(const pb::PaxosMessage& message) const {
  if (!message.has_install_snapshot()) return Invalid("not an InstallSnapshot");
  return impl_->Validate(message);
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
      // A learner, or not this member, never campaigns (its timer still runs: OnPrepare
      // asks how long ago it heard a leader).
      if (n.SelfVotes() && (n.campaign_requested || n.election_elapsed >= n.election_timeout)) {
        n.StartCampaign();
      }
      break;
  }
  n.campaign_requested = false;
  n.AfterInput();
  n.CheckInvariants();
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

absl::Status Node::ProposeConfChange(const ConfChange& change) {
  Impl& n = *impl_;
  if (n.role != Role::kLeader) return absl::FailedPreconditionError("not leader");
  if (n.fence != 0 || n.pending_membership.has_value()) {
    return absl::FailedPreconditionError(
        "another membership change is still in progress: one change at a time");
  }
  ConfChange c = change;
  if (c.type == ConfChange::Type::kPromote && c.incarnation == 0) {
    if (auto it = n.heard_incarnations.find(c.id); it != n.heard_incarnations.end()) {
      c.incarnation = it->second;
    }
  }
  ASSIGN_OR_RETURN(pb::Membership next, ApplyConfChange(n.current(), c));
  if (c.type == ConfChange::Type::kRemove && c.id == n.self) {
    // Removing the leader hands leadership over first, so that writes pause for one
    // campaign, not an election timeout; the new leader removes this node as a follower.
    absl::StatusOr<uint32_t> to = n.TransferLeadership();
    if (to.ok()) {
      return absl::UnavailableError(absl::StrCat("replica ", n.self,
                                                 " leads: it handed leadership to replica ", *to,
                                                 " before its removal; retry the removal there"));
    }
    // No voter to hand over to: lead our own removal and step down once it is chosen.
  }
  n.pending_membership = std::move(next);
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
  // Memberships of compacted slots: only the last one still says anything.
  while (n.configs.size() > 1 && std::next(n.configs.begin())->first <= through) {
    n.configs.erase(n.configs.begin());
  }
  n.log->debug("compacted through={}", through);
}

void Node::Campaign() { impl_->campaign_requested = true; }

SlotId Node::membership_slot() const { return impl_->configs.rbegin()->first; }

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
  // A group of one chooses what FlushProposals proposed at once (a membership change too):
  // what follows goes into the next Ready.
  n.AfterInput();
  n.CheckInvariants();
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
  s.refused_messages = n.refused;
  s.membership = n.current().membership();
  s.voter = n.SelfVotes();
  if (n.role == Role::kLeader) {
    s.fence = n.fence;
    for (const auto& [id, peer] : n.peers)
      s.peer_chosen_through.emplace_back(id, peer.chosen_through);
  }
  return s;
}

}  // namespace paxoskv::paxos

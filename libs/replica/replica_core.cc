// See replica_core.h.
#include "libs/replica/replica_core.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/common/status_macros.h"
#include "libs/common/status_markers.h"
#include "libs/paxos/ballot.h"

namespace paxoskv::replica {

namespace pb = paxoskv::v1;

namespace {

const char* RoleName(paxos::Role role) {
  switch (role) {
    case paxos::Role::kLeader:
      return "leader";
    case paxos::Role::kCandidate:
      return "candidate";
    case paxos::Role::kFollower:
      return "follower";
  }
  return "unknown";
}

const absl::Status& LeadershipLost() {
  static const absl::Status* status = new absl::Status(absl::UnavailableError(
      "leadership lost before the command was chosen; outcome unknown, retry"));
  return *status;
}

}  // namespace

// ---- Batches of waiting commands ------------------------------------------------------------

void ReplicaCore::Batch::Complete(size_t index, Outcome outcome) {
  outcomes[index] = std::move(outcome);
  if (--remaining > 0) return;
  Done finish = std::move(done);
  std::move(finish)(std::move(outcomes));
}

// ---- Opening --------------------------------------------------------------------------------

ReplicaCore::ReplicaCore(CoreOptions options, storage::AcceptorStore* store, MessageSink* sink,
                         std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)),
      logger_(std::move(logger)),
      store_(store),
      sink_(sink),
      receiver_(store, options_.kv_limits),
      kv_(options_.kv_limits) {}

absl::StatusOr<std::unique_ptr<ReplicaCore>> ReplicaCore::Open(
    CoreOptions options, storage::AcceptorStore* store, MessageSink* sink,
    std::shared_ptr<spdlog::logger> logger) {
  if (options.members.count(options.replica_id) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("replica id ", options.replica_id, " is not in the member list"));
  }
  if (options.local_client_id == 0) return absl::InvalidArgumentError("local_client_id 0");
  if (options.snapshot_chunk_bytes == 0) return absl::InvalidArgumentError("chunk size 0");
  ASSIGN_OR_RETURN(const storage::Identity identity,
                   store->CheckIdentity({.shard_id = options.shard_id,
                                         .replica_id = options.replica_id,
                                         .incarnation = options.new_incarnation}));
  ASSIGN_OR_RETURN(std::unique_ptr<storage::SnapshotReader> reader, store->OpenSnapshot());
  ASSIGN_OR_RETURN(paxos::DurableState durable, store->Load());

  std::unique_ptr<ReplicaCore> core(new ReplicaCore(options, store, sink, logger));
  core->incarnation_ = identity.incarnation;
  const SlotId snapshot_slot = reader->meta().last_slot;
  std::string chunk;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader->Next(&chunk));
    if (!more) break;
    RETURN_IF_ERROR(core->kv_.AddSnapshotChunk(chunk));
  }
  PAXOSKV_CHECK(snapshot_slot == durable.snapshot_slot)
      << "snapshot slot " << snapshot_slot << " != durable snapshot slot "
      << durable.snapshot_slot;
  core->last_applied_slot_ = snapshot_slot;
  core->snapshot_slot_ = snapshot_slot;
  core->applied_mirror_ = snapshot_slot;
  core->snapshot_slot_mirror_ = snapshot_slot;
  core->key_count_mirror_ = core->kv_.key_count();
  core->state_bytes_mirror_ = core->kv_.approximate_bytes();
  core->alarms_mirror_ = core->kv_.alarms();

  durable.membership = core->kv_.membership();
  paxos::NodeConfig config;
  config.id = NodeId{options.replica_id};
  config.incarnation = identity.incarnation;
  config.learner = options.join;
  for (const auto& [id, address] : options.members) config.members.push_back(NodeId{id});
  config.addresses = options.members;
  config.heartbeat_ticks = options.heartbeat_ticks;
  config.election_timeout_ticks = options.election_timeout_ticks;
  config.inflight_slots_max = options.inflight_slots_max;
  config.batch_commands_max = options.batch_commands_max;
  config.learn_entries_max = options.learn_entries_max;
  config.seed = options.seed;
  config.check_invariants = options.check_invariants;
  config.logger = logger;
  ASSIGN_OR_RETURN(core->node_, paxos::Node::Restore(config, durable));
  core->peers_membership_slot_ = core->node_->membership_slot();
  sink->SetPeerAddresses(core->PeerAddresses());
  logger->info(
      "loaded shard={} replica={} incarnation={:016x} snapshot_slot={} entries={} "
      "chosen_through={}",
      options.shard_id, options.replica_id, identity.incarnation, snapshot_slot,
      durable.entries.size(), durable.chosen_through);
  return core;
}

// ---- Input side -----------------------------------------------------------------------------

absl::Status ReplicaCore::Deliver(const pb::PaxosMessage& message) {
  if (message.shard_id() != options_.shard_id) {
    return WrongReplicaError(absl::StrCat("message for shard ", message.shard_id(),
                                          " reached shard ", options_.shard_id, " replica ",
                                          options_.replica_id));
  }
  if (message.has_install_snapshot()) return DeliverSnapshotChunk(message);
  absl::Status status = node_->Step(message);
  if (status.ok()) {  // a member's message: its word on its space counts
    if (message.nospace()) {
      peers_nospace_.insert(message.from());
    } else {
      peers_nospace_.erase(message.from());
    }
  }
  CheckLeadership();
  return status;
}

absl::Status ReplicaCore::DeliverSnapshotChunk(const pb::PaxosMessage& message) {
  // The offer is checked before a byte is staged, and again (with the node's state then)
  // when the whole snapshot reaches the node.
  if (message.install_snapshot().chunk_index() == 0) {
    RETURN_IF_ERROR(node_->CheckInstallSnapshot(message));
    // The node would ignore a snapshot at a stale ballot or at or below what it applied:
    // refuse the offer before a byte is staged.
    const paxos::Status status = node_->status();
    if (paxos::Compare(message.install_snapshot().ballot(), status.ballot) < 0 ||
        message.install_snapshot().last_slot() <= status.applied_through) {
      return absl::FailedPreconditionError(absl::StrCat(
          "snapshot offer at ballot ", message.install_snapshot().ballot().round(), ".",
          message.install_snapshot().ballot().node_id(), " slot ",
          message.install_snapshot().last_slot(), " is stale here (promised ",
          status.ballot.round(), ".", status.ballot.node_id(), ", applied ",
          status.applied_through, ")"));
    }
  }
  absl::StatusOr<std::unique_ptr<StagedSnapshot>> staged = receiver_.Add(message);
  if (!staged.ok()) {
    logger_->warn("refused snapshot chunk from={} slot={} index={}: {}", message.from(),
                  message.install_snapshot().last_slot(),
                  message.install_snapshot().chunk_index(), staged.status().ToString());
    return staged.status();
  }
  if (*staged == nullptr) return absl::OkStatus();   // more chunks to come
  pb::PaxosMessage whole = message;
  *whole.mutable_install_snapshot() = (*staged)->request;
  // The membership is the one the data records, whatever the header said.
  whole.mutable_install_snapshot()->clear_membership();
  if ((*staged)->kv.membership().members_size() > 0) {
    *whole.mutable_install_snapshot()->mutable_membership() = (*staged)->kv.membership();
  }
  const SlotId applied_before = node_->status().applied_through;
  RETURN_IF_ERROR(node_->Step(whole));
  if (node_->status().applied_through > applied_before &&
      node_->status().applied_through == whole.install_snapshot().last_slot()) {
    install_ = *std::move(staged);   // the node took it: the next Work installs it
  }
  CheckLeadership();
  return absl::OkStatus();
}

void ReplicaCore::Tick() {
  ++ticks_;
  node_->Tick();
  CheckLeadership();
  RaiseAlarms();
}

void ReplicaCore::SetNoSpace(bool nospace) {
  if (nospace != nospace_) {
    logger_->warn("{}", nospace ? "out of space: asking the leader for a NOSPACE alarm"
                                : "space is back (an admin clears the alarm)");
  }
  nospace_ = nospace;
}

bool ReplicaCore::Alarmed(uint32_t member_id) const {
  return std::any_of(alarms_mirror_.begin(), alarms_mirror_.end(), [&](const pb::Alarm& a) {
    return a.member_id() == member_id && a.type() == pb::ALARM_NOSPACE;
  });
}

void ReplicaCore::RaiseAlarms() {
  if (!is_leader()) return;
  std::vector<uint32_t> members(peers_nospace_.begin(), peers_nospace_.end());
  if (nospace_) members.push_back(options_.replica_id);
  for (uint32_t member : members) {
    if (Alarmed(member)) continue;
    uint64_t& retry_tick = alarm_retry_tick_[member];
    if (ticks_ < retry_tick) continue;  // proposed already; not applied yet
    retry_tick = ticks_ + static_cast<uint64_t>(options_.election_timeout_ticks);
    pb::Command command;
    command.set_op(pb::OP_ALARM);
    command.mutable_alarm()->set_activate(true);
    command.mutable_alarm()->mutable_alarm()->set_member_id(member);
    command.mutable_alarm()->mutable_alarm()->set_type(pb::ALARM_NOSPACE);
    command.set_client_id(options_.local_client_id);
    command.set_seq(next_local_seq_++);
    command.set_proposed_ms(last_stamp_ms_);
    absl::Status status = node_->Propose(std::move(command));
    logger_->warn("raising the NOSPACE alarm of member {}: {}", member,
                  status.ok() ? "proposed" : status.ToString());
  }
}

std::string ReplicaCore::AddressOf(const paxos::Status& status, uint32_t id) const {
  for (const pb::Member& m : status.membership.members()) {
    if (m.id() == id && !m.address().empty()) return m.address();
  }
  auto it = options_.members.find(id);
  return it == options_.members.end() ? "" : it->second;
}

std::map<uint32_t, std::string> ReplicaCore::PeerAddresses() const {
  const paxos::Status status = node_->status();
  std::map<uint32_t, std::string> out;
  for (const auto& [id, address] : options_.members) out[id] = address;
  for (const pb::Member& m : status.membership.members()) {
    if (!m.address().empty()) out[m.id()] = m.address();
  }
  for (uint32_t id : status.membership.removed()) out.erase(id);
  out.erase(options_.replica_id);
  return out;
}

absl::StatusOr<bool> ReplicaCore::ChangeMembership(const paxos::ConfChange& change) {
  if (!is_leader()) return NotLeader();
  if (MembershipChangeInEffect(change)) return true;
  absl::Status status = node_->ProposeConfChange(change);
  logger_->info("membership change: type={} id={} address={}: {}", static_cast<int>(change.type),
                change.id, change.address, status.ok() ? "proposed" : status.ToString());
  CheckLeadership();  // a leader that removes itself hands leadership over
  RETURN_IF_ERROR(status);
  return false;
}

bool ReplicaCore::MembershipChangeInEffect(const paxos::ConfChange& change) const {
  absl::StatusOr<paxos::Configuration> current =
      paxos::Configuration::Make(node_->status().membership);
  return current.ok() && paxos::ChangeInEffect(*current, change);
}

absl::Status ReplicaCore::NotLeader() const {
  const paxos::Status status = node_->status();
  if (status.leader.has_value() && ToInt(*status.leader) != options_.replica_id) {
    const std::string address = AddressOf(status, ToInt(*status.leader));
    if (!address.empty()) return NotLeaderError(address);
  }
  return absl::UnavailableError(
      absl::StrCat("shard ", options_.shard_id, " replica ", options_.replica_id,
                   " knows no leader yet (role ", RoleName(status.role), "); retry"));
}

void ReplicaCore::Propose(std::vector<pb::Command> commands, CommandOrigin origin,
                          uint64_t now_ms, Done done) {
  for (const pb::Command& command : commands) {
    if (command.shard_id() != 0 && command.shard_id() != options_.shard_id) {
      std::move(done)(WrongReplicaError(absl::StrCat("this replica belongs to shard ",
                                                     options_.shard_id, ", not shard ",
                                                     command.shard_id())));
      return;
    }
  }
  if (!node_->status().leader.has_value() || !is_leader()) {
    std::move(done)(NotLeader());
    return;
  }
  auto batch = std::make_shared<Batch>();
  batch->outcomes.assign(commands.size(), absl::UnknownError("not completed"));
  // The leader's clock, never the caller's, and never backwards (libs/kv README, "Sessions").
  last_stamp_ms_ = std::max(last_stamp_ms_, now_ms);
  PendingRead read;
  size_t waiting = 0;
  bool overloaded = false;
  for (size_t i = 0; i < commands.size(); ++i) {
    pb::Command& command = commands[i];
    absl::Status valid = origin == CommandOrigin::kClient ? kv::ValidateClientCommand(command)
                                                          : kv::ValidateMigrationCommand(command);
    if (!valid.ok()) {
      batch->outcomes[i] = std::move(valid);
      continue;
    }
    if (overloaded) {
      batch->outcomes[i] =
          absl::UnavailableError("replica overloaded: too many pending commands; retry");
      ++stats_.proposals_failed;
      continue;
    }
    if (command.op() == pb::OP_GET) {
      read.gets.emplace_back(Waiter{.batch = batch, .index = i}, std::move(command));
      ++waiting;
      continue;
    }
    if (command.client_id() == 0) {
      command.set_client_id(options_.local_client_id);
      command.set_seq(next_local_seq_++);
    }
    command.set_proposed_ms(last_stamp_ms_);
    const CommandKey key{command.client_id(), command.seq()};
    const uint64_t fingerprint = kv::CommandFingerprint(command);
    absl::Status status = node_->Propose(std::move(command));
    if (absl::IsResourceExhausted(status)) {
      overloaded = true;
      batch->outcomes[i] =
          absl::UnavailableError("replica overloaded: too many pending commands; retry");
      ++stats_.proposals_failed;
      continue;
    }
    // Leadership only changes inside the core's inputs, which the owner serialises.
    PAXOSKV_CHECK(status.ok()) << "leader refused a proposal: " << status.ToString();
    waiters_.emplace(key, Waiter{.batch = batch, .index = i, .fingerprint = fingerprint});
    ++waiting;
  }
  if (!read.gets.empty()) {
    const uint64_t id = next_read_id_++;
    PAXOSKV_CHECK(node_->ReadIndex(id).ok()) << "leader refused a read-index round";
    reads_.emplace(id, std::move(read));
  }
  if (waiting == 0) {
    std::move(done)(std::move(batch->outcomes));
    return;
  }
  batch->remaining = waiting;
  batch->done = std::move(done);
}

bool ReplicaCore::HasWork() const { return node_->HasReady(); }

ReplicaCore::Work ReplicaCore::TakeWork() {
  PAXOSKV_CHECK(!work_outstanding_) << "a Ready taken before the previous one was saved";
  work_outstanding_ = true;
  Work work;
  work.ready = node_->TakeReady();
  if (node_->membership_slot() != peers_membership_slot_) {
    peers_membership_slot_ = node_->membership_slot();
    work.peer_addresses = PeerAddresses();
  }
  if (nospace_) {  // every message says so (the leader raises the alarm)
    for (pb::PaxosMessage& m : work.ready.proposals) m.set_nospace(true);
    for (pb::PaxosMessage& m : work.ready.messages) m.set_nospace(true);
  }
  if (work.ready.snapshot.has_value()) {
    PAXOSKV_CHECK(install_ != nullptr &&
                  install_->request.last_slot() == work.ready.snapshot->last_slot())
        << "the node installs a snapshot the core did not stage";
    work.install = std::move(install_);
  }
  CheckLeadership();
  return work;
}

void ReplicaCore::Complete(Applied applied) {
  if (applied.of_work) work_outstanding_ = false;
  for (Applied::Result& done : applied.results) {
    auto [begin, end] = waiters_.equal_range(CommandKey{done.client_id, done.seq});
    for (auto it = begin; it != end;) {
      // Only the command this (client_id, seq) carried: another command that reuses the pair
      // waits for its own slot (where the state machine refuses it).
      if (it->second.fingerprint != done.fingerprint) {
        ++it;
        continue;
      }
      Waiter waiter = std::move(it->second);
      it = waiters_.erase(it);
      waiter.batch->Complete(waiter.index, done.result);
    }
  }
  for (const paxos::ReadState& read : applied.reads) {
    auto it = reads_.find(read.id);
    if (it != reads_.end()) it->second.read_slot = read.read_slot;
  }
  for (uint64_t id : applied.reads_failed) {
    auto it = reads_.find(id);
    if (it == reads_.end()) continue;
    PendingRead failed = std::move(it->second);
    reads_.erase(it);
    for (auto& [waiter, command] : failed.gets) {
      waiter.batch->Complete(waiter.index,
                             absl::UnavailableError("leadership lost during a read; retry"));
    }
  }
  if (applied.compact_through > 0) node_->Compact(applied.compact_through);
  applied_mirror_ = applied.applied_through;
  snapshot_slot_mirror_ = applied.snapshot_slot;
  key_count_mirror_ = applied.key_count;
  state_bytes_mirror_ = applied.state_bytes;
  alarms_mirror_ = std::move(applied.alarms);
  ServeReads();
  CheckLeadership();
}

void ReplicaCore::ServeReads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    auto current = it++;
    PendingRead& read = current->second;
    if (!read.read_slot.has_value() || *read.read_slot > applied_mirror_) continue;
    PendingRead served = std::move(read);
    reads_.erase(current);
    // kv_ belongs to the state side; Complete runs on the thread that drives it.
    for (auto& [waiter, command] : served.gets) {
      waiter.batch->Complete(waiter.index, kv_.Read(command));
    }
  }
}

void ReplicaCore::CheckLeadership() {
  const paxos::Status status = node_->status();
  const bool leader = status.role == paxos::Role::kLeader;
  std::optional<uint32_t> leader_id;
  if (status.leader.has_value()) leader_id = ToInt(*status.leader);
  if (leader_id.has_value() && leader_id != last_leader_id_) ++stats_.leader_changes_seen;
  if (leader_id.has_value()) last_leader_id_ = leader_id;
  if (was_leader_ && !leader) {
    stats_.proposals_failed += PendingCount();
    FailAll(LeadershipLost());
  }
  if (leader != was_leader_) logger_->info("role={}", leader ? "leader" : "not-leader");
  was_leader_ = leader;
}

void ReplicaCore::FailAll(const absl::Status& status) {
  auto waiters = std::move(waiters_);
  waiters_.clear();
  auto reads = std::move(reads_);
  reads_.clear();
  for (auto& [key, waiter] : waiters) waiter.batch->Complete(waiter.index, status);
  for (auto& [id, read] : reads) {
    for (auto& [waiter, command] : read.gets) waiter.batch->Complete(waiter.index, status);
  }
}

bool ReplicaCore::is_leader() const { return node_->status().role == paxos::Role::kLeader; }

pb::ReplicaStatus ReplicaCore::status() const {
  pb::ReplicaStatus out;
  const paxos::Status status = node_->status();
  out.set_shard_id(options_.shard_id);
  out.set_replica_id(options_.replica_id);
  out.set_role(RoleName(status.role));
  if (status.leader.has_value()) {
    out.set_leader_id(ToInt(*status.leader));
    out.set_leader_address(AddressOf(status, ToInt(*status.leader)));
  }
  *out.mutable_membership() = status.membership;
  out.set_voter(status.voter);
  for (const pb::Member& m : status.membership.members()) {
    const std::string address = AddressOf(status, m.id());
    if (!address.empty()) (*out.mutable_member_address())[m.id()] = address;
  }
  for (const auto& [id, chosen] : status.peer_chosen_through) {
    (*out.mutable_member_chosen_slot())[id] = chosen;
  }
  out.set_ballot_round(status.ballot.round());
  out.set_chosen_slot(status.chosen_through);
  out.set_applied_slot(applied_mirror_);
  out.set_snapshot_slot(snapshot_slot_mirror_);
  out.set_key_count(key_count_mirror_);
  out.set_refused_messages(status.refused_messages);
  out.set_incarnation(incarnation_);
  for (const pb::Alarm& alarm : alarms_mirror_) *out.add_alarms() = alarm;
  out.set_state_bytes(state_bytes_mirror_);
  out.set_nospace(nospace_);
  return out;
}

// ---- State side -----------------------------------------------------------------------------

absl::StatusOr<ReplicaCore::Applied> ReplicaCore::Process(Work work) {
  paxos::Ready& ready = work.ready;
  ++counters_.readies;
  counters_.messages_sent += ready.proposals.size() + ready.messages.size();
  Applied applied;
  if (work.peer_addresses.has_value()) sink_->SetPeerAddresses(*work.peer_addresses);
  // 0. Fresh proposals leave at once: the followers' fsyncs overlap ours.
  for (auto& message : ready.proposals) sink_->Send(std::move(message));

  // Chosen entries may be applied (and their clients answered) before this Ready's durable
  // state is saved: a slot is chosen only once a majority has it durable, and the core
  // reports a slot chosen at the earliest in the Ready after the one holding our own
  // acceptance of it, which Process saved before TakeWork was called again. The exceptions
  // keep the usual order: a snapshot to install first, or a chosen slot whose entry is in
  // this very batch (a group of one, or a value learned with this Ready).
  bool apply_first = !ready.snapshot.has_value() && !ready.chosen.empty();
  auto writing = ready.accepted.begin();   // both lists are in slot order: one merge pass
  for (auto chosen = ready.chosen.begin(); apply_first && chosen != ready.chosen.end(); ++chosen) {
    while (writing != ready.accepted.end() && writing->slot() < chosen->slot()) ++writing;
    if (writing != ready.accepted.end() && writing->slot() == chosen->slot()) apply_first = false;
  }
  if (apply_first) ApplyChosen(ready, applied);

  // 1. Durable state first: the messages below promise what it says. With a snapshot to
  //    install, chosen_through waits for the snapshot's commit (step 3).
  RETURN_IF_ERROR(Persist(ready, /*with_chosen_through=*/!ready.snapshot.has_value()));

  // 2. Messages.
  SendMessages(ready);

  // 3. A snapshot from the leader replaces the state machine.
  if (ready.snapshot.has_value()) {
    RETURN_IF_ERROR(Install(work));
    if (ready.chosen_through.has_value()) {
      storage::WriteBatch batch;
      batch.chosen_through = ready.chosen_through;
      batch.sync = false;
      RETURN_IF_ERROR(store_->Write(batch));
    }
  }

  // 4. Apply chosen entries (unless done before persisting, above).
  if (!apply_first) ApplyChosen(ready, applied);
  applied.reads = std::move(ready.reads);
  applied.reads_failed = std::move(ready.reads_failed);
  applied.of_work = true;
  Describe(applied);
  return applied;
}

absl::Status ReplicaCore::Persist(paxos::Ready& ready, bool with_chosen_through) {
  const bool must_sync = ready.promised.has_value() || !ready.accepted.empty();
  const bool chosen = with_chosen_through && ready.chosen_through.has_value();
  if (!must_sync && !chosen) return absl::OkStatus();
  storage::WriteBatch batch;
  batch.promised = std::move(ready.promised);
  batch.accepted = std::move(ready.accepted);
  if (chosen) batch.chosen_through = ready.chosen_through;
  batch.sync = must_sync;
  if (must_sync) ++counters_.syncs;
  absl::Status status = store_->Write(batch);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("durable write failed: ", status.message()));
  }
  return absl::OkStatus();
}

void ReplicaCore::SendMessages(paxos::Ready& ready) {
  for (auto& message : ready.messages) {
    if (!message.has_install_snapshot()) {
      sink_->Send(std::move(message));
      continue;
    }
    if (sink_->SnapshotInFlight(message.to())) {
      logger_->debug("snapshot to {} still in flight: not sending another", message.to());
      continue;
    }
    absl::StatusOr<std::unique_ptr<storage::SnapshotReader>> reader = store_->OpenSnapshot();
    if (!reader.ok() || (*reader)->meta().last_slot == 0) {
      logger_->warn("cannot send snapshot to {}: {}", message.to(),
                    reader.ok() ? "no snapshot yet" : reader.status().ToString());
      continue;
    }
    pb::PaxosMessage header = SnapshotHeader(message, (*reader)->meta());
    logger_->info("sending snapshot to={} last_slot={} chunks={} bytes={}", message.to(),
                  header.install_snapshot().last_slot(),
                  header.install_snapshot().snapshot_chunks(),
                  header.install_snapshot().snapshot_bytes());
    sink_->SendSnapshot(std::move(header), *std::move(reader));
  }
}

absl::Status ReplicaCore::Install(Work& work) {
  const SlotId slot = work.ready.snapshot->last_slot();
  PAXOSKV_CHECK(work.install != nullptr) << "snapshot at slot " << slot << " was not staged";
  // The new state replaces ours; a background snapshot still reading the old one goes on
  // reading it (it shares nothing with the new state, so applying need not wait for it).
  kv_ = std::move(work.install->kv);
  while (!unapplied_.empty() && unapplied_.front().slot() <= slot) unapplied_.pop_front();
  // Durable and current in one step: the snapshot, the log truncated behind it and
  // chosen_through raised to it. Only after this may a higher chosen_through be written.
  RETURN_IF_ERROR(work.install->writer->Commit());
  last_applied_slot_ = slot;
  snapshot_slot_ = slot;
  commands_since_snapshot_ = 0;
  bytes_since_snapshot_ = 0;
  logger_->info("installed snapshot last_slot={} keys={}", slot, kv_.key_count());
  return absl::OkStatus();
}

void ReplicaCore::ApplyChosen(paxos::Ready& ready, Applied& applied) {
  for (auto& entry : ready.chosen) unapplied_.push_back(std::move(entry));
  ready.chosen.clear();
  ApplyQueued(applied);
}

void ReplicaCore::ApplyQueued(Applied& applied) {
  // While a background snapshot reads the state machine, chosen entries wait here.
  if (snapshot_reading_.has_value() && snapshot_reading_->SharesStateWith(kv_)) return;
  while (!unapplied_.empty()) {
    const pb::Entry entry = std::move(unapplied_.front());
    unapplied_.pop_front();
    PAXOSKV_CHECK(entry.slot() == last_applied_slot_ + 1)
        << "chosen slot " << entry.slot() << " does not follow applied " << last_applied_slot_;
    const size_t first = applied.results.size();
    if (entry.value().has_membership()) kv_.SetMembership(entry.value().membership());
    for (const pb::Command& command : entry.value().commands()) {
      applied.results.push_back({.client_id = command.client_id(),
                                 .seq = command.seq(),
                                 .fingerprint = kv::CommandFingerprint(command),
                                 .result = kv_.Apply(entry.slot(), command)});
      ++commands_since_snapshot_;
      bytes_since_snapshot_ += command.ByteSizeLong();
    }
    if (options_.applied_hook) {
      std::vector<pb::CommandResult> results;
      for (size_t i = first; i < applied.results.size(); ++i) {
        results.push_back(applied.results[i].result);
      }
      options_.applied_hook(entry, results);
    }
    last_applied_slot_ = entry.slot();
    ++counters_.slots_applied;
    counters_.commands_applied += static_cast<uint64_t>(entry.value().commands_size());
  }
}

void ReplicaCore::Describe(Applied& applied) const {
  applied.applied_through = last_applied_slot_;
  applied.snapshot_slot = snapshot_slot_;
  applied.key_count = kv_.key_count();
  applied.state_bytes = kv_.approximate_bytes();
  applied.alarms = kv_.alarms();
}

std::optional<ReplicaCore::SnapshotJob> ReplicaCore::MaybeStartSnapshot() {
  if (snapshot_running_slot_ != 0) return std::nullopt;
  if (commands_since_snapshot_ < options_.snapshot_every_commands &&
      bytes_since_snapshot_ < options_.snapshot_every_bytes) {
    return std::nullopt;
  }
  if (last_applied_slot_ <= snapshot_slot_) return std::nullopt;
  snapshot_running_slot_ = last_applied_slot_;
  snapshot_reading_ = kv_;   // shares the state: ApplyQueued waits while it does
  commands_since_snapshot_ = 0;
  bytes_since_snapshot_ = 0;
  return SnapshotJob(last_applied_slot_, kv_, store_, options_.snapshot_chunk_bytes);
}

absl::Status ReplicaCore::SnapshotJob::Run() {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::SnapshotWriter> writer, store_->NewSnapshot(slot_));
  RETURN_IF_ERROR(state_.WriteSnapshot(
      chunk_bytes_, [&writer](std::string_view chunk) { return writer->Append(chunk); }));
  return writer->Commit();
}

absl::StatusOr<ReplicaCore::Applied> ReplicaCore::FinishSnapshot(const SnapshotJob& job,
                                                                 absl::Status saved) {
  PAXOSKV_CHECK(job.slot() == snapshot_running_slot_) << "finishing a snapshot not started";
  snapshot_running_slot_ = 0;
  snapshot_reading_.reset();
  if (!saved.ok()) {
    return absl::Status(saved.code(), absl::StrCat("saving snapshot failed: ", saved.message()));
  }
  Applied applied;
  // An installed snapshot may have overtaken this one: the store kept the newer.
  snapshot_slot_ = std::max(snapshot_slot_, job.slot());
  applied.compact_through = job.slot();
  logger_->info("snapshot at slot {} saved; applying {} entries chosen meanwhile", job.slot(),
                unapplied_.size());
  ApplyQueued(applied);
  Describe(applied);
  return applied;
}

uint64_t ReplicaCore::PendingCount() const {
  uint64_t pending = waiters_.size();
  for (const auto& [id, read] : reads_) pending += read.gets.size();
  return pending;
}

ReplicaCore::Stats ReplicaCore::stats() const {
  Stats stats = stats_;
  stats.proposals_pending = PendingCount();
  return stats;
}

ReplicaCore::Counters ReplicaCore::TakeCounters() {
  Counters counters = counters_;
  counters_ = Counters{};
  return counters;
}

}  // namespace paxoskv::replica

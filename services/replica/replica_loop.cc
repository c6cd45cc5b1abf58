// See replica_loop.h.
#include "services/replica/replica_loop.h"

#include <malloc.h>

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/common/grpc_status.h"
#include "libs/common/status_macros.h"

namespace paxoskv::replica {

using paxoskv::v1::Command;
using paxoskv::v1::CommandResult;

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

uint64_t MixSeed(uint64_t seed, uint32_t shard_id, uint32_t replica_id) {
  if (seed == 0) {
    seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return seed ^ (uint64_t{shard_id} << 32) ^ (uint64_t{replica_id} * 0x9E3779B97F4A7C15ULL);
}

}  // namespace

ReplicaLoop::ReplicaLoop(ReplicaOptions options, std::unique_ptr<storage::AcceptorStore> store,
                         std::unique_ptr<MessageSink> sink, std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)),
      logger_(std::move(logger)),
      store_(std::move(store)),
      sink_(std::move(sink)),
      local_client_id_(MixSeed(0, options_.shard_id, options_.replica_id) | (1ULL << 63)) {}

absl::StatusOr<std::unique_ptr<ReplicaLoop>> ReplicaLoop::Create(
    ReplicaOptions options, std::unique_ptr<storage::AcceptorStore> store,
    std::unique_ptr<MessageSink> sink, std::shared_ptr<spdlog::logger> logger) {
  if (options.members.count(options.replica_id) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("replica id ", options.replica_id, " is not in the member list"));
  }
  RETURN_IF_ERROR(store->CheckIdentity(
      {.shard_id = options.shard_id, .replica_id = options.replica_id}));
  ASSIGN_OR_RETURN(storage::Snapshot snapshot, store->LoadSnapshot());
  ASSIGN_OR_RETURN(paxos::DurableState durable, store->Load());

  std::unique_ptr<ReplicaLoop> loop(
      new ReplicaLoop(options, std::move(store), std::move(sink), logger));
  if (snapshot.last_slot > 0) {
    RETURN_IF_ERROR(loop->kv_.Restore(snapshot.data));
  }
  PAXOSKV_CHECK(snapshot.last_slot == durable.snapshot_slot)
      << "snapshot slot " << snapshot.last_slot << " != durable snapshot slot "
      << durable.snapshot_slot;
  loop->last_applied_slot_ = snapshot.last_slot;
  loop->snapshot_slot_ = snapshot.last_slot;
  loop->snapshot_slot_published_ = snapshot.last_slot;
  loop->key_count_ = loop->kv_.key_count();

  paxos::NodeConfig config;
  config.id = NodeId{options.replica_id};
  for (const auto& [id, address] : options.members) config.members.push_back(NodeId{id});
  config.heartbeat_ticks = options.heartbeat_ticks;
  config.election_timeout_ticks = options.election_timeout_ticks;
  config.inflight_slots_max = options.inflight_slots_max;
  config.seed = MixSeed(options.seed, options.shard_id, options.replica_id);
  config.logger = logger;
  ASSIGN_OR_RETURN(auto node, paxos::Node::Restore(config, durable));
  {
    absl::MutexLock lock(&loop->mu_);
    loop->node_ = std::move(node);
    loop->applied_slot_ = snapshot.last_slot;
  }
  logger->info("loaded shard={} replica={} snapshot_slot={} entries={} chosen_through={}",
               options.shard_id, options.replica_id, snapshot.last_slot, durable.entries.size(),
               durable.chosen_through);
  return loop;
}

ReplicaLoop::~ReplicaLoop() { Stop(); }

void ReplicaLoop::Start() {
  loop_thread_ = std::thread([this] { RunLoop(); });
  ticker_thread_ = std::thread([this] { RunTicker(); });
}

void ReplicaLoop::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !loop_thread_.joinable()) return;
    stopping_ = true;
    FailAllWaitersLocked(absl::UnavailableError("replica is shutting down"));
  }
  if (ticker_thread_.joinable()) ticker_thread_.join();
  if (loop_thread_.joinable()) loop_thread_.join();
  if (snapshot_thread_.joinable()) snapshot_thread_.join();
}

absl::Status ReplicaLoop::Deliver(const paxoskv::v1::PaxosMessage& message) {
  if (message.shard_id() != options_.shard_id) {
    return WrongReplicaError(absl::StrCat("message for shard ", message.shard_id(),
                                          " reached shard ", options_.shard_id, " replica ",
                                          options_.replica_id));
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("replica is shutting down");
  return node_->Step(message);
}

absl::Status ReplicaLoop::NotLeaderLocked() {
  mu_.AssertHeld();
  const paxos::Status status = node_->status();
  if (status.leader.has_value() && ToInt(*status.leader) != options_.replica_id) {
    auto it = options_.members.find(ToInt(*status.leader));
    if (it != options_.members.end()) return NotLeaderError(it->second);
  }
  return absl::UnavailableError(
      absl::StrCat("shard ", options_.shard_id, " replica ", options_.replica_id,
                   " knows no leader yet (role ", RoleName(status.role), "); retry"));
}

absl::StatusOr<CommandResult> ReplicaLoop::Execute(Command command, absl::Time deadline) {
  std::vector<Command> one;
  one.push_back(std::move(command));
  ASSIGN_OR_RETURN(std::vector<Outcome> outcomes, ExecuteBatch(std::move(one), deadline));
  return std::move(outcomes.front());
}

void ReplicaLoop::AsyncBatch::Complete(size_t index, Outcome outcome) {
  BatchDone finish;
  std::vector<Outcome> all;
  {
    absl::MutexLock lock(&mu);
    outcomes[index] = std::move(outcome);
    if (--remaining > 0) return;
    finish = std::move(done);
    all = std::move(outcomes);
  }
  std::move(finish)(std::move(all));
}

void ReplicaLoop::Waiter::Finish(absl::StatusOr<paxoskv::v1::CommandResult> outcome) {
  if (batch != nullptr) {
    // Nobody waits on `done` for an async batch's command.
    std::shared_ptr<AsyncBatch> owner = std::move(batch);
    owner->Complete(index, std::move(outcome));
    return;
  }
  result = std::move(outcome);
  done.Notify();
}

absl::Status ReplicaLoop::ProposeBatchLocked(std::vector<Command>& commands,
                                             std::vector<Outcome>& outcomes,
                                             std::vector<Pending>& pending,
                                             const std::shared_ptr<AsyncBatch>& batch,
                                             uint64_t* read_id) {
  mu_.AssertHeld();
  *read_id = 0;
  for (const Command& command : commands) {
    if (command.shard_id() != 0 && command.shard_id() != options_.shard_id) {
      return WrongReplicaError(absl::StrCat("this replica belongs to shard ", options_.shard_id,
                                            ", not shard ", command.shard_id()));
    }
  }
  if (stopping_) return absl::UnavailableError("replica is shutting down");
  auto new_waiter = [&batch](size_t index) {
    auto waiter = std::make_shared<Waiter>();
    waiter->batch = batch;
    waiter->index = index;
    return waiter;
  };
  PendingRead read;
  bool overloaded = false;
  for (size_t i = 0; i < commands.size(); ++i) {
    Command& command = commands[i];
    if (absl::Status valid = kv::ValidateCommand(command); !valid.ok()) {
      outcomes[i] = std::move(valid);
      continue;
    }
    if (overloaded) {
      outcomes[i] = absl::UnavailableError("replica overloaded: too many pending commands; retry");
      continue;
    }
    if (command.op() == paxoskv::v1::OP_GET) {
      auto waiter = new_waiter(i);
      read.gets.emplace_back(waiter, std::move(command));
      pending.push_back({.index = i, .waiter = std::move(waiter)});
      continue;
    }
    if (command.client_id() == 0) {
      command.set_client_id(local_client_id_);
      command.set_seq(next_local_seq_++);
    }
    const CommandKey key{command.client_id(), command.seq()};
    absl::Status status = node_->Propose(std::move(command));
    if (absl::IsResourceExhausted(status)) {
      overloaded = true;
      outcomes[i] = absl::UnavailableError("replica overloaded: too many pending commands; retry");
      continue;
    }
    // Not the leader: nothing of this call was proposed before (leadership only changes
    // under mu_), so the whole call fails with the hint.
    if (!status.ok()) return NotLeaderLocked();
    auto waiter = new_waiter(i);
    waiters_.emplace(key, waiter);
    pending.push_back({.index = i, .waiter = std::move(waiter), .key = key});
  }
  if (!read.gets.empty()) {
    // Propose and ReadIndex both need leadership, which cannot change under mu_: a refusal
    // here means no write of this call was proposed either.
    const uint64_t id = next_read_id_++;
    if (!node_->ReadIndex(id).ok()) return NotLeaderLocked();
    reads_.emplace(id, std::move(read));
    *read_id = id;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ReplicaLoop::Outcome>> ReplicaLoop::ExecuteBatch(
    std::vector<Command> commands, absl::Time deadline) {
  std::vector<Outcome> outcomes(commands.size(), absl::UnknownError("not completed"));
  std::vector<Pending> pending;
  pending.reserve(commands.size());
  uint64_t read_id = 0;
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(ProposeBatchLocked(commands, outcomes, pending, nullptr, &read_id));
  }

  bool timed_out = false;
  for (Pending& p : pending) {
    if (!timed_out && p.waiter->done.WaitForNotificationWithDeadline(deadline)) {
      outcomes[p.index] = p.waiter->result;
      continue;
    }
    timed_out = true;
  }
  if (!timed_out) return outcomes;

  absl::MutexLock lock(&mu_);
  if (read_id != 0) reads_.erase(read_id);
  for (Pending& p : pending) {
    if (p.waiter->done.HasBeenNotified()) {
      outcomes[p.index] = p.waiter->result;
      continue;
    }
    outcomes[p.index] = absl::DeadlineExceededError(
        "command not chosen before the deadline; outcome unknown, retry with the same id");
    if (p.key == CommandKey{0, 0}) continue;
    auto [begin, end] = waiters_.equal_range(p.key);
    for (auto it = begin; it != end; ++it) {
      if (it->second == p.waiter) {
        waiters_.erase(it);
        break;
      }
    }
  }
  return outcomes;
}

void ReplicaLoop::ExecuteBatchAsync(std::vector<Command> commands, BatchDone done) {
  auto batch = std::make_shared<AsyncBatch>();
  std::vector<Outcome> outcomes(commands.size(), absl::UnknownError("not completed"));
  std::vector<Pending> pending;
  pending.reserve(commands.size());
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    uint64_t read_id = 0;
    status = ProposeBatchLocked(commands, outcomes, pending, batch, &read_id);
    if (status.ok() && !pending.empty()) {
      // Commands complete only under mu_, so none can reach the batch before this.
      absl::MutexLock batch_lock(&batch->mu);
      batch->outcomes = std::move(outcomes);
      batch->remaining = pending.size();
      batch->done = std::move(done);
      return;
    }
  }
  // Refused as a whole (nothing was proposed or registered), or nothing to wait for.
  if (!status.ok()) {
    std::move(done)(std::move(status));
  } else {
    std::move(done)(std::move(outcomes));
  }
}

bool ReplicaLoop::ShouldWakeLocked() const {
  return stopping_ || snapshot_saved_ || node_->HasReady();
}

void ReplicaLoop::RunLoop() {
  while (true) {
    std::optional<paxos::Ready> ready;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &ReplicaLoop::ShouldWakeLocked),
                           absl::Milliseconds(options_.tick_ms));
      if (stopping_) return;
      if (node_->HasReady()) ready = node_->TakeReady();
    }
    if (ready.has_value()) Process(*std::move(ready));
    MaybeFinishSnapshot(/*wait=*/false);
    MaybeStartSnapshot();
    MaybeLogStats();
  }
}

void ReplicaLoop::MaybeLogStats() {
  const absl::Time now = absl::Now();
  if (now - stats_.since < absl::Seconds(5)) return;
  if (stats_.commands_applied > 0) {
    // Applying frees the parsed commands of every entry (and gRPC its buffers) in many
    // threads' malloc arenas; give whole free pages back so that resident memory follows the
    // live state (a few ms every 5 s, only while there is traffic).
    const absl::Time trim_started = absl::Now();
    malloc_trim(0);
    const double trim_ms = absl::ToDoubleMilliseconds(absl::Now() - trim_started);
    logger_->info(
        "loop stats: readies={} syncs={} sync_ms_avg={:.2f} slots={} commands={} "
        "commands_per_slot={:.1f} messages={} trim_ms={:.1f} over {:.1f}s",
        stats_.readies, stats_.syncs,
        stats_.syncs ? absl::ToDoubleMilliseconds(stats_.sync_time) / stats_.syncs : 0.0,
        stats_.slots_applied, stats_.commands_applied,
        stats_.slots_applied ? double(stats_.commands_applied) / stats_.slots_applied : 0.0,
        stats_.messages_sent, trim_ms, absl::ToDoubleSeconds(now - stats_.since));
  }
  stats_ = LoopStats{};
  stats_.since = now;
}

void ReplicaLoop::RunTicker() {
  const absl::Duration tick = absl::Milliseconds(options_.tick_ms);
  absl::Time next = absl::Now() + tick;
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    // Waits for the next tick, waking early only to stop.
    mu_.AwaitWithDeadline(absl::Condition(&stopping_), next);
    if (stopping_) return;
    next += tick;
    if (next < absl::Now()) next = absl::Now() + tick;   // fell behind: do not burst
    node_->Tick();
    const bool leader = node_->status().role == paxos::Role::kLeader;
    if (was_leader_ && !leader) {
      FailAllWaitersLocked(absl::UnavailableError(
          "leadership lost before the command was chosen; outcome unknown, retry"));
    }
    if (leader != was_leader_) {
      logger_->info("role={}", leader ? "leader" : "not-leader");
    }
    was_leader_ = leader;
  }
}

void ReplicaLoop::Process(paxos::Ready ready) {
  ++stats_.readies;
  stats_.messages_sent += ready.proposals.size() + ready.messages.size();
  // 0. Fresh proposals leave at once: the followers' fsyncs overlap ours.
  for (auto& message : ready.proposals) sink_->Send(std::move(message));

  // Chosen entries may be applied (and their clients answered) before this Ready's durable
  // state is saved: a slot is chosen only once a majority has it durable, and the core
  // reports a slot chosen at the earliest in the Ready after the one holding our own
  // acceptance of it, which Process saved before TakeReady was called again. The exceptions
  // keep the usual order: a snapshot to install first, or a chosen slot whose entry is in
  // this very batch (a group of one, or a value learned with this Ready).
  bool apply_first = !ready.snapshot.has_value() && !ready.chosen.empty();
  // Both lists are in slot order: one merge pass finds a slot in both.
  auto writing = ready.accepted.begin();
  for (auto chosen = ready.chosen.begin(); apply_first && chosen != ready.chosen.end(); ++chosen) {
    while (writing != ready.accepted.end() && writing->slot() < chosen->slot()) ++writing;
    if (writing != ready.accepted.end() && writing->slot() == chosen->slot()) apply_first = false;
  }
  if (apply_first) ApplyAndComplete(ready);

  // 1. Durable state first: the messages below promise what it says.
  const bool must_sync = ready.promised.has_value() || !ready.accepted.empty();
  if (must_sync || ready.chosen_through.has_value()) {
    storage::WriteBatch batch;
    batch.promised = std::move(ready.promised);
    batch.accepted = std::move(ready.accepted);
    batch.chosen_through = ready.chosen_through;
    batch.sync = must_sync;
    const absl::Time started = absl::Now();
    absl::Status status = store_->Write(batch);
    if (must_sync) {
      ++stats_.syncs;
      stats_.sync_time += absl::Now() - started;
    }
    // Replying after a lost promise would break safety: crash on purpose.
    PAXOSKV_CHECK(status.ok()) << "durable write failed: " << status.ToString();
  }

  // 2. Messages.
  for (auto& message : ready.messages) {
    if (message.has_install_snapshot()) {
      if (sink_->SnapshotInFlight(message.to())) {
        logger_->debug("snapshot to {} still in flight: not sending another", message.to());
        continue;
      }
      absl::StatusOr<storage::Snapshot> snapshot = store_->LoadSnapshot();
      if (!snapshot.ok() || snapshot->last_slot == 0) {
        logger_->warn("cannot send snapshot to {}: {}", message.to(),
                      snapshot.ok() ? "no snapshot yet" : snapshot.status().ToString());
        continue;
      }
      message.mutable_install_snapshot()->set_last_slot(snapshot->last_slot);
      message.mutable_install_snapshot()->set_data(std::move(snapshot->data));
      logger_->info("sending snapshot to={} last_slot={}", message.to(),
                    message.install_snapshot().last_slot());
    }
    sink_->Send(std::move(message));
  }

  // 3. A snapshot from the leader replaces the state machine.
  if (ready.snapshot.has_value()) {
    const auto& snapshot = *ready.snapshot;
    MaybeFinishSnapshot(/*wait=*/true);   // nobody may read kv_ while it is replaced
    while (!unapplied_.empty() && unapplied_.front().slot() <= snapshot.last_slot()) {
      unapplied_.pop_front();   // covered by the snapshot
    }
    absl::Status restored = kv_.Restore(snapshot.data());
    PAXOSKV_CHECK(restored.ok()) << "cannot install snapshot at slot " << snapshot.last_slot()
                                 << ": " << restored.ToString();
    PAXOSKV_CHECK_OK(store_->SaveSnapshot({.last_slot = snapshot.last_slot(),
                                           .data = snapshot.data()}));
    last_applied_slot_ = snapshot.last_slot();
    snapshot_slot_ = snapshot.last_slot();
    snapshot_slot_published_ = snapshot_slot_;
    commands_since_snapshot_ = 0;
    malloc_trim(0);   // the replaced state's blocks
    logger_->info("installed snapshot last_slot={} keys={}", snapshot.last_slot(),
                  kv_.key_count());
  }

  // 4. Apply chosen entries (unless done before persisting, above).
  if (!apply_first) ApplyAndComplete(ready);
}

// Applies ready.chosen in slot order, then completes waiting commands and reads.
void ReplicaLoop::ApplyAndComplete(paxos::Ready& ready) {
  for (auto& entry : ready.chosen) unapplied_.push_back(std::move(entry));
  ready.chosen.clear();
  std::vector<std::pair<CommandKey, CommandResult>> results;
  // While the snapshot thread reads kv_, chosen entries wait in unapplied_.
  while (snapshot_running_slot_ == 0 && !unapplied_.empty()) {
    const paxoskv::v1::Entry entry = std::move(unapplied_.front());
    unapplied_.pop_front();
    PAXOSKV_CHECK(entry.slot() == last_applied_slot_ + 1)
        << "chosen slot " << entry.slot() << " does not follow applied " << last_applied_slot_;
    for (const Command& command : entry.value().commands()) {
      CommandResult result = kv_.Apply(entry.slot(), command);
      results.emplace_back(CommandKey{command.client_id(), command.seq()}, std::move(result));
      ++commands_since_snapshot_;
    }
    last_applied_slot_ = entry.slot();
    ++stats_.slots_applied;
    stats_.commands_applied += static_cast<uint64_t>(entry.value().commands_size());
  }
  key_count_ = kv_.key_count();

  absl::MutexLock lock(&mu_);
  applied_slot_ = last_applied_slot_;
  for (auto& [key, result] : results) {
    auto [begin, end] = waiters_.equal_range(key);
    for (auto it = begin; it != end; ++it) it->second->Finish(result);
    waiters_.erase(begin, end);
  }
  for (const paxos::ReadState& read : ready.reads) {
    auto it = reads_.find(read.id);
    if (it != reads_.end()) it->second.read_slot = read.read_slot;
  }
  for (uint64_t id : ready.reads_failed) {
    auto it = reads_.find(id);
    if (it == reads_.end()) continue;
    for (auto& [waiter, command] : it->second.gets) {
      waiter->Finish(absl::UnavailableError("leadership lost during a read; retry"));
    }
    reads_.erase(it);
  }
  ServeReadsLocked();
  const bool leader = node_->status().role == paxos::Role::kLeader;
  if (was_leader_ && !leader) {
    FailAllWaitersLocked(absl::UnavailableError(
        "leadership lost before the command was chosen; outcome unknown, retry"));
  }
  was_leader_ = leader;
}

void ReplicaLoop::ServeReadsLocked() {
  mu_.AssertHeld();
  for (auto it = reads_.begin(); it != reads_.end();) {
    auto current = it++;
    PendingRead& read = current->second;
    if (!read.read_slot.has_value() || *read.read_slot > last_applied_slot_) continue;
    for (auto& [waiter, command] : read.gets) waiter->Finish(kv_.Read(command));
    reads_.erase(current);
  }
}

void ReplicaLoop::FailAllWaitersLocked(const absl::Status& status) {
  mu_.AssertHeld();
  for (auto& [key, waiter] : waiters_) waiter->Finish(status);
  waiters_.clear();
  for (auto& [id, read] : reads_) {
    for (auto& [waiter, command] : read.gets) waiter->Finish(status);
  }
  reads_.clear();
}

void ReplicaLoop::MaybeStartSnapshot() {
  if (snapshot_running_slot_ != 0) return;
  if (commands_since_snapshot_ < options_.snapshot_every_commands) return;
  if (last_applied_slot_ <= snapshot_slot_) return;
  const SlotId slot = last_applied_slot_;
  snapshot_running_slot_ = slot;
  snapshot_started_ = absl::Now();
  commands_since_snapshot_ = 0;
  snapshot_thread_ = std::thread([this, slot] {
    // kv_ stays as of `slot` meanwhile: the loop thread applies nothing until we are done.
    storage::Snapshot snapshot{.last_slot = slot, .data = kv_.Snapshot()};
    const size_t bytes = snapshot.data.size();
    const absl::Time serialized = absl::Now();
    absl::Status status = store_->SaveSnapshot(snapshot);
    snapshot = {};
    // Serializing and compacting freed many small blocks (the log tail's commands): hand the
    // free pages back to the kernel so resident memory follows the live state.
    malloc_trim(0);
    logger_->info("saved snapshot last_slot={} bytes={} serialize_ms={:.1f} save_ms={:.1f}", slot,
                  bytes, absl::ToDoubleMilliseconds(serialized - snapshot_started_),
                  absl::ToDoubleMilliseconds(absl::Now() - serialized));
    absl::MutexLock lock(&mu_);
    snapshot_status_ = std::move(status);
    snapshot_saved_ = true;
  });
}

void ReplicaLoop::MaybeFinishSnapshot(bool wait) {
  if (snapshot_running_slot_ == 0) return;
  {
    absl::MutexLock lock(&mu_);
    if (wait) mu_.Await(absl::Condition(&snapshot_saved_));
    if (!snapshot_saved_) return;
    snapshot_saved_ = false;
    // A snapshot that cannot be made durable is a failed fsync: crash on purpose.
    PAXOSKV_CHECK(snapshot_status_.ok()) << "saving snapshot failed: " << snapshot_status_;
  }
  snapshot_thread_.join();
  const SlotId slot = snapshot_running_slot_;
  snapshot_running_slot_ = 0;
  snapshot_slot_ = slot;
  snapshot_slot_published_ = slot;
  {
    absl::MutexLock lock(&mu_);
    node_->Compact(slot);
  }
  logger_->info("snapshot at slot {} done in {:.1f} ms; applying {} entries chosen meanwhile",
                slot, absl::ToDoubleMilliseconds(absl::Now() - snapshot_started_),
                unapplied_.size());
  paxos::Ready nothing;
  ApplyAndComplete(nothing);
}

paxoskv::v1::ReplicaStatus ReplicaLoop::GetStatus() {
  paxoskv::v1::ReplicaStatus out;
  absl::MutexLock lock(&mu_);
  const paxos::Status status = node_->status();
  out.set_shard_id(options_.shard_id);
  out.set_replica_id(options_.replica_id);
  out.set_role(RoleName(status.role));
  if (status.leader.has_value()) {
    out.set_leader_id(ToInt(*status.leader));
    auto it = options_.members.find(ToInt(*status.leader));
    if (it != options_.members.end()) out.set_leader_address(it->second);
  }
  out.set_ballot_round(status.ballot.round());
  out.set_chosen_slot(status.chosen_through);
  out.set_applied_slot(applied_slot_);
  out.set_snapshot_slot(snapshot_slot_published_.load());
  out.set_key_count(key_count_.load());
  return out;
}

}  // namespace paxoskv::replica

// See sim_cluster.h.
#include "tests/sim/sim_cluster.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include <spdlog/sinks/stdout_sinks.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/common/status_markers.h"
#include "libs/replica/snapshot_transfer.h"
#include "services/client/lincheck/checker.h"

namespace paxoskv::sim {

namespace pb = ::paxoskv::v1;
using replica::ReplicaCore;

std::string Address(uint32_t id) { return absl::StrCat("n", id); }

// The simulated network, as one replica sees it: what it sends goes into the cluster's
// in-flight list, unless the replica has already lost its power (a dead machine sends
// nothing) or goes on after a failed write (which it must never do).
class SimCluster::Sink final : public replica::MessageSink {
 public:
  Sink(SimCluster* cluster, uint32_t node) : cluster_(cluster), node_(node) {}

  void Send(pb::PaxosMessage message) override {
    std::vector<pb::PaxosMessage> one;
    one.push_back(std::move(message));
    Forward(std::move(one));
  }

  void SendSnapshot(pb::PaxosMessage header,
                    std::unique_ptr<storage::SnapshotReader> reader) override {
    std::vector<pb::PaxosMessage> chunks;
    absl::Status status = replica::SendAllChunks(
        header, *reader, [&chunks](pb::PaxosMessage chunk) { chunks.push_back(std::move(chunk)); });
    if (!status.ok()) {
      cluster_->Violation(absl::StrCat("n", node_, " cannot read its snapshot: ", status.ToString()));
      return;
    }
    ++cluster_->stats_.snapshots_sent;
    cluster_->stats_.snapshot_chunks += static_cast<int64_t>(chunks.size());
    Forward(std::move(chunks));
  }

 private:
  void Forward(std::vector<pb::PaxosMessage> messages) {
    SimNode& n = cluster_->nodes_[node_ - 1];
    if (n.store->failed_writes() != n.failed_writes_seen) {
      cluster_->Violation(absl::StrCat("n", node_, " sent a message after a failed write"));
      return;
    }
    if (n.store->power_cut()) return;
    for (auto& m : messages) m.set_shard_id(1);
    cluster_->Send(node_, std::move(messages));
  }

  SimCluster* const cluster_;
  const uint32_t node_;
};

SimCluster::SimCluster(const SimOptions& options)
    : opt_(options),
      rng_(options.seed),
      kills_left_(options.kills),
      replacements_left_(options.replacements) {
  std::vector<uint32_t> founding;
  for (int i = 1; i <= opt_.nodes; ++i) founding.push_back(static_cast<uint32_t>(i));
  memberships_.emplace(0, paxos::Configuration::Founding(founding));
  for (int i = 0; i < opt_.nodes; ++i) AddNode();
  for (SimNode& n : nodes_) StartNode(n);
  const int per_client = opt_.commands / std::max(1, opt_.clients);
  for (int c = 0; c < opt_.clients; ++c) {
    Client cl;
    cl.id = static_cast<uint64_t>(c + 1);
    cl.remaining = per_client + (c < opt_.commands % std::max(1, opt_.clients) ? 1 : 0);
    cl.target = static_cast<uint32_t>(1 + Rand(static_cast<uint64_t>(opt_.nodes)));
    cl.done = cl.remaining == 0;
    clients_.push_back(cl);
  }
}

SimCluster::SimNode& SimCluster::AddNode() {
  SimNode& n = nodes_.emplace_back();
  n.id = static_cast<uint32_t>(nodes_.size());
  n.store = std::make_unique<storage::FaultyStore>(Address(n.id));
  n.store->SetDurableHook([this, id = n.id](const storage::WriteBatch& batch) {
    for (const pb::Entry& e : batch.accepted) Record(id, e);
  });
  n.sink = std::make_unique<Sink>(this, n.id);
  return n;
}

SimCluster::~SimCluster() {
  // Cores may hold callbacks into the clients: destroy them first.
  for (SimNode& n : nodes_) {
    n.job.reset();
    n.core.reset();
  }
}

replica::CoreOptions SimCluster::MakeOptions(uint32_t id) {
  replica::CoreOptions o;
  o.shard_id = 1;
  o.replica_id = id;
  for (int i = 1; i <= opt_.nodes; ++i) o.members[static_cast<uint32_t>(i)] = Address(i);
  if (id > static_cast<uint32_t>(opt_.nodes)) {  // a replacement: joins the running shard
    o.members[id] = Address(id);
    o.join = true;
  }
  o.heartbeat_ticks = opt_.heartbeat_ticks;
  o.election_timeout_ticks = opt_.election_timeout_ticks;
  o.inflight_slots_max = opt_.inflight_slots_max;
  o.batch_commands_max = opt_.batch_commands_max;
  o.learn_entries_max = opt_.learn_entries_max;
  o.seed = opt_.seed * 1000 + id;
  o.local_client_id = (uint64_t{1} << 63) | (opt_.seed << 8) | id;
  o.new_incarnation = (opt_.seed << 8) | id;   // a node's directory lives as long as the run
  o.snapshot_every_commands = opt_.snapshot_every_commands;
  o.snapshot_chunk_bytes = opt_.snapshot_chunk_bytes;
  o.kv_limits = opt_.kv_limits;
  o.check_invariants = true;
  o.applied_hook = [this, id](const pb::Entry& entry, const std::vector<pb::CommandResult>& r) {
    OnApplied(id, entry, r);
  };
  return o;
}

void SimCluster::Violation(const std::string& what) {
  violations_.push_back(absl::StrCat("t=", now_, ": ", what));
}

// ---- Replicas --------------------------------------------------------------------------------

void SimCluster::StartNode(SimNode& n) {
  std::shared_ptr<spdlog::logger> logger = NullLogger();
  if (opt_.trace) {
    static auto sink = std::make_shared<spdlog::sinks::stderr_sink_st>();
    logger = std::make_shared<spdlog::logger>(absl::StrCat("n", n.id), sink);
    logger->set_level(spdlog::level::info);
  }
  auto core = ReplicaCore::Open(MakeOptions(n.id), n.store.get(), n.sink.get(), logger);
  if (!core.ok()) {
    // A replica that cannot restart is lost for good: the bug the hardening issue is about.
    Violation(absl::StrCat("restart of n", n.id, " failed: ", core.status().ToString()));
    return;
  }
  n.core = *std::move(core);
  n.failed_writes_seen = n.store->failed_writes();
  if (StoppedByFault(n, absl::OkStatus())) return;
  Drain(n);
}

void SimCluster::Crash(SimNode& n, const char* why) {
  if (opt_.trace) std::fprintf(stderr, "t=%lld n%u stops: %s\n", static_cast<long long>(now_), n.id, why);
  n.job.reset();
  n.core.reset();
  // What reached the disk of the writes made since the last fsync: some prefix of them.
  n.store->SimulateCrash(static_cast<size_t>(Rand(4)));
  n.failed_writes_seen = n.store->failed_writes();
  n.store->FailNextWrites(0);   // a write error armed but not reached dies with the process
  n.armed = false;
  n.restart_at_tick =
      now_ + 5 + static_cast<int64_t>(Rand(static_cast<uint64_t>(std::max(1, opt_.down_ticks_max))));
  // Messages it had sent may be lost with it.
  std::erase_if(network_, [&](const InFlight& f) {
    return f.messages.front().from() == n.id && Percent(50);
  });
}

bool SimCluster::StoppedByFault(SimNode& n, const absl::Status& status) {
  if (n.store->power_cut()) {
    ++stats_.power_cuts;
    Crash(n, "power cut");
    return true;
  }
  if (!status.ok()) {
    // The replica must stop at once after a failed write: ReplicaLoop crashes on it.
    if (n.store->failed_writes() == n.failed_writes_seen) {
      Violation(absl::StrCat("n", n.id, " stopped on an error without a failed write: ",
                             status.ToString()));
    }
    ++stats_.write_errors;
    Crash(n, "write error");
    return true;
  }
  return false;
}

void SimCluster::Complete(SimNode& n, ReplicaCore::Applied applied) {
  n.core->Complete(std::move(applied));
}

void SimCluster::Drain(SimNode& n) {
  while (n.core && n.core->HasWork() && violations_.empty()) {
    absl::StatusOr<ReplicaCore::Applied> applied = n.core->Process(n.core->TakeWork());
    if (StoppedByFault(n, applied.status())) return;
    Complete(n, *std::move(applied));
    MaybeStartSnapshot(n);
  }
}

void SimCluster::MaybeStartSnapshot(SimNode& n) {
  if (!n.core || n.job.has_value()) return;
  n.job = n.core->MaybeStartSnapshot();
  if (!n.job.has_value()) return;
  n.job_due_tick = now_ + static_cast<int64_t>(Rand(static_cast<uint64_t>(opt_.snapshot_job_ticks_max + 1)));
  if (n.job_due_tick == now_) RunSnapshotJob(n);
}

void SimCluster::RunSnapshotJob(SimNode& n) {
  absl::Status saved = n.job->Run();
  if (n.store->power_cut()) {
    ++stats_.power_cuts;
    Crash(n, "power cut during a snapshot");
    return;
  }
  absl::StatusOr<ReplicaCore::Applied> applied = n.core->FinishSnapshot(*n.job, std::move(saved));
  n.job.reset();
  if (StoppedByFault(n, applied.status())) return;
  Complete(n, *std::move(applied));
  Drain(n);
}

void SimCluster::TickSnapshots() {
  for (SimNode& n : nodes_) {
    if (n.core && n.job.has_value() && now_ >= n.job_due_tick && violations_.empty()) {
      RunSnapshotJob(n);
    }
  }
}

// ---- Oracle -----------------------------------------------------------------------------------

void SimCluster::Record(uint32_t node, const pb::Entry& e) {
  auto key = std::make_pair(e.slot(), std::make_pair(e.ballot().round(), e.ballot().node_id()));
  std::string value = e.value().SerializeAsString();
  Votes& v = votes_[key];
  if (v.nodes.empty()) {
    v.value = value;
  } else if (v.value != value) {
    Violation(absl::StrCat("two values accepted at slot ", e.slot(), " ballot ",
                           e.ballot().round(), ".", e.ballot().node_id()));
  }
  v.nodes.insert(node);
  if (OracleMembershipAt(e.slot()).IsQuorum(v.nodes)) {
    auto [it, inserted] = chosen_.emplace(e.slot(), v.value);
    if (!inserted && it->second != v.value) {
      Violation(absl::StrCat("two different values chosen at slot ", e.slot()));
    }
    if (inserted && e.value().has_membership()) {
      absl::StatusOr<paxos::Configuration> next =
          paxos::Configuration::Make(e.value().membership());
      if (!next.ok()) {
        Violation(absl::StrCat("invalid membership chosen at slot ", e.slot()));
      } else {
        memberships_.emplace(e.slot(), *std::move(next));
      }
    }
    stats_.max_chosen = std::max(stats_.max_chosen, e.slot());
  }
}

const paxos::Configuration& SimCluster::OracleMembershipAt(SlotId slot) const {
  auto it = memberships_.lower_bound(slot);  // the last one chosen below `slot`
  return std::prev(it)->second;
}

void SimCluster::OnApplied(uint32_t node, const pb::Entry& entry,
                           const std::vector<pb::CommandResult>& results) {
  auto chosen = chosen_.find(entry.slot());
  if (chosen == chosen_.end()) {
    Violation(absl::StrCat("n", node, " applied slot ", entry.slot(), " not chosen per oracle"));
    return;
  }
  if (chosen->second != entry.value().SerializeAsString()) {
    Violation(absl::StrCat("n", node, " applied a value at slot ", entry.slot(),
                           " other than the chosen one"));
    return;
  }
  for (int i = 0; i < entry.value().commands_size(); ++i) {
    const pb::Command& command = entry.value().commands(i);
    const pb::CommandResult& result = results[static_cast<size_t>(i)];
    if (command.client_id() == 0 || result.applied_slot() != entry.slot() ||
        result.code() != pb::RESULT_CODE_OK) {
      continue;   // not executed here: a duplicate answered from the table, or refused
    }
    auto [it, inserted] =
        executed_at_.emplace(std::make_pair(command.client_id(), command.seq()), entry.slot());
    if (!inserted && it->second != entry.slot()) {
      Violation(absl::StrCat("command c", command.client_id(), ".", command.seq(),
                             " executed at slot ", it->second, " and again at slot ",
                             entry.slot()));
    }
  }
}

// ---- Network -----------------------------------------------------------------------------------

void SimCluster::Send(uint32_t from, std::vector<pb::PaxosMessage> messages) {
  if (messages.empty()) return;
  if (faults_ && Percent(opt_.loss_percent)) {
    if (messages.size() == 1) return;
    // A snapshot transfer cut short: the receiver keeps what came, the sender asks again.
    messages.resize(static_cast<size_t>(Rand(messages.size())));
    if (messages.empty()) return;
  }
  const uint32_t to = messages.front().to();
  if (partition_until_ >= 0 && nodes_[from - 1].side != nodes_[to - 1].side) return;
  const int copies = 1 + (faults_ && Percent(opt_.duplicate_percent) ? 1 : 0);
  for (int i = 0; i < copies; ++i) {
    const int span = std::max(0, opt_.delay_ticks_max - opt_.delay_ticks_min) + 1;
    InFlight f;
    f.deliver_at = now_ + opt_.delay_ticks_min +
                   static_cast<int64_t>(Rand(static_cast<uint64_t>(span)));
    f.order = rng_();
    f.messages = messages;
    network_.push_back(std::move(f));
  }
}

void SimCluster::TickNetwork() {
  std::vector<InFlight> due;
  std::vector<InFlight> later;
  for (InFlight& f : network_) (f.deliver_at <= now_ ? due : later).push_back(std::move(f));
  network_ = std::move(later);
  std::sort(due.begin(), due.end(), [](const InFlight& a, const InFlight& b) {
    return a.deliver_at != b.deliver_at ? a.deliver_at < b.deliver_at : a.order < b.order;
  });
  for (InFlight& f : due) {
    for (const pb::PaxosMessage& m : f.messages) {
      if (!violations_.empty()) return;
      SimNode& to = nodes_[m.to() - 1];
      if (!to.core) break;
      if (partition_until_ >= 0 && nodes_[m.from() - 1].side != to.side) break;
      ++stats_.messages_delivered;
      // Refusals are part of the protocol here (stale snapshots, messages beyond a lagging
      // replica's window, a transfer cut short): the core must change nothing, which its
      // invariants and the oracle check.
      const bool taken = to.core->Deliver(m).ok();
      if (StoppedByFault(to, absl::OkStatus())) break;
      Drain(to);
      if (!taken) break;   // the rest of a transfer is refused too (as the transport stops)
    }
  }
}

// ---- Faults -------------------------------------------------------------------------------------

size_t SimCluster::DownOrArmed() const {
  size_t down = 0;
  for (uint32_t v : OracleMembership().voters()) {
    const SimNode& n = nodes_[v - 1];
    down += (!n.core || n.dead || n.armed) ? 1 : 0;
  }
  return down;
}

void SimCluster::TickFaults() {
  for (SimNode& n : nodes_) {
    if (!n.core && !n.dead && (!faults_ || now_ >= n.restart_at_tick)) {
      if (opt_.trace) {
        std::fprintf(stderr, "t=%lld restart n%u\n", static_cast<long long>(now_), n.id);
      }
      StartNode(n);
    }
  }
  if (partition_until_ >= 0 && (!faults_ || now_ >= partition_until_)) {
    partition_until_ = -1;
    for (SimNode& n : nodes_) n.side = 0;
    if (opt_.trace) std::fprintf(stderr, "t=%lld partition healed\n", static_cast<long long>(now_));
  }
  if (!faults_) return;
  if (partition_until_ < 0 && Permille(opt_.partition_permille)) {
    ++stats_.partitions;
    partition_until_ = now_ + 10 + static_cast<int64_t>(Rand(static_cast<uint64_t>(
                                       std::max(1, opt_.partition_ticks_max))));
    // A random split with both sides non-empty.
    const uint64_t mask = 1 + Rand((uint64_t{1} << std::min<size_t>(nodes_.size(), 62)) - 2);
    for (SimNode& n : nodes_) n.side = static_cast<int>((mask >> (n.id - 1)) & 1);
  }
  // At most f voters down (or about to be) at once, so that a quorum can go on (none before
  // the founding entry: it needs every founding member).
  const paxos::Configuration& members = OracleMembership();
  const size_t f = members.voters().size() - members.QuorumSize();
  SimNode& victim = nodes_[Rand(nodes_.size())];
  if (!victim.core || victim.armed) return;
  if (members.IsVoter(victim.id) && DownOrArmed() + 1 > f) return;
  if (kills_left_ > 0 && members.IsVoter(victim.id) && Permille(2)) {
    --kills_left_;
    ++stats_.kills;
    Crash(victim, "killed for good");
    victim.dead = true;
  } else if (Permille(opt_.crash_permille)) {
    ++stats_.crashes;
    Crash(victim, "crash");
  } else if (Permille(opt_.power_cut_permille)) {
    victim.armed = true;
    victim.store->CutPowerAfter(Rand(4));
  } else if (Permille(opt_.write_error_permille)) {
    victim.armed = true;
    victim.store->FailNextWrites(1);
  }
}

// ---- Membership ---------------------------------------------------------------------------------

void SimCluster::ProposeChange(const paxos::ConfChange& change) {
  for (SimNode& n : nodes_) {
    if (!n.core || !n.core->is_leader()) continue;
    absl::Status status = n.core->ChangeMembership(change).status();
    if (absl::IsUnavailable(status) && !n.core->is_leader()) ++stats_.leader_handovers;
    if (opt_.trace) {
      std::fprintf(stderr, "t=%lld n%u membership change %d of n%u: %s\n",
                   static_cast<long long>(now_), n.id, static_cast<int>(change.type), change.id,
                   status.ToString().c_str());
    }
    Drain(n);
    return;
  }
}

void SimCluster::TickMembership() {
  if (!violations_.empty()) return;
  const paxos::Configuration& members = OracleMembership();
  if (!members.pinned()) return;  // the founding entry comes first
  Replacement& r = replacement_;
  if (r.added == 0) {
    if (!faults_ || replacements_left_ == 0 || !Permille(opt_.replace_permille)) return;
    // A voter killed for good is replaced; with none dead, the leader is.
    uint32_t leaving = 0;
    for (uint32_t v : members.voters()) {
      if (nodes_[v - 1].dead) leaving = v;
    }
    for (const SimNode& n : nodes_) {
      if (leaving == 0 && n.core && n.core->is_leader() && members.IsVoter(n.id)) leaving = n.id;
    }
    if (leaving == 0) return;
    --replacements_left_;
    SimNode& added = AddNode();
    StartNode(added);
    r = Replacement{.added = added.id, .removed = leaving, .promoted = false, .next_try = now_};
    if (opt_.trace) {
      std::fprintf(stderr, "t=%lld replacing n%u by n%u\n", static_cast<long long>(now_), leaving,
                   added.id);
    }
  }
  if (now_ < r.next_try) return;
  r.next_try = now_ + 10;
  if (!members.Contains(r.added)) {
    paxos::ConfChange add;
    add.type = paxos::ConfChange::Type::kAddLearner;
    add.id = r.added;
    add.address = Address(r.added);
    add.promote = true;
    ProposeChange(add);
    return;
  }
  if (!members.IsVoter(r.added)) return;  // the leader promotes it once it has caught up
  if (!r.promoted) {
    r.promoted = true;
    ++stats_.members_added;
  }
  if (members.Contains(r.removed)) {
    paxos::ConfChange remove;
    remove.type = paxos::ConfChange::Type::kRemove;
    remove.id = r.removed;
    ProposeChange(remove);
    return;
  }
  ++stats_.members_removed;
  r = Replacement{};
}

// ---- Clients ------------------------------------------------------------------------------------

void SimCluster::StartOperation(Client& c) {
  c.busy = true;
  c.op_id = next_op_id_++;
  c.command.Clear();
  c.op = lincheck::Operation{};
  c.op.client = static_cast<int64_t>(c.id);
  const std::string key = absl::StrCat("k", Rand(static_cast<uint64_t>(std::max(1, opt_.keys))));
  c.op.key = key;
  c.command.set_key(key);
  const int roll = static_cast<int>(Rand(100));
  if (roll < opt_.read_percent) {
    c.op.kind = lincheck::OpKind::kGet;
    c.command.set_op(pb::OP_GET);
  } else {
    ++c.seq;
    c.command.set_client_id(c.id);
    c.command.set_seq(c.seq);
    if (roll < opt_.read_percent + opt_.delete_percent) {
      c.op.kind = lincheck::OpKind::kDelete;
      c.command.set_op(pb::OP_DELETE);
    } else {
      c.op.kind = lincheck::OpKind::kPut;
      c.op.value = absl::StrCat("c", c.id, ".", c.seq);
      c.command.set_op(pb::OP_PUT);
      c.command.set_value(c.op.value);
    }
  }
  --c.remaining;
  c.attempting = false;
  // Think a while, so that the workload overlaps the fault phase.
  c.next_tick = now_ + static_cast<int64_t>(Rand(static_cast<uint64_t>(std::max(1, opt_.think_ticks_max))));
}

void SimCluster::Attempt(size_t index) {
  Client& c = clients_[index];
  if (c.op.call_ns == 0) c.op.call_ns = Nanos();
  c.attempting = true;
  c.next_tick = now_ + opt_.client_timeout_ticks;
  SimNode& n = nodes_[c.target - 1];
  if (!n.core) {
    c.attempting = false;
    c.target = static_cast<uint32_t>(1 + Rand(nodes_.size()));
    c.next_tick = now_ + 2;
    return;
  }
  std::vector<pb::Command> one;
  one.push_back(c.command);   // a retry carries the same client_id and seq
  const uint64_t op_id = c.op_id;
  n.core->Propose(std::move(one), replica::CommandOrigin::kClient,
                  static_cast<uint64_t>(now_) * 10,
                  [this, index, op_id](absl::StatusOr<std::vector<ReplicaCore::Outcome>> r) {
                    OnOutcome(index, op_id, std::move(r));
                  });
  Drain(n);
}

void SimCluster::OnOutcome(size_t index, uint64_t op_id,
                           absl::StatusOr<std::vector<ReplicaCore::Outcome>> outcomes) {
  Client& c = clients_[index];
  if (!c.busy || c.op_id != op_id) return;   // an older operation's late answer
  const auto retry = [&](std::optional<uint32_t> hint) {
    c.attempting = false;
    c.target = hint.value_or(static_cast<uint32_t>(1 + Rand(nodes_.size())));
    c.next_tick = now_ + 1;   // never from inside the core's call
  };
  absl::Status status = outcomes.ok() ? outcomes->front().status() : outcomes.status();
  if (!status.ok()) {
    std::optional<uint32_t> hint;
    if (auto address = LeaderHint(status); address.has_value() && address->size() > 1) {
      uint32_t id = 0;
      if (absl::SimpleAtoi(address->substr(1), &id) && id >= 1 && id <= nodes_.size()) hint = id;
    }
    if (absl::IsInvalidArgument(status)) {
      Violation(absl::StrCat("c", c.id, " got INVALID_ARGUMENT: ", status.ToString()));
    }
    retry(hint);
    return;
  }
  const pb::CommandResult& result = *outcomes->front();
  switch (result.code()) {
    case pb::RESULT_CODE_OK:
      if (c.op.kind == lincheck::OpKind::kGet) {
        Finish(c, "OK", result.value(), std::nullopt);
      } else if (c.op.kind == lincheck::OpKind::kDelete) {
        Finish(c, "OK", std::nullopt, result.existed());
      } else {
        Finish(c, "OK", std::nullopt, std::nullopt);
      }
      break;
    case pb::RESULT_CODE_NOT_FOUND:
      Finish(c, c.op.kind == lincheck::OpKind::kGet ? "NOT_FOUND" : "OK", std::nullopt,
             std::nullopt);
      break;
    case pb::RESULT_CODE_STALE_REQUEST:
      Finish(c, "ABORTED", std::nullopt, std::nullopt);   // outcome unknown: say so
      break;
    default:
      Violation(absl::StrCat("c", c.id, " got result ", pb::ResultCode_Name(result.code()), ": ",
                             result.message()));
      Finish(c, "INTERNAL", std::nullopt, std::nullopt);
  }
}

void SimCluster::Finish(Client& c, const std::string& status, std::optional<std::string> output,
                        std::optional<bool> deleted) {
  if (opt_.trace) {
    std::fprintf(stderr, "t=%lld c%llu op %d %s -> %s %s via n%u\n", static_cast<long long>(now_),
                 static_cast<unsigned long long>(c.id), static_cast<int>(c.op.kind),
                 c.op.key.c_str(), status.c_str(), output.value_or("-").c_str(), c.target);
  }
  c.op.return_ns = Nanos();
  c.op.status = status;
  c.op.output = std::move(output);
  c.op.deleted = deleted;
  history_.push_back(c.op);
  ++stats_.operations_done;
  c.busy = false;
  c.attempting = false;
  c.next_tick = now_ + 1;
}

void SimCluster::TickClients() {
  for (size_t i = 0; i < clients_.size() && violations_.empty(); ++i) {
    Client& c = clients_[i];
    if (c.done) continue;
    if (!c.busy) {
      if (now_ < c.next_tick) continue;
      if (c.remaining == 0) {
        c.done = true;
        continue;
      }
      StartOperation(c);
    }
    if (now_ < c.next_tick) continue;
    if (c.attempting) {
      // Timed out: the target may be a deposed leader; ask another replica.
      c.target = static_cast<uint32_t>(1 + (c.target + Rand(nodes_.size() - 1)) % nodes_.size());
    }
    Attempt(i);
  }
}

// ---- Run ------------------------------------------------------------------------------------------

std::string SimCluster::StatusLines() const {
  std::string out;
  for (const SimNode& n : nodes_) {
    if (!n.core) {
      absl::StrAppend(&out, "t=", now_, " n", n.id, n.dead ? " dead\n" : " down\n");
      continue;
    }
    const pb::ReplicaStatus s = n.core->status();
    absl::StrAppend(&out, "t=", now_, " n", n.id, " ", s.role(), " round=", s.ballot_round(),
                    " chosen=", s.chosen_slot(), " applied=", s.applied_slot(),
                    " snapshot=", s.snapshot_slot(), " refused=", s.refused_messages(),
                    " side=", n.side, s.voter() ? " voter" : " non-voter", "\n");
  }
  return out;
}

void SimCluster::CheckHistory() {
  const lincheck::CheckResult result = lincheck::Check(history_);
  if (result.verdict != lincheck::Verdict::kLinearizable) {
    Violation(absl::StrCat("history of ", history_.size(), " operations is ",
                           lincheck::VerdictName(result.verdict), ":\n",
                           lincheck::FormatReport(result, /*verbose=*/false)));
  }
}

void SimCluster::Run() {
  const int64_t end = opt_.fault_ticks + opt_.heal_ticks;
  auto all_done = [&] {
    return std::all_of(clients_.begin(), clients_.end(), [](const Client& c) { return c.done; });
  };
  while (now_ < end && violations_.empty()) {
    ++now_;
    if (faults_ && now_ > opt_.fault_ticks) faults_ = false;
    TickFaults();
    TickNetwork();
    for (SimNode& n : nodes_) {
      if (!n.core || !violations_.empty()) continue;
      n.core->Tick();
      Drain(n);
    }
    TickSnapshots();
    TickClients();
    TickMembership();
    std::optional<uint32_t> leader;
    for (const SimNode& n : nodes_) {
      if (n.core && n.core->is_leader()) leader = n.id;
    }
    if (leader && leader != last_leader_) {
      ++stats_.leader_changes;
      last_leader_ = leader;
    }
    if (opt_.trace) std::fputs(StatusLines().c_str(), stderr);
    if (!faults_ && all_done()) break;
  }
  stats_.ticks = now_;
  if (!violations_.empty()) return;
  if (!all_done()) {
    int open = 0;
    for (const Client& c : clients_) open += c.done ? 0 : 1;
    Violation(absl::StrCat("liveness: ", open, " clients unfinished after ", opt_.heal_ticks,
                           " fault-free ticks\n", StatusLines()));
    return;
  }
  CheckHistory();
}

}  // namespace paxoskv::sim

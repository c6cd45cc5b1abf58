// See sim_cluster.h.
#include "tests/sim/sim_cluster.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include <spdlog/sinks/stdout_sinks.h>

#include "absl/strings/str_cat.h"
#include "libs/common/logging.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/quorum.h"

namespace paxoskv::sim {

namespace pb = ::paxoskv::v1;

namespace {

uint64_t Mix(uint64_t digest, const std::string& bytes) {
  uint64_t h = digest ^ 0xcbf29ce484222325ULL;  // FNV-1a over the value, chained
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

size_t CountOccurrences(const std::string& haystack, const std::string& needle) {
  size_t count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++count;
  }
  return count;
}

std::string Token(uint64_t client, uint64_t seq) { return absl::StrCat("c", client, ".", seq, ";"); }

const char* RoleName(paxos::Role r) {
  switch (r) {
    case paxos::Role::kLeader:
      return "leader";
    case paxos::Role::kCandidate:
      return "candidate";
    case paxos::Role::kFollower:
      return "follower";
  }
  return "?";
}

// Snapshots travel as an index into this process-wide registry (the driver's "data").
std::vector<std::shared_ptr<const void>>& Registry() {
  static std::vector<std::shared_ptr<const void>> registry;
  return registry;
}

}  // namespace

SimCluster::SimCluster(const SimOptions& options) : opt_(options), rng_(options.seed) {
  nodes_.resize(static_cast<size_t>(opt_.nodes));
  for (int i = 0; i < opt_.nodes; ++i) {
    nodes_[static_cast<size_t>(i)].id = static_cast<uint32_t>(i + 1);
    StartNode(nodes_[static_cast<size_t>(i)]);
  }
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

SimCluster::~SimCluster() = default;

paxos::NodeConfig SimCluster::MakeConfig(uint32_t id) const {
  paxos::NodeConfig c;
  c.id = static_cast<NodeId>(id);
  for (int i = 1; i <= opt_.nodes; ++i) c.members.push_back(static_cast<NodeId>(i));
  c.heartbeat_ticks = opt_.heartbeat_ticks;
  c.election_timeout_ticks = opt_.election_timeout_ticks;
  c.seed = opt_.seed;
  c.batch_commands_max = opt_.batch_commands_max;
  c.inflight_slots_max = opt_.inflight_slots_max;
  c.learn_entries_max = opt_.learn_entries_max;
  if (opt_.trace) {
    static auto sink = std::make_shared<spdlog::sinks::stderr_sink_st>();
    auto logger = std::make_shared<spdlog::logger>(absl::StrCat("paxos n", id), sink);
    logger->set_level(spdlog::level::info);
    c.logger = logger;
  } else {
    c.logger = NullLogger();
  }
  return c;
}

void SimCluster::StartNode(SimNode& n) {
  paxos::DurableState d;
  d.promised = n.store.promised;
  const SlotId snap = n.store.snapshot ? n.store.snapshot->last_slot : 0;
  for (const auto& [slot, e] : n.store.entries) {
    if (slot > snap) d.entries.push_back(e);
  }
  d.chosen_through = n.store.chosen_through_synced;
  d.snapshot_slot = snap;
  n.kv.clear();
  n.dedup.clear();
  n.applied_through = snap;
  n.digest = 0;
  if (n.store.snapshot) {
    n.kv = n.store.snapshot->kv;
    n.dedup = n.store.snapshot->dedup;
    n.digest = n.store.snapshot->digest;
  }
  n.last_snapshot_slot = snap;
  auto node = paxos::Node::Restore(MakeConfig(n.id), d);
  if (!node.ok()) {
    Violation(absl::StrCat("restore of n", n.id, " failed: ", node.status().ToString()));
    return;
  }
  n.node = std::move(node).value();
  n.invariants = std::make_unique<paxos::Invariants>();
  CheckNode(n);
  Drain(n);
}

void SimCluster::Crash(SimNode& n) {
  ++stats_.crashes;
  if (opt_.trace) std::fprintf(stderr, "t=%lld crash n%u\n", static_cast<long long>(now_), n.id);
  n.node.reset();
  n.invariants.reset();
  // The lazily written chosen_through may or may not have reached the disk.
  if (Percent(50)) n.store.chosen_through_synced = n.store.chosen_through_unsynced;
  n.store.chosen_through_unsynced = n.store.chosen_through_synced;
  n.restart_at_tick = now_ + 5 + static_cast<int64_t>(Rand(static_cast<uint64_t>(
                                      std::max(1, opt_.down_ticks_max))));
  // Messages it had sent may be lost with it.
  std::erase_if(network_, [&](const InFlight& f) {
    return f.message.from() == n.id && Percent(50);
  });
}

void SimCluster::Violation(const std::string& what) {
  violations_.push_back(absl::StrCat("t=", now_, ": ", what));
}

void SimCluster::CheckNode(SimNode& n) {
  if (!n.node) return;
  absl::Status s = n.invariants->Check(*n.node);
  if (!s.ok()) Violation(s.ToString());
}

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
  if (v.nodes.size() >= paxos::MajoritySize(nodes_.size())) {
    auto [it, inserted] = chosen_.emplace(e.slot(), v.value);
    if (!inserted && it->second != v.value) {
      Violation(absl::StrCat("two different values chosen at slot ", e.slot()));
    }
    stats_.max_chosen = std::max(stats_.max_chosen, e.slot());
  }
}

void SimCluster::Apply(SimNode& n, const pb::Entry& e) {
  if (e.slot() != n.applied_through + 1) {
    Violation(absl::StrCat("n", n.id, " applied slot ", e.slot(), " after ", n.applied_through));
    return;
  }
  const std::string value = e.value().SerializeAsString();
  auto chosen = chosen_.find(e.slot());
  if (chosen == chosen_.end()) {
    Violation(absl::StrCat("n", n.id, " applied slot ", e.slot(), " not chosen per oracle"));
    return;
  }
  if (chosen->second != value) {
    Violation(absl::StrCat("n", n.id, " applied a value at slot ", e.slot(),
                           " other than the chosen one"));
    return;
  }
  n.applied_through = e.slot();
  n.digest = Mix(n.digest, value);
  auto [it, inserted] = digests_.emplace(e.slot(), n.digest);
  if (!inserted && it->second != n.digest) {
    Violation(absl::StrCat("n", n.id, " applied sequence diverges at slot ", e.slot()));
    return;
  }
  for (const pb::Command& c : e.value().commands()) {
    const auto id = std::make_pair(c.client_id(), c.seq());
    if (n.dedup.insert(id).second) n.kv[c.key()] += c.value();
    for (Client& cl : clients_) {
      if (cl.id != c.client_id() || cl.seq != c.seq() || !cl.waiting || cl.reading ||
          cl.target != n.id) {
        continue;
      }
      const size_t count = CountOccurrences(n.kv[c.key()], Token(cl.id, cl.seq));
      if (count != 1) {
        Violation(absl::StrCat("command c", cl.id, ".", cl.seq, " applied ", count,
                               " times at n", n.id));
      }
      cl.waiting = false;
      acked_.emplace(id, now_);
      ++stats_.commands_acked;
    }
  }
}

void SimCluster::Drain(SimNode& n) {
  while (n.node && n.node->HasReady()) {
    paxos::Ready r = n.node->TakeReady();
    CheckNode(n);
    // 0. Fresh proposals may leave before the durable state is saved; a crash can fall
    // right between the two, losing the leader's own acceptance of them.
    for (pb::PaxosMessage& m : r.proposals) Send(m);
    if (faults_ && !r.proposals.empty() && Permille(opt_.crash_permille * 20)) {
      size_t down = 0;
      for (const SimNode& other : nodes_) down += other.node ? 0 : 1;
      if (down + 1 < paxos::MajoritySize(nodes_.size())) {
        Crash(n);
        return;
      }
    }
    // 1. Persist (synced): promised, then accepted entries.
    if (r.promised) n.store.promised = *r.promised;
    const SlotId snap = n.store.snapshot ? n.store.snapshot->last_slot : 0;
    for (const pb::Entry& e : r.accepted) {
      if (paxos::Compare(e.ballot(), n.store.promised) > 0) {
        Violation(absl::StrCat("n", n.id, " persisted entry above its promise"));
      }
      if (e.slot() > snap) n.store.entries[e.slot()] = e;
      Record(n.id, e);
    }
    if (r.chosen_through) {
      n.store.chosen_through_unsynced = *r.chosen_through;
      if (Percent(30)) n.store.chosen_through_synced = *r.chosen_through;
    }
    // 2. Send.
    for (pb::PaxosMessage& m : r.messages) {
      if (m.has_install_snapshot()) {
        if (!n.store.snapshot) {
          Violation(absl::StrCat("n", n.id, " sent a snapshot it does not have"));
          continue;
        }
        Registry().push_back(n.store.snapshot);
        m.mutable_install_snapshot()->set_data(absl::StrCat(Registry().size() - 1));
        m.mutable_install_snapshot()->set_last_slot(n.store.snapshot->last_slot);
      }
      Send(m);
    }
    // 3. Install a snapshot.
    if (r.snapshot) {
      auto snapshot = std::static_pointer_cast<const SimSnapshot>(
          Registry().at(std::stoul(r.snapshot->data())));
      if (snapshot->last_slot != r.snapshot->last_slot()) Violation("snapshot slot mismatch");
      auto d = digests_.find(snapshot->last_slot);
      if (d == digests_.end() || d->second != snapshot->digest) {
        Violation(absl::StrCat("n", n.id, " installed a snapshot off the common sequence"));
      }
      n.kv = snapshot->kv;
      n.dedup = snapshot->dedup;
      n.digest = snapshot->digest;
      n.applied_through = snapshot->last_slot;
      n.last_snapshot_slot = snapshot->last_slot;
      n.store.snapshot = snapshot;
      std::erase_if(n.store.entries,
                    [&](const auto& kv) { return kv.first <= snapshot->last_slot; });
      n.store.chosen_through_synced =
          std::max(n.store.chosen_through_synced, snapshot->last_slot);
      n.store.chosen_through_unsynced =
          std::max(n.store.chosen_through_unsynced, snapshot->last_slot);
      ++stats_.snapshots_installed;
    }
    // 4. Apply.
    for (const pb::Entry& e : r.chosen) Apply(n, e);
    if (!violations_.empty()) return;
    // 5. Reads: confirmed ones wait for applied >= read_slot; failed ones are retried.
    for (const paxos::ReadState& rs : r.reads) {
      for (Client& c : clients_) {
        if (c.reading && c.waiting && c.read_id == rs.id && c.target == n.id) {
          c.read_slot = rs.read_slot;
        }
      }
    }
    for (uint64_t id : r.reads_failed) {
      for (Client& c : clients_) {
        if (c.reading && c.waiting && c.read_id == id) c.deadline = now_;
      }
    }
    CompleteReads(n);
    // Snapshot + Compact now and then, so lagging replicas need InstallSnapshot.
    if (opt_.snapshot_interval_slots > 0 &&
        n.applied_through >= n.last_snapshot_slot + static_cast<SlotId>(
                                                         opt_.snapshot_interval_slots)) {
      auto s = std::make_shared<SimSnapshot>();
      s->last_slot = n.applied_through;
      s->kv = n.kv;
      s->dedup = n.dedup;
      s->digest = n.digest;
      n.store.snapshot = s;
      std::erase_if(n.store.entries, [&](const auto& kv) { return kv.first <= s->last_slot; });
      n.last_snapshot_slot = s->last_slot;
      n.node->Compact(s->last_slot);
      CheckNode(n);
    }
  }
}

void SimCluster::CompleteReads(SimNode& n) {
  for (Client& c : clients_) {
    if (!c.reading || !c.waiting || c.target != n.id || !c.read_slot) continue;
    if (n.applied_through < *c.read_slot) continue;
    const std::string key = absl::StrCat("k", c.read_key);
    const std::string& value = n.kv[key];
    for (const auto& [id, tick] : acked_) {
      if (id.first % 3 != static_cast<uint64_t>(c.read_key) || tick >= c.read_issued_tick) {
        continue;
      }
      if (CountOccurrences(value, Token(id.first, id.second)) != 1) {
        Violation(absl::StrCat("stale read at n", n.id, ": read of ", key, " issued at t=",
                               c.read_issued_tick, " misses c", id.first, ".", id.second,
                               " acknowledged at t=", tick));
      }
    }
    c.waiting = false;
    c.read_slot.reset();
    ++stats_.reads_served;
  }
}

void SimCluster::Send(const pb::PaxosMessage& m) {
  if (faults_ && Percent(opt_.loss_percent)) return;
  const SimNode& from = nodes_[m.from() - 1];
  const SimNode& to = nodes_[m.to() - 1];
  if (partition_until_ >= 0 && from.side != to.side) return;
  const int copies = 1 + (faults_ && Percent(opt_.duplicate_percent) ? 1 : 0);
  for (int i = 0; i < copies; ++i) {
    const int span = std::max(0, opt_.delay_ticks_max - opt_.delay_ticks_min) + 1;
    InFlight f;
    f.deliver_at = now_ + opt_.delay_ticks_min + static_cast<int64_t>(Rand(
                                                     static_cast<uint64_t>(span)));
    f.order = rng_();
    f.message = m;
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
    if (!violations_.empty()) return;
    SimNode& to = nodes_[f.message.to() - 1];
    if (!to.node) continue;
    if (partition_until_ >= 0 && nodes_[f.message.from() - 1].side != to.side) continue;
    ++stats_.messages_delivered;
    absl::Status s = to.node->Step(f.message);
    if (!s.ok()) Violation(absl::StrCat("n", to.id, " rejected a message: ", s.ToString()));
    CheckNode(to);
    Drain(to);
  }
}

void SimCluster::TickFaults(bool faults) {
  for (SimNode& n : nodes_) {
    if (!n.node && (!faults || now_ >= n.restart_at_tick)) {
      if (opt_.trace) {
        std::fprintf(stderr, "t=%lld restart n%u\n", static_cast<long long>(now_), n.id);
      }
      StartNode(n);
    }
  }
  if (partition_until_ >= 0 && (!faults || now_ >= partition_until_)) {
    partition_until_ = -1;
    for (SimNode& n : nodes_) n.side = 0;
    if (opt_.trace) std::fprintf(stderr, "t=%lld partition healed\n", static_cast<long long>(now_));
  }
  if (!faults) return;
  if (partition_until_ < 0 && Permille(opt_.partition_permille)) {
    ++stats_.partitions;
    partition_until_ = now_ + 10 + static_cast<int64_t>(Rand(static_cast<uint64_t>(
                                       std::max(1, opt_.partition_ticks_max))));
    // A random split with both sides non-empty.
    const uint64_t mask = 1 + Rand((uint64_t{1} << nodes_.size()) - 2);
    std::string sides;
    for (SimNode& n : nodes_) {
      n.side = static_cast<int>((mask >> (n.id - 1)) & 1);
      sides += absl::StrCat(" n", n.id, ":", n.side);
    }
    if (opt_.trace) {
      std::fprintf(stderr, "t=%lld partition%s\n", static_cast<long long>(now_), sides.c_str());
    }
  }
  if (Permille(opt_.crash_permille)) {
    size_t down = 0;
    for (const SimNode& n : nodes_) down += n.node ? 0 : 1;
    if (down + 1 < paxos::MajoritySize(nodes_.size())) {
      SimNode& victim = nodes_[Rand(nodes_.size())];
      if (victim.node) Crash(victim);
    }
  }
}

void SimCluster::TickClients() {
  for (Client& c : clients_) {
    if (c.done || !violations_.empty()) continue;
    if (!c.waiting) {
      if (c.remaining == 0) {
        c.done = true;
        continue;
      }
      c.waiting = true;
      c.reading = Percent(opt_.read_percent);
      c.read_key = static_cast<int>(Rand(3));
      c.read_slot.reset();
      if (!c.reading) {
        --c.remaining;
        ++c.seq;
      }
      // Think a while, so the workload overlaps the fault phase.
      c.deadline = now_ + static_cast<int64_t>(Rand(static_cast<uint64_t>(
                              std::max(1, opt_.think_ticks_max))));
    }
    if (now_ < c.deadline) continue;
    if (c.submitted) {
      // Timed out: the target may be a deposed leader; ask another replica (its hint).
      c.submitted = false;
      c.target = static_cast<uint32_t>(1 + (c.target + Rand(nodes_.size() - 1)) % nodes_.size());
    }
    SimNode& n = nodes_[c.target - 1];
    absl::Status s = absl::UnavailableError("down");
    if (c.reading) {
      if (n.node) {
        c.read_id = next_read_id_++;
        c.read_issued_tick = now_;
        c.read_slot.reset();
        s = n.node->ReadIndex(c.read_id);
      }
    } else if (n.node) {
      pb::Command cmd;
      cmd.set_client_id(c.id);
      cmd.set_seq(c.seq);
      cmd.set_op(pb::OP_PUT);
      cmd.set_key(absl::StrCat("k", c.id % 3));
      cmd.set_value(Token(c.id, c.seq));
      s = n.node->Propose(std::move(cmd));
    }
    if (s.ok()) {
      c.submitted = true;
      c.deadline = now_ + opt_.client_timeout_ticks;
      Drain(n);
      continue;
    }
    // Not leader (or down): follow the hint, else try someone else; retry soon.
    std::optional<NodeId> hint = n.node ? n.node->status().leader : std::nullopt;
    if (hint && ToInt(*hint) != c.target) {
      c.target = ToInt(*hint);
    } else {
      c.target = static_cast<uint32_t>(1 + Rand(nodes_.size()));
    }
    c.deadline = now_ + 2;
  }
}

std::string SimCluster::StatusLines() const {
  std::string out;
  for (const SimNode& n : nodes_) {
    if (!n.node) {
      absl::StrAppend(&out, "t=", now_, " n", n.id, " down\n");
      continue;
    }
    paxos::Status s = n.node->status();
    absl::StrAppend(&out, "t=", now_, " n", n.id, " ", RoleName(s.role), " ballot=",
                    s.ballot.round(), ".", s.ballot.node_id(), " chosen=", s.chosen_through,
                    " applied=", s.applied_through, " compacted=", s.compacted_through,
                    " pending=", s.pending_commands, " side=", n.side, "\n");
  }
  return out;
}

void SimCluster::Run() {
  const int64_t end = opt_.fault_ticks + opt_.heal_ticks;
  auto all_done = [&] {
    return std::all_of(clients_.begin(), clients_.end(), [](const Client& c) { return c.done; });
  };
  while (now_ < end && violations_.empty()) {
    ++now_;
    if (faults_ && now_ > opt_.fault_ticks) faults_ = false;
    TickFaults(faults_);
    TickNetwork();
    for (SimNode& n : nodes_) {
      if (!n.node || !violations_.empty()) continue;
      n.node->Tick();
      CheckNode(n);
      Drain(n);
    }
    TickClients();
    std::optional<uint32_t> leader;
    for (const SimNode& n : nodes_) {
      if (n.node && n.node->status().role == paxos::Role::kLeader) leader = n.id;
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
  // Every acknowledged command appears exactly once in the most advanced replica's state.
  const SimNode* best = nullptr;
  for (const SimNode& n : nodes_) {
    if (n.node && (best == nullptr || n.applied_through > best->applied_through)) best = &n;
  }
  for (const auto& [id, times] : acked_) {
    auto it = best->kv.find(absl::StrCat("k", id.first % 3));
    const size_t count =
        it == best->kv.end() ? 0 : CountOccurrences(it->second, Token(id.first, id.second));
    if (count != 1) {
      Violation(absl::StrCat("acknowledged c", id.first, ".", id.second, " appears ", count,
                             " times at n", best->id));
    }
  }
}

}  // namespace paxoskv::sim

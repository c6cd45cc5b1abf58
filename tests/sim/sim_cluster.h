// SimCluster: a deterministic simulator of one shard, after TigerBeetle's VOPR (the real
// replica over simulated storage and network) and etcd's rafttest network. N production
// replica cores (libs/replica ReplicaCore: the Paxos node, the real KV state machine and dedup
// table, the Ready order, snapshots) run over the fault-injecting store (libs/storage
// FaultyStore) and a simulated network that loses, duplicates, delays and reorders messages,
// cuts snapshot transfers short and splits the group into partitions that heal. Replicas
// crash between events, lose power in the middle of a Ready (after any number of durable
// writes: between persisting and sending, before and after a snapshot commit, in the middle
// of an install), hit write and fsync errors (and must stop at once), and are killed for good
// (up to f of them). The membership changes under it all (libs/paxos README, "Membership"):
// a replica killed for good is replaced (a new id on an empty store is added as a learner,
// promoted once caught up, then the dead one removed), and a healthy leader is replaced the
// same way, so that it removes itself. Clients put, get and delete a few keys, retrying with the
// same (client_id, seq) at another replica after a timeout. Everything derives from one seed:
// PAXOSKV_SIM_SEED=<seed> replays a run exactly.
//
// Checked after every event:
//   - the Paxos core's invariants (PAXOSKV_INVARIANTS; a broken one aborts and prints the
//     replay command);
//   - an oracle built from what the stores made durable, independent of what nodes claim: a
//     value is chosen at slot s when a quorum of the membership in effect at s (the oracle's
//     own, from the membership changes it saw chosen below s) made (s, b, v) durable for one
//     ballot b; at most one value is ever chosen per slot;
//   - every entry a replica applies is the oracle's chosen value for its slot;
//   - every command executes at most once, at one slot (dedup, across retries and copies);
//   - no message leaves after a failed write; every restart succeeds.
// At the end: once faults stop, every client operation completes (liveness), and the whole
// client history is linearizable (services/client/lincheck).
// Not thread-safe; single-threaded by design.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "libs/kv/kv_state_machine.h"
#include "libs/paxos/membership.h"
#include "libs/replica/replica_core.h"
#include "libs/storage/faulty_store.h"
#include "paxoskv/v1/paxos.pb.h"
#include "services/client/lincheck/history.h"

namespace paxoskv::sim {

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;
  // Network.
  int delay_ticks_min = 0;
  int delay_ticks_max = 3;
  int loss_percent = 0;        // also: a snapshot transfer is cut short this often
  int duplicate_percent = 0;
  int partition_permille = 0;  // chance per tick that a partition starts (when none is active)
  int partition_ticks_max = 150;
  // Replica faults (chances per tick, per mille). At most f replicas are down at once.
  int crash_permille = 0;        // a replica stops between events
  int power_cut_permille = 0;    // a replica loses power after 0-3 more durable operations
  int write_error_permille = 0;  // a replica's next write or snapshot commit fails
  int down_ticks_max = 60;
  int kills = 0;                 // replicas killed for good during the fault phase (<= f)
  // Membership: at most this many replicas are added in a run, each replacing a dead one or
  // the leader; a replacement starts with this chance per tick (per mille) during the fault
  // phase, when none is under way.
  int replacements = 0;
  int replace_permille = 0;
  // Replica core.
  uint64_t snapshot_every_commands = 24;
  size_t snapshot_chunk_bytes = 96;   // tiny: a snapshot is many chunks
  int snapshot_job_ticks_max = 4;     // a background snapshot takes 0..N ticks
  int election_timeout_ticks = 10;
  int heartbeat_ticks = 2;
  size_t batch_commands_max = 8;
  size_t inflight_slots_max = 8;
  size_t learn_entries_max = 16;
  kv::KvLimits kv_limits;
  // Workload.
  int clients = 4;
  int commands = 150;           // operations in total, spread over the clients
  int keys = 3;
  int read_percent = 30;
  int delete_percent = 10;
  int client_timeout_ticks = 40;
  int think_ticks_max = 60;     // a client waits [0, N) ticks between operations
  // Phases.
  int fault_ticks = 1500;       // faults active
  int heal_ticks = 3000;        // faults stopped; every operation must complete within this
  // Per-tick status lines (one per replica) and replica logs, to stderr.
  bool trace = false;
};

struct SimStats {
  int64_t ticks = 0;
  int64_t messages_delivered = 0;
  int64_t operations_done = 0;
  int64_t crashes = 0;
  int64_t power_cuts = 0;
  int64_t write_errors = 0;
  int64_t kills = 0;
  int64_t partitions = 0;
  int64_t snapshots_sent = 0;
  int64_t snapshot_chunks = 0;
  int64_t leader_changes = 0;
  int64_t members_added = 0;  // promoted to voter
  int64_t leader_handovers = 0;  // a leader asked to remove itself handed leadership over
  int64_t members_removed = 0;
  SlotId max_chosen = 0;
};

class SimCluster {
 public:
  explicit SimCluster(const SimOptions& options);
  ~SimCluster();

  // Runs the fault phase, then the heal phase, then the history check; stops early at the
  // first violation.
  void Run();

  const std::vector<std::string>& violations() const { return violations_; }
  const SimStats& stats() const { return stats_; }
  // One status line per replica (role, ballot, chosen/applied), for failure messages.
  std::string StatusLines() const;

 private:
  class Sink;
  struct SimNode {
    uint32_t id = 0;
    std::unique_ptr<storage::FaultyStore> store;   // survives crashes
    std::unique_ptr<Sink> sink;
    std::unique_ptr<replica::ReplicaCore> core;     // null while down
    std::optional<replica::ReplicaCore::SnapshotJob> job;
    int64_t job_due_tick = 0;
    int64_t restart_at_tick = 0;
    bool dead = false;           // killed for good
    bool armed = false;          // a power cut or write error is pending
    uint64_t failed_writes_seen = 0;
    int side = 0;                // partition side
  };
  // The replacement under way: `added` joins (learner, promoted when caught up), then
  // `removed` leaves.
  struct Replacement {
    uint32_t added = 0;  // 0: none under way
    uint32_t removed = 0;
    bool promoted = false;
    int64_t next_try = 0;
  };
  // A message, or a snapshot transfer's chunks (delivered in order, stopping at a refusal).
  struct InFlight {
    int64_t deliver_at = 0;
    uint64_t order = 0;          // random tie-break: reordering within a tick
    std::vector<paxoskv::v1::PaxosMessage> messages;
  };
  struct Client {
    uint64_t id = 0;
    int remaining = 0;
    uint64_t seq = 0;
    bool busy = false;                // an operation is in progress
    uint64_t op_id = 0;               // completions of older operations are ignored
    paxoskv::v1::Command command;
    lincheck::Operation op;
    uint32_t target = 1;
    bool attempting = false;          // an attempt is outstanding
    int64_t next_tick = 0;            // next attempt (or timeout of the outstanding one)
    bool done = false;
  };

  // A new replica on an empty store, not started (ids count up from 1).
  SimNode& AddNode();
  replica::CoreOptions MakeOptions(uint32_t id);
  void StartNode(SimNode& n);
  void Crash(SimNode& n, const char* why);
  void Drain(SimNode& n);
  // After a state-side call: a power cut or a failed write stops the replica here.
  bool StoppedByFault(SimNode& n, const absl::Status& status);
  void Complete(SimNode& n, replica::ReplicaCore::Applied applied);
  void MaybeStartSnapshot(SimNode& n);
  void RunSnapshotJob(SimNode& n);
  void Send(uint32_t from, std::vector<paxoskv::v1::PaxosMessage> messages);
  void Record(uint32_t node, const paxoskv::v1::Entry& e);
  void OnApplied(uint32_t node, const paxoskv::v1::Entry& entry,
                 const std::vector<paxoskv::v1::CommandResult>& results);
  void TickFaults();
  void TickNetwork();
  void TickSnapshots();
  void TickClients();
  void TickMembership();
  // Proposes `change` at the leader, if there is one (refusals are retried later).
  void ProposeChange(const paxos::ConfChange& change);
  // The membership the oracle saw chosen last, and the one in effect at `slot`.
  const paxos::Configuration& OracleMembership() const { return memberships_.rbegin()->second; }
  const paxos::Configuration& OracleMembershipAt(SlotId slot) const;
  void StartOperation(Client& c);
  void Attempt(size_t client_index);
  void OnOutcome(size_t client_index, uint64_t op_id,
                 absl::StatusOr<std::vector<replica::ReplicaCore::Outcome>> outcomes);
  void Finish(Client& c, const std::string& status, std::optional<std::string> output,
              std::optional<bool> deleted);
  void CheckHistory();
  size_t DownOrArmed() const;
  void Violation(const std::string& what);
  int64_t Nanos() const { return now_ * 1000; }
  uint64_t Rand(uint64_t n) { return rng_() % n; }
  bool Percent(int p) { return p > 0 && static_cast<int>(Rand(100)) < p; }
  bool Permille(int p) { return p > 0 && static_cast<int>(Rand(1000)) < p; }

  SimOptions opt_;
  std::mt19937_64 rng_;
  int64_t now_ = 0;
  bool faults_ = true;
  std::deque<SimNode> nodes_;  // by id - 1; grows as replicas are added
  std::vector<InFlight> network_;
  int64_t partition_until_ = -1;
  int kills_left_ = 0;
  int replacements_left_ = 0;
  Replacement replacement_;
  std::vector<Client> clients_;
  uint64_t next_op_id_ = 1;
  std::vector<lincheck::Operation> history_;
  std::vector<std::string> violations_;
  SimStats stats_;
  std::optional<uint32_t> last_leader_;

  // Oracle.
  struct Votes {
    std::string value;
    std::set<uint32_t> nodes;
  };
  std::map<std::pair<SlotId, std::pair<uint64_t, uint32_t>>, Votes> votes_;
  std::map<SlotId, std::string> chosen_;                         // oracle: value per slot
  std::map<SlotId, paxos::Configuration> memberships_;  // oracle: by the slot that chose it
  std::map<std::pair<uint64_t, uint64_t>, SlotId> executed_at_;  // (client, seq) -> slot
};

}  // namespace paxoskv::sim

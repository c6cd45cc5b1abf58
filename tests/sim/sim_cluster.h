// SimCluster: a deterministic simulator for the Multi-Paxos core (libs/paxos), after
// TigerBeetle's VOPR and etcd's rafttest network. N Nodes talk through a SimNetwork that loses,
// duplicates, delays and reorders messages and splits the group into partitions that heal;
// nodes crash and restart from a SimStore that keeps only what was synced. Clients submit
// (client_id, seq) commands to whoever they believe leads and retry with the same identity.
// Everything derives from one seed, so a failing run is replayed exactly with
// PAXOSKV_SIM_SEED=<seed>.
//
// Checked after every event (message delivery, tick, client action):
//   - Invariants on the node that changed (libs/paxos/invariants.h);
//   - an oracle, computed from the acceptors' persisted entries and independent of what nodes
//     claim: a value is chosen at slot s when a majority stored (s, b, v) for one ballot b;
//     at most one value is ever chosen per slot;
//   - every applied slot carries the oracle's chosen value and every node's applied sequence
//     is a prefix of one common sequence (a digest chain, carried through snapshots);
//   - a command acknowledged to a client has been applied exactly once;
//   - a read confirmed by ReadIndex and served once applied >= read_slot sees every write
//     acknowledged before the read was issued (linearizable reads, no stale leader reads).
// After the fault phase, faults stop and every submitted command must complete (liveness).
// Not thread-safe; single-threaded by design.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "libs/paxos/invariants.h"
#include "libs/paxos/node.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::sim {

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 3;
  // Network.
  int delay_ticks_min = 0;
  int delay_ticks_max = 3;
  int loss_percent = 0;
  int duplicate_percent = 0;
  int partition_permille = 0;  // chance per tick that a partition starts (when none is active)
  int partition_ticks_max = 150;
  // Crash-restart: chance per tick (per mille) that one node crashes; it restarts later.
  int crash_permille = 0;
  int down_ticks_max = 60;
  // Snapshot + Compact every N applied slots per node (0 = never).
  int snapshot_interval_slots = 16;
  // Workload.
  int clients = 4;
  int commands = 150;           // total, spread over the clients
  int client_timeout_ticks = 40;
  int think_ticks_max = 60;     // a client waits [0, N) ticks between commands
  int read_percent = 30;        // share of client operations that are linearizable reads
  // Phases.
  int fault_ticks = 1500;       // faults active
  int heal_ticks = 3000;        // faults stopped; every command must complete within this
  // Node config.
  int election_timeout_ticks = 10;
  int heartbeat_ticks = 2;
  size_t batch_commands_max = 8;
  size_t inflight_slots_max = 8;
  size_t learn_entries_max = 16;
  // Per-event status lines (one per replica) to stderr, and node logs.
  bool trace = false;
};

struct SimStats {
  int64_t ticks = 0;
  int64_t messages_delivered = 0;
  int64_t commands_acked = 0;
  int64_t reads_served = 0;
  int64_t crashes = 0;
  int64_t partitions = 0;
  int64_t snapshots_installed = 0;
  int64_t leader_changes = 0;
  SlotId max_chosen = 0;
};

class SimCluster {
 public:
  explicit SimCluster(const SimOptions& options);
  ~SimCluster();

  // Runs the fault phase, then the heal phase; stops early at the first violation.
  void Run();

  const std::vector<std::string>& violations() const { return violations_; }
  const SimStats& stats() const { return stats_; }
  // One status line per replica (role, ballot, chosen/applied), for failure messages.
  std::string StatusLines() const;

 private:
  struct SimSnapshot {
    SlotId last_slot = 0;
    std::map<std::string, std::string> kv;
    std::set<std::pair<uint64_t, uint64_t>> dedup;
    uint64_t digest = 0;
  };
  // What survives a crash: promised and accepted are synced with every Ready; chosen_through
  // is written lazily and may be lost; the snapshot is synced.
  struct SimStore {
    paxoskv::v1::Ballot promised;
    std::map<SlotId, paxoskv::v1::Entry> entries;
    SlotId chosen_through_synced = 0;
    SlotId chosen_through_unsynced = 0;
    std::shared_ptr<const SimSnapshot> snapshot;
  };
  struct SimNode {
    uint32_t id = 0;
    std::unique_ptr<paxos::Node> node;  // null while crashed
    std::unique_ptr<paxos::Invariants> invariants;
    SimStore store;
    int64_t restart_at_tick = 0;
    int side = 0;  // partition side
    // State machine.
    SlotId applied_through = 0;
    uint64_t digest = 0;
    std::map<std::string, std::string> kv;
    std::set<std::pair<uint64_t, uint64_t>> dedup;
    SlotId last_snapshot_slot = 0;
  };
  struct InFlight {
    int64_t deliver_at = 0;
    uint64_t order = 0;  // random tie-break: reordering within a tick
    paxoskv::v1::PaxosMessage message;
  };
  struct Client {
    uint64_t id = 0;
    uint64_t seq = 0;          // current command (0 = none yet)
    int remaining = 0;         // commands still to issue after the current one
    bool waiting = false;      // current command submitted, not acknowledged
    uint32_t target = 1;       // node it believes leads
    int64_t deadline = 0;      // resubmit after this tick
    bool submitted = false;    // the target took the operation (a deadline is a timeout)
    bool done = false;
    // Linearizable read (ReadIndex) instead of a command.
    bool reading = false;
    uint64_t read_id = 0;          // current attempt (a retry gets a new id)
    int read_key = 0;              // reads any key, so they race other clients' writes
    int64_t read_issued_tick = 0;  // writes acknowledged before this must be visible
    std::optional<SlotId> read_slot;  // confirmed: read once applied >= read_slot
  };

  paxos::NodeConfig MakeConfig(uint32_t id) const;
  void StartNode(SimNode& n);
  void Crash(SimNode& n);
  void Drain(SimNode& n);
  void Send(const paxoskv::v1::PaxosMessage& m);
  void Apply(SimNode& n, const paxoskv::v1::Entry& e);
  void Record(uint32_t node, const paxoskv::v1::Entry& e);
  void CheckNode(SimNode& n);
  void TickFaults(bool faults);
  void TickNetwork();
  void TickClients();
  void CompleteReads(SimNode& n);
  void Violation(const std::string& what);
  uint64_t Rand(uint64_t n) { return rng_() % n; }
  bool Percent(int p) { return p > 0 && static_cast<int>(Rand(100)) < p; }
  bool Permille(int p) { return p > 0 && static_cast<int>(Rand(1000)) < p; }

  SimOptions opt_;
  std::mt19937_64 rng_;
  int64_t now_ = 0;
  bool faults_ = true;
  std::vector<SimNode> nodes_;
  std::vector<InFlight> network_;
  int64_t partition_until_ = -1;
  std::vector<Client> clients_;
  std::vector<std::string> violations_;
  SimStats stats_;
  std::optional<uint32_t> last_leader_;
  uint64_t next_order_ = 0;

  // Oracle.
  struct Votes {
    std::string value;
    std::set<uint32_t> nodes;
  };
  std::map<std::pair<SlotId, std::pair<uint64_t, uint32_t>>, Votes> votes_;
  std::map<SlotId, std::string> chosen_;   // oracle: chosen value per slot
  std::map<SlotId, uint64_t> digests_;     // common applied sequence: digest after each slot
  std::map<std::pair<uint64_t, uint64_t>, int64_t> acked_;  // (client, seq) -> ack tick
  uint64_t next_read_id_ = 1;
};

}  // namespace paxoskv::sim

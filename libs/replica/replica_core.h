// ReplicaCore: one replica of one shard as a deterministic state machine: the Paxos node,
// the KV state machine, the clients waiting for their commands, and what to do with every
// Ready (persist, send, install a snapshot, apply, complete) in the one order this project
// has. No threads, clocks, locks or gRPC: services/replica ReplicaLoop drives it with a
// mutex, a loop thread, a ticker and the wall clock; tests/sim drives N of them over the
// fault-injecting store and a simulated network. Both run this code.
//
// Two sides, so that the owner can persist without holding up its inputs:
//  - the input side (Deliver, Tick, Propose, TakeWork, Complete, FailAll, status) changes the
//    Paxos node and the waiting clients: the owner serialises these calls (ReplicaLoop: under
//    its mutex);
//  - the state side (Process, MaybeStartSnapshot, FinishSnapshot) persists, sends, installs
//    and applies: one thread at a time (ReplicaLoop: its state token's holder), concurrently
//    with the input side. Complete is the bridge: the owner calls it, under its mutex, from
//    the thread that runs the state side, with what Process returned.
// The owner's loop (libs/replica/README.md shows it whole):
//   lock; work = TakeWork(); unlock;
//   applied = Process(work);            // not OK: a durable write failed: stop at once
//   lock; Complete(applied); unlock;
//
// Process order (why: README.md, "The Ready order"):
//   0. the leader's fresh proposals are sent;
//      chosen entries are applied first when none of them is in this Ready's writes;
//   1. promised + accepted (+ chosen_through, unless a snapshot is installed) are written with
//      fsync, BEFORE any message that depends on them leaves;
//   2. messages are sent (an InstallSnapshot request streams the latest durable snapshot);
//   3. a snapshot received from the leader replaces the state machine and is committed
//      (durable, current, the log truncated, chosen_through raised: one atomic step); only
//      then is the new chosen_through written (a crash in between never leaves a
//      chosen_through above the entries on disk);
//   4. chosen entries are applied in slot order (queued while a background snapshot reads
//      the state machine), and their clients completed by Complete.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/kv/kv_state_machine.h"
#include "libs/paxos/node.h"
#include "libs/replica/message_sink.h"
#include "libs/replica/snapshot_transfer.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/replica.pb.h"

namespace paxoskv::replica {

struct CoreOptions {
  uint32_t shard_id = 0;
  uint32_t replica_id = 0;
  // The founding membership: every member id -> host:port (self included). Once the shard's
  // log records a membership (libs/paxos README, "Membership"), that one holds.
  std::map<uint32_t, std::string> members;
  // This replica joins a running shard: a learner of `members` until the shard makes it a
  // voter (kvctl member add); it never votes before.
  bool join = false;
  int heartbeat_ticks = 5;
  int election_timeout_ticks = 30;
  size_t inflight_slots_max = 64;             // slots in flight; more commands wait and batch
  size_t batch_commands_max = 512;            // commands per slot
  size_t learn_entries_max = 256;             // chosen entries per catch-up Learn
  uint64_t seed = 1;                          // election jitter (the owner picks it)
  // The client id of writes that arrive without one (the owner picks it at random, so that
  // two incarnations of a replica never share one). Non-zero.
  uint64_t local_client_id = 1;
  // The incarnation a new data directory gets (storage::Identity; the owner draws it at
  // random, never 0). A directory that already has one keeps its own.
  uint64_t new_incarnation = 1;
  uint64_t snapshot_every_commands = 50000;   // applied commands between snapshots
  // ... or applied command bytes between snapshots, whichever comes first: the log tail on
  // disk (and in memory) stays bounded in bytes too.
  uint64_t snapshot_every_bytes = 64 << 20;
  size_t snapshot_chunk_bytes = 4 << 20;      // snapshot chunk size, on disk and on the wire
  kv::KvLimits kv_limits;
  bool check_invariants = false;              // paxos::NodeConfig::check_invariants
  // Called after each chosen entry is applied, with each command's result (tests/sim checks
  // every node's applied sequence with it). State side.
  std::function<void(const paxoskv::v1::Entry&, const std::vector<paxoskv::v1::CommandResult>&)>
      applied_hook;
};

// Which service a command came in through: each takes only its own ops.
enum class CommandOrigin {
  kClient,      // Replica.Execute / ExecuteBatch: GET, PUT, DELETE
  kMigration,   // Migration.Execute: the master's range-moving ops
};

class ReplicaCore {
 public:
  using Outcome = absl::StatusOr<paxoskv::v1::CommandResult>;
  // Runs exactly once with every command's outcome, in order: at once inside Propose when
  // the call fails as a whole or nothing needs waiting, otherwise inside the Complete, Tick
  // or FailAll call that finishes the last command (under the owner's lock: it must not
  // block or call back into the core).
  using Done = absl::AnyInvocable<void(absl::StatusOr<std::vector<Outcome>>) &&>;

  // One Ready and what comes with it, from TakeWork to Process.
  struct Work {
    paxos::Ready ready;
    std::unique_ptr<StagedSnapshot> install;   // set iff ready.snapshot
    // The membership changed: every other member's address, for the sink, before any send.
    std::optional<std::map<uint32_t, std::string>> peer_addresses;
  };

  // What Process (or FinishSnapshot) did, for Complete.
  struct Applied {
    struct Result {
      uint64_t client_id = 0;
      uint64_t seq = 0;
      uint64_t fingerprint = 0;
      paxoskv::v1::CommandResult result;
    };
    std::vector<Result> results;
    std::vector<paxos::ReadState> reads;
    std::vector<uint64_t> reads_failed;
    SlotId compact_through = 0;   // a snapshot is durable: the node may forget the log
    // The state side as of the end of this step, mirrored for status().
    SlotId applied_through = 0;
    SlotId snapshot_slot = 0;
    uint64_t key_count = 0;
    uint64_t state_bytes = 0;                // kv::KvStateMachine::approximate_bytes
    std::vector<paxoskv::v1::Alarm> alarms;  // the raised alarms
    bool of_work = false;   // from Process (ends the Work in progress)
  };

  // A background snapshot of the state machine as of `slot`: Run it on any thread (it
  // reads the state machine and writes the store), then hand it to FinishSnapshot.
  class SnapshotJob {
   public:
    SlotId slot() const { return slot_; }
    // Serialises the state into a new snapshot and commits it. kInternal on an I/O error.
    absl::Status Run();

   private:
    friend class ReplicaCore;
    SnapshotJob(SlotId slot, kv::KvStateMachine state, storage::AcceptorStore* store,
                size_t chunk_bytes)
        : slot_(slot), state_(std::move(state)), store_(store), chunk_bytes_(chunk_bytes) {}
    SlotId slot_;
    kv::KvStateMachine state_;   // shares the core's state machine while it runs
    storage::AcceptorStore* store_;
    size_t chunk_bytes_;
  };

  // Loads the durable state (identity, snapshot, acceptor state) and builds the node.
  // kFailedPrecondition if the store belongs to another shard or replica; kInvalidArgument on
  // a bad configuration; kDataLoss / kInternal from the store.
  // REQUIRES: `store` and `sink` outlive the core.
  static absl::StatusOr<std::unique_ptr<ReplicaCore>> Open(CoreOptions options,
                                                           storage::AcceptorStore* store,
                                                           MessageSink* sink,
                                                           std::shared_ptr<spdlog::logger> logger);

  // ---- Input side -----------------------------------------------------------------------

  // A peer message. A snapshot chunk is staged (the whole snapshot reaches the node when its
  // last chunk arrives). Refusals change nothing: the wrong-replica status for another
  // shard's message; the node's refusals (Node::Step); the receiver's (SnapshotReceiver).
  absl::Status Deliver(const paxoskv::v1::PaxosMessage& message);

  // One tick of logical time. Fails waiting clients when leadership is lost. A leader raises
  // a NOSPACE alarm (through the log) for every member that says it is out of space, itself
  // included, at most once per election timeout each until the alarm is applied.
  void Tick();

  // Whether this replica is out of space (its owner measures: past the quota, or too little
  // free disk). Every message it sends says so (PaxosMessage.nospace), so that the leader
  // raises the alarm for it.
  void SetNoSpace(bool nospace);
  // The state machine's size as of the last Complete (keys, values, dedup results).
  uint64_t state_bytes() const { return state_bytes_mirror_; }

  // Validates and proposes `commands`: writes go into the log (stamped with `now_ms`, the
  // owner's wall clock), gets share one read-index round. Returns at once; `done` runs when
  // every command has its outcome (see Done). The call fails as a whole only for what holds
  // for every command (wrong shard id: wrong-replica status; not the leader:
  // FAILED_PRECONDITION with the leader hint; no leader known: UNAVAILABLE); otherwise each
  // command gets the outcome Execute documents: INVALID_ARGUMENT for a bad or foreign op,
  // UNAVAILABLE when the leader has too many pending or leadership is lost before it is
  // chosen (outcome unknown), or OK with the state machine's result.
  void Propose(std::vector<paxoskv::v1::Command> commands, CommandOrigin origin,
               uint64_t now_ms, Done done);

  // Proposes one membership change (libs/paxos membership.h): the not-leader status with the
  // leader's address when not leader; kFailedPrecondition while another change is open or
  // when the change is not allowed; kUnavailable when the leader, asked to remove itself,
  // handed leadership over instead (Node::ProposeConfChange). OK: true when the change is
  // already in effect (nothing proposed), false when proposed: MembershipChangeInEffect
  // says when it is chosen.
  absl::StatusOr<bool> ChangeMembership(const paxos::ConfChange& change);
  bool MembershipChangeInEffect(const paxos::ConfChange& change) const;

  // Whether TakeWork would return something to do.
  bool HasWork() const;
  // REQUIRES: the previous Work was processed and its Applied completed. The fresh proposals
  // sent before the fsync, and the chosen entries applied before it, are safe only because
  // Ready k+1 is never taken before Ready k is durable (a check enforces it).
  Work TakeWork();

  // Completes the clients of `applied`, serves the reads it made possible, compacts the log
  // behind a saved snapshot. Called with what Process / FinishSnapshot returned.
  void Complete(Applied applied);

  // Fails every waiting command and read (shutdown).
  void FailAll(const absl::Status& status);

  paxoskv::v1::ReplicaStatus status() const;
  bool is_leader() const;

  // Input-side totals since Open, for the owner's metrics (etcd's leader_changes_seen,
  // proposals_failed, proposals_pending).
  struct Stats {
    uint64_t leader_changes_seen = 0;  // a leader became known that was not the last one
    uint64_t proposals_failed = 0;     // commands failed with UNAVAILABLE: leadership lost
                                       // before they were chosen, or the leader overloaded
    uint64_t proposals_pending = 0;    // commands and reads waiting now
  };
  Stats stats() const;

  // ---- State side -----------------------------------------------------------------------

  // Acts on one Ready, in the order above. Not OK: a durable write failed (fsync, disk):
  // nothing more was sent or applied, and the owner must stop at once (crash): going on
  // could reply after a lost promise.
  absl::StatusOr<Applied> Process(Work work);

  // A background snapshot when one is due (and none is running).
  std::optional<SnapshotJob> MaybeStartSnapshot();
  // The job's outcome: compacts (through Complete) and applies what queued meanwhile. Not
  // OK: the snapshot could not be made durable, which is fatal like any failed fsync.
  absl::StatusOr<Applied> FinishSnapshot(const SnapshotJob& job, absl::Status saved);

  // State-side counters (for the owner's periodic log line).
  struct Counters {
    uint64_t readies = 0;
    uint64_t syncs = 0;
    uint64_t slots_applied = 0;
    uint64_t commands_applied = 0;
    uint64_t messages_sent = 0;
  };
  Counters TakeCounters();

  ReplicaCore(const ReplicaCore&) = delete;
  ReplicaCore& operator=(const ReplicaCore&) = delete;

 private:
  // The outcomes of one Propose call, filled in as its commands complete.
  struct Batch {
    std::vector<Outcome> outcomes;
    size_t remaining = 0;
    Done done;
    // Records one outcome; the last one runs `done`.
    void Complete(size_t index, Outcome outcome);
  };
  struct Waiter {
    std::shared_ptr<Batch> batch;
    size_t index = 0;
    uint64_t fingerprint = 0;   // writes: the command this (client_id, seq) carries
  };
  using CommandKey = std::pair<uint64_t, uint64_t>;   // (client_id, seq)
  struct CommandKeyHash {
    size_t operator()(const CommandKey& key) const {
      return std::hash<uint64_t>()(key.first * 0x9E3779B97F4A7C15ULL ^ key.second);
    }
  };
  // The gets of one Propose call, confirmed by one read-index round.
  struct PendingRead {
    std::vector<std::pair<Waiter, paxoskv::v1::Command>> gets;
    std::optional<SlotId> read_slot;   // set once the leader confirmed its leadership
  };

  ReplicaCore(CoreOptions options, storage::AcceptorStore* store, MessageSink* sink,
              std::shared_ptr<spdlog::logger> logger);

  absl::Status DeliverSnapshotChunk(const paxoskv::v1::PaxosMessage& message);
  absl::Status NotLeader() const;
  // Member `id`'s address: the membership's, or the founding one's (CoreOptions::members).
  std::string AddressOf(const paxos::Status& status, uint32_t id) const;
  // Every other member's address (the membership's, else the founding one's), removed ids
  // left out.
  std::map<uint32_t, std::string> PeerAddresses() const;
  // Fails everything waiting when this replica stopped leading; counts leader changes.
  void CheckLeadership();
  uint64_t PendingCount() const;  // commands and reads waiting
  // The leader's part of Tick: proposes the NOSPACE alarms members ask for.
  void RaiseAlarms();
  bool Alarmed(uint32_t member_id) const;
  void ServeReads();
  // State side: applies unapplied_ in order unless a background snapshot reads the state.
  void ApplyQueued(Applied& applied);
  void ApplyChosen(paxos::Ready& ready, Applied& applied);
  absl::Status Persist(paxos::Ready& ready, bool with_chosen_through);
  // What the state side looks like now, for Complete's mirrors.
  void Describe(Applied& applied) const;
  void SendMessages(paxos::Ready& ready);
  absl::Status Install(Work& work);

  const CoreOptions options_;
  uint64_t incarnation_ = 0;   // the data directory's (storage::Identity), set by Open
  std::shared_ptr<spdlog::logger> logger_;
  storage::AcceptorStore* const store_;
  MessageSink* const sink_;

  // Input side.
  std::unique_ptr<paxos::Node> node_;
  std::unordered_multimap<CommandKey, Waiter, CommandKeyHash> waiters_;
  absl::flat_hash_map<uint64_t, PendingRead> reads_;
  uint64_t next_read_id_ = 1;
  uint64_t next_local_seq_ = 1;
  uint64_t last_stamp_ms_ = 0;
  bool was_leader_ = false;
  std::optional<uint32_t> last_leader_id_;  // the leader CheckLeadership last saw
  Stats stats_;
  bool work_outstanding_ = false;   // a Work taken and not yet completed
  SlotId peers_membership_slot_ = 0;  // the membership the sink's addresses are from
  SnapshotReceiver receiver_;
  std::unique_ptr<StagedSnapshot> install_;   // accepted by the node, for the next Work
  SlotId applied_mirror_ = 0;       // last_applied_slot_ as of the last Complete
  uint64_t key_count_mirror_ = 0;
  SlotId snapshot_slot_mirror_ = 0;
  uint64_t state_bytes_mirror_ = 0;
  std::vector<paxoskv::v1::Alarm> alarms_mirror_;
  bool nospace_ = false;                           // SetNoSpace
  std::set<uint32_t> peers_nospace_;               // members whose last message said nospace
  std::map<uint32_t, uint64_t> alarm_retry_tick_;  // member -> tick of its next proposal
  uint64_t ticks_ = 0;

  // State side.
  kv::KvStateMachine kv_;
  std::deque<paxoskv::v1::Entry> unapplied_;   // chosen, waiting for a snapshot to finish
  SlotId last_applied_slot_ = 0;
  SlotId snapshot_slot_ = 0;
  uint64_t commands_since_snapshot_ = 0;
  uint64_t bytes_since_snapshot_ = 0;
  std::optional<kv::KvStateMachine> snapshot_reading_;   // the state a running job reads
  SlotId snapshot_running_slot_ = 0;                      // 0: no job running
  Counters counters_;
};

}  // namespace paxoskv::replica

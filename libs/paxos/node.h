// Multi-Paxos for one replica group, written as a deterministic state machine.
//
// Inputs: Step(message), Tick(), Propose(command), Compact(slot). Output: Ready, which the
// owner must act on in this order (libs/replica/README.md argues each step):
//   0. `proposals` may be sent first, even before step 1 completes (they promise nothing);
//   1. make `promised` and `accepted` durable (one synced write batch) -- BEFORE any message
//      in `messages` is sent, since those messages promise what was just written;
//      `chosen_through` too, unless `snapshot` is set (then only after step 3);
//   2. send `messages` (best effort, any order, may be lost);
//   3. if `snapshot` is set, install it into the state machine and persist it;
//   4. apply `chosen` in order (consecutive slots, continuing from the last applied slot).
// No I/O, threads, clocks or global randomness: timeouts count Tick() calls and jitter comes
// from NodeConfig::seed. Not thread-safe: exactly one owner calls it, the replica core
// (libs/replica/replica_core.h), which both the replica binary and tests/sim drive.
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/common/ids.h"
#include "libs/paxos/durable_state.h"
#include "libs/paxos/membership.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::paxos {

struct NodeConfig {
  NodeId id{};
  // The data directory's incarnation (storage::Identity; non-zero). Sent in every message;
  // the membership names members by id and incarnation.
  uint64_t incarnation = 1;
  // The founding membership (the replica flags): voters, `id` included. Used only until the
  // log records a membership (DurableState::membership, or a chosen entry).
  std::vector<NodeId> members;
  // The founding members' host:port (the replica flags), recorded in the founding entry so
  // that every membership in the log says where each member is. May be empty (tests).
  std::map<uint32_t, std::string> addresses;
  // `id` is a learner of the founding membership, not a voter: a replica started to join a
  // running shard, which never votes before the shard's membership makes it a voter.
  bool learner = false;
  int heartbeat_ticks = 1;              // leader sends a heartbeat Accept every N ticks
  int election_timeout_ticks = 10;      // follower waits [T, 2T) ticks without a leader
  uint64_t seed = 1;                    // feeds the election-jitter RNG (std::mt19937_64)
  size_t batch_commands_max = 512;      // commands packed into one slot
  size_t batch_bytes_max = 4 << 20;     // bytes packed into one slot (approx.)
  size_t inflight_slots_max = 64;       // slots proposed but not yet chosen (pipelining)
  size_t pending_commands_max = 20000;  // Propose() beyond this returns kResourceExhausted
  size_t learn_entries_max = 256;       // chosen entries per catch-up Learn message
  // Unacknowledged Accepts, Prepares and catch-up Learns are re-sent after N ticks.
  int retransmit_ticks = 4;
  // Checks Invariants (invariants.h) after every input and crashes on a broken one. Tests and
  // the simulator turn it on; a build with PAXOSKV_INVARIANTS defined (every test build,
  // see CMakeLists.txt) turns it on for every node.
  bool check_invariants = false;
  std::shared_ptr<spdlog::logger> logger;  // required
};

// A linearizable-read ticket that became safe to serve: once the state machine has applied
// every slot <= read_slot, a read registered with `id` may be answered locally.
struct ReadState {
  uint64_t id = 0;
  SlotId read_slot = 0;
};

enum class Role { kFollower, kCandidate, kLeader };

struct Ready {
  // Durable state, to be saved with fsync BEFORE `messages` are sent.
  std::optional<paxoskv::v1::Ballot> promised;
  std::vector<paxoskv::v1::Entry> accepted;  // upsert by slot
  // Persist lazily (no fsync needed): every entry <= it is chosen. Only ever grows.
  std::optional<SlotId> chosen_through;
  // The leader's Accepts for slots it just proposed. They may leave BEFORE the durable state
  // is saved: a proposal promises nothing, and the leader's own acceptance (in `accepted`)
  // only matters once a follower acknowledges, which can only be reported in a later Ready,
  // i.e. after the owner has saved this one. Sending them first overlaps the leader's fsync
  // with the followers' (etcd raft does the same). Only TakeReady produces them.
  std::vector<paxoskv::v1::PaxosMessage> proposals;
  // To send, after the durable state is saved.
  std::vector<paxoskv::v1::PaxosMessage> messages;
  // To install before applying `chosen` (a leader's snapshot for a lagging follower).
  std::optional<paxoskv::v1::InstallSnapshot> snapshot;
  // Chosen entries to apply, consecutive slots in order. Each command inside is applied in
  // batch order; an empty value is a no-op.
  std::vector<paxoskv::v1::Entry> chosen;
  // Reads that became safe (see ReadState).
  std::vector<ReadState> reads;
  // Read requests that can no longer be confirmed (lost leadership): fail them UNAVAILABLE.
  std::vector<uint64_t> reads_failed;
};

struct Status {
  Role role = Role::kFollower;
  paxoskv::v1::Ballot ballot;      // current promised ballot
  std::optional<NodeId> leader;    // believed leader (self when leader), if any
  SlotId chosen_through = 0;       // this node knows every slot <= it is chosen
  SlotId applied_through = 0;      // handed out in Ready::chosen (or covered by a snapshot)
  SlotId compacted_through = 0;
  size_t pending_commands = 0;
  uint64_t refused_messages = 0;   // inputs Step refused (malformed or beyond our limits)
  paxoskv::v1::Membership membership;  // in effect after chosen_through
  bool voter = false;                  // this node votes in it (id and incarnation match)
  // Leader: nothing is proposed above this slot until every slot up to it is chosen (a
  // membership change is open there, or a promiser alone held those slots); 0: none.
  SlotId fence = 0;
  // Leader: each other member's chosen_through as last reported (catch-up of learners).
  std::vector<std::pair<uint32_t, SlotId>> peer_chosen_through;
};

class Node {
 public:
  // Builds a node from what was durable. REQUIRES: config.members contains config.id.
  // Returns kInvalidArgument on a bad config or inconsistent durable state.
  static absl::StatusOr<std::unique_ptr<Node>> Restore(const NodeConfig& config,
                                                        const DurableState& durable);
  ~Node();

  // Delivers a peer message. Messages from stale ballots are answered or dropped as the
  // protocol says. A message refused changes nothing, is counted (status().refused_messages)
  // and logged; never a crash on input:
  //  - kInvalidArgument: malformed, or beyond the bounds of limits.h (a ballot round near
  //    overflow or far above any seen, an entry or a reported chosen prefix far beyond our
  //    chosen slots, too many entries or commands, an oversized entry);
  //  - kFailedPrecondition: well-formed but not acceptable in our state: a Learn or
  //    InstallSnapshot at a ballot we did not promise or from a node that does not lead it,
  //    another value for a slot we know chosen, a snapshot beyond what its sender told us
  //    is chosen.
  absl::Status Step(const paxoskv::v1::PaxosMessage& message);

  // Whether Step would take `message`, an InstallSnapshot, now (the same checks, no change):
  // the owner asks before it receives a snapshot's data, so that nobody can make it stage
  // gigabytes it would then refuse.
  absl::Status CheckInstallSnapshot(const paxoskv::v1::PaxosMessage& message) const;

  // Advances logical time by one tick: heartbeats, election timeouts, retransmission.
  void Tick();

  // Queues a command for the next slot. kFailedPrecondition when not leader (the caller
  // consults status().leader for a hint); kResourceExhausted when too many are pending.
  // A queued command is NOT guaranteed to be chosen (leadership may be lost): callers wait
  // for it to appear in Ready::chosen and time out otherwise.
  absl::Status Propose(paxoskv::v1::Command command);

  // Proposes one membership change (see membership.h ApplyConfChange for what is allowed):
  // kFailedPrecondition when not leader, when another change is still open (one at a time:
  // README "Membership"), or when the change is not allowed. OK means proposed, not chosen:
  // the caller watches status().membership. The leader asked to remove itself first hands
  // leadership over and answers kUnavailable: it sends TimeoutNow to the voter heard from
  // within an election timeout that reported the most chosen slots (which campaigns at once,
  // its Prepare saying so, so that the followers promise although they heard this leader just
  // now) and steps down (pending commands and reads fail; their clients retry at the new
  // leader, which removes this node). Only when no voter qualifies does it propose its own
  // removal (and step down once chosen).
  absl::Status ProposeConfChange(const ConfChange& change);

  // Starts a linearizable read: the leader confirms with a majority (heartbeat round at its
  // ballot) that it is still leader, then reports ReadState{id, read_slot} in Ready::reads.
  // kFailedPrecondition when not leader.
  absl::Status ReadIndex(uint64_t id);

  // The owner saved a snapshot covering every slot <= through (REQUIRES through <=
  // applied_through). The node may forget entries <= through; followers that need them
  // get an InstallSnapshot instead.
  void Compact(SlotId through);

  // Forces an election at the next Tick (tests, and the replica's "campaign" on start-up).
  void Campaign();

  bool HasReady() const;
  Ready TakeReady();
  Status status() const;
  // The slot of the membership entry in effect (0: the founding one): it changes exactly
  // when status().membership does, and costs no copy.
  SlotId membership_slot() const;

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

 private:
  friend class Invariants;  // reads internal state to check safety invariants
  Node();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace paxoskv::paxos

// Internal state of paxos::Node, shared by the files that implement its roles:
//   acceptor.cc (Prepare/Accept/Learn/InstallSnapshot handling, durable state),
//   proposer.cc (elections, recovery, batching/pipelining, heartbeats, read-index),
//   learner.cc  (chosen tracking, catch-up, execution order), node.cc (API and Ready).
// Not part of the public API. Not thread-safe: owned by exactly one Node.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "libs/paxos/ballot.h"
#include "libs/paxos/membership.h"
#include "libs/paxos/node.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::paxos {

class Invariants;

// One slot of the local log: the acceptor's entry (slot, ballot, value) and whether this node
// knows the value is chosen.
// Once applied, a slot keeps its value serialized (`packed`): parsed commands take about three
// times the memory, and the log tail kept until the next snapshot is a replica's largest
// structure after the state machine itself. Read entries through Impl::FullEntry.
struct LogSlot {
  paxoskv::v1::Entry entry;   // value cleared while packed
  bool chosen = false;
  bool packed = false;
  std::string packed_value;   // serialized entry.value() while packed
};

// A slot the leader proposed at its ballot and has not yet seen chosen.
struct Proposal {
  std::set<uint32_t> acked;  // the leader's own acceptance included
  int64_t sent_tick = 0;
};

// What the leader knows about one follower.
struct PeerProgress {
  SlotId chosen_through = 0;        // last reported by the follower
  uint64_t acked_heartbeat_id = 0;  // highest heartbeat id echoed with ok at our ballot
  int64_t learn_sent_tick = -1'000'000;
  SlotId learn_sent_through = 0;    // last slot covered by the latest Learn/InstallSnapshot
  int64_t last_heard_tick = 0;      // last ok Accepted at our ballot (check-quorum)
};

// A read registered at the leader, waiting for a majority to echo a heartbeat sent after it.
struct PendingRead {
  uint64_t id = 0;
  SlotId read_slot = 0;
  uint64_t registered_after_heartbeat_id = 0;  // confirmed by heartbeat ids > this
};

struct Node::Impl {
  Impl(const NodeConfig& c);
  ~Impl();

  // ---- configuration ----
  NodeConfig config;
  std::shared_ptr<spdlog::logger> log;
  std::mt19937_64 rng;
  uint32_t self = 0;
  uint64_t incarnation = 0;
  // Memberships by the slot of the entry that made them (0: the founding one, from the
  // flags); the last one is in effect after chosen_through. Only chosen ones are kept, and
  // only the last at or below compacted_through of those the snapshot covers.
  std::map<SlotId, Configuration> configs;
  // The incarnation each peer's latest valid message named (the leader pins founding
  // members and promotes learners with it).
  std::map<uint32_t, uint64_t> heard_incarnations;
  bool voters_changed = false;  // a membership with other voters took effect (AfterInput)

  // ---- acceptor (durable: promised, log entries) ----
  paxoskv::v1::Ballot promised;
  uint64_t max_round_seen = 0;
  std::map<SlotId, LogSlot> log_slots;

  // ---- learner ----
  SlotId chosen_through = 0;
  SlotId applied_through = 0;
  SlotId compacted_through = 0;

  // ---- role and timers ----
  Role role = Role::kFollower;
  std::optional<NodeId> leader;
  int64_t now_tick = 0;
  int election_elapsed = 0;
  int election_timeout = 0;
  bool campaign_requested = false;
  int64_t help_sent_tick = -1'000'000;  // follower -> leader catch-up rate limit
  // The highest chosen_through the leader we follow announced at the ballot we promised
  // (reset when we follow another): an InstallSnapshot beyond it is refused.
  SlotId leader_chosen_seen = 0;
  uint64_t refused = 0;                  // messages Step refused

  // ---- candidate / leader ----
  paxoskv::v1::Ballot my_ballot;                       // ballot we campaign or lead with
  std::map<uint32_t, paxoskv::v1::Promise> promises;   // candidate: ok promises by node
  SlotId prepare_from_slot = 0;
  int64_t prepare_sent_tick = 0;
  bool prepare_transfer = false;  // this campaign was handed to us (Prepare.transfer)
  SlotId next_slot = 1;                                // leader: next fresh slot
  std::map<SlotId, Proposal> proposals;                // leader: in flight
  std::deque<paxoskv::v1::Command> pending;            // leader: not yet in a slot
  std::map<uint32_t, PeerProgress> peers;              // leader: per other member
  // leader: a membership change is open at this slot, or slots up to it were chosen where
  // only a promiser held them: nothing is proposed above it until chosen_through reaches
  // it; then the leader campaigns again, under the membership then in effect (0: none).
  SlotId fence = 0;
  bool fence_proposed = false;  // leader: the fence is a membership change we proposed
  std::optional<paxoskv::v1::Membership> pending_membership;  // leader: to propose next
  int heartbeat_elapsed = 0;
  int64_t quorum_checked_tick = 0;                     // leader: last check-quorum
  uint64_t heartbeat_counter = 0;
  std::deque<PendingRead> reads_waiting;
  // leader: chosen_through at the last tick, and at the one before. A follower is taught by
  // Learn only when it lags behind the latter: one that is merely an Accept behind learns
  // the slot's outcome from the next Accept's chosen_through at no cost.
  SlotId chosen_through_at_tick = 0;
  SlotId chosen_through_settled = 0;
  // leader: when chosen_through last moved while slots were open (stall detection, see
  // TickLeader: a leader that cannot get its open slots chosen campaigns again).
  int64_t chosen_progress_tick = 0;
  SlotId chosen_progress_through = 0;

  // ---- accumulated Ready ----
  std::optional<paxoskv::v1::Ballot> ready_promised;
  std::map<SlotId, paxoskv::v1::Entry> ready_accepted;
  SlotId reported_chosen_through = 0;
  std::vector<paxoskv::v1::PaxosMessage> ready_messages;
  std::vector<paxoskv::v1::PaxosMessage> ready_proposals;   // Ready::proposals
  std::optional<paxoskv::v1::InstallSnapshot> ready_snapshot;
  std::vector<ReadState> ready_reads;
  std::vector<uint64_t> ready_reads_failed;

  std::unique_ptr<Invariants> invariants;  // when config.check_invariants

  // ---- node.cc ----
  // The slot's whole entry (unpacks a packed value).
  paxoskv::v1::Entry FullEntry(const LogSlot& slot) const;
  // Packs an applied slot's value (see LogSlot).
  static void Pack(LogSlot& slot);
  const Configuration& current() const { return configs.rbegin()->second; }
  // This node votes in the membership in effect: a voter, known by our incarnation (or not
  // pinned yet).
  bool SelfVotes() const;
  // Slot `slot` became part of the chosen prefix: a membership it carries takes effect.
  void NoteChosenSlot(const LogSlot& slot);
  // After every input: a leader whose fence was reached campaigns again (or steps down when
  // the membership removed it).
  void AfterInput();
  int RetransmitTicks() const;
  // Fills in sender, receiver and both incarnations.
  void Address(uint32_t to, paxoskv::v1::PaxosMessage& message) const;
  void Send(uint32_t to, paxoskv::v1::PaxosMessage message);
  void NoteRound(uint64_t round);
  void ResetElectionTimer();
  // Every check a message must pass before it may change anything (see Node::Step).
  absl::Status Validate(const paxoskv::v1::PaxosMessage& m) const;
  // A message for another incarnation of us, from a removed member, or from a member whose
  // incarnation is not the one the membership names is refused.
  absl::Status ValidateIncarnations(const paxoskv::v1::PaxosMessage& m) const;
  absl::Status ValidateBallot(const paxoskv::v1::Ballot& b, const char* what) const;
  absl::Status ValidateEntries(const google::protobuf::RepeatedPtrField<paxoskv::v1::Entry>& e,
                               bool ballots) const;
  // Learn and InstallSnapshot: only at the ballot we follow from its leader, or at our own
  // ballot (a member teaching its candidate or leader).
  absl::Status ValidateTeacher(uint32_t from, const paxoskv::v1::Ballot& b) const;
  // A Learn or Accept must not carry another value for a slot we know chosen.
  absl::Status ValidateKnownChosen(
      const google::protobuf::RepeatedPtrField<paxoskv::v1::Entry>& entries) const;
  absl::Status ValidateHelpForOurLeadership(uint32_t from, const paxoskv::v1::Learn& m) const;
  absl::Status ValidateSnapshot(uint32_t from, const paxoskv::v1::InstallSnapshot& m) const;
  void NoteRefused(const paxoskv::v1::PaxosMessage& m, const absl::Status& why);
  void CheckInvariants();

  // ---- acceptor.cc ----
  void SetPromised(const paxoskv::v1::Ballot& b);
  // Stores (slot, b, value) unless compacted; `chosen` marks it known chosen.
  // Whether slot `slot` already holds exactly `value` (a Learn of what we accepted).
  bool HoldsValue(SlotId slot, const paxoskv::v1::Value& value) const;
  void StoreEntry(SlotId slot, const paxoskv::v1::Ballot& b, const paxoskv::v1::Value& value,
                  bool chosen);
  void OnPrepare(uint32_t from, const paxoskv::v1::Prepare& m);
  void OnAccept(uint32_t from, const paxoskv::v1::Accept& m);
  void OnLearn(uint32_t from, const paxoskv::v1::Learn& m);
  void OnInstallSnapshot(uint32_t from, const paxoskv::v1::InstallSnapshot& m);
  // The leader we follow hands leadership to us: campaign at once.
  void OnTimeoutNow(uint32_t from, const paxoskv::v1::TimeoutNow& m);
  // A valid message from the leader of ballot b (>= promised): follow it.
  void FollowLeader(const paxoskv::v1::Ballot& b);

  // ---- proposer.cc ----
  std::set<uint32_t> PromiseIds() const;
  // `transfer`: the leader handed leadership to us (TimeoutNow); the Prepares say so.
  void StartCampaign(bool transfer = false);
  void SendPrepare(uint32_t to);
  void OnPromise(uint32_t from, const paxoskv::v1::Promise& m);
  void BecomeLeader();
  void OnAccepted(uint32_t from, const paxoskv::v1::Accepted& m);
  // Leaves candidate/leader role: drops pending commands and proposals, fails reads.
  void StepDown(const char* reason);
  // Sends TimeoutNow to the best voter and steps down (Node::ProposeConfChange); returns that
  // voter, or kFailedPrecondition when not leader or no voter was heard within a timeout.
  absl::StatusOr<uint32_t> TransferLeadership();
  bool CanFlushProposals() const;
  void FlushProposals();
  // `fresh`: the entries were just proposed by FlushProposals (Ready::proposals).
  // Splits `entries` into Accepts of at most kMessageEntryBytesTarget bytes (an empty list
  // is one heartbeat).
  void SendAccept(uint32_t to, std::vector<paxoskv::v1::Entry> entries, bool fresh = false);
  void SendOneAccept(uint32_t to, std::vector<paxoskv::v1::Entry> entries, bool fresh);
  void SendHeartbeats();
  void RetransmitAccepts();
  void AckProposal(SlotId slot, uint32_t from);
  // The membership change to propose next, if any: the founding entry (every founding
  // voter's incarnation, once heard), a queued change, or the promotion of a caught-up
  // learner added to be promoted.
  std::optional<paxoskv::v1::Membership> NextMembership() const;
  // Heartbeat ids echoed by a quorum of voters (ourselves counted as UINT64_MAX).
  uint64_t QuorumHeartbeat() const;
  void CheckReads();
  void TickLeader();
  // A leader that heard a majority (check-quorum passes) but whose open slots have not been
  // chosen for 2 election timeouts campaigns again: a slot it skipped because only a
  // promiser that has since died held its value can then be recovered from a new quorum.
  void CheckProgress();
  // Check-quorum: a leader that heard no ok Accepted from a majority (itself included) for
  // 2 election timeouts steps down, so a leader cut off in a minority stops accepting
  // commands it cannot get chosen and its clients move on (etcd's CheckQuorum).
  void CheckQuorum();
  void TickCandidate();

  // ---- learner.cc ----
  // Marks slots in (chosen_through, through] chosen where the stored entry has ballot b.
  void MarkChosenAtBallot(const paxoskv::v1::Ballot& b, SlotId through);
  void AdvanceChosenThrough();
  void MaybeSendLearn(uint32_t peer);
  void MaybeHelpLeader(uint32_t leader_id, const paxoskv::v1::Ballot& b, SlotId leader_chosen);
  // Fills `learn` with chosen entries (from, ...] or returns false when compacted.
  bool BuildLearn(SlotId after, paxoskv::v1::Learn* learn) const;
  // `membership`: what the snapshot records (none: the one in effect stays).
  void InstallSnapshotLocal(SlotId last_slot, const paxoskv::v1::Membership& membership);
  std::vector<paxoskv::v1::Entry> TakeChosen();
};

}  // namespace paxoskv::paxos

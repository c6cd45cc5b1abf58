// The replicated key-value state machine: applies chosen commands in slot order.
// Plain and deterministic: no clock, RNG or I/O; every replica applying the same commands
// reaches the same state and returns the same results (failures included, as results). Its
// only notion of time is the proposed_ms the shard leader stamps on each command.
// Not thread-safe: owned by one replica core (libs/replica). A copy shares the state (see
// SharesStateWith): a background snapshot reads a copy while the owner applies nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/common/ids.h"
#include "paxoskv/v1/command.pb.h"

namespace paxoskv::kv {

struct KvLimits {
  size_t dedup_window_per_client = 1024;  // results kept per client_id (the oldest go first)
  size_t dedup_clients_max = 100000;      // client sessions kept at once
  // A client whose last command is older than this (by proposed_ms) may be evicted to make
  // room for a new one; younger ones never are (a new client is refused instead).
  uint64_t client_idle_ms = 10 * 60 * 1000;
  // How long after its first attempt a (client_id, seq) may still be retried, clock skew
  // between leaders included. Must be well below client_idle_ms (README.md, "Sessions").
  uint64_t client_retry_ms = 5 * 60 * 1000;
  uint32_t scan_limit_max = 10000;
};

// Validates a command before it is proposed or applied: empty/oversized key or value, unknown
// op, missing fields, a client_id without a seq, an ack_below above the seq. kInvalidArgument
// naming the problem.
absl::Status ValidateCommand(const paxoskv::v1::Command& command);
// ValidateCommand, and the op is one a client may send (GET, PUT, DELETE, and the clearing of
// alarms, which the master sends for an admin): what Replica.Execute takes. The migration ops
// go through the Migration service only; only a replica's core raises an alarm.
absl::Status ValidateClientCommand(const paxoskv::v1::Command& command);
// ValidateCommand, and the op is a migration op (scan, import, delete-keys, freeze,
// unfreeze, track-changes, barrier): what the Migration service takes.
absl::Status ValidateMigrationCommand(const paxoskv::v1::Command& command);

// What a command asks for, without who asked, when or how it was routed (client_id, seq,
// ack_below, shard_id and proposed_ms are left out): a retry has the same fingerprint, a
// reused (client_id, seq) with another command almost surely not. Never 0.
uint64_t CommandFingerprint(const paxoskv::v1::Command& command);

// Range scans order keys by (ring::StableHash(key), key): the hash the ring uses
// (libs/ring/hash_ring.h), so a scan of a moving HashRange finds exactly the moving keys.

class KvStateMachine {
 public:
  explicit KvStateMachine(KvLimits limits = {});

  // Applies one command chosen at `slot` (deterministic). Dedup: a (client_id, seq) seen
  // before returns its first result without re-applying (or INVALID_ARGUMENT if it carried
  // another command); a seq the window forgot, or a command of a client whose session was
  // evicted, returns RESULT_CODE_STALE_REQUEST; a new client when every session is active
  // returns RESULT_CODE_RESOURCE_EXHAUSTED. client_id 0 bypasses dedup (reads, tests).
  paxoskv::v1::CommandResult Apply(SlotId slot, const paxoskv::v1::Command& command);

  // The shard's membership as of the last applied entry that changed it (a Value carrying
  // one: libs/paxos README, "Membership"); written into every snapshot (its last record), so
  // that a replica restarting or installing one finds it. No members: none was applied yet.
  void SetMembership(const paxoskv::v1::Membership& membership);
  const paxoskv::v1::Membership& membership() const;

  // The raised alarms (OP_ALARM), in (member_id, type) order; also in every snapshot. While a
  // NOSPACE alarm is raised, Apply answers a put with RESULT_CODE_NOSPACE and changes nothing
  // (a copy of a put applied before still gets its first result).
  std::vector<paxoskv::v1::Alarm> alarms() const;
  bool HasAlarm(uint32_t member_id, paxoskv::v1::AlarmType type) const;

  // A local read (serves linearizable reads after a read-index round). NOT_FOUND result
  // code when absent.
  paxoskv::v1::CommandResult Read(const paxoskv::v1::Command& command) const;

  // Writes the whole state as snapshot chunks of about `chunk_bytes` each (a chunk holds at
  // least one record, so a larger record makes a larger chunk), each a serialized
  // KvSnapshot; the same state always gives the same chunks. Stops at the first non-OK
  // `emit` and returns it.
  using ChunkSink = absl::FunctionRef<absl::Status(std::string_view chunk)>;
  absl::Status WriteSnapshot(size_t chunk_bytes, ChunkSink emit) const;
  // Adds one snapshot chunk to this state machine, which must start empty (a fresh one):
  // adding every chunk of a snapshot in order rebuilds that state. kInvalidArgument when the
  // chunk does not parse or breaks a limit (an empty or oversized key, a client id 0, ...);
  // the state is then unspecified and must be discarded.
  absl::Status AddSnapshotChunk(std::string_view chunk);

  // Whether `other` is a copy sharing this state: while it is (and someone reads it), Apply
  // must not be called. A state built anew (a fresh machine, or one assigned over this one)
  // shares nothing.
  bool SharesStateWith(const KvStateMachine& other) const { return impl_ == other.impl_; }

  size_t key_count() const;
  uint64_t approximate_bytes() const;   // keys + values + dedup results
  // Fingerprint of the state, independent of chunking (tests compare replicas cheaply).
  uint64_t Digest() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace paxoskv::kv

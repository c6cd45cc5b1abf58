// The replicated key-value state machine: applies chosen commands in slot order.
// Plain and deterministic: no clock, RNG or I/O; every replica applying the same commands
// reaches the same state and returns the same results (failures included, as results).
// Not thread-safe: owned by services/replica ReplicaLoop (or tests/sim).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/common/ids.h"
#include "paxoskv/v1/command.pb.h"

namespace paxoskv::kv {

struct KvLimits {
  size_t dedup_window_per_client = 1024;  // results kept per client_id
  size_t dedup_clients_max = 100000;      // least recently active clients forgotten beyond
  uint32_t scan_limit_max = 10000;
};

// Validates a client command before it is proposed (empty/oversized key or value, unknown op,
// missing fields). kInvalidArgument with a message naming the problem.
absl::Status ValidateCommand(const paxoskv::v1::Command& command);

// Range scans order keys by (ring::StableHash(key), key): the same XXH64 the ring uses
// (libs/ring/hash_ring.h), so a scan of a moving HashRange finds exactly the moving keys.

class KvStateMachine {
 public:
  explicit KvStateMachine(KvLimits limits = {});

  // Applies one command chosen at `slot` (deterministic). Dedup: a (client_id, seq) seen
  // before returns its first result without re-applying; a seq the window forgot returns
  // RESULT_CODE_STALE_REQUEST. client_id 0 bypasses dedup (reads and tests only).
  paxoskv::v1::CommandResult Apply(SlotId slot, const paxoskv::v1::Command& command);

  // A local read (serves linearizable reads after a read-index round). NOT_FOUND result
  // code when absent.
  paxoskv::v1::CommandResult Read(const paxoskv::v1::Command& command) const;

  // Deterministic serialisation of the whole state (same bytes on every replica that applied
  // the same commands).
  std::string Snapshot() const;
  // Replaces the whole state. kInvalidArgument if `data` does not parse.
  absl::Status Restore(std::string_view data);

  size_t key_count() const;
  uint64_t approximate_bytes() const;   // keys + values + dedup results
  // Fingerprint of the state (tests compare replicas cheaply).
  uint64_t Digest() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace paxoskv::kv

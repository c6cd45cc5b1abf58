// In-memory acceptor state with AcceptorStore semantics, shared by MemoryStore and FaultyStore
// (which keeps two of them: what is synced and what is merely written).
// Not thread-safe: the owning store locks around every call.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "libs/paxos/node.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::storage {

class MemoryState {
 public:
  // `name` stands for the data directory in identity error messages.
  explicit MemoryState(std::string name) : name_(std::move(name)) {}

  absl::Status CheckIdentity(const Identity& identity);
  paxos::DurableState Load() const;
  // Applies the batch (after CheckBatchOrDie). Entries at or below the snapshot are dropped.
  void Apply(const WriteBatch& batch);
  // Keeps the newer snapshot; deletes entries <= its last slot.
  void SaveSnapshot(const Snapshot& snapshot);
  const Snapshot& snapshot() const { return snapshot_; }
  uint64_t ApproximateSizeBytes() const;

 private:
  std::string name_;
  std::optional<Identity> identity_;
  paxoskv::v1::Ballot promised_;
  std::map<SlotId, paxoskv::v1::Entry> entries_;
  SlotId chosen_through_ = 0;
  Snapshot snapshot_;
};

// The kFailedPrecondition error for an identity mismatch (shared wording for every store).
absl::Status IdentityMismatchError(const std::string& directory, const Identity& stored,
                                   const Identity& wanted);

}  // namespace paxoskv::storage

// In-memory acceptor state with AcceptorStore semantics, shared by MemoryStore and FaultyStore
// (which keeps two of them: what is synced and what is merely written), and the in-memory
// snapshot writer and reader both stores hand out.
// Not thread-safe: the owning store locks around every call.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/paxos/durable_state.h"
#include "libs/storage/acceptor_store.h"
#include "paxoskv/v1/paxos.pb.h"

namespace paxoskv::storage {

// A committed snapshot held in memory; readers share the chunks.
struct MemorySnapshot {
  SnapshotMeta meta;
  std::shared_ptr<const std::vector<std::string>> chunks =
      std::make_shared<const std::vector<std::string>>();
};

class MemoryState {
 public:
  // `name` stands for the data directory in identity error messages.
  explicit MemoryState(std::string name) : name_(std::move(name)) {}

  absl::StatusOr<Identity> CheckIdentity(const Identity& wanted);
  paxos::DurableState Load() const;
  // Applies the batch (after CheckBatchOrDie). Entries at or below the snapshot are dropped.
  void Apply(const WriteBatch& batch);
  // Keeps the newer snapshot; deletes entries <= its last slot and raises chosen_through.
  void SaveSnapshot(const MemorySnapshot& snapshot);
  const MemorySnapshot& snapshot() const { return snapshot_; }
  uint64_t ApproximateSizeBytes() const;

 private:
  std::string name_;
  std::optional<Identity> identity_;
  paxoskv::v1::Ballot promised_;
  std::map<SlotId, paxoskv::v1::Entry> entries_;
  SlotId chosen_through_ = 0;
  MemorySnapshot snapshot_;
};

// A SnapshotWriter that collects chunks in memory and hands them to `commit` (which the
// owning store runs under its lock).
std::unique_ptr<SnapshotWriter> NewMemorySnapshotWriter(
    SlotId last_slot, std::function<absl::Status(MemorySnapshot)> commit);
// A SnapshotReader over a committed in-memory snapshot.
std::unique_ptr<SnapshotReader> NewMemorySnapshotReader(MemorySnapshot snapshot);

// The kInvalidArgument error for a new directory's identity without an incarnation.
absl::Status ZeroIncarnationError(const std::string& directory);
// The kFailedPrecondition error for an identity mismatch (shared wording for every store).
absl::Status IdentityMismatchError(const std::string& directory, const Identity& stored,
                                   const Identity& wanted);

}  // namespace paxoskv::storage

// MemoryStore: an AcceptorStore kept in memory, with the same semantics as RocksDbStore
// (identity check, invariant checks, snapshot truncation) but nothing survives the process.
// For unit tests. Thread-safe (one mutex around every call). Snapshot writers it hands out
// must not outlive it.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "libs/storage/acceptor_store.h"
#include "libs/storage/memory_state.h"

namespace paxoskv::storage {

class MemoryStore : public AcceptorStore {
 public:
  // `name` appears in identity mismatch messages in place of a directory.
  explicit MemoryStore(std::string name = "(memory)");

  absl::StatusOr<Identity> CheckIdentity(const Identity& wanted) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<paxos::DurableState> Load() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Write(const WriteBatch& batch) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> NewSnapshot(SlotId last_slot) override;
  absl::StatusOr<std::unique_ptr<SnapshotReader>> OpenSnapshot() override
      ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t ApproximateSizeBytes() override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  MemoryState state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace paxoskv::storage

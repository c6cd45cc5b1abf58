// MemoryStore: AcceptorStore semantics in memory.
#include "libs/storage/memory_store.h"

namespace paxoskv::storage {

MemoryStore::MemoryStore(std::string name) : state_(std::move(name)) {}

absl::StatusOr<Identity> MemoryStore::CheckIdentity(const Identity& wanted) {
  absl::MutexLock lock(&mu_);
  return state_.CheckIdentity(wanted);
}

absl::StatusOr<paxos::DurableState> MemoryStore::Load() {
  absl::MutexLock lock(&mu_);
  return state_.Load();
}

absl::Status MemoryStore::Write(const WriteBatch& batch) {
  absl::MutexLock lock(&mu_);
  state_.Apply(batch);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SnapshotWriter>> MemoryStore::NewSnapshot(SlotId last_slot) {
  return NewMemorySnapshotWriter(last_slot, [this](MemorySnapshot snapshot) {
    absl::MutexLock lock(&mu_);
    state_.SaveSnapshot(snapshot);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::unique_ptr<SnapshotReader>> MemoryStore::OpenSnapshot() {
  absl::MutexLock lock(&mu_);
  return NewMemorySnapshotReader(state_.snapshot());
}

uint64_t MemoryStore::ApproximateSizeBytes() {
  absl::MutexLock lock(&mu_);
  return state_.ApproximateSizeBytes();
}

}  // namespace paxoskv::storage

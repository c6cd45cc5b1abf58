// FaultyStore: separates durable from volatile writes and injects I/O errors.
#include "libs/storage/faulty_store.h"

#include <algorithm>

namespace paxoskv::storage {

FaultyStore::FaultyStore(std::string name) : durable_(name), live_(name) {}

void FaultyStore::MakeDurableLocked() {
  mu_.AssertHeld();
  for (const auto& batch : pending_) durable_.Apply(batch);
  pending_.clear();
}

bool FaultyStore::TakeFaultLocked() {
  mu_.AssertHeld();
  if (faults_left_ <= 0) return false;
  --faults_left_;
  ++failed_writes_;
  return true;
}

absl::Status FaultyStore::CheckIdentity(const Identity& identity) {
  absl::MutexLock lock(&mu_);
  absl::Status status = live_.CheckIdentity(identity);
  if (status.ok()) {
    // The identity record is written synced: it also makes earlier writes durable.
    MakeDurableLocked();
    status = durable_.CheckIdentity(identity);
  }
  return status;
}

absl::StatusOr<paxos::DurableState> FaultyStore::Load() {
  absl::MutexLock lock(&mu_);
  return live_.Load();
}

absl::Status FaultyStore::Write(const WriteBatch& batch) {
  absl::MutexLock lock(&mu_);
  if (TakeFaultLocked()) return absl::InternalError("injected I/O error: write failed");
  live_.Apply(batch);
  pending_.push_back(batch);
  ++writes_;
  if (batch.sync) {
    ++synced_writes_;
    MakeDurableLocked();
  }
  return absl::OkStatus();
}

absl::Status FaultyStore::SaveSnapshot(const Snapshot& snapshot) {
  absl::MutexLock lock(&mu_);
  if (TakeFaultLocked()) return absl::InternalError("injected I/O error: snapshot failed");
  MakeDurableLocked();
  durable_.SaveSnapshot(snapshot);
  live_.SaveSnapshot(snapshot);
  return absl::OkStatus();
}

absl::StatusOr<Snapshot> FaultyStore::LoadSnapshot() {
  absl::MutexLock lock(&mu_);
  return live_.snapshot();
}

uint64_t FaultyStore::ApproximateSizeBytes() {
  absl::MutexLock lock(&mu_);
  return live_.ApproximateSizeBytes();
}

void FaultyStore::SimulateCrash(size_t keep_volatile) {
  absl::MutexLock lock(&mu_);
  const size_t keep = std::min(keep_volatile, pending_.size());
  for (size_t i = 0; i < keep; ++i) durable_.Apply(pending_[i]);
  live_ = durable_;
  pending_.clear();
}

void FaultyStore::FailNextWrites(int count) {
  absl::MutexLock lock(&mu_);
  faults_left_ = count;
}

uint64_t FaultyStore::writes() {
  absl::MutexLock lock(&mu_);
  return writes_;
}

uint64_t FaultyStore::synced_writes() {
  absl::MutexLock lock(&mu_);
  return synced_writes_;
}

size_t FaultyStore::volatile_writes() {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

uint64_t FaultyStore::failed_writes() {
  absl::MutexLock lock(&mu_);
  return failed_writes_;
}

}  // namespace paxoskv::storage

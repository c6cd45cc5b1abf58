// FaultyStore: separates durable from volatile writes, injects I/O errors and power cuts.
#include "libs/storage/faulty_store.h"

#include <algorithm>

namespace paxoskv::storage {

FaultyStore::FaultyStore(std::string name) : durable_(name), live_(name) {}

void FaultyStore::ApplyDurableLocked(const WriteBatch& batch) {
  mu_.AssertHeld();
  durable_.Apply(batch);
  if (durable_hook_) durable_hook_(batch);
}

void FaultyStore::MakeDurableLocked() {
  mu_.AssertHeld();
  for (const auto& batch : pending_) ApplyDurableLocked(batch);
  pending_.clear();
}

bool FaultyStore::TakeFaultLocked() {
  mu_.AssertHeld();
  if (faults_left_ <= 0) return false;
  --faults_left_;
  ++failed_writes_;
  return true;
}

bool FaultyStore::PowerOnLocked() {
  mu_.AssertHeld();
  if (power_cut_) return false;
  if (durable_ops_before_cut_.has_value()) {
    if (*durable_ops_before_cut_ == 0) {
      power_cut_ = true;
      durable_ops_before_cut_.reset();
      return false;
    }
    --*durable_ops_before_cut_;
  }
  return true;
}

absl::StatusOr<Identity> FaultyStore::CheckIdentity(const Identity& wanted) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Identity> identity = live_.CheckIdentity(wanted);
  // The identity record is written synced: it also makes earlier writes durable.
  if (identity.ok() && PowerOnLocked()) {
    MakeDurableLocked();
    identity = durable_.CheckIdentity(wanted);
  }
  return identity;
}

absl::StatusOr<paxos::DurableState> FaultyStore::Load() {
  absl::MutexLock lock(&mu_);
  return live_.Load();
}

absl::Status FaultyStore::Write(const WriteBatch& batch) {
  absl::MutexLock lock(&mu_);
  if (TakeFaultLocked()) return absl::InternalError("injected I/O error: write failed");
  live_.Apply(batch);
  ++writes_;
  if (batch.sync) ++synced_writes_;
  if (power_cut_) return absl::OkStatus();   // lost with the machine
  if (batch.sync && !PowerOnLocked()) return absl::OkStatus();
  pending_.push_back(batch);
  if (batch.sync) MakeDurableLocked();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SnapshotWriter>> FaultyStore::NewSnapshot(SlotId last_slot) {
  return NewMemorySnapshotWriter(
      last_slot, [this](MemorySnapshot snapshot) { return CommitSnapshot(std::move(snapshot)); });
}

absl::Status FaultyStore::CommitSnapshot(MemorySnapshot snapshot) {
  absl::MutexLock lock(&mu_);
  if (TakeFaultLocked()) return absl::InternalError("injected I/O error: snapshot failed");
  live_.SaveSnapshot(snapshot);
  ++snapshot_commits_;
  if (!PowerOnLocked()) return absl::OkStatus();
  MakeDurableLocked();
  durable_.SaveSnapshot(snapshot);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SnapshotReader>> FaultyStore::OpenSnapshot() {
  absl::MutexLock lock(&mu_);
  return NewMemorySnapshotReader(live_.snapshot());
}

uint64_t FaultyStore::ApproximateSizeBytes() {
  absl::MutexLock lock(&mu_);
  return live_.ApproximateSizeBytes();
}

void FaultyStore::SimulateCrash(size_t keep_volatile) {
  absl::MutexLock lock(&mu_);
  const size_t keep = std::min(keep_volatile, pending_.size());
  for (size_t i = 0; i < keep; ++i) ApplyDurableLocked(pending_[i]);
  live_ = durable_;
  pending_.clear();
  power_cut_ = false;
  durable_ops_before_cut_.reset();
}

void FaultyStore::FailNextWrites(int count) {
  absl::MutexLock lock(&mu_);
  faults_left_ = count;
}

void FaultyStore::CutPowerAfter(uint64_t durable_operations) {
  absl::MutexLock lock(&mu_);
  durable_ops_before_cut_ = durable_operations;
}

bool FaultyStore::power_cut() {
  absl::MutexLock lock(&mu_);
  return power_cut_;
}

void FaultyStore::SetDurableHook(std::function<void(const WriteBatch&)> hook) {
  absl::MutexLock lock(&mu_);
  durable_hook_ = std::move(hook);
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

uint64_t FaultyStore::snapshot_commits() {
  absl::MutexLock lock(&mu_);
  return snapshot_commits_;
}

}  // namespace paxoskv::storage

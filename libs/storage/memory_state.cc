// In-memory acceptor state and snapshots shared by MemoryStore and FaultyStore.
#include "libs/storage/memory_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/storage/invariants.h"

namespace paxoskv::storage {

absl::Status IdentityMismatchError(const std::string& directory, const Identity& stored,
                                   const Identity& wanted) {
  return absl::FailedPreconditionError(
      absl::StrCat("data directory ", directory, " belongs to shard ", stored.shard_id,
                   " replica ", stored.replica_id, ", not shard ", wanted.shard_id, " replica ",
                   wanted.replica_id));
}

absl::Status ZeroIncarnationError(const std::string& directory) {
  return absl::InvalidArgumentError(
      absl::StrCat("data directory ", directory, ": a new directory needs an incarnation (not 0)"));
}

absl::StatusOr<Identity> MemoryState::CheckIdentity(const Identity& wanted) {
  if (!identity_) {
    if (wanted.incarnation == 0) return ZeroIncarnationError(name_);
    identity_ = wanted;
    return *identity_;
  }
  if (identity_->shard_id != wanted.shard_id || identity_->replica_id != wanted.replica_id) {
    return IdentityMismatchError(name_, *identity_, wanted);
  }
  return *identity_;
}

paxos::DurableState MemoryState::Load() const {
  paxos::DurableState state;
  state.promised = promised_;
  state.chosen_through = chosen_through_;
  state.snapshot_slot = snapshot_.meta.last_slot;
  for (auto it = entries_.upper_bound(snapshot_.meta.last_slot); it != entries_.end(); ++it) {
    state.entries.push_back(it->second);
  }
  CheckDurableStateOrDie(state);
  return state;
}

void MemoryState::Apply(const WriteBatch& batch) {
  CheckBatchOrDie(promised_, chosen_through_, batch);
  if (batch.promised) promised_ = *batch.promised;
  for (const auto& entry : batch.accepted) {
    if (entry.slot() <= snapshot_.meta.last_slot) continue;
    entries_[entry.slot()] = entry;
  }
  if (batch.chosen_through) chosen_through_ = std::max(chosen_through_, *batch.chosen_through);
}

void MemoryState::SaveSnapshot(const MemorySnapshot& snapshot) {
  if (snapshot.meta.last_slot < snapshot_.meta.last_slot) return;  // keep the newer one
  snapshot_ = snapshot;
  entries_.erase(entries_.begin(), entries_.upper_bound(snapshot.meta.last_slot));
  chosen_through_ = std::max(chosen_through_, snapshot.meta.last_slot);
}

uint64_t MemoryState::ApproximateSizeBytes() const {
  uint64_t bytes = promised_.ByteSizeLong() + snapshot_.meta.bytes + 64;
  for (const auto& [slot, entry] : entries_) bytes += sizeof(slot) + entry.ByteSizeLong();
  return bytes;
}

namespace {

class MemorySnapshotWriter final : public SnapshotWriter {
 public:
  MemorySnapshotWriter(SlotId last_slot, std::function<absl::Status(MemorySnapshot)> commit)
      : commit_(std::move(commit)) {
    meta_.last_slot = last_slot;
  }
  SlotId last_slot() const override { return meta_.last_slot; }
  absl::Status Append(std::string_view chunk) override {
    PAXOSKV_CHECK(!committed_) << "append after commit";
    digest_.Add(chunk);
    chunks_.emplace_back(chunk);
    meta_.bytes += chunk.size();
    ++meta_.chunks;
    return absl::OkStatus();
  }
  absl::Status Commit() override {
    PAXOSKV_CHECK(!committed_) << "snapshot committed twice";
    committed_ = true;
    MemorySnapshot snapshot;
    snapshot.meta = meta();
    snapshot.chunks = std::make_shared<const std::vector<std::string>>(std::move(chunks_));
    return commit_(std::move(snapshot));
  }
  SnapshotMeta meta() const override {
    SnapshotMeta meta = meta_;
    meta.digest = digest_.value();
    return meta;
  }

 private:
  std::function<absl::Status(MemorySnapshot)> commit_;
  SnapshotMeta meta_;
  SnapshotDigest digest_;
  std::vector<std::string> chunks_;
  bool committed_ = false;
};

class MemorySnapshotReader final : public SnapshotReader {
 public:
  explicit MemorySnapshotReader(MemorySnapshot snapshot) : snapshot_(std::move(snapshot)) {}
  const SnapshotMeta& meta() const override { return snapshot_.meta; }
  absl::StatusOr<bool> Next(std::string* chunk) override {
    if (next_ >= snapshot_.chunks->size()) return false;
    *chunk = (*snapshot_.chunks)[next_++];
    return true;
  }

 private:
  MemorySnapshot snapshot_;
  size_t next_ = 0;
};

}  // namespace

std::unique_ptr<SnapshotWriter> NewMemorySnapshotWriter(
    SlotId last_slot, std::function<absl::Status(MemorySnapshot)> commit) {
  return std::make_unique<MemorySnapshotWriter>(last_slot, std::move(commit));
}

std::unique_ptr<SnapshotReader> NewMemorySnapshotReader(MemorySnapshot snapshot) {
  return std::make_unique<MemorySnapshotReader>(std::move(snapshot));
}

}  // namespace paxoskv::storage

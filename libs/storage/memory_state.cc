// In-memory acceptor state shared by MemoryStore and FaultyStore.
#include "libs/storage/memory_state.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libs/storage/invariants.h"

namespace paxoskv::storage {

absl::Status IdentityMismatchError(const std::string& directory, const Identity& stored,
                                   const Identity& wanted) {
  return absl::FailedPreconditionError(
      absl::StrCat("data directory ", directory, " belongs to shard ", stored.shard_id,
                   " replica ", stored.replica_id, ", not shard ", wanted.shard_id, " replica ",
                   wanted.replica_id));
}

absl::Status MemoryState::CheckIdentity(const Identity& identity) {
  if (!identity_) {
    identity_ = identity;
    return absl::OkStatus();
  }
  if (identity_->shard_id != identity.shard_id || identity_->replica_id != identity.replica_id) {
    return IdentityMismatchError(name_, *identity_, identity);
  }
  return absl::OkStatus();
}

paxos::DurableState MemoryState::Load() const {
  paxos::DurableState state;
  state.promised = promised_;
  state.chosen_through = chosen_through_;
  state.snapshot_slot = snapshot_.last_slot;
  for (auto it = entries_.upper_bound(snapshot_.last_slot); it != entries_.end(); ++it) {
    state.entries.push_back(it->second);
  }
  CheckDurableStateOrDie(state);
  return state;
}

void MemoryState::Apply(const WriteBatch& batch) {
  CheckBatchOrDie(promised_, chosen_through_, batch);
  if (batch.promised) promised_ = *batch.promised;
  for (const auto& entry : batch.accepted) {
    if (entry.slot() <= snapshot_.last_slot) continue;
    entries_[entry.slot()] = entry;
  }
  if (batch.chosen_through) chosen_through_ = std::max(chosen_through_, *batch.chosen_through);
}

void MemoryState::SaveSnapshot(const Snapshot& snapshot) {
  if (snapshot.last_slot < snapshot_.last_slot) return;  // keep the newer one
  snapshot_ = snapshot;
  entries_.erase(entries_.begin(), entries_.upper_bound(snapshot.last_slot));
  chosen_through_ = std::max(chosen_through_, snapshot.last_slot);
}

uint64_t MemoryState::ApproximateSizeBytes() const {
  uint64_t bytes = promised_.ByteSizeLong() + snapshot_.data.size() + 64;
  for (const auto& [slot, entry] : entries_) bytes += sizeof(slot) + entry.ByteSizeLong();
  return bytes;
}

}  // namespace paxoskv::storage

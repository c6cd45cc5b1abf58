// FaultyStore: an in-memory AcceptorStore that models a disk with a volatile cache, for tests
// of the Paxos core, the replica core and the simulator (after LevelDB's
// fault_injection_test.cc).
//  - A write with sync=false is visible at once but volatile; a synced write (or a snapshot
//    commit, or an identity record) makes it and every earlier write durable, like an
//    fsync'd WAL.
//  - SimulateCrash() forgets every volatile write: the next Load() returns only what a real
//    disk would have kept.
//  - FailNextWrites(n) makes the next n Write/snapshot Commit calls fail with kInternal (an
//    I/O error) without any effect, as a failed write or fsync would be reported.
//  - CutPowerAfter(n): the next n durable operations (synced writes, snapshot commits,
//    identity records) happen; from the one after, the power is cut: the process runs on
//    unaware (every call still succeeds and reads see the writes), but nothing more becomes
//    durable. The owner checks power_cut() and crashes the replica (SimulateCrash), as if the
//    machine had died at that instant.
//  - A durable hook sees each batch at the moment it becomes durable (the simulator's oracle
//    counts acceptances that survive a crash).
// Thread-safe (one mutex around every call). Snapshot writers it hands out must not outlive
// it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "libs/storage/acceptor_store.h"
#include "libs/storage/memory_state.h"

namespace paxoskv::storage {

class FaultyStore : public AcceptorStore {
 public:
  explicit FaultyStore(std::string name = "(faulty)");

  absl::StatusOr<Identity> CheckIdentity(const Identity& wanted) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<paxos::DurableState> Load() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Write(const WriteBatch& batch) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::unique_ptr<SnapshotWriter>> NewSnapshot(SlotId last_slot) override;
  absl::StatusOr<std::unique_ptr<SnapshotReader>> OpenSnapshot() override
      ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t ApproximateSizeBytes() override ABSL_LOCKS_EXCLUDED(mu_);

  // Drops every write not yet durable, except the first `keep_volatile` of those written
  // before a power cut (a real WAL may have reached the disk partly: always a prefix). Ends
  // a power cut. The store stays usable: the test then restores from Load(), as a restarted
  // replica would.
  void SimulateCrash(size_t keep_volatile = 0) ABSL_LOCKS_EXCLUDED(mu_);
  // The next `count` Write/Commit calls return kInternal and change nothing.
  void FailNextWrites(int count) ABSL_LOCKS_EXCLUDED(mu_);
  // See the header comment. n = 0 cuts the power before the next durable operation.
  void CutPowerAfter(uint64_t durable_operations) ABSL_LOCKS_EXCLUDED(mu_);
  bool power_cut() ABSL_LOCKS_EXCLUDED(mu_);
  // Called (under the store's lock: it must not call back into the store) with each batch
  // as it becomes durable, in order.
  void SetDurableHook(std::function<void(const WriteBatch&)> hook) ABSL_LOCKS_EXCLUDED(mu_);

  // Counters for assertions.
  uint64_t writes() ABSL_LOCKS_EXCLUDED(mu_);           // successful Write calls
  uint64_t synced_writes() ABSL_LOCKS_EXCLUDED(mu_);    // successful Write calls with sync
  size_t volatile_writes() ABSL_LOCKS_EXCLUDED(mu_);    // writes a crash would drop now
  uint64_t failed_writes() ABSL_LOCKS_EXCLUDED(mu_);    // injected failures so far
  uint64_t snapshot_commits() ABSL_LOCKS_EXCLUDED(mu_); // successful snapshot commits

 private:
  absl::Status CommitSnapshot(MemorySnapshot snapshot) ABSL_LOCKS_EXCLUDED(mu_);
  void MakeDurableLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyDurableLocked(const WriteBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool TakeFaultLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts one durable operation; false when the power is (now) cut.
  bool PowerOnLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  MemoryState durable_ ABSL_GUARDED_BY(mu_);   // what survives a crash
  MemoryState live_ ABSL_GUARDED_BY(mu_);      // durable_ + pending_ (what reads see)
  std::vector<WriteBatch> pending_ ABSL_GUARDED_BY(mu_);   // volatile, before any cut
  int faults_left_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<uint64_t> durable_ops_before_cut_ ABSL_GUARDED_BY(mu_);
  bool power_cut_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void(const WriteBatch&)> durable_hook_ ABSL_GUARDED_BY(mu_);
  uint64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t synced_writes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_writes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t snapshot_commits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace paxoskv::storage

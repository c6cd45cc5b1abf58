// FaultyStore: an in-memory AcceptorStore that models a disk with a volatile cache, for tests
// of the Paxos core and the replica (after LevelDB's fault_injection_test.cc).
//  - A write with sync=false is visible at once but volatile; a synced write (or a snapshot,
//    or an identity record) makes it and every earlier write durable, like an fsync'd WAL.
//  - SimulateCrash() forgets every volatile write: the next Load() returns only what a real
//    disk would have kept.
//  - FailNextWrites(n) makes the next n Write/SaveSnapshot calls fail with kInternal (an I/O
//    error) without any effect, as a failed fsync would be reported.
// Thread-safe (one mutex around every call).
#pragma once

#include <cstdint>
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

  absl::Status CheckIdentity(const Identity& identity) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<paxos::DurableState> Load() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Write(const WriteBatch& batch) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status SaveSnapshot(const Snapshot& snapshot) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<Snapshot> LoadSnapshot() override ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t ApproximateSizeBytes() override ABSL_LOCKS_EXCLUDED(mu_);

  // Drops every write not yet made durable by a synced write, except the first
  // `keep_volatile` of them (a real WAL may have reached the disk partly: always a prefix).
  // The store stays usable: the test then restores a Node from Load(), as a restarted
  // replica would.
  void SimulateCrash(size_t keep_volatile = 0) ABSL_LOCKS_EXCLUDED(mu_);
  // The next `count` Write/SaveSnapshot calls return kInternal and change nothing.
  void FailNextWrites(int count) ABSL_LOCKS_EXCLUDED(mu_);

  // Counters for assertions.
  uint64_t writes() ABSL_LOCKS_EXCLUDED(mu_);           // successful Write calls
  uint64_t synced_writes() ABSL_LOCKS_EXCLUDED(mu_);    // successful Write calls with sync
  size_t volatile_writes() ABSL_LOCKS_EXCLUDED(mu_);    // writes a crash would drop now
  uint64_t failed_writes() ABSL_LOCKS_EXCLUDED(mu_);    // injected failures so far

 private:
  void MakeDurableLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool TakeFaultLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  MemoryState durable_ ABSL_GUARDED_BY(mu_);   // what survives a crash
  MemoryState live_ ABSL_GUARDED_BY(mu_);      // durable_ + pending_ (what reads see)
  std::vector<WriteBatch> pending_ ABSL_GUARDED_BY(mu_);
  int faults_left_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t synced_writes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_writes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace paxoskv::storage

// Admission: which shard a KV request routes to, and whether it may go now. A migration moves
// one hash range at a time: the range being moved is paused (Pause), so a request whose key
// hash lies in it waits until the range is moved (then it routes to the range's new owner) or
// its deadline; a range already moved routes to its new owner before the ring switches
// (Switch); every other request is admitted at once and routes by the ring. Admitted requests
// are counted until Release, so a migration can wait for those already in flight to a range to
// end before it fences it (AwaitDrained). Thread-safe: gRPC handler threads, pool threads and
// the migration and refresher threads call it concurrently; one short internal lock, never
// held across an RPC.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/ring/hash_ring.h"
#include "paxoskv/v1/command.pb.h"

namespace paxoskv::master {

// A range a migration has moved, routed to its new owner before the ring says so.
struct MovedRange {
  paxoskv::v1::HashRange range;
  uint32_t to_shard = 0;
};

class Admission {
 public:
  explicit Admission(std::shared_ptr<const ring::HashRing> ring) : ring_(std::move(ring)) {}

  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Waits while `hash` lies in a paused range (until `deadline`: then kDeadlineExceeded), then
  // counts the request as in flight and returns the shard to route it to. kUnavailable once
  // stopped. Every admitted request is Released once.
  absl::StatusOr<uint32_t> Admit(uint64_t hash, absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // Admit without waiting: nullopt when `hash` is paused (the caller takes a blocking path).
  absl::StatusOr<std::optional<uint32_t>> TryAdmit(uint64_t hash) ABSL_LOCKS_EXCLUDED(mu_);
  void Release(uint64_t hash) ABSL_LOCKS_EXCLUDED(mu_);

  // From now on requests in `paused` wait, and those in `moved` route to the range's new owner
  // (a migration's range being moved, and those it has moved). Replaces the earlier sets.
  void Pause(std::vector<paxoskv::v1::HashRange> paused, std::vector<MovedRange> moved = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until no admitted request lies in a paused range. False if stopped first.
  bool AwaitDrained() ABSL_LOCKS_EXCLUDED(mu_);
  // Routes by `ring` from now on (no range paused or moved) and lets every paused request go.
  void Switch(std::shared_ptr<const ring::HashRing> ring) ABSL_LOCKS_EXCLUDED(mu_);
  // Fails waiting and new requests with kUnavailable.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  std::shared_ptr<const ring::HashRing> ring() const ABSL_LOCKS_EXCLUDED(mu_);
  int waiting() const ABSL_LOCKS_EXCLUDED(mu_);  // requests waiting for a paused range
  // True once at least `count` requests wait; false at `deadline`.
  bool AwaitWaiting(int count, absl::Time deadline) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  bool PausedLocked(uint64_t hash) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t OwnerLocked(uint64_t hash) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool InFlightPausedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::shared_ptr<const ring::HashRing> ring_ ABSL_GUARDED_BY(mu_);
  std::vector<paxoskv::v1::HashRange> paused_ ABSL_GUARDED_BY(mu_);
  std::vector<MovedRange> moved_ ABSL_GUARDED_BY(mu_);
  std::multiset<uint64_t> in_flight_ ABSL_GUARDED_BY(mu_);  // hashes of admitted requests
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace paxoskv::master

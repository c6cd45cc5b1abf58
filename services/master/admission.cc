// See admission.h.
#include "services/master/admission.h"

#include <utility>

#include "libs/common/check.h"

namespace paxoskv::master {

bool Admission::PausedLocked(uint64_t hash) const {
  for (const auto& range : paused_) {
    if (ring::HashRing::RangeContains(range, hash)) return true;
  }
  return false;
}

uint32_t Admission::OwnerLocked(uint64_t hash) const {
  for (const MovedRange& moved : moved_) {
    if (ring::HashRing::RangeContains(moved.range, hash)) return moved.to_shard;
  }
  return ring_->OwnerOfHash(hash);
}

bool Admission::InFlightPausedLocked() const {
  for (uint64_t hash : in_flight_) {
    if (PausedLocked(hash)) return true;
  }
  return false;
}

absl::StatusOr<uint32_t> Admission::Admit(uint64_t hash, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (PausedLocked(hash) && !stopped_) {
    ++waiting_;
    auto ready = [this, hash]()
                     ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopped_ || !PausedLocked(hash); };
    const bool admitted = mu_.AwaitWithDeadline(absl::Condition(&ready), deadline);
    --waiting_;
    if (!admitted) {
      return absl::DeadlineExceededError(
          "deadline exceeded while the key's hash range was being moved to another shard");
    }
  }
  if (stopped_) return absl::UnavailableError("master is shutting down");
  in_flight_.insert(hash);
  return OwnerLocked(hash);
}

absl::StatusOr<std::optional<uint32_t>> Admission::TryAdmit(uint64_t hash) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return absl::UnavailableError("master is shutting down");
  if (PausedLocked(hash)) return std::nullopt;
  in_flight_.insert(hash);
  return OwnerLocked(hash);
}

void Admission::Release(uint64_t hash) {
  absl::MutexLock lock(&mu_);
  auto it = in_flight_.find(hash);
  PAXOSKV_CHECK(it != in_flight_.end()) << "released a request that was not admitted";
  in_flight_.erase(it);
}

void Admission::Pause(std::vector<paxoskv::v1::HashRange> paused, std::vector<MovedRange> moved) {
  absl::MutexLock lock(&mu_);
  paused_ = std::move(paused);
  moved_ = std::move(moved);
}

bool Admission::AwaitDrained() {
  absl::MutexLock lock(&mu_);
  auto drained = [this]()
                     ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopped_ || !InFlightPausedLocked(); };
  mu_.Await(absl::Condition(&drained));
  return !stopped_;
}

void Admission::Switch(std::shared_ptr<const ring::HashRing> ring) {
  absl::MutexLock lock(&mu_);
  ring_ = std::move(ring);
  paused_.clear();
  moved_.clear();
}

void Admission::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

std::shared_ptr<const ring::HashRing> Admission::ring() const {
  absl::MutexLock lock(&mu_);
  return ring_;
}

int Admission::waiting() const {
  absl::MutexLock lock(&mu_);
  return waiting_;
}

bool Admission::AwaitWaiting(int count, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return waiting_ >= count; };
  return mu_.AwaitWithDeadline(absl::Condition(&enough), deadline);
}

}  // namespace paxoskv::master

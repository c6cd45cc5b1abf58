// See leader_retry.h.
#include "libs/common/leader_retry.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/common/check.h"
#include "libs/common/status_markers.h"

namespace paxoskv {
namespace {

bool IsRetryableCode(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kCancelled || code == absl::StatusCode::kResourceExhausted;
}

// "Not the leader": FAILED_PRECONDITION with a leader hint (possibly empty: leader unknown).
bool IsNotLeader(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition && LeaderHint(status).has_value();
}

// The state of one RetryAtLeader call.
class LeaderRetry {
 public:
  LeaderRetry(const std::string& group, const std::vector<std::string>& replicas,
              const std::string& start, absl::Time deadline, const LeaderRetryPolicy& policy,
              const LeaderRetryHooks& hooks)
      : group_(group),
        replicas_(replicas),
        deadline_(deadline),
        policy_(policy),
        hooks_(hooks),
        backoff_(policy.backoff_initial) {
    auto it = std::find(replicas_.begin(), replicas_.end(), start);
    if (it == replicas_.end()) {
      target_ = replicas_.front();
      next_index_ = 1;
    } else {
      target_ = start;
      next_index_ = static_cast<size_t>(it - replicas_.begin()) + 1;
    }
  }

  absl::Status Run(LeaderAttempt attempt) {
    while (true) {
      const absl::Time now = Now();
      if (now >= deadline_) return GiveUp();
      absl::Time attempt_deadline = deadline_;
      if (policy_.attempt_timeout > absl::ZeroDuration()) {
        attempt_deadline = std::min(deadline_, now + policy_.attempt_timeout);
      }
      ++attempts_;
      absl::Status status = attempt(target_, attempt_deadline);
      if (!IsRetryableAtAnotherReplica(status)) {
        if (hooks_.answered) hooks_.answered(target_);
        return status;
      }
      last_error_ = absl::Status(status.code(), absl::StrCat(target_, ": ", status.message()));
      if (!FollowHint(status)) Fail(status);
    }
  }

 private:
  absl::Time Now() const { return hooks_.now ? hooks_.now() : absl::Now(); }
  void Sleep(absl::Duration pause) const {
    if (hooks_.sleep) {
      hooks_.sleep(pause);
    } else {
      absl::SleepFor(pause);  // Retry backoff, not synchronisation.
    }
  }

  // Moves to the leader `status` names, if it is a hint this round may still follow.
  bool FollowHint(const absl::Status& status) {
    if (!IsNotLeader(status)) return false;
    std::string hint = *LeaderHint(status);
    if (hint.empty() || hint == target_ || hint_hops_ >= policy_.hint_hops_max) return false;
    ++hint_hops_;
    if (hooks_.redirected) hooks_.redirected(target_, hint);
    target_ = std::move(hint);
    return true;
  }

  // The attempt at target_ failed: tell the caller, move on round-robin, and back off once a
  // full round has failed (nobody leads right now).
  void Fail(const absl::Status& status) {
    if (IsWrongReplica(status) && hooks_.wrong_replica) hooks_.wrong_replica(target_);
    if (hooks_.failed) hooks_.failed(target_, status);
    target_ = replicas_[next_index_++ % replicas_.size()];
    if (++failures_ % replicas_.size() == 0) BackOff();
  }

  void BackOff() {
    hint_hops_ = 0;
    const absl::Duration pause = std::min(backoff_, deadline_ - Now());
    if (pause > absl::ZeroDuration()) Sleep(pause);
    backoff_ = std::min(backoff_ * 2, policy_.backoff_max);
  }

  absl::Status GiveUp() const {
    if (last_error_.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(absl::StrCat(group_, ": deadline exceeded after ",
                                                      attempts_, " attempts; last error: ",
                                                      last_error_.message()));
    }
    return absl::UnavailableError(
        absl::StrCat(group_, " has no reachable leader: ", last_error_.message()));
  }

  const std::string& group_;
  const std::vector<std::string>& replicas_;
  const absl::Time deadline_;
  const LeaderRetryPolicy& policy_;
  const LeaderRetryHooks& hooks_;
  std::string target_;
  size_t next_index_ = 0;   // round-robin cursor
  size_t failures_ = 0;     // failed attempts (hint hops excluded)
  int hint_hops_ = 0;       // hints followed this round
  int attempts_ = 0;
  absl::Duration backoff_;
  absl::Status last_error_ = absl::DeadlineExceededError("no attempt was made");
};

}  // namespace

bool IsRetryableAtAnotherReplica(const absl::Status& status) {
  if (status.ok() || IsNoSpace(status)) return false;
  return IsRetryableCode(status.code()) || IsNotLeader(status) || IsWrongReplica(status);
}

absl::Status RetryAtLeader(const std::string& group, const std::vector<std::string>& replicas,
                           const std::string& start, absl::Time deadline,
                           const LeaderRetryPolicy& policy, LeaderAttempt attempt,
                           const LeaderRetryHooks& hooks) {
  PAXOSKV_CHECK(!replicas.empty()) << "RetryAtLeader needs at least one replica";
  return LeaderRetry(group, replicas, start, deadline, policy, hooks).Run(attempt);
}

}  // namespace paxoskv

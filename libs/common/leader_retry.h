// Leader-following retry: runs one command against one replica group until a replica answers
// for good, following "not the leader" hints and failing over between replicas. The one loop
// behind the master's Router, the client library's ReplicaClient and the replica tests'
// ShardRouter. No gRPC: the caller's attempt function makes the call (and turns its status
// into an absl::Status with the marks of libs/common/status_markers.h).
//
// Rules, per attempt answer:
//  - OK, or a status no other replica or later attempt would change (NOT_FOUND,
//    INVALID_ARGUMENT, ABORTED: a stale request stays stale; wrong shard; FAILED_PRECONDITION
//    without a mark; anything else): returned at once.
//  - FAILED_PRECONDITION with a leader hint (not the leader): the hinted replica is tried at
//    once, at most `hint_hops_max` times per round (two replicas naming each other cannot
//    spin); a hint that cannot be followed counts as a failed attempt.
//  - UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, RESOURCE_EXHAUSTED, or "wrong replica": the
//    next replica in the list, round-robin. After every full round of failed attempts (as
//    many as there are replicas) it backs off: backoff_initial, doubling up to backoff_max,
//    never past the caller's deadline.
//  - At the caller's deadline: kDeadlineExceeded if the last attempt timed out (or none was
//    made), else kUnavailable "<group> has no reachable leader: <last error>".
// The command is re-sent unchanged (the caller's (client_id, seq) included), so replicas
// apply it at most once. Reentrant: each call keeps its own state; the hooks are called on the
// calling thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace paxoskv {

struct LeaderRetryPolicy {
  // Budget of one attempt, so a hung replica does not eat the whole deadline. Zero or less:
  // the whole remaining deadline.
  absl::Duration attempt_timeout = absl::Seconds(1);
  absl::Duration backoff_initial = absl::Milliseconds(10);   // after the first failed round
  absl::Duration backoff_max = absl::Milliseconds(200);
  int hint_hops_max = 8;   // leader hints followed per round
};

// What the caller learns while the loop runs. Every member may be left empty.
struct LeaderRetryHooks {
  // `target` answered for good (OK or a status that is returned): it may be cached as leader.
  std::function<void(const std::string& target)> answered;
  // `target` failed and another replica is tried: forget it as the leader.
  std::function<void(const std::string& target, const absl::Status& status)> failed;
  // `target` reached a replica of another group: drop its channel so it is resolved again.
  std::function<void(const std::string& target)> wrong_replica;
  // `target` said it does not lead and named `hint`, which is tried next.
  std::function<void(const std::string& target, const std::string& hint)> redirected;
  // The clock (tests pass a fake one). Empty: absl::Now and absl::SleepFor.
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
};

// One attempt at `target`, which must end by `attempt_deadline`.
using LeaderAttempt =
    absl::FunctionRef<absl::Status(const std::string& target, absl::Time attempt_deadline)>;

// Whether an attempt that ended with `status` may succeed at another replica or later:
// UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, RESOURCE_EXHAUSTED, not the leader
// (FAILED_PRECONDITION with a leader hint) or wrong replica. Never ABORTED, wrong shard or
// no space (a NOSPACE alarm holds until an admin clears it).
bool IsRetryableAtAnotherReplica(const absl::Status& status);

// Runs `attempt` at `start` (the cached leader; empty or unknown: the first replica), then as
// the rules above say, until a final answer or `deadline`. `group` names the group in errors
// ("shard 3"). Returns the final answer's status, or kDeadlineExceeded / kUnavailable as above.
// REQUIRES: `replicas` is not empty.
absl::Status RetryAtLeader(const std::string& group, const std::vector<std::string>& replicas,
                           const std::string& start, absl::Time deadline,
                           const LeaderRetryPolicy& policy, LeaderAttempt attempt,
                           const LeaderRetryHooks& hooks = {});

}  // namespace paxoskv

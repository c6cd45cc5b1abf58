// Tests of libs/common/leader_retry.h with a scripted attempt function and a fake clock (no
// gRPC, no sleeping): hint following and its cap, round-robin failover, backoff bounded by the
// deadline, the two give-up codes, and statuses that are returned at once.
#include "libs/common/leader_retry.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "libs/common/status_markers.h"

namespace paxoskv {
namespace {

const std::vector<std::string> kReplicas = {"a", "b", "c"};

// Drives RetryAtLeader: each replica answers by its script; attempts may take time.
class LeaderRetryTest : public ::testing::Test {
 protected:
  using Answer = std::function<absl::Status(absl::Time attempt_deadline)>;

  LeaderRetryTest() {
    hooks_.now = [this] { return now_; };
    hooks_.sleep = [this](absl::Duration pause) {
      sleeps_.push_back(pause);
      attempts_.push_back("sleep");
      now_ += pause;
    };
    hooks_.answered = [this](const std::string& target) { answered_.push_back(target); };
    hooks_.failed = [this](const std::string& target, const absl::Status&) {
      failed_.push_back(target);
    };
    hooks_.wrong_replica = [this](const std::string& target) { reset_.push_back(target); };
  }

  // Every attempt at `target` answers `status` after `takes`.
  void Always(const std::string& target, absl::Status status,
              absl::Duration takes = absl::Milliseconds(1)) {
    script_[target] = [this, status, takes](absl::Time attempt_deadline) {
      now_ = std::min(now_ + takes, attempt_deadline);
      return status;
    };
  }
  // Every attempt at `target` runs until its deadline and times out.
  void Hangs(const std::string& target) {
    script_[target] = [this](absl::Time attempt_deadline) {
      now_ = attempt_deadline;
      return absl::DeadlineExceededError("attempt timed out");
    };
  }

  absl::Status Run(const std::string& start, absl::Duration budget,
                   const std::vector<std::string>& replicas = kReplicas) {
    deadline_ = now_ + budget;
    return RetryAtLeader("shard 1", replicas, start, deadline_, policy_,
                         [this](const std::string& target, absl::Time attempt_deadline) {
                           attempts_.push_back(target);
                           attempt_deadlines_.push_back(attempt_deadline);
                           EXPECT_LE(attempt_deadline, deadline_);
                           EXPECT_GT(attempt_deadline, now_);
                           return script_.at(target)(attempt_deadline);
                         },
                         hooks_);
  }

  // The attempts (and "sleep" for each backoff), in order.
  std::vector<std::string> attempts_;
  std::vector<absl::Time> attempt_deadlines_;
  std::vector<absl::Duration> sleeps_;
  std::vector<std::string> answered_, failed_, reset_;
  LeaderRetryPolicy policy_{.attempt_timeout = absl::Seconds(1),
                            .backoff_initial = absl::Milliseconds(10),
                            .backoff_max = absl::Milliseconds(40),
                            .hint_hops_max = 3};
  absl::Time now_ = absl::UnixEpoch();
  absl::Time deadline_;

 private:
  LeaderRetryHooks hooks_;
  std::map<std::string, Answer> script_;
};

TEST_F(LeaderRetryTest, FollowsALeaderHintAtOnce) {
  Always("a", NotLeaderError("c"));
  Always("b", absl::OkStatus());
  Always("c", absl::OkStatus());
  EXPECT_TRUE(Run("a", absl::Seconds(5)).ok());
  EXPECT_EQ(attempts_, (std::vector<std::string>{"a", "c"}));   // b skipped, no backoff
  EXPECT_EQ(answered_, std::vector<std::string>{"c"});
  EXPECT_TRUE(failed_.empty());
}

TEST_F(LeaderRetryTest, StartsAtTheCachedLeaderOrTheFirstReplica) {
  for (const std::string& target : kReplicas) Always(target, absl::OkStatus());
  EXPECT_TRUE(Run("b", absl::Seconds(5)).ok());
  EXPECT_TRUE(Run("", absl::Seconds(5)).ok());
  EXPECT_TRUE(Run("gone:1", absl::Seconds(5)).ok());
  EXPECT_EQ(attempts_, (std::vector<std::string>{"b", "a", "a"}));
}

TEST_F(LeaderRetryTest, HintHopsAreCappedPerRound) {
  // a and b name each other forever; c is down. Without a cap this would never back off.
  Always("a", NotLeaderError("b"));
  Always("b", NotLeaderError("a"));
  Always("c", absl::UnavailableError("down"));
  absl::Status status = Run("a", absl::Milliseconds(200));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("shard 1 has no reachable leader"), std::string::npos)
      << status;
  // Per round: 3 replicas failed + at most 3 hints followed, then a backoff.
  int in_round = 0;
  for (const std::string& step : attempts_) {
    if (step == "sleep") {
      EXPECT_LE(in_round, 3 + policy_.hint_hops_max);
      in_round = 0;
    } else {
      ++in_round;
    }
  }
  EXPECT_GE(sleeps_.size(), 2u);
  // The first round, in full: a -> b -> a -> b (3 hops), then b fails and round-robin goes on.
  const std::vector<std::string> first_round(attempts_.begin(), attempts_.begin() + 7);
  EXPECT_EQ(first_round, (std::vector<std::string>{"a", "b", "a", "b", "b", "c", "sleep"}));
}

TEST_F(LeaderRetryTest, HintToItselfOrEmptyHintTriesTheNextReplica) {
  Always("a", NotLeaderError("a"));
  Always("b", NotLeaderError(""));   // knows no leader
  Always("c", absl::OkStatus());
  EXPECT_TRUE(Run("a", absl::Seconds(5)).ok());
  EXPECT_EQ(attempts_, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(failed_, (std::vector<std::string>{"a", "b"}));
}

TEST_F(LeaderRetryTest, RetryableFailuresGoRoundRobin) {
  const std::vector<absl::Status> retryable = {
      absl::UnavailableError("down"), absl::DeadlineExceededError("slow"),
      absl::CancelledError("cancelled"), absl::ResourceExhaustedError("overloaded"),
      WrongReplicaError("another shard's replica")};
  for (const absl::Status& failure : retryable) {
    SCOPED_TRACE(failure.ToString());
    attempts_.clear();
    failed_.clear();
    Always("a", absl::UnavailableError("down"));
    Always("b", failure);
    Always("c", absl::OkStatus());
    EXPECT_TRUE(Run("b", absl::Seconds(5)).ok());
    EXPECT_EQ(attempts_, (std::vector<std::string>{"b", "c"}));
    EXPECT_EQ(failed_, std::vector<std::string>{"b"});
    EXPECT_TRUE(IsRetryableAtAnotherReplica(failure));
  }
  EXPECT_EQ(reset_, std::vector<std::string>{"b"});   // only the wrong-replica answer
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(LeaderRetryTest, FinalAnswersAreReturnedAtOnce) {
  const std::vector<absl::Status> final_answers = {
      absl::NotFoundError("key not found"),
      absl::InvalidArgumentError("bad key"),
      absl::AbortedError("request too old to deduplicate; outcome unknown"),
      WrongShardError("the key's hash range has moved to another shard"),
      absl::FailedPreconditionError("no hint, no mark"),
      absl::InternalError("bug"),
      absl::PermissionDeniedError("no")};
  for (const absl::Status& answer : final_answers) {
    SCOPED_TRACE(answer.ToString());
    attempts_.clear();
    answered_.clear();
    Always("a", answer);
    Always("b", absl::OkStatus());
    Always("c", absl::OkStatus());
    absl::Status status = Run("a", absl::Seconds(5));
    EXPECT_EQ(status, answer);   // code, message and marks unchanged
    EXPECT_EQ(attempts_, std::vector<std::string>{"a"});
    EXPECT_EQ(answered_, std::vector<std::string>{"a"});
    EXPECT_FALSE(IsRetryableAtAnotherReplica(answer));
  }
  EXPECT_TRUE(failed_.empty());
}

TEST_F(LeaderRetryTest, BacksOffExponentiallyAfterEachFullRoundUpToTheMax) {
  for (const std::string& target : kReplicas) Always(target, absl::UnavailableError("down"));
  const absl::Time start = now_;
  absl::Status status = Run("a", absl::Milliseconds(150));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("down"), std::string::npos) << status;
  ASSERT_GE(sleeps_.size(), 4u);
  EXPECT_EQ(sleeps_[0], absl::Milliseconds(10));
  EXPECT_EQ(sleeps_[1], absl::Milliseconds(20));
  EXPECT_EQ(sleeps_[2], absl::Milliseconds(40));
  EXPECT_EQ(sleeps_[3], absl::Milliseconds(40));   // capped at backoff_max
  // Each backoff comes after exactly one full round.
  for (size_t i = 0; i < attempts_.size(); ++i) {
    if (attempts_[i] != "sleep") continue;
    ASSERT_GE(i, 3u);
    EXPECT_EQ(std::vector<std::string>(attempts_.begin() + static_cast<long>(i) - 3,
                                       attempts_.begin() + static_cast<long>(i)),
              kReplicas);
  }
  // It never sleeps past the deadline, and stops there.
  EXPECT_EQ(now_, start + absl::Milliseconds(150));
}

TEST_F(LeaderRetryTest, HungReplicasEndWithDeadlineExceededAtTheDeadline) {
  policy_.attempt_timeout = absl::Milliseconds(300);
  for (const std::string& target : kReplicas) Hangs(target);
  const absl::Time start = now_;
  absl::Status status = Run("a", absl::Seconds(1));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("shard 1: deadline exceeded after 4 attempts"),
            std::string::npos)
      << status;
  // 300 + 300 + 300 ms, a 10 ms backoff, and the last attempt cut at the caller's deadline.
  EXPECT_EQ(attempts_, (std::vector<std::string>{"a", "b", "c", "sleep", "a"}));
  EXPECT_EQ(now_, start + absl::Seconds(1));
}

TEST_F(LeaderRetryTest, NoAttemptPastTheDeadline) {
  Always("a", absl::OkStatus());
  absl::Status status = Run("a", absl::ZeroDuration());
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_TRUE(attempts_.empty());
}

TEST_F(LeaderRetryTest, ZeroAttemptTimeoutGivesEachAttemptTheWholeDeadline) {
  policy_.attempt_timeout = absl::ZeroDuration();
  Always("a", absl::OkStatus());
  EXPECT_TRUE(Run("a", absl::Seconds(7)).ok());
  EXPECT_EQ(attempt_deadlines_, std::vector<absl::Time>{deadline_});
}

}  // namespace
}  // namespace paxoskv

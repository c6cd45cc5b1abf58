// See batcher.h.
#include "services/master/batcher.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "libs/common/grpc_status.h"
#include "paxoskv/v1/replica.grpc.pb.h"

namespace paxoskv::master {

using paxoskv::v1::Command;
using paxoskv::v1::CommandResult;

struct Batcher::Item {
  enum class State { kQueued, kSent, kDone, kFallback };
  Command command;   // moved into the call by its sender
  absl::Time deadline;
  State state = State::kQueued;
  absl::StatusOr<CommandResult> result = absl::UnknownError("not completed");
};

struct Batcher::Lane {
  absl::Mutex mu;
  std::deque<std::shared_ptr<Item>> queue ABSL_GUARDED_BY(mu);
  int in_flight ABSL_GUARDED_BY(mu) = 0;
};

Batcher::Batcher(ShardDirectory* directory, Router* router, BatcherOptions options,
                 std::shared_ptr<spdlog::logger> log)
    : directory_(directory), router_(router), options_(options), log_(std::move(log)) {}

Batcher::~Batcher() = default;

Batcher::Lane* Batcher::LaneOf(uint32_t shard_id) {
  absl::MutexLock lock(&lanes_mu_);
  std::unique_ptr<Lane>& lane = lanes_[shard_id];
  if (lane == nullptr) lane = std::make_unique<Lane>();
  return lane.get();
}

absl::StatusOr<CommandResult> Batcher::Execute(uint32_t shard_id, const Command& command,
                                               absl::Time deadline) {
  if (options_.max_commands <= 1 || directory_->Leader(shard_id).empty()) {
    // No batching, or no known leader: the Router finds it (and caches it for the next batch).
    return router_->Execute(shard_id, command, deadline);
  }
  Lane* lane = LaneOf(shard_id);
  auto item = std::make_shared<Item>();
  item->command = command;
  item->command.set_shard_id(shard_id);
  item->deadline = deadline;

  lane->mu.Lock();
  lane->queue.push_back(item);
  while (item->state == Item::State::kQueued || item->state == Item::State::kSent) {
    if (item->state == Item::State::kQueued && absl::Now() >= deadline) break;   // below
    if (item->state == Item::State::kQueued && lane->in_flight < options_.max_in_flight) {
      // Become a sender: take our own command and what waited before it (FIFO), send them,
      // settle them. Only a thread whose command is still queued sends, so nobody waits on
      // a call that does not carry its own command.
      std::vector<std::shared_ptr<Item>> batch;
      size_t bytes = 0;
      auto take = [&](std::deque<std::shared_ptr<Item>>::iterator it)
                      ABSL_NO_THREAD_SAFETY_ANALYSIS {
        bytes += (*it)->command.ByteSizeLong();
        (*it)->state = Item::State::kSent;
        batch.push_back(std::move(*it));
        return lane->queue.erase(it);
      };
      take(std::find(lane->queue.begin(), lane->queue.end(), item));
      for (auto it = lane->queue.begin();
           it != lane->queue.end() && batch.size() < options_.max_commands;) {
        if (bytes + (*it)->command.ByteSizeLong() > options_.max_bytes) break;
        it = take(it);
      }
      ++lane->in_flight;
      lane->mu.Unlock();
      SendBatch(shard_id, directory_->Leader(shard_id), batch);
      lane->mu.Lock();
      --lane->in_flight;
      continue;
    }
    auto wake = [item, lane, this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return item->state == Item::State::kDone || item->state == Item::State::kFallback ||
             (item->state == Item::State::kQueued &&
              lane->in_flight < options_.max_in_flight);
    };
    lane->mu.AwaitWithDeadline(absl::Condition(&wake), deadline);
    if (item->state == Item::State::kSent && absl::Now() >= deadline) {
      // Another caller's call carries it and has not returned: give up on it (the item stays
      // alive for that call to settle).
      lane->mu.Unlock();
      return absl::DeadlineExceededError(absl::StrCat(
          "shard ", shard_id,
          ": deadline exceeded waiting for the leader; outcome unknown, retry with the same id"));
    }
  }
  if (item->state == Item::State::kQueued) {   // its deadline passed before it could be sent
    lane->queue.erase(std::find(lane->queue.begin(), lane->queue.end(), item));
    lane->mu.Unlock();
    return absl::DeadlineExceededError(
        absl::StrCat("shard ", shard_id, ": deadline exceeded before the command could be sent"));
  }
  const bool fallback = item->state == Item::State::kFallback;
  absl::StatusOr<CommandResult> result = std::move(item->result);
  lane->mu.Unlock();
  if (!fallback) return result;
  return router_->Execute(shard_id, command, deadline);
}

void Batcher::SendBatch(uint32_t shard_id, const std::string& leader,
                        const std::vector<std::shared_ptr<Item>>& batch) {
  // Outcomes are computed without the lane lock, then published under it.
  std::vector<std::pair<bool, absl::StatusOr<CommandResult>>> outcomes(
      batch.size(), {true, absl::UnknownError("not sent")});   // default: fall back
  if (!leader.empty()) {
    paxoskv::v1::CommandBatch request;
    request.set_shard_id(shard_id);
    // The call ends by the earliest deadline it carries, so the sending thread (whose
    // own command is in it) answers its caller in time; commands with later deadlines that
    // the call could not settle fall back to the Router and still get their full time.
    absl::Time earliest = absl::Now() + options_.attempt_timeout;
    for (const auto& item : batch) {
      // Only the sender touches a sent item's command (a fallback uses its caller's own).
      *request.add_commands() = std::move(item->command);
      earliest = std::min(earliest, item->deadline);
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(earliest));
    paxoskv::v1::CommandBatchResult response;
    const grpc::Status grpc_status =
        directory_->Stub(leader)->ExecuteBatch(&context, request, &response);
    const absl::Status status = FromGrpcStatus(grpc_status, &context);
    if (IsWrongReplica(status)) directory_->ResetChannel(leader);
    if (!status.ok()) {
      log_->debug("batch of {} to shard={} leader={} failed: {}; commands fall back", batch.size(),
                  shard_id, leader, status.ToString());
    } else if (response.outcomes_size() != static_cast<int>(batch.size())) {
      log_->error("leader {} of shard {} answered {} outcomes for {} commands", leader, shard_id,
                  response.outcomes_size(), batch.size());
    } else {
      for (size_t i = 0; i < batch.size(); ++i) {
        paxoskv::v1::BatchOutcome& outcome = *response.mutable_outcomes(static_cast<int>(i));
        const auto code = static_cast<absl::StatusCode>(outcome.status_code());
        if (code == absl::StatusCode::kOk) {
          outcomes[i] = {false, std::move(*outcome.mutable_result())};
        } else if (outcome.wrong_shard()) {
          outcomes[i] = {false, WrongShardError(outcome.status_message())};
        } else if (!IsRetryableCode(code)) {
          outcomes[i] = {false, absl::Status(code, outcome.status_message())};
        }   // else: retryable (leadership lost, overloaded): the Router retries it.
      }
    }
  }
  Lane* lane = LaneOf(shard_id);
  absl::MutexLock lock(&lane->mu);
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i]->state = outcomes[i].first ? Item::State::kFallback : Item::State::kDone;
    batch[i]->result = std::move(outcomes[i].second);
  }
}

}  // namespace paxoskv::master

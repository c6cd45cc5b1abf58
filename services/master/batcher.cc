// See batcher.h.
#include "services/master/batcher.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "libs/common/grpc_status.h"
#include "libs/common/leader_retry.h"
#include "paxoskv/v1/replica.grpc.pb.h"
#include "services/master/master_metrics.h"

namespace paxoskv::master {

using paxoskv::v1::Command;
using paxoskv::v1::CommandResult;

struct Batcher::Item {
  // fallback: the batch path could not settle the command; run it through the Router.
  using Settle = absl::AnyInvocable<void(bool fallback, absl::StatusOr<CommandResult>,
                                         Command) &&>;
  Command command;
  absl::Time deadline;
  Settle settle;
};

struct Batcher::Lane {
  absl::Mutex mu;
  std::deque<std::unique_ptr<Item>> queue ABSL_GUARDED_BY(mu);
  int in_flight ABSL_GUARDED_BY(mu) = 0;

  // Takes the next batch (FIFO) if a slot is free, counting it in flight; commands already
  // past their deadline are moved to `expired` instead.
  std::vector<std::unique_ptr<Item>> TakeBatch(const BatcherOptions& options,
                                               std::vector<std::unique_ptr<Item>>* expired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<std::unique_ptr<Item>> batch;
    if (in_flight >= options.max_in_flight) return batch;
    const absl::Time now = absl::Now();
    size_t bytes = 0;
    while (!queue.empty() && batch.size() < options.max_commands) {
      std::unique_ptr<Item>& next = queue.front();
      if (next->deadline <= now) {
        expired->push_back(std::move(next));
        queue.pop_front();
        continue;
      }
      const size_t size = next->command.ByteSizeLong();
      if (!batch.empty() && bytes + size > options.max_bytes) break;
      bytes += size;
      batch.push_back(std::move(next));
      queue.pop_front();
    }
    if (!batch.empty()) ++in_flight;
    return batch;
  }
};

struct Batcher::Call {
  uint32_t shard_id = 0;
  std::string leader;
  std::shared_ptr<paxoskv::v1::Replica::Stub> stub;   // keeps the channel alive
  std::vector<std::unique_ptr<Item>> items;           // their commands are in `request`
  grpc::ClientContext context;
  paxoskv::v1::CommandBatch request;
  paxoskv::v1::CommandBatchResult response;
  absl::Time sent;
};

Batcher::Batcher(ShardDirectory* directory, Router* router, BlockingPool* pool,
                 BatcherOptions options, std::shared_ptr<spdlog::logger> log)
    : directory_(directory),
      router_(router),
      pool_(pool),
      options_(options),
      log_(std::move(log)) {}

Batcher::~Batcher() {
  // Every call ends by its deadline (at most attempt_timeout); its callback touches *this.
  while (calls_in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

Batcher::Lane* Batcher::LaneOf(uint32_t shard_id) {
  absl::MutexLock lock(&lanes_mu_);
  std::unique_ptr<Lane>& lane = lanes_[shard_id];
  if (lane == nullptr) lane = std::make_unique<Lane>();
  return lane.get();
}

void Batcher::ExecuteAsync(uint32_t shard_id, Command command, absl::Time deadline, Done done) {
  auto fallback = [this, shard_id, deadline](Command routed, Done answer) {
    pool_->Run([this, shard_id, deadline, routed = std::move(routed),
                answer = std::move(answer)]() mutable {
      absl::StatusOr<CommandResult> result = router_->Execute(shard_id, routed, deadline);
      std::move(answer)(std::move(result), std::move(routed));
    });
  };
  if (options_.max_commands <= 1 || directory_->Leader(shard_id).empty()) {
    // No batching, or no known leader: the Router finds it (and caches it for the next batch).
    fallback(std::move(command), std::move(done));
    return;
  }
  auto item = std::make_unique<Item>();
  item->command = std::move(command);
  item->deadline = deadline;
  item->settle = [fallback, done = std::move(done)](bool fall_back,
                                                    absl::StatusOr<CommandResult> result,
                                                    Command returned) mutable {
    if (fall_back) {
      fallback(std::move(returned), std::move(done));
    } else {
      std::move(done)(std::move(result), std::move(returned));
    }
  };
  Enqueue(shard_id, std::move(item));
}

absl::StatusOr<CommandResult> Batcher::Execute(uint32_t shard_id, const Command& command,
                                               absl::Time deadline) {
  if (options_.max_commands <= 1 || directory_->Leader(shard_id).empty()) {
    return router_->Execute(shard_id, command, deadline);
  }
  struct Outcome {
    absl::Notification done;
    bool fallback = false;
    absl::StatusOr<CommandResult> result = absl::UnknownError("not completed");
  };
  auto outcome = std::make_shared<Outcome>();
  auto item = std::make_unique<Item>();
  item->command = command;
  item->deadline = deadline;
  item->settle = [outcome](bool fallback, absl::StatusOr<CommandResult> result, Command) {
    outcome->fallback = fallback;
    outcome->result = std::move(result);
    outcome->done.Notify();
  };
  Enqueue(shard_id, std::move(item));
  // Bounded: a queued command is sent or expired when a slot frees, and every call ends by
  // its earliest deadline.
  outcome->done.WaitForNotification();
  if (outcome->fallback) return router_->Execute(shard_id, command, deadline);
  return std::move(outcome->result);
}

void Batcher::Enqueue(uint32_t shard_id, std::unique_ptr<Item> item) {
  item->command.set_shard_id(shard_id);
  Dispatch(shard_id, std::move(item), /*slot_freed=*/false);
}

void Batcher::Dispatch(uint32_t shard_id, std::unique_ptr<Item> item, bool slot_freed) {
  Lane* lane = LaneOf(shard_id);
  std::vector<std::unique_ptr<Item>> batch, expired;
  {
    absl::MutexLock lock(&lane->mu);
    if (slot_freed) --lane->in_flight;
    if (item != nullptr) lane->queue.push_back(std::move(item));
    batch = lane->TakeBatch(options_, &expired);
  }
  for (auto& late : expired) {
    std::move(late->settle)(
        false,
        absl::DeadlineExceededError(absl::StrCat(
            "shard ", shard_id, ": deadline exceeded before the command could be sent")),
        std::move(late->command));
  }
  if (!batch.empty()) Send(shard_id, std::move(batch));
}

void Batcher::Send(uint32_t shard_id, std::vector<std::unique_ptr<Item>> batch) {
  std::string leader = directory_->Leader(shard_id);
  if (leader.empty()) {   // forgotten since the commands were queued: the Router finds it
    Dispatch(shard_id, nullptr, /*slot_freed=*/true);
    for (auto& item : batch) {
      std::move(item->settle)(true, absl::UnavailableError("no cached leader"),
                              std::move(item->command));
    }
    return;
  }
  auto* call = new Call;
  call->shard_id = shard_id;
  call->leader = std::move(leader);
  call->items = std::move(batch);
  ++calls_in_flight_;
  call->request.set_shard_id(shard_id);
  // The call ends by the earliest deadline it carries, so no command waits past its own;
  // commands with later deadlines that the call could not settle fall back to the Router and
  // still get their full time.
  absl::Time earliest = absl::Now() + options_.attempt_timeout;
  for (auto& item : call->items) {
    *call->request.add_commands() = std::move(item->command);
    earliest = std::min(earliest, item->deadline);
  }
  call->context.set_deadline(absl::ToChronoTime(earliest));
  call->stub = directory_->Stub(call->leader);
  call->sent = absl::Now();
  MasterMetrics::Get().batch_size().Observe(static_cast<double>(call->items.size()));
  call->stub->async()->ExecuteBatch(&call->context, &call->request, &call->response,
                                    [this, call](grpc::Status status) { OnCallDone(call, status); });
}

void Batcher::OnCallDone(Call* call, const grpc::Status& grpc_status) {
  MasterMetrics::Get()
      .ShardRequest(call->shard_id)
      .Observe(absl::ToDoubleSeconds(absl::Now() - call->sent));
  const size_t count = call->items.size();
  // Default: fall back to the Router.
  std::vector<std::pair<bool, absl::StatusOr<CommandResult>>> outcomes(
      count, {true, absl::UnknownError("not sent")});
  const absl::Status status = FromGrpcStatus(grpc_status, &call->context);
  if (IsWrongReplica(status)) directory_->ResetChannel(call->leader);
  if (!status.ok()) {
    log_->debug("batch of {} to shard={} leader={} failed: {}; commands fall back", count,
                call->shard_id, call->leader, status.ToString());
  } else if (call->response.outcomes_size() != static_cast<int>(count)) {
    log_->error("leader {} of shard {} answered {} outcomes for {} commands", call->leader,
                call->shard_id, call->response.outcomes_size(), count);
  } else {
    for (size_t i = 0; i < count; ++i) {
      paxoskv::v1::BatchOutcome& outcome = *call->response.mutable_outcomes(static_cast<int>(i));
      const auto code = static_cast<absl::StatusCode>(outcome.status_code());
      if (code == absl::StatusCode::kOk) {
        outcomes[i] = {false, std::move(*outcome.mutable_result())};
      } else if (outcome.wrong_shard()) {
        outcomes[i] = {false, WrongShardError(outcome.status_message())};
      } else if (outcome.nospace()) {
        outcomes[i] = {false, NoSpaceError(outcome.status_message())};
      } else if (!IsRetryableAtAnotherReplica(absl::Status(code, outcome.status_message()))) {
        outcomes[i] = {false, absl::Status(code, outcome.status_message())};
      }  // else: retryable (leadership lost, overloaded): the Router retries it.
    }
  }
  // Keep the pipeline full before answering anyone.
  Dispatch(call->shard_id, nullptr, /*slot_freed=*/true);
  for (size_t i = 0; i < count; ++i) {
    std::move(call->items[i]->settle)(
        outcomes[i].first, std::move(outcomes[i].second),
        std::move(*call->request.mutable_commands(static_cast<int>(i))));
  }
  delete call;
  --calls_in_flight_;
}

}  // namespace paxoskv::master

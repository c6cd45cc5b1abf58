// See services.h.
#include "services/replica/services.h"

#include <atomic>
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/grpc_status.h"
#include "libs/common/limits.h"
#include "libs/common/result_status.h"
#include "libs/paxos/membership.h"

namespace paxoskv::replica {

using paxoskv::v1::PaxosMessage;

grpc::ServerUnaryReactor* PaxosService::Deliver(grpc::CallbackServerContext* context,
                                                const PaxosMessage& message,
                                                PaxosMessage::BodyCase expected) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status allowed = authorizer_->AllowPeer(*context, message.from()); !allowed.ok()) {
    reactor->Finish(allowed);
  } else if (message.body_case() != expected) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "message body does not match the RPC"));
  } else {
    // The context carries the wrong-replica mark to the sender (trailing metadata).
    reactor->Finish(ToGrpcStatus(loop_->Deliver(message), context));
  }
  return reactor;
}

grpc::ServerUnaryReactor* PaxosService::Prepare(grpc::CallbackServerContext* context,
                                                const PaxosMessage* m, paxoskv::v1::Ack*) {
  return Deliver(context, *m, PaxosMessage::kPrepare);
}
grpc::ServerUnaryReactor* PaxosService::Promise(grpc::CallbackServerContext* context,
                                                const PaxosMessage* m, paxoskv::v1::Ack*) {
  return Deliver(context, *m, PaxosMessage::kPromise);
}
grpc::ServerUnaryReactor* PaxosService::Accept(grpc::CallbackServerContext* context,
                                                const PaxosMessage* m, paxoskv::v1::Ack*) {
  return Deliver(context, *m, PaxosMessage::kAccept);
}
grpc::ServerUnaryReactor* PaxosService::Accepted(grpc::CallbackServerContext* context,
                                                const PaxosMessage* m, paxoskv::v1::Ack*) {
  return Deliver(context, *m, PaxosMessage::kAccepted);
}
grpc::ServerUnaryReactor* PaxosService::Learn(grpc::CallbackServerContext* context,
                                                const PaxosMessage* m, paxoskv::v1::Ack*) {
  return Deliver(context, *m, PaxosMessage::kLearn);
}
grpc::ServerUnaryReactor* PaxosService::InstallSnapshot(grpc::CallbackServerContext* context,
                                                const PaxosMessage* m, paxoskv::v1::Ack*) {
  return Deliver(context, *m, PaxosMessage::kInstallSnapshot);
}
grpc::ServerUnaryReactor* PaxosService::TimeoutNow(grpc::CallbackServerContext* context,
                                                   const PaxosMessage* m, paxoskv::v1::Ack*) {
  return Deliver(context, *m, PaxosMessage::kTimeoutNow);
}

namespace {

// Reads a peer's stream; deletes itself when the stream ends.
class StreamReader final : public grpc::ServerReadReactor<PaxosMessage> {
 public:
  StreamReader(grpc::CallbackServerContext* context, ReplicaLoop* loop,
               const Authorizer* authorizer)
      : context_(context), loop_(loop), authorizer_(authorizer) {
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {   // the peer closed the stream or the call is cancelled
      Finish(grpc::Status::OK);
      return;
    }
    if (grpc::Status allowed = authorizer_->AllowPeer(*context_, message_.from()); !allowed.ok()) {
      Finish(allowed);
      return;
    }
    if (message_.body_case() == PaxosMessage::BODY_NOT_SET ||
        message_.body_case() == PaxosMessage::kInstallSnapshot) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a stream carries any Paxos message but InstallSnapshot"));
      return;
    }
    const absl::Status status = loop_->Deliver(message_);
    // Another shard's message means the sender's channel reaches the wrong replica, and a
    // replica shutting down takes nothing more: end the stream, the sender reconnects. Any
    // other refusal concerns this message only (the core logs it; Paxos tolerates the loss).
    if (IsWrongReplica(status) || absl::IsUnavailable(status)) {
      Finish(ToGrpcStatus(status, context_));
      return;
    }
    message_.Clear();
    StartRead(&message_);
  }
  void OnDone() override { delete this; }

 private:
  grpc::CallbackServerContext* const context_;
  ReplicaLoop* const loop_;
  const Authorizer* const authorizer_;
  PaxosMessage message_;
};

}  // namespace

grpc::ServerReadReactor<PaxosMessage>* PaxosService::Stream(grpc::CallbackServerContext* context,
                                                            paxoskv::v1::Ack*) {
  return new StreamReader(context, loop_, authorizer_);
}

namespace {

constexpr absl::Duration kDefaultDeadline = absl::Seconds(10);

absl::Time DeadlineOf(const grpc::ServerContext* context) {
  const absl::Time fallback = absl::Now() + kDefaultDeadline;
  const auto deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return fallback;
  return std::min(fallback, absl::FromChrono(deadline));
}

// Execute of either service: one command, answered with its result or status.
grpc::Status ExecuteOne(ReplicaLoop* loop, CommandOrigin origin, grpc::ServerContext* context,
                        const paxoskv::v1::Command& command, paxoskv::v1::CommandResult* result) {
  absl::StatusOr<paxoskv::v1::CommandResult> outcome =
      loop->Execute(command, DeadlineOf(context), origin);
  if (!outcome.ok()) return ToGrpcStatus(outcome.status(), context);
  absl::Status status = ResultStatus(*outcome);
  if (!status.ok()) return ToGrpcStatus(status, context);
  *result = *std::move(outcome);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ReplicaService::Execute(grpc::ServerContext* context,
                                     const paxoskv::v1::Command* command,
                                     paxoskv::v1::CommandResult* result) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kMaster}); !allowed.ok()) {
    return allowed;
  }
  return ExecuteOne(loop_, CommandOrigin::kClient, context, *command, result);
}

grpc::Status MigrationService::Execute(grpc::ServerContext* context,
                                       const paxoskv::v1::Command* command,
                                       paxoskv::v1::CommandResult* result) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kMaster}); !allowed.ok()) {
    return allowed;
  }
  return ExecuteOne(loop_, CommandOrigin::kMigration, context, *command, result);
}

namespace {

// ExecuteBatch's call: finished once, by the batch's completion or by OnCancel (the caller's
// deadline passed or it went away), whichever comes first; deletes itself when done.
class BatchReactor final : public grpc::ServerUnaryReactor {
 public:
  // Shared with the completion callback, which may run after the call is gone.
  struct State {
    std::atomic<bool> finished{false};
  };
  BatchReactor() : state_(std::make_shared<State>()) {}
  const std::shared_ptr<State>& state() const { return state_; }

  void OnCancel() override {
    if (state_->finished.exchange(true)) return;
    Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                        "call cancelled or past its deadline before every command completed; "
                        "outcomes unknown, retry with the same ids"));
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

grpc::ServerUnaryReactor* ReplicaService::ExecuteBatch(grpc::CallbackServerContext* context,
                                                       const paxoskv::v1::CommandBatch* batch,
                                                       paxoskv::v1::CommandBatchResult* response) {
  auto* reactor = new BatchReactor();
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kMaster}); !allowed.ok()) {
    reactor->state()->finished = true;
    reactor->Finish(allowed);
    return reactor;
  }
  if (batch->commands_size() > kExecuteBatchCommandsMax) {
    reactor->state()->finished = true;
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("a batch holds at most ", kExecuteBatchCommandsMax,
                                              " commands, not ", batch->commands_size())));
    return reactor;
  }
  std::vector<paxoskv::v1::Command> commands(batch->commands().begin(), batch->commands().end());
  if (batch->shard_id() != 0) {
    for (auto& command : commands) {
      if (command.shard_id() == 0) command.set_shard_id(batch->shard_id());
    }
  }
  // Runs at once or on the thread that completes the last command (under the loop's lock:
  // it only fills the response and starts the reply).
  loop_->ExecuteAsync(
      std::move(commands), CommandOrigin::kClient,
      [reactor, state = reactor->state(), context,
       response](absl::StatusOr<std::vector<ReplicaLoop::Outcome>> outcomes) {
        if (state->finished.exchange(true)) return;   // cancelled: the call is gone
        if (!outcomes.ok()) {
          reactor->Finish(ToGrpcStatus(outcomes.status(), context));
          return;
        }
        for (ReplicaLoop::Outcome& outcome : *outcomes) {
          paxoskv::v1::BatchOutcome* out = response->add_outcomes();
          absl::Status status = outcome.ok() ? ResultStatus(*outcome) : outcome.status();
          if (status.ok()) {
            *out->mutable_result() = *std::move(outcome);
            continue;
          }
          out->set_status_code(static_cast<int32_t>(status.code()));
          out->set_status_message(std::string(status.message()));
          out->set_wrong_shard(IsWrongShard(status));
          out->set_nospace(IsNoSpace(status));
        }
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

grpc::Status ReplicaService::Status(grpc::ServerContext* context,
                                    const paxoskv::v1::ReplicaStatusRequest*,
                                    paxoskv::v1::ReplicaStatus* status) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kMaster}); !allowed.ok()) {
    return allowed;
  }
  *status = loop_->GetStatus();
  return grpc::Status::OK;
}

namespace {

absl::StatusOr<paxos::ConfChange> ParseMembershipChange(const paxoskv::v1::MembershipChange& r) {
  using pb = paxoskv::v1::MembershipChange;
  paxos::ConfChange change;
  change.id = r.replica_id();
  change.address = r.address();
  change.promote = r.promote();
  switch (r.type()) {
    case pb::ADD_LEARNER:
      change.type = paxos::ConfChange::Type::kAddLearner;
      break;
    case pb::PROMOTE:
      change.type = paxos::ConfChange::Type::kPromote;
      break;
    case pb::REMOVE:
      change.type = paxos::ConfChange::Type::kRemove;
      break;
    case pb::SET_ADDRESS:
      change.type = paxos::ConfChange::Type::kSetAddress;
      break;
    default:
      return absl::InvalidArgumentError(
          "membership change needs a type: ADD_LEARNER, PROMOTE, REMOVE or SET_ADDRESS");
  }
  if (change.id == 0) return absl::InvalidArgumentError("membership change needs a replica_id");
  return change;
}

}  // namespace

grpc::Status ReplicaService::ChangeMembership(grpc::ServerContext* context,
                                              const paxoskv::v1::MembershipChange* request,
                                              paxoskv::v1::MembershipChangeResult* result) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kMaster}); !allowed.ok()) {
    return allowed;
  }
  absl::StatusOr<paxos::ConfChange> change = ParseMembershipChange(*request);
  if (!change.ok()) return ToGrpcStatus(change.status(), context);
  absl::StatusOr<paxoskv::v1::MembershipChangeResult> outcome =
      loop_->ChangeMembership(request->shard_id(), *change, DeadlineOf(context));
  if (!outcome.ok()) return ToGrpcStatus(outcome.status(), context);
  *result = *std::move(outcome);
  return grpc::Status::OK;
}

}  // namespace paxoskv::replica

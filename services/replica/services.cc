// See services.h.
#include "services/replica/services.h"

#include <atomic>
#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
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

// Who may send Replica.Execute and ExecuteBatch commands. (Status, ChangeMembership and the
// Migration service stay the master's.)
//
// The master sends every command this service takes: GET, PUT, DELETE, CAS (the
// configuration group's compare-and-set of the masters' state) and alarm clears
// (Admin.AlarmDisarm). With `direct_clients` (the replica's --direct_clients), an
// application's certificate (client) or an operator's (admin) may send the KV API's GET, PUT
// and DELETE: a direct client (services/client/kv_client.h) goes straight to its key's shard
// leader. Skipping the master skips none of the checks that guard the data, since the replica
// makes them itself:
//  - ReplicaCore::Propose refuses a command naming another shard (wrong replica) and runs
//    kv::ValidateClientCommand on this service's commands: no migration op (scan, import,
//    delete-keys, freeze, unfreeze, track, barrier), no alarm raised, the master's key and
//    value limits (libs/common/limits.h), no client_id without a seq;
//  - a hash range moved away is fenced (OP_FREEZE_RANGES, KvStateMachine's IsFrozen): from the
//    fence's slot on, a GET, PUT or DELETE of its keys answers WRONG_SHARD and is neither
//    applied nor remembered, so a client routing by a stale ring routes again instead of
//    writing behind a migration's copy (a write chosen before the fence is among the changes
//    the copy carries);
//  - exactly once: the (client_id, seq) is the client's own with or without the master, and
//    the dedup table moves with the ranges.
// What a direct client gives up is the master's admission (its in-flight bounds, waiting
// behind a moving range): README.md, "Direct mode". CAS and alarm clears stay the master's:
// clearing an alarm is an admin's Admin.AlarmDisarm, and a CAS is how the masters change
// their state in the configuration group.
// Without --direct_clients (the default) only the master sends commands. A configuration
// group's replicas must run without it: they cannot tell themselves from a shard's, and there
// a client's PUT or DELETE would reach the masters' state key (services/master/config_store.h).
template <typename Commands>
grpc::Status AllowCommands(const Authorizer& authorizer, const grpc::ServerContextBase& context,
                           const Commands& commands, bool direct_clients) {
  if (!direct_clients) return authorizer.Allow(context, {Role::kMaster});
  grpc::Status allowed = authorizer.Allow(context, {Role::kMaster, Role::kClient, Role::kAdmin});
  // Plaintext (--insecure) passes both checks: it trusts the network.
  if (!allowed.ok() || authorizer.Allow(context, {Role::kMaster}).ok()) return allowed;
  for (const paxoskv::v1::Command& command : commands) {
    const paxoskv::v1::Op op = command.op();
    if (op != paxoskv::v1::OP_GET && op != paxoskv::v1::OP_PUT && op != paxoskv::v1::OP_DELETE) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          absl::StrCat("only the master sends ", paxoskv::v1::Op_Name(op),
                                       "; a client's or admin's certificate sends GET, PUT and "
                                       "DELETE"));
    }
  }
  return grpc::Status::OK;
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
  if (grpc::Status allowed =
          AllowCommands(*authorizer_, *context, absl::MakeConstSpan(command, 1), direct_clients_);
      !allowed.ok()) {
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
  if (grpc::Status allowed =
          AllowCommands(*authorizer_, *context, batch->commands(), direct_clients_);
      !allowed.ok()) {
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

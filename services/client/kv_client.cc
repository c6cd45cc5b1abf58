// See kv_client.h.
#include "services/client/kv_client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/common/random_id.h"
#include "libs/common/grpc_server.h"
#include "libs/common/grpc_status.h"
#include "libs/common/leader_retry.h"
#include "libs/common/result_status.h"
#include "libs/common/status_macros.h"

namespace paxoskv::client {
namespace {

namespace pb = paxoskv::v1;

// Runs `attempt(context)` until it succeeds, fails with a non-retryable code, or the deadline
// leaves no room for another attempt. Retryable: UNAVAILABLE, and DEADLINE_EXCEEDED of an
// attempt that ended before the call's deadline.
template <typename Attempt>
absl::Status CallWithRetry(bool retry, absl::Duration attempt_timeout,
                           absl::Duration backoff_initial, absl::Duration backoff_max,
                           absl::Time deadline, Attempt attempt) {
  absl::Duration backoff = backoff_initial;
  while (true) {
    absl::Time attempt_deadline = deadline;
    if (attempt_timeout > absl::ZeroDuration()) {
      attempt_deadline = std::min(deadline, absl::Now() + attempt_timeout);
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(attempt_deadline));
    grpc::Status grpc_status = attempt(&context);
    absl::Status status = FromGrpcStatus(grpc_status, &context);
    if (status.ok() || !retry) return status;
    const absl::Time now = absl::Now();
    const bool retryable =
        status.code() == absl::StatusCode::kUnavailable ||
        (status.code() == absl::StatusCode::kDeadlineExceeded && now < deadline);
    if (!retryable || now + backoff >= deadline) return status;
    absl::SleepFor(backoff);  // Retry backoff, not synchronisation.
    backoff = std::min(backoff * 2, backoff_max);
  }
}

}  // namespace

std::string StatusCodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

// ---------------------------------------------------------------------------------------------
// KvClient

KvClient::KvClient(const std::string& master_address, KvClientOptions options)
    : KvClient(
          grpc::CreateCustomChannel(master_address, options.credentials, PaxoskvChannelArguments()),
          options) {}

KvClient::KvClient(std::shared_ptr<grpc::Channel> channel, KvClientOptions options)
    : options_(options),
      channel_(std::move(channel)),
      kv_(pb::KV::NewStub(channel_)),
      admin_(pb::Admin::NewStub(channel_)),
      client_id_(options.client_id != 0 ? options.client_id : RandomId()) {}

absl::Time KvClient::Deadline(const CallOptions& call) const {
  // Retries keep the (client_id, seq) of the first attempt: never longer than the replicas'
  // dedup sessions recognise a copy (libs/common/limits.h).
  const absl::Duration timeout =
      call.timeout > absl::ZeroDuration() ? call.timeout : options_.default_timeout;
  return absl::Now() + std::min(timeout, options_.retry_window_max);
}

absl::StatusOr<std::string> KvClient::Get(const std::string& key, CallOptions call) {
  pb::GetRequest request;
  request.set_key(key);
  pb::GetResponse response;
  absl::Status status =
      CallWithRetry(options_.retry, options_.attempt_timeout, options_.backoff_initial,
                    options_.backoff_max, Deadline(call), [&](grpc::ClientContext* context) {
                      return kv_->Get(context, request, &response);
                    });
  if (!status.ok()) return status;
  return std::move(*response.mutable_value());
}

absl::Status KvClient::Put(const std::string& key, const std::string& value, CallOptions call) {
  pb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_client_id(client_id_);
  request.set_seq(next_seq_.fetch_add(1));  // Same seq on every retry below.
  pb::PutResponse response;
  return CallWithRetry(options_.retry, options_.attempt_timeout, options_.backoff_initial,
                       options_.backoff_max, Deadline(call), [&](grpc::ClientContext* context) {
                         return kv_->Put(context, request, &response);
                       });
}

absl::StatusOr<bool> KvClient::Delete(const std::string& key, CallOptions call) {
  pb::DeleteRequest request;
  request.set_key(key);
  request.set_client_id(client_id_);
  request.set_seq(next_seq_.fetch_add(1));
  pb::DeleteResponse response;
  absl::Status status =
      CallWithRetry(options_.retry, options_.attempt_timeout, options_.backoff_initial,
                    options_.backoff_max, Deadline(call), [&](grpc::ClientContext* context) {
                      return kv_->Delete(context, request, &response);
                    });
  if (!status.ok()) return status;
  return response.deleted();
}

absl::StatusOr<pb::AddShardResponse> KvClient::AddShard(uint32_t shard_id,
                                                        const std::vector<std::string>& replicas,
                                                        CallOptions call) {
  pb::AddShardRequest request;
  request.set_shard_id(shard_id);
  for (const auto& address : replicas) request.add_replicas(address);
  pb::AddShardResponse response;
  absl::Status status =
      CallWithRetry(/*retry=*/false, absl::ZeroDuration(), options_.backoff_initial,
                    options_.backoff_max, Deadline(call), [&](grpc::ClientContext* context) {
                      return admin_->AddShard(context, request, &response);
                    });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<pb::ClusterStatusResponse> KvClient::ClusterStatus(CallOptions call) {
  pb::ClusterStatusRequest request;
  pb::ClusterStatusResponse response;
  absl::Status status =
      CallWithRetry(options_.retry, options_.attempt_timeout, options_.backoff_initial,
                    options_.backoff_max, Deadline(call), [&](grpc::ClientContext* context) {
                      return admin_->ClusterStatus(context, request, &response);
                    });
  if (!status.ok()) return status;
  return response;
}

template <typename Request, typename Response>
absl::StatusOr<Response> KvClient::CallAdmin(
    grpc::Status (pb::Admin::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request, CallOptions call) {
  Response response;
  absl::Status status =
      CallWithRetry(options_.retry, absl::ZeroDuration(), options_.backoff_initial,
                    options_.backoff_max, Deadline(call), [&](grpc::ClientContext* context) {
                      response.Clear();
                      return (admin_.get()->*method)(context, request, &response);
                    });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<pb::MemberListResponse> KvClient::MemberList(uint32_t shard_id, CallOptions call) {
  pb::MemberListRequest request;
  request.set_shard_id(shard_id);
  return CallAdmin(&pb::Admin::Stub::MemberList, request, call);
}
absl::StatusOr<pb::AlarmListResponse> KvClient::AlarmList(uint32_t shard_id, CallOptions call) {
  pb::AlarmListRequest request;
  request.set_shard_id(shard_id);
  return CallAdmin(&pb::Admin::Stub::AlarmList, request, call);
}
absl::StatusOr<pb::AlarmDisarmResponse> KvClient::AlarmDisarm(uint32_t shard_id, CallOptions call) {
  pb::AlarmDisarmRequest request;
  request.set_shard_id(shard_id);
  return CallAdmin(&pb::Admin::Stub::AlarmDisarm, request, call);
}
absl::StatusOr<pb::MemberChangeResponse> KvClient::MemberAdd(const pb::MemberAddRequest& request,
                                                             CallOptions call) {
  return CallAdmin(&pb::Admin::Stub::MemberAdd, request, call);
}
absl::StatusOr<pb::MemberChangeResponse> KvClient::MemberRemove(
    const pb::MemberRemoveRequest& request, CallOptions call) {
  return CallAdmin(&pb::Admin::Stub::MemberRemove, request, call);
}
absl::StatusOr<pb::MemberChangeResponse> KvClient::MemberPromote(
    const pb::MemberPromoteRequest& request, CallOptions call) {
  return CallAdmin(&pb::Admin::Stub::MemberPromote, request, call);
}
absl::StatusOr<pb::MemberChangeResponse> KvClient::MemberUpdate(
    const pb::MemberUpdateRequest& request, CallOptions call) {
  return CallAdmin(&pb::Admin::Stub::MemberUpdate, request, call);
}

// ---------------------------------------------------------------------------------------------
// ReplicaClient

ReplicaClient::ReplicaClient(std::vector<std::string> replicas, ReplicaClientOptions options)
    : replicas_(std::move(replicas)),
      options_(options),
      client_id_(options.client_id != 0 ? options.client_id : RandomId()) {
  if (!replicas_.empty()) leader_ = replicas_.front();
}

std::string ReplicaClient::leader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

ReplicaClient::Stubs& ReplicaClient::StubsFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  Stubs& stubs = stubs_[address];
  if (stubs.replica == nullptr) {
    auto channel =
        grpc::CreateCustomChannel(address, options_.credentials, PaxoskvChannelArguments());
    stubs.replica = pb::Replica::NewStub(channel);
    stubs.migration = pb::Migration::NewStub(channel);
  }
  return stubs;
}

absl::StatusOr<pb::CommandResult> ReplicaClient::Execute(const pb::Command& command,
                                                         CallOptions call) {
  return Call(command, call, /*migration=*/false);
}

absl::StatusOr<pb::CommandResult> ReplicaClient::ExecuteMigration(const pb::Command& command,
                                                                  CallOptions call) {
  return Call(command, call, /*migration=*/true);
}

absl::StatusOr<pb::CommandResult> ReplicaClient::Call(const pb::Command& command,
                                                      CallOptions call, bool migration) {
  if (replicas_.empty()) return absl::InvalidArgumentError("no replica addresses");
  // As KvClient::Deadline: retries keep the first attempt's (client_id, seq).
  const absl::Duration timeout =
      call.timeout > absl::ZeroDuration() ? call.timeout : options_.default_timeout;
  const absl::Time deadline = absl::Now() + std::min(timeout, options_.retry_window_max);
  pb::CommandResult result;
  auto attempt = [&](const std::string& target, absl::Time attempt_deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(attempt_deadline));
    result.Clear();
    Stubs& stubs = StubsFor(target);
    grpc::Status status = migration ? stubs.migration->Execute(&context, command, &result)
                                    : stubs.replica->Execute(&context, command, &result);
    return FromGrpcStatus(status, &context);
  };
  LeaderRetryHooks hooks;
  hooks.answered = [this](const std::string& target) {
    absl::MutexLock lock(&mu_);
    leader_ = target;
  };
  RETURN_IF_ERROR(RetryAtLeader("replica group", replicas_, leader(), deadline, options_.retry,
                                attempt, hooks));
  return result;
}

absl::StatusOr<std::string> ReplicaClient::Get(const std::string& key, CallOptions call) {
  pb::Command command;
  command.set_op(pb::OP_GET);
  command.set_key(key);  // client_id 0: reads bypass the dedup table.
  auto result = Execute(command, call);
  if (!result.ok()) return result.status();
  RETURN_IF_ERROR(ResultStatus(*result));
  return std::move(*result->mutable_value());
}

absl::Status ReplicaClient::Put(const std::string& key, const std::string& value,
                                CallOptions call) {
  pb::Command command;
  command.set_op(pb::OP_PUT);
  command.set_key(key);
  command.set_value(value);
  command.set_client_id(client_id_);
  command.set_seq(NextSeq());
  auto result = Execute(command, call);
  if (!result.ok()) return result.status();
  return ResultStatus(*result);
}

absl::StatusOr<bool> ReplicaClient::Delete(const std::string& key, CallOptions call) {
  pb::Command command;
  command.set_op(pb::OP_DELETE);
  command.set_key(key);
  command.set_client_id(client_id_);
  command.set_seq(NextSeq());
  auto result = Execute(command, call);
  if (!result.ok()) return result.status();
  RETURN_IF_ERROR(ResultStatus(*result));
  return result->existed();
}

absl::StatusOr<pb::ReplicaStatus> ReplicaClient::Status(const std::string& address,
                                                        absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  pb::ReplicaStatusRequest request;
  pb::ReplicaStatus response;
  grpc::Status status = StubsFor(address).replica->Status(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, &context);
  return response;
}

}  // namespace paxoskv::client

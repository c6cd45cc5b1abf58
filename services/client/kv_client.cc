// See kv_client.h.
#include "services/client/kv_client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "libs/common/grpc_server.h"
#include "libs/common/grpc_status.h"
#include "libs/common/leader_retry.h"
#include "libs/common/random_id.h"
#include "libs/common/result_status.h"
#include "libs/common/status_macros.h"

namespace paxoskv::client {
namespace {

namespace pb = paxoskv::v1;

// The masters named by "h:p,h:p" (spaces ignored, each once, in order).
std::vector<std::string> SplitMasters(const std::string& masters) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(masters, ',', absl::SkipWhitespace())) {
    std::string address(absl::StripAsciiWhitespace(part));
    if (std::find(out.begin(), out.end(), address) == out.end()) out.push_back(address);
  }
  return out;
}

}  // namespace

std::string StatusCodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

// ---------------------------------------------------------------------------------------------
// KvClient

KvClient::KvClient(const std::string& masters, KvClientOptions options)
    : options_(std::move(options)),
      masters_(SplitMasters(masters)),
      stubs_([&] {
        std::map<std::string, Stubs> stubs;
        for (const std::string& address : masters_) {
          std::shared_ptr<grpc::Channel> channel =
              options_.make_channel ? options_.make_channel(address)
                                    : grpc::CreateCustomChannel(address, options_.credentials,
                                                                PaxoskvChannelArguments());
          stubs[address] = Stubs{pb::KV::NewStub(channel), pb::Admin::NewStub(channel)};
        }
        return stubs;
      }()),
      client_id_(options_.client_id != 0 ? options_.client_id : RandomId()) {
  policy_.attempt_timeout = options_.attempt_timeout;
  if (policy_.attempt_timeout <= absl::ZeroDuration() && masters_.size() > 1) {
    policy_.attempt_timeout = kMasterAttemptTimeout;
  }
  policy_.backoff_initial = options_.backoff_initial;
  policy_.backoff_max = options_.backoff_max;
  if (!masters_.empty()) current_ = masters_.front();
}

std::string KvClient::current_master() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

template <typename Attempt>
absl::Status KvClient::Call(bool retry, absl::Time deadline, Attempt attempt) {
  if (masters_.empty()) return absl::InvalidArgumentError("no master address given");
  auto one = [&](const std::string& target, absl::Time attempt_deadline) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(attempt_deadline));
    grpc::Status status = attempt(stubs_.at(target), &context);
    return FromGrpcStatus(status, &context);
  };
  if (!retry) return one(current_master(), deadline);
  LeaderRetryHooks hooks;
  hooks.answered = [this](const std::string& target) {
    absl::MutexLock lock(&mu_);
    current_ = target;
  };
  return RetryAtLeader(masters_.size() == 1
                           ? absl::StrCat("master ", masters_.front())
                           : absl::StrCat("masters ", absl::StrJoin(masters_, ",")),
                       masters_, current_master(), deadline, policy_, one, hooks);
}

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
      Call(options_.retry, Deadline(call), [&](const Stubs& stubs, grpc::ClientContext* context) {
        return stubs.kv->Get(context, request, &response);
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
  return Call(options_.retry, Deadline(call),
              [&](const Stubs& stubs, grpc::ClientContext* context) {
                return stubs.kv->Put(context, request, &response);
              });
}

absl::StatusOr<bool> KvClient::Delete(const std::string& key, CallOptions call) {
  pb::DeleteRequest request;
  request.set_key(key);
  request.set_client_id(client_id_);
  request.set_seq(next_seq_.fetch_add(1));
  pb::DeleteResponse response;
  absl::Status status =
      Call(options_.retry, Deadline(call), [&](const Stubs& stubs, grpc::ClientContext* context) {
        return stubs.kv->Delete(context, request, &response);
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
      Call(/*retry=*/false, Deadline(call), [&](const Stubs& stubs, grpc::ClientContext* context) {
        return stubs.admin->AddShard(context, request, &response);
      });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<pb::RemoveShardResponse> KvClient::RemoveShard(uint32_t shard_id, CallOptions call) {
  pb::RemoveShardRequest request;
  request.set_shard_id(shard_id);
  pb::RemoveShardResponse response;
  absl::Status status =
      Call(/*retry=*/false, Deadline(call), [&](const Stubs& stubs, grpc::ClientContext* context) {
        return stubs.admin->RemoveShard(context, request, &response);
      });
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<pb::ClusterStatusResponse> KvClient::ClusterStatus(CallOptions call) {
  return CallAdmin(&pb::Admin::Stub::ClusterStatus, pb::ClusterStatusRequest(), call);
}

absl::Status KvClient::Backup(const std::function<bool(const pb::BackupChunk&)>& on_chunk,
                              absl::Duration timeout) {
  return Call(/*retry=*/false, absl::Now() + timeout,
              [&](const Stubs& stubs, grpc::ClientContext* context) {
                std::unique_ptr<grpc::ClientReader<pb::BackupChunk>> reader =
                    stubs.admin->Backup(context, pb::BackupRequest());
                pb::BackupChunk chunk;
                while (reader->Read(&chunk)) {
                  if (!on_chunk(chunk)) {
                    context->TryCancel();
                    break;
                  }
                }
                return reader->Finish();
              });
}

template <typename Request, typename Response>
absl::StatusOr<Response> KvClient::CallAdmin(
    grpc::Status (pb::Admin::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request, CallOptions call) {
  Response response;
  absl::Status status =
      Call(options_.retry, Deadline(call), [&](const Stubs& stubs, grpc::ClientContext* context) {
        response.Clear();
        return (stubs.admin.get()->*method)(context, request, &response);
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

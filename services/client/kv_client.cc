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
#include "libs/common/status_markers.h"

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

// A GET (client_id 0: reads bypass the dedup table), or a write identified by (client_id, seq).
pb::Command KeyCommand(pb::Op op, const std::string& key, uint64_t client_id = 0,
                       uint64_t seq = 0) {
  pb::Command command;
  command.set_op(op);
  command.set_key(key);
  if (client_id != 0) {
    command.set_client_id(client_id);
    command.set_seq(seq);
  }
  return command;
}

}  // namespace

std::string StatusCodeName(absl::StatusCode code) { return absl::StatusCodeToString(code); }

absl::StatusOr<ring::HashRing> RingOfRoutes(const pb::RoutesResponse& routes) {
  std::vector<uint32_t> ids;
  for (const pb::ShardRoute& shard : routes.shards()) ids.push_back(shard.shard_id());
  return ring::HashRing::Create(routes.epoch(), std::move(ids), routes.virtual_nodes());
}

DirectVerdict JudgeDirectAnswer(const absl::Status& status) {
  if (IsWrongShard(status)) return DirectVerdict::kWrongShard;
  // RetryAtLeader ends in one of these when no replica answered for good within the budget:
  // the masters' own retries (and another leader, later) may still succeed. Every other
  // answer (OK, NOT_FOUND, INVALID_ARGUMENT, ABORTED, NOSPACE, PERMISSION_DENIED, ...) is what
  // the master would have answered too.
  if (status.code() == absl::StatusCode::kUnavailable ||
      status.code() == absl::StatusCode::kDeadlineExceeded) {
    return DirectVerdict::kUnreachable;
  }
  return DirectVerdict::kAnswer;
}

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
  const absl::Time deadline = Deadline(call);
  if (options_.direct) {
    // client_id 0: reads bypass the dedup table, as the master sends them.
    auto answer = TryDirect(KeyCommand(pb::OP_GET, key), deadline);
    if (answer.has_value()) return GetAnswer(*std::move(answer));
  }
  pb::GetRequest request;
  request.set_key(key);
  pb::GetResponse response;
  absl::Status status =
      Call(options_.retry, deadline, [&](const Stubs& stubs, grpc::ClientContext* context) {
        return stubs.kv->Get(context, request, &response);
      });
  if (!status.ok()) return status;
  return std::move(*response.mutable_value());
}

absl::Status KvClient::Put(const std::string& key, const std::string& value, CallOptions call) {
  const absl::Time deadline = Deadline(call);
  // Same seq on every retry below, direct or through a master.
  const uint64_t seq = next_seq_.fetch_add(1);
  if (options_.direct) {
    pb::Command command = KeyCommand(pb::OP_PUT, key, client_id_, seq);
    command.set_value(value);
    auto answer = TryDirect(std::move(command), deadline);
    if (answer.has_value()) return PutAnswer(*answer);
  }
  pb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_client_id(client_id_);
  request.set_seq(seq);
  pb::PutResponse response;
  return Call(options_.retry, deadline, [&](const Stubs& stubs, grpc::ClientContext* context) {
    return stubs.kv->Put(context, request, &response);
  });
}

absl::StatusOr<bool> KvClient::Delete(const std::string& key, CallOptions call) {
  const absl::Time deadline = Deadline(call);
  const uint64_t seq = next_seq_.fetch_add(1);
  if (options_.direct) {
    pb::Command command = KeyCommand(pb::OP_DELETE, key, client_id_, seq);
    auto answer = TryDirect(std::move(command), deadline);
    if (answer.has_value()) return DeleteAnswer(*answer);
  }
  pb::DeleteRequest request;
  request.set_key(key);
  request.set_client_id(client_id_);
  request.set_seq(seq);
  pb::DeleteResponse response;
  absl::Status status =
      Call(options_.retry, deadline, [&](const Stubs& stubs, grpc::ClientContext* context) {
        return stubs.kv->Delete(context, request, &response);
      });
  if (!status.ok()) return status;
  return response.deleted();
}

// ---- direct mode ----------------------------------------------------------------------------

std::optional<absl::StatusOr<pb::CommandResult>> KvClient::TryDirect(pb::Command command,
                                                                     absl::Time deadline) {
  std::shared_ptr<const DirectRoutes> routes = CurrentRoutes(deadline);
  if (routes == nullptr || !routes->ring.has_value()) {
    ++stats_.no_route;
    WantRoutes();
    return std::nullopt;
  }
  // CurrentRoutes fetches the table again (rate-limited) while this holds, so direct requests
  // resume soon after the move ends.
  if (routes->answer.migration_running()) {
    ++stats_.migration;
    return std::nullopt;
  }
  const uint32_t shard_id = routes->ring->OwnerOf(command.key());
  auto shard = routes->shards.find(shard_id);
  if (shard == routes->shards.end()) {
    ++stats_.no_route;
    WantRoutes();
    return std::nullopt;
  }
  // A replica of another shard refuses it (wrong replica) rather than serving the key.
  command.set_shard_id(shard_id);
  const absl::Duration budget = std::min(options_.direct_budget, (deadline - absl::Now()) / 2);
  if (budget <= absl::ZeroDuration()) {  // the masters report the deadline
    ++stats_.unreachable;
    return std::nullopt;
  }
  absl::StatusOr<pb::CommandResult> result =
      shard->second->Execute(command, CallOptions{.timeout = budget});
  switch (JudgeDirectAnswer(result.status())) {
    case DirectVerdict::kAnswer:
      ++stats_.direct;
      return result;
    case DirectVerdict::kWrongShard:
      ++stats_.wrong_shard;
      break;
    case DirectVerdict::kUnreachable:
      ++stats_.unreachable;
      break;
  }
  WantRoutes();
  return std::nullopt;
}

std::shared_ptr<const KvClient::DirectRoutes> KvClient::CurrentRoutes(absl::Time deadline) {
  const absl::Time now = absl::Now();
  std::shared_ptr<const DirectRoutes> previous;
  {
    absl::MutexLock lock(&routes_mu_);
    // One thread fetches; the others route by the table they have meanwhile rather than wait,
    // except for the very first table, without which they could only go through the masters.
    auto fetched_or_idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(routes_mu_) {
      return routes_ != nullptr || !routes_fetching_;
    };
    routes_mu_.AwaitWithDeadline(absl::Condition(&fetched_or_idle), deadline);
    previous = routes_;
    const bool due = previous == nullptr || routes_wanted_ ||
                     previous->answer.migration_running() ||
                     now - previous->fetched >= options_.routes_max_age;
    if (!due || routes_fetching_ || now - routes_tried_ < options_.routes_refresh_min) {
      return previous;
    }
    routes_fetching_ = true;
    routes_tried_ = now;
    routes_wanted_ = false;
  }
  std::shared_ptr<const DirectRoutes> fetched;
  const absl::Duration timeout = std::min(kRoutesFetchTimeout, (deadline - now) / 2);
  if (timeout > absl::ZeroDuration()) {
    absl::StatusOr<pb::RoutesResponse> answer = Routes(CallOptions{.timeout = timeout});
    if (answer.ok()) fetched = MakeRoutes(*std::move(answer), previous.get());
  }
  absl::MutexLock lock(&routes_mu_);
  routes_fetching_ = false;
  if (fetched == nullptr) {
    // Keep routing by the old table (the shards may well be fine while the masters are not),
    // and try again after routes_refresh_min.
    routes_wanted_ = true;
    return routes_;
  }
  ++stats_.routes_fetched;
  routes_ = std::move(fetched);
  return routes_;
}

std::shared_ptr<const KvClient::DirectRoutes> KvClient::MakeRoutes(
    pb::RoutesResponse answer, const DirectRoutes* previous) const {
  auto routes = std::make_shared<DirectRoutes>();
  if (absl::StatusOr<ring::HashRing> ring = RingOfRoutes(answer); ring.ok()) {
    routes->ring.emplace(*std::move(ring));
  }
  for (const pb::ShardRoute& shard : answer.shards()) {
    const std::vector<std::string> replicas(shard.replicas().begin(), shard.replicas().end());
    if (replicas.empty()) continue;  // unknown shard: through the masters
    if (previous != nullptr) {
      // The same members: keep its channels and the leader it has learnt since.
      auto kept = previous->shards.find(shard.shard_id());
      if (kept != previous->shards.end() && kept->second->replicas() == replicas) {
        routes->shards.emplace(shard.shard_id(), kept->second);
        continue;
      }
    }
    ReplicaClientOptions options;
    options.retry.attempt_timeout = options_.direct_attempt_timeout;
    options.retry.backoff_initial = options_.backoff_initial;
    options.retry.backoff_max = options_.backoff_max;
    options.retry_window_max = options_.retry_window_max;
    options.client_id = client_id_;
    options.credentials = options_.credentials;
    options.make_channel = options_.make_channel;
    options.leader = shard.leader();
    routes->shards.emplace(shard.shard_id(),
                           std::make_shared<ReplicaClient>(replicas, std::move(options)));
  }
  routes->answer = std::move(answer);
  routes->fetched = absl::Now();
  return routes;
}

void KvClient::WantRoutes() {
  absl::MutexLock lock(&routes_mu_);
  routes_wanted_ = true;
}

DirectStats KvClient::direct_stats() const {
  DirectStats stats;
  stats.direct = stats_.direct.load();
  stats.no_route = stats_.no_route.load();
  stats.migration = stats_.migration.load();
  stats.wrong_shard = stats_.wrong_shard.load();
  stats.unreachable = stats_.unreachable.load();
  stats.via_master = stats.no_route + stats.migration + stats.wrong_shard + stats.unreachable;
  stats.routes_fetched = stats_.routes_fetched.load();
  return stats;
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

absl::StatusOr<pb::RoutesResponse> KvClient::Routes(CallOptions call) {
  return CallAdmin(&pb::Admin::Stub::Routes, pb::RoutesRequest(), call);
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
  const bool listed =
      std::find(replicas_.begin(), replicas_.end(), options_.leader) != replicas_.end();
  if (listed) {
    leader_ = options_.leader;
  } else if (!replicas_.empty()) {
    leader_ = replicas_.front();
  }
}

std::string ReplicaClient::leader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

ReplicaClient::Stubs& ReplicaClient::StubsFor(const std::string& address) {
  absl::MutexLock lock(&mu_);
  Stubs& stubs = stubs_[address];
  if (stubs.replica == nullptr) {
    std::shared_ptr<grpc::Channel> channel =
        options_.make_channel
            ? options_.make_channel(address)
            : grpc::CreateCustomChannel(address, options_.credentials, PaxoskvChannelArguments());
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
  // client_id 0: reads bypass the dedup table.
  return GetAnswer(Execute(KeyCommand(pb::OP_GET, key), call));
}

absl::Status ReplicaClient::Put(const std::string& key, const std::string& value,
                                CallOptions call) {
  pb::Command command = KeyCommand(pb::OP_PUT, key, client_id_, NextSeq());
  command.set_value(value);
  return PutAnswer(Execute(command, call));
}

absl::StatusOr<bool> ReplicaClient::Delete(const std::string& key, CallOptions call) {
  return DeleteAnswer(Execute(KeyCommand(pb::OP_DELETE, key, client_id_, NextSeq()), call));
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

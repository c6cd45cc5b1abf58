// See admin_service.h.
#include "services/master/admin_service.h"

#include <utility>

#include "libs/common/grpc_status.h"
#include "services/master/gateway_service.h"

namespace paxoskv::master {

namespace {

namespace pb = paxoskv::v1;

pb::MembershipChange Change(pb::MembershipChange::Type type, uint32_t shard_id, uint32_t replica_id,
                            const std::string& address = "") {
  pb::MembershipChange change;
  change.set_type(type);
  change.set_shard_id(shard_id);
  change.set_replica_id(replica_id);
  change.set_address(address);
  return change;
}

}  // namespace

template <typename Response, typename Work>
grpc::Status AdminService::Serve(grpc::ServerContext* context, Response* response, Work work,
                                 std::initializer_list<Role> roles) {
  if (grpc::Status allowed = authorizer_->Allow(*context, roles); !allowed.ok()) {
    return allowed;
  }
  absl::StatusOr<Response> result = work(CallerDeadline(context));
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status AdminService::AddShard(grpc::ServerContext* context,
                                    const pb::AddShardRequest* request,
                                    pb::AddShardResponse* response) {
  return Serve(context, response,
               [&](absl::Time deadline) { return master_->AddShard(*request, deadline); });
}

grpc::Status AdminService::RemoveShard(grpc::ServerContext* context,
                                       const pb::RemoveShardRequest* request,
                                       pb::RemoveShardResponse* response) {
  return Serve(context, response, [&](absl::Time deadline) {
    return master_->RemoveShard(request->shard_id(), deadline);
  });
}

grpc::Status AdminService::ClusterStatus(grpc::ServerContext* context,
                                         const pb::ClusterStatusRequest* /*request*/,
                                         pb::ClusterStatusResponse* response) {
  return Serve(context, response, [&](absl::Time) -> absl::StatusOr<pb::ClusterStatusResponse> {
    return master_->ClusterStatus();
  });
}

grpc::Status AdminService::Routes(grpc::ServerContext* context,
                                  const pb::RoutesRequest* /*request*/,
                                  pb::RoutesResponse* response) {
  return Serve(context, response,
               [&](absl::Time) -> absl::StatusOr<pb::RoutesResponse> { return master_->Routes(); },
               {Role::kAdmin, Role::kClient});
}

grpc::Status AdminService::MemberList(grpc::ServerContext* context,
                                      const pb::MemberListRequest* request,
                                      pb::MemberListResponse* response) {
  return Serve(context, response, [&](absl::Time deadline) {
    return master_->MemberList(request->shard_id(), deadline);
  });
}

grpc::Status AdminService::MemberAdd(grpc::ServerContext* context,
                                     const pb::MemberAddRequest* request,
                                     pb::MemberChangeResponse* response) {
  return Serve(context, response, [&](absl::Time deadline) {
    pb::MembershipChange change = Change(pb::MembershipChange::ADD_LEARNER, request->shard_id(),
                                         request->replica_id(), request->address());
    change.set_promote(!request->no_promote());
    return master_->ChangeMember(std::move(change), deadline);
  });
}

grpc::Status AdminService::MemberRemove(grpc::ServerContext* context,
                                        const pb::MemberRemoveRequest* request,
                                        pb::MemberChangeResponse* response) {
  return Serve(context, response, [&](absl::Time deadline) {
    return master_->ChangeMember(
        Change(pb::MembershipChange::REMOVE, request->shard_id(), request->replica_id()), deadline);
  });
}

grpc::Status AdminService::MemberPromote(grpc::ServerContext* context,
                                         const pb::MemberPromoteRequest* request,
                                         pb::MemberChangeResponse* response) {
  return Serve(context, response, [&](absl::Time deadline) {
    return master_->ChangeMember(
        Change(pb::MembershipChange::PROMOTE, request->shard_id(), request->replica_id()),
        deadline);
  });
}

grpc::Status AdminService::MemberUpdate(grpc::ServerContext* context,
                                        const pb::MemberUpdateRequest* request,
                                        pb::MemberChangeResponse* response) {
  return Serve(context, response, [&](absl::Time deadline) {
    return master_->ChangeMember(Change(pb::MembershipChange::SET_ADDRESS, request->shard_id(),
                                        request->replica_id(), request->address()),
                                 deadline);
  });
}

grpc::Status AdminService::AlarmList(grpc::ServerContext* context,
                                     const pb::AlarmListRequest* request,
                                     pb::AlarmListResponse* response) {
  return Serve(context, response, [&](absl::Time deadline) {
    return master_->AlarmList(request->shard_id(), deadline);
  });
}

grpc::Status AdminService::AlarmDisarm(grpc::ServerContext* context,
                                       const pb::AlarmDisarmRequest* request,
                                       pb::AlarmDisarmResponse* response) {
  return Serve(context, response, [&](absl::Time deadline) {
    return master_->AlarmDisarm(request->shard_id(), deadline);
  });
}

grpc::Status AdminService::Backup(grpc::ServerContext* context,
                                  const pb::BackupRequest* /*request*/,
                                  grpc::ServerWriter<pb::BackupChunk>* writer) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  return ToGrpcStatus(master_->Backup([&](const pb::BackupChunk& chunk) {
    return !context->IsCancelled() && writer->Write(chunk);
  }));
}

}  // namespace paxoskv::master

// See admin_service.h.
#include "services/master/admin_service.h"

#include "libs/common/grpc_status.h"
#include "services/master/gateway_service.h"

namespace paxoskv::master {

grpc::Status AdminService::AddShard(grpc::ServerContext* context,
                                    const paxoskv::v1::AddShardRequest* request,
                                    paxoskv::v1::AddShardResponse* response) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  absl::StatusOr<paxoskv::v1::AddShardResponse> result =
      master_->AddShard(*request, CallerDeadline(context));
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status AdminService::ClusterStatus(grpc::ServerContext* context,
                                         const paxoskv::v1::ClusterStatusRequest* request,
                                         paxoskv::v1::ClusterStatusResponse* response) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  *response = master_->ClusterStatus();
  return grpc::Status::OK;
}

namespace {

grpc::Status Answer(absl::StatusOr<paxoskv::v1::MemberChangeResponse> result,
                    paxoskv::v1::MemberChangeResponse* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

paxoskv::v1::MembershipChange Change(paxoskv::v1::MembershipChange::Type type, uint32_t shard_id,
                                     uint32_t replica_id, const std::string& address = "") {
  paxoskv::v1::MembershipChange change;
  change.set_type(type);
  change.set_shard_id(shard_id);
  change.set_replica_id(replica_id);
  change.set_address(address);
  return change;
}

}  // namespace

grpc::Status AdminService::MemberList(grpc::ServerContext* context,
                                      const paxoskv::v1::MemberListRequest* request,
                                      paxoskv::v1::MemberListResponse* response) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  absl::StatusOr<paxoskv::v1::MemberListResponse> result =
      master_->MemberList(request->shard_id(), CallerDeadline(context));
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status AdminService::MemberAdd(grpc::ServerContext* context,
                                     const paxoskv::v1::MemberAddRequest* request,
                                     paxoskv::v1::MemberChangeResponse* response) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  paxoskv::v1::MembershipChange change =
      Change(paxoskv::v1::MembershipChange::ADD_LEARNER, request->shard_id(), request->replica_id(),
             request->address());
  change.set_promote(!request->no_promote());
  return Answer(master_->ChangeMember(std::move(change), CallerDeadline(context)), response);
}

grpc::Status AdminService::MemberRemove(grpc::ServerContext* context,
                                        const paxoskv::v1::MemberRemoveRequest* request,
                                        paxoskv::v1::MemberChangeResponse* response) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  return Answer(master_->ChangeMember(Change(paxoskv::v1::MembershipChange::REMOVE,
                                             request->shard_id(), request->replica_id()),
                                      CallerDeadline(context)),
                response);
}

grpc::Status AdminService::MemberPromote(grpc::ServerContext* context,
                                         const paxoskv::v1::MemberPromoteRequest* request,
                                         paxoskv::v1::MemberChangeResponse* response) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  return Answer(master_->ChangeMember(Change(paxoskv::v1::MembershipChange::PROMOTE,
                                             request->shard_id(), request->replica_id()),
                                      CallerDeadline(context)),
                response);
}

grpc::Status AdminService::MemberUpdate(grpc::ServerContext* context,
                                        const paxoskv::v1::MemberUpdateRequest* request,
                                        paxoskv::v1::MemberChangeResponse* response) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  return Answer(
      master_->ChangeMember(Change(paxoskv::v1::MembershipChange::SET_ADDRESS, request->shard_id(),
                                   request->replica_id(), request->address()),
                            CallerDeadline(context)),
      response);
}

grpc::Status AdminService::AlarmList(grpc::ServerContext* context,
                                     const paxoskv::v1::AlarmListRequest* request,
                                     paxoskv::v1::AlarmListResponse* response) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  absl::StatusOr<paxoskv::v1::AlarmListResponse> result =
      master_->AlarmList(request->shard_id(), CallerDeadline(context));
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status AdminService::AlarmDisarm(grpc::ServerContext* context,
                                       const paxoskv::v1::AlarmDisarmRequest* request,
                                       paxoskv::v1::AlarmDisarmResponse* response) {
  if (grpc::Status allowed = authorizer_->Allow(*context, {Role::kAdmin}); !allowed.ok()) {
    return allowed;
  }
  absl::StatusOr<paxoskv::v1::AlarmDisarmResponse> result =
      master_->AlarmDisarm(request->shard_id(), CallerDeadline(context));
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace paxoskv::master

// See admin_service.h.
#include "services/master/admin_service.h"

#include "libs/common/grpc_status.h"
#include "services/master/gateway_service.h"

namespace paxoskv::master {

grpc::Status AdminService::AddShard(grpc::ServerContext* context,
                                    const paxoskv::v1::AddShardRequest* request,
                                    paxoskv::v1::AddShardResponse* response) {
  absl::StatusOr<paxoskv::v1::AddShardResponse> result =
      master_->AddShard(*request, CallerDeadline(context));
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status AdminService::ClusterStatus(grpc::ServerContext* context,
                                         const paxoskv::v1::ClusterStatusRequest* request,
                                         paxoskv::v1::ClusterStatusResponse* response) {
  *response = master_->ClusterStatus();
  return grpc::Status::OK;
}

}  // namespace paxoskv::master

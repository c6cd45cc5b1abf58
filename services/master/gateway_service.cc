// See gateway_service.h.
#include "services/master/gateway_service.h"

#include <chrono>

#include "libs/common/grpc_status.h"

namespace paxoskv::master {

absl::Time CallerDeadline(const grpc::ServerContext* context) {
  const auto deadline = context->deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

grpc::Status GatewayService::Get(grpc::ServerContext* context,
                                 const paxoskv::v1::GetRequest* request,
                                 paxoskv::v1::GetResponse* response) {
  absl::StatusOr<std::string> value = master_->Get(request->key(), CallerDeadline(context));
  if (!value.ok()) return ToGrpcStatus(value.status());
  response->set_value(*std::move(value));
  return grpc::Status::OK;
}

grpc::Status GatewayService::Put(grpc::ServerContext* context,
                                 const paxoskv::v1::PutRequest* request,
                                 paxoskv::v1::PutResponse* response) {
  return ToGrpcStatus(master_->Put(request->key(), request->value(), request->client_id(),
                                   request->seq(), CallerDeadline(context)));
}

grpc::Status GatewayService::Delete(grpc::ServerContext* context,
                                    const paxoskv::v1::DeleteRequest* request,
                                    paxoskv::v1::DeleteResponse* response) {
  absl::StatusOr<bool> deleted =
      master_->Delete(request->key(), request->client_id(), request->seq(),
                      CallerDeadline(context));
  if (!deleted.ok()) return ToGrpcStatus(deleted.status());
  response->set_deleted(*deleted);
  return grpc::Status::OK;
}

}  // namespace paxoskv::master

// See gateway_service.h.
#include "services/master/gateway_service.h"

#include <chrono>
#include <utility>

#include "libs/common/grpc_status.h"

namespace paxoskv::master {

absl::Time CallerDeadline(const grpc::ServerContextBase* context) {
  const auto deadline = context->deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

bool GatewayService::Allowed(grpc::CallbackServerContext* context,
                             grpc::ServerUnaryReactor* reactor) const {
  grpc::Status allowed = authorizer_->Allow(*context, {Role::kClient, Role::kAdmin});
  if (!allowed.ok()) reactor->Finish(allowed);
  return allowed.ok();
}

// The request and response stay valid until Finish; the reactor outlives the handler. The
// answer's marks (a NOSPACE alarm) go out as trailing metadata set on `context` before Finish,
// so a client can tell a refusal that holds from a busy master.
grpc::ServerUnaryReactor* GatewayService::Get(grpc::CallbackServerContext* context,
                                              const paxoskv::v1::GetRequest* request,
                                              paxoskv::v1::GetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Allowed(context, reactor)) return reactor;
  master_->GetAsync(request->key(), CallerDeadline(context),
                    [context, reactor, response](absl::StatusOr<std::string> value) {
                      if (value.ok()) response->set_value(*std::move(value));
                      reactor->Finish(ToGrpcStatus(value.status(), context));
                    });
  return reactor;
}

grpc::ServerUnaryReactor* GatewayService::Put(grpc::CallbackServerContext* context,
                                              const paxoskv::v1::PutRequest* request,
                                              paxoskv::v1::PutResponse* /*response*/) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Allowed(context, reactor)) return reactor;
  master_->PutAsync(request->key(), request->value(), request->client_id(), request->seq(),
                    CallerDeadline(context), [context, reactor](absl::Status status) {
                      reactor->Finish(ToGrpcStatus(status, context));
                    });
  return reactor;
}

grpc::ServerUnaryReactor* GatewayService::Delete(grpc::CallbackServerContext* context,
                                                 const paxoskv::v1::DeleteRequest* request,
                                                 paxoskv::v1::DeleteResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!Allowed(context, reactor)) return reactor;
  master_->DeleteAsync(request->key(), request->client_id(), request->seq(),
                       CallerDeadline(context),
                       [context, reactor, response](absl::StatusOr<bool> deleted) {
                         if (deleted.ok()) response->set_deleted(*deleted);
                         reactor->Finish(ToGrpcStatus(deleted.status(), context));
                       });
  return reactor;
}

}  // namespace paxoskv::master

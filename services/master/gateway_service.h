// gRPC adapter of service paxoskv.v1.KV: translates requests and statuses, nothing more; the
// decisions live in Master. Callback API: a handler hands the request to Master's
// asynchronous form and returns; the answer is sent from whichever thread completes it, so no
// thread is parked per request in flight. Callers need a client or an admin certificate
// (libs/common/tls.h). Thread-safe (Master is).
#pragma once

#include "paxoskv/v1/kv.grpc.pb.h"
#include "services/master/master.h"

namespace paxoskv::master {

class GatewayService final : public paxoskv::v1::KV::CallbackService {
 public:
  GatewayService(Master* master, const Authorizer* authorizer)
      : master_(master), authorizer_(authorizer) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const paxoskv::v1::GetRequest* request,
                                paxoskv::v1::GetResponse* response) override;
  grpc::ServerUnaryReactor* Put(grpc::CallbackServerContext* context,
                                const paxoskv::v1::PutRequest* request,
                                paxoskv::v1::PutResponse* response) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const paxoskv::v1::DeleteRequest* request,
                                   paxoskv::v1::DeleteResponse* response) override;

 private:
  // Finishes the call with the refusal when the caller may not use KV.
  bool Allowed(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor) const;
  Master* const master_;
  const Authorizer* const authorizer_;
};

// The caller's deadline, or absl::InfiniteFuture() when it set none.
absl::Time CallerDeadline(const grpc::ServerContextBase* context);

}  // namespace paxoskv::master
